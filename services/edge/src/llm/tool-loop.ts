// MCP tools run server-side for a model: the request's `{"type": "mcp",
// "server_url": "mcpgw"}` tools become the caller's visible MCP tools (the
// catalog view of its scopes, filtered by `allowed_tools`) as function tools;
// the model's calls of them run through the dispatcher (scopes, limits,
// audit, metrics), and their results go back to the model. The endpoint
// modules (chat-completions.ts, responses.ts) drive the loop in their shape.
import { ToolArgumentsError, ToolNameMap, toMcpCall, toolResultText, type AnyToolCall, type McpCallToolResult, type McpTool } from '@mcpgw/bridge';
import type { ModelConfig } from '@mcpgw/common/config';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogView, View } from '../catalog-view.js';
import type { Dispatcher, RequestContext } from '../dispatcher.js';
import type { EdgeMetrics } from '../metrics.js';
import { errorOf } from '../pipeline/outcome.js';
import { badRequest } from './errors.js';

/** `server_url` values that mean "this gateway's own tools" (OpenAI's MCP tool shape, LiteLLM's name for itself). */
export const OWN_SERVER_URLS = ['mcpgw', 'litellm_proxy'];

export interface McpToolEntry {
  /** `server_label`, shown on mcp_* items; default `mcpgw`. */
  label: string;
  /** Exposed names (`server__tool`) or `server/tool`; absent: every visible tool. */
  allowed?: Set<string>;
  /** `require_approval`: whether a call of the tool waits for the caller's approval. */
  needsApproval: (exposedName: string) => boolean;
}

export interface LoopDeps {
  dispatcher: Dispatcher;
  catalog: CatalogView;
  metrics: EdgeMetrics;
  log: Logger;
  maxSteps: number;
  /**
   * Counts one model call against the caller's rpm; throws the 429 when it is
   * spent. Every model call of a tool loop counts, not only the request's first.
   */
  chargeModelCall(): Promise<void>;
}

const names = (v: unknown): string[] | undefined => {
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v;
  const o = v as { tool_names?: unknown } | null;
  if (o && typeof o === 'object' && Array.isArray(o.tool_names) && o.tool_names.every((s) => typeof s === 'string')) return o.tool_names as string[];
  return undefined;
};

export interface SplitTools {
  mcp: McpToolEntry[];
  /** The caller's own tools, passed to the model as they are. */
  other: unknown[];
  /** Names of the caller's own function tools: calls of them go back to the caller. */
  clientNames: Set<string>;
}

/** Splits a request's `tools` into its MCP tool entries and the rest (the caller's own functions); bad MCP entries are 400. */
export function splitTools(tools: unknown): SplitTools {
  const clientNames = new Set<string>();
  if (tools === undefined || tools === null) return { mcp: [], other: [], clientNames };
  if (!Array.isArray(tools)) throw badRequest('`tools` must be an array', 'tools');
  const mcp: McpToolEntry[] = [];
  const other: unknown[] = [];
  tools.forEach((t: unknown, i) => {
    const tool = t as Record<string, unknown> | null;
    if (!tool || typeof tool !== 'object' || tool.type !== 'mcp') {
      other.push(t);
      const name = (tool as { name?: unknown; function?: { name?: unknown } } | null)?.function?.name ?? tool?.name;
      if (typeof name === 'string') clientNames.add(name);
      return;
    }
    const param = `tools[${i}]`;
    if (typeof tool.server_url !== 'string' || !OWN_SERVER_URLS.includes(tool.server_url)) {
      throw badRequest(`${param}.server_url must be ${OWN_SERVER_URLS.map((u) => `"${u}"`).join(' or ')}: this gateway runs its own MCP tools`, `${param}.server_url`);
    }
    if (tool.server_label !== undefined && typeof tool.server_label !== 'string') throw badRequest(`${param}.server_label must be a string`, `${param}.server_label`);
    let allowed: Set<string> | undefined;
    if (tool.allowed_tools !== undefined && tool.allowed_tools !== null) {
      const list = names(tool.allowed_tools);
      if (!list) throw badRequest(`${param}.allowed_tools must be a list of tool names (or {"tool_names": [...]})`, `${param}.allowed_tools`);
      allowed = new Set(list);
    }
    mcp.push({ label: (tool.server_label as string | undefined) || 'mcpgw', allowed, needsApproval: approvalRule(tool.require_approval, param) });
  });
  return { mcp, other, clientNames };
}

/** OpenAI's `require_approval`: "never", "always" (the default, as OpenAI's), or `{never: {tool_names}, always: {tool_names}}`. */
function approvalRule(value: unknown, param: string): (name: string) => boolean {
  if (value === 'never') return () => false;
  if (value === undefined || value === null || value === 'always') return () => true;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { never?: unknown; always?: unknown };
    const never = v.never === undefined ? undefined : names(v.never);
    const always = v.always === undefined ? undefined : names(v.always);
    if ((v.never === undefined || never) && (v.always === undefined || always)) {
      // Tools named under `never` run; everything else waits (the safe default).
      return (name) => (always?.includes(name) ? true : !(never?.includes(name) ?? false));
    }
  }
  throw badRequest(`${param}.require_approval must be "never", "always" or {"never": {"tool_names": [...]}}`, `${param}.require_approval`);
}

/** The MCP tools offered to the model for one request, with what the loop needs to know about each. */
export class InjectedTools {
  readonly names = new ToolNameMap();
  /** Visible MCP tools with their exposed names, in catalog order. */
  readonly tools: McpTool[] = [];
  private readonly entryOf = new Map<string, McpToolEntry>();

