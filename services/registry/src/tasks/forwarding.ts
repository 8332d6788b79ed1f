// Which calls go to an upstream's own tasks instead of being run by the
// gateway: the upstream declared `capabilities.tasks.requests.tools.call`
// (2025-11-25 experimental tasks) in its initialize result, or the tasks
// extension (`capabilities.extensions["io.modelcontextprotocol/tasks"]`, 2026-07-28)
// in its discover result, and the tool says `execution.taskSupport` optional or
// required. Parsed once per catalog entry (its hash changes with its contents).
import type { CatalogEntry } from '../catalog/catalog.js';

export type ForwardKind = 'legacy' | 'modern';
const cache = new Map<string, { kind?: ForwardKind; tools: Set<string> }>();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function taskTools(entry: CatalogEntry): { kind?: ForwardKind; tools: Set<string> } {
  const key = `${entry.name}\0${entry.hash}`;
  let found = cache.get(key);
  if (found) return found;
  const tools = new Set<string>();
  let kind: ForwardKind | undefined;
  try {
    const info: unknown = entry.serverInfoJson.length > 0 ? JSON.parse(entry.serverInfoJson.toString('utf8')) : {};
    const caps = isObject(info) && isObject(info.capabilities) ? info.capabilities : {};
    const calls = isObject(caps.tasks) && isObject(caps.tasks.requests) && isObject(caps.tasks.requests.tools) ? caps.tasks.requests.tools.call : undefined;
    const extension = isObject(caps.extensions) ? caps.extensions['io.modelcontextprotocol/tasks'] : undefined;
    kind = isObject(extension) && isObject(info) && info.protocolVersion === '2026-07-28' ? 'modern' : isObject(calls) ? 'legacy' : undefined;
    if (kind) {
      const list: unknown = JSON.parse(entry.toolsJson.toString('utf8') || '[]');
      for (const t of Array.isArray(list) ? list : []) {
        const support = isObject(t) && isObject(t.execution) ? t.execution.taskSupport : undefined;
        if (isObject(t) && typeof t.name === 'string' && (support === 'optional' || support === 'required')) tools.add(t.name);
      }
    }
  } catch { /* an unreadable entry forwards nothing */ }
  if (cache.size > 1024) cache.clear();
  found = { kind, tools };
  cache.set(key, found);
  return found;
}

/** How a call of `tool` goes to its upstream's own tasks ('legacy': 2025-11-25, 'modern': the extension), or undefined: the gateway runs it. */
export function forwardsTasks(entry: CatalogEntry | undefined, tool: string): ForwardKind | undefined {
  if (!entry) return undefined;
  const t = taskTools(entry);
  return t.tools.has(tool) ? t.kind : undefined;
}
