import { ToolArgumentsError } from './errors.js';
import { defaultToolNames, type ToolNameMap } from './naming.js';
import type { AnyToolCall, JsonObject, McpCallToolResult, McpContent, McpToolCall, McpToolsClient, ToolResultMessage } from './types.js';

export interface ToolCallOptions {
  /** The map the tools were converted with (default: the shared `defaultToolNames`). */
  names?: ToolNameMap;
}

function parts(call: AnyToolCall): { id: string; name: string; args: string } {
  if ('function' in call) return { id: call.id, name: call.function.name, args: call.function.arguments };
  return { id: call.call_id, name: call.name, args: call.arguments };
}

/**
 * A provider's tool call (Chat Completions `tool_calls[i]` or a Responses
 * `function_call` item) as MCP `tools/call` params: the MCP tool name (a
 * shortened name resolved back) and the parsed arguments. Empty arguments are
 * `{}`; arguments that are not a JSON object throw `ToolArgumentsError`.
 */
export function toMcpCall(call: AnyToolCall, opts: ToolCallOptions = {}): McpToolCall {
  const { id, name, args } = parts(call);
  const mcpName = (opts.names ?? defaultToolNames).toMcp(name);
  if (args === undefined || args === null || args.trim() === '') return { name: mcpName, arguments: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch (err) {
    throw new ToolArgumentsError(id, name, args, (err as Error).message, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ToolArgumentsError(id, name, args, `got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}`);
  }
  return { name: mcpName, arguments: parsed as JsonObject };
}

/** A legacy `{ toolResult }` answer (protocol 2024-10-07) as a CallToolResult. */
function normalise(result: McpCallToolResult | { toolResult: unknown }): McpCallToolResult {
  if ('toolResult' in result && !('content' in result)) {
    const r = result.toolResult;
    return { content: [{ type: 'text', text: typeof r === 'string' ? r : JSON.stringify(r) }] };
  }
  return result as McpCallToolResult;
}

/** Runs a provider's tool call on the MCP client and returns the MCP `CallToolResult`. */
export async function callOpenAITool(client: McpToolsClient, call: AnyToolCall, opts: ToolCallOptions = {}): Promise<McpCallToolResult> {
  return normalise(await client.callTool(toMcpCall(call, opts)));
}

function base64Bytes(data: unknown): number {
  if (typeof data !== 'string') return 0;
  const s = data.replace(/\s/g, '');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((s.length * 3) / 4) - pad);
}

function describe(block: McpContent): string {
  switch (block.type) {
    case 'text':
      return String(block.text ?? '');
    case 'image':
    case 'audio':
      return `[${block.type}: ${String(block.mimeType ?? 'application/octet-stream')}, ${base64Bytes(block.data)} bytes]`;
    case 'resource_link':
      return `[resource: ${String(block.uri)}]`;
    case 'resource': {
      const r = (block.resource ?? {}) as { uri?: string; mimeType?: string; text?: string; blob?: string };
      if (typeof r.text === 'string') return `[resource: ${r.uri}]\n${r.text}`;
      return `[resource: ${r.uri}${r.mimeType ? `, ${r.mimeType}` : ''}${typeof r.blob === 'string' ? `, ${base64Bytes(r.blob)} bytes` : ''}]`;
    }
    default:
      return `[${block.type}]`;
  }
}

/**
 * A CallToolResult as text for a model: text blocks joined with newlines;
 * `structuredContent` as JSON when there is no text; images, audio and
 * resources described (`[image: image/png, 1234 bytes]`, `[resource: uri]`);
 * a failed tool (`isError`) prefixed with `Error: `.
 */
export function toolResultText(result: McpCallToolResult): string {
  const content = result.content ?? [];
  const hasText = content.some((c) => c.type === 'text');
  const lines = content.map(describe);
  if (!hasText && result.structuredContent !== undefined) lines.unshift(JSON.stringify(result.structuredContent));
  const text = lines.join('\n');
  return result.isError ? `Error: ${text || 'the tool failed without a message'}` : text;
}

/** The Chat Completions `role: "tool"` message that answers `call` with `result`. */
export function toolResultMessage(call: AnyToolCall, result: McpCallToolResult): ToolResultMessage {
  return { role: 'tool', tool_call_id: parts(call).id, content: toolResultText(result) };
}

/** The Responses API `function_call_output` input item that answers `call` with `result`. */
export function functionCallOutput(call: AnyToolCall, result: McpCallToolResult): { type: 'function_call_output'; call_id: string; output: string } {
  return { type: 'function_call_output', call_id: parts(call).id, output: toolResultText(result) };
}
