// Which calls go to an upstream's own tasks instead of being run by the
// gateway: the upstream declared `capabilities.tasks.requests.tools.call`
// (2025-11-25 experimental tasks) in its initialize result, and the tool says
// `execution.taskSupport` optional or required. Parsed once per catalog entry
// (its hash changes with its contents).
import type { CatalogEntry } from '../catalog/catalog.js';

const cache = new Map<string, Set<string>>();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function taskTools(entry: CatalogEntry): Set<string> {
  const key = `${entry.name}\0${entry.hash}`;
  let tools = cache.get(key);
  if (tools) return tools;
  tools = new Set();
  try {
    const info: unknown = entry.serverInfoJson.length > 0 ? JSON.parse(entry.serverInfoJson.toString('utf8')) : {};
    const caps = isObject(info) && isObject(info.capabilities) ? info.capabilities : {};
    const calls = isObject(caps.tasks) && isObject(caps.tasks.requests) && isObject(caps.tasks.requests.tools) ? caps.tasks.requests.tools.call : undefined;
    if (isObject(calls)) {
      const list: unknown = JSON.parse(entry.toolsJson.toString('utf8') || '[]');
      for (const t of Array.isArray(list) ? list : []) {
        const support = isObject(t) && isObject(t.execution) ? t.execution.taskSupport : undefined;
        if (isObject(t) && typeof t.name === 'string' && (support === 'optional' || support === 'required')) tools.add(t.name);
      }
    }
  } catch { /* an unreadable entry forwards nothing */ }
  if (cache.size > 1024) cache.clear();
  cache.set(key, tools);
  return tools;
}

export function forwardsTasks(entry: CatalogEntry | undefined, tool: string): boolean {
  return entry !== undefined && taskTools(entry).has(tool);
}