  constructor(readonly entries: McpToolEntry[], private readonly view: View | undefined) {
    const all = view ? toolsOf(view) : [];
    for (const entry of entries) {
      for (const tool of all) {
        if (this.entryOf.has(tool.name)) continue;
        const route = view!.tools.get(tool.name);
        if (entry.allowed && !entry.allowed.has(tool.name) && !(route && entry.allowed.has(`${route.server}/${route.name}`))) continue;
        this.entryOf.set(tool.name, entry);
        this.tools.push(tool);
      }
    }
  }

  /** The MCP (exposed) name a provider-side function name stands for, when it is one of ours. */
  mcpName(providerName: string): string | undefined {
    const name = this.names.toMcp(providerName);
    return this.entryOf.has(name) ? name : undefined;
  }

  /** In the caller's view (it may still be left out by `allowed_tools`). */
  visible(name: string): boolean {
    return this.view?.tools.has(name) ?? false;
  }

  labelOf(name: string): string {
    return this.entryOf.get(name)?.label ?? 'mcpgw';
  }

  needsApproval(name: string): boolean {
    return this.entryOf.get(name)?.needsApproval(name) ?? true;
  }

  /** The tools of each entry, as Responses `mcp_list_tools` items show them. */
  listed(entry: McpToolEntry): McpTool[] {
    return this.tools.filter((t) => this.entryOf.get(t.name) === entry);
  }
}

// Parsed tool lists per catalog view (views are rebuilt on every catalog change, so this never goes stale).
const parsedViews = new WeakMap<View, McpTool[]>();
function toolsOf(view: View): McpTool[] {
  let tools = parsedViews.get(view);
  if (!tools) {
    tools = (JSON.parse(view.toolsList) as { tools: McpTool[] }).tools;
    parsedViews.set(view, tools);
  }
  return tools;
}

export function injectedTools(deps: LoopDeps, ctx: RequestContext, entries: McpToolEntry[]): InjectedTools {
  return new InjectedTools(entries, deps.catalog.view(undefined, ctx.principal.access));
}

export interface ToolRun {
  /** The MCP tool's exposed name (or the name the model used, when its arguments were unusable). */
  name: string;
  arguments: string;
  /** What the model reads: the tool's text, or `Error: ...`. */
  text: string;
  isError: boolean;
  result?: McpCallToolResult;
  /** Why the tool did not run (a JSON-RPC error: bad arguments, unknown tool, limits, upstream). */
  error?: { code: number; message: string };
}

/**
 * Runs one of the model's tool calls through the dispatcher. Arguments that
 * are not a JSON object, an unknown or out-of-scope tool, a limit or an
 * upstream failure all come back as an error text for the model, which can
 * retry; nothing here throws.
 */
export async function runToolCall(deps: LoopDeps, ctx: RequestContext, model: ModelConfig, requestId: string, tools: InjectedTools, call: AnyToolCall): Promise<ToolRun> {
  const callId = 'function' in call ? call.id : call.call_id;
  const rawArgs = 'function' in call ? call.function.arguments : call.arguments;
  const count = (outcome: string) => deps.metrics.llmToolCalls.inc({ model: model.name, outcome });
  let mcp;
  try {
    mcp = toMcpCall(call, { names: tools.names });
  } catch (err) {
    if (!(err instanceof ToolArgumentsError)) throw err;
    deps.log.warn({ model: model.name, principal: ctx.principal.id, tool: err.toolName, toolCall: callId, reason: err.message }, 'model sent tool arguments that are not a JSON object; the error went back to the model');
    count('bad_arguments');
    return { name: tools.names.toMcp(err.toolName), arguments: rawArgs, text: `Error: ${err.message}`, isError: true, error: { code: ErrorCode.InvalidParams, message: err.message } };
  }
  if (!tools.mcpName(mcp.name) && tools.visible(mcp.name)) {
    // Left out by allowed_tools: answered as the dispatcher answers an unknown tool, and never run.
    // (A name outside the caller's scopes goes to the dispatcher, which answers the same and audits the denial.)
    count('error');
    const message = `Invalid params: unknown tool '${mcp.name}'`; // the dispatcher's words for an unknown tool
    return { name: mcp.name, arguments: rawArgs, text: `Error: ${message}`, isError: true, error: { code: ErrorCode.InvalidParams, message } };
  }
  const outcome = await deps.dispatcher.callTool(ctx, `${requestId}:${callId}`, mcp.name, mcp.arguments);
  if (outcome.kind === 'result') {
    const result = JSON.parse(outcome.json) as McpCallToolResult;
    count(outcome.toolError ? 'tool_error' : 'ok');
    return { name: mcp.name, arguments: rawArgs, text: toolResultText(result), isError: Boolean(outcome.toolError || result.isError), result };
  }
  count('error');
  const error = errorOf(outcome)!;
  return { name: mcp.name, arguments: rawArgs, text: `Error: ${error.message}`, isError: true, error: { code: error.code, message: error.message } };
}

/** Sums OpenAI usage objects field by field (nested `*_details` too). */
export function addUsage(total: Record<string, unknown> | undefined, usage: unknown): Record<string, unknown> | undefined {
  if (!usage || typeof usage !== 'object') return total;
  const out: Record<string, unknown> = { ...(total ?? {}) };
  for (const [k, v] of Object.entries(usage as Record<string, unknown>)) {
    if (typeof v === 'number') out[k] = (typeof out[k] === 'number' ? (out[k] as number) : 0) + v;
    else if (v && typeof v === 'object') out[k] = addUsage(out[k] as Record<string, unknown> | undefined, v);
    else if (!(k in out)) out[k] = v;
  }
  return out;
}
