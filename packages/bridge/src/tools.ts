import { defaultToolNames, type ToolNameMap } from './naming.js';
import { toParameters } from './schema.js';
import type { AnthropicTool, McpTool, McpToolsClient, OpenAIFunctionTool, ResponsesFunctionTool } from './types.js';

export interface ToolConversionOptions {
  /** Where shortened names are remembered for `toMcpCall` (default: the shared `defaultToolNames`). */
  names?: ToolNameMap;
}

/** An MCP tool as a Chat Completions function tool. */
export function toOpenAITool(tool: McpTool, opts: ToolConversionOptions = {}): OpenAIFunctionTool {
  const names = opts.names ?? defaultToolNames;
  return {
    type: 'function',
    function: { name: names.add(tool.name), description: tool.description ?? '', parameters: toParameters(tool.name, tool.inputSchema) },
  };
}

/**
 * An MCP tool as a Responses API function tool. `strict` is false: strict mode
 * needs every property required and `additionalProperties: false`, which
 * MCP schemas rarely are.
 */
export function toResponsesTool(tool: McpTool, opts: ToolConversionOptions = {}): ResponsesFunctionTool {
  const names = opts.names ?? defaultToolNames;
  return { type: 'function', name: names.add(tool.name), description: tool.description ?? '', parameters: toParameters(tool.name, tool.inputSchema), strict: false };
}

/** An MCP tool as an Anthropic Messages API tool. */
export function toAnthropicTool(tool: McpTool, opts: ToolConversionOptions = {}): AnthropicTool {
  const names = opts.names ?? defaultToolNames;
  return { name: names.add(tool.name), description: tool.description ?? '', input_schema: toParameters(tool.name, tool.inputSchema) };
}

export type ToolFormat = 'mcp' | 'openai' | 'responses' | 'anthropic';

export interface LoadMcpToolsOptions<F extends ToolFormat> extends ToolConversionOptions {
  /** `mcp` (default): the tools as listed; `openai`: Chat Completions tools; `responses`: Responses API tools; `anthropic`: Messages API tools. */
  format?: F;
  /** Keep only these tools (by MCP name, or a predicate). */
  filter?: readonly string[] | ((tool: McpTool) => boolean);
  /** Stop after this many pages of `tools/list` (a server that never stops paging). Default 1000. */
  maxPages?: number;
}

export type ToolOf<F extends ToolFormat> = F extends 'openai' ? OpenAIFunctionTool
  : F extends 'responses' ? ResponsesFunctionTool
  : F extends 'anthropic' ? AnthropicTool
  : McpTool;

/** Every MCP tool of `tools/list`, over every page. */
export async function listAllTools(client: McpToolsClient, maxPages = 1000): Promise<McpTool[]> {
  const tools: McpTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; ; page++) {
    if (page >= maxPages) throw new Error(`tools/list: still paging after ${maxPages} pages`);
    const res = await client.listTools(cursor === undefined ? undefined : { cursor });
    tools.push(...res.tools);
    if (!res.nextCursor) return tools;
    cursor = res.nextCursor;
  }
}

/**
 * The MCP client's tools (every page of `tools/list`) in the given format.
 * A tool whose schema cannot be converted throws a `ToolSchemaError` naming it.
 */
export async function loadMcpTools<F extends ToolFormat = 'mcp'>(client: McpToolsClient, opts: LoadMcpToolsOptions<F> = {}): Promise<ToolOf<F>[]> {
  let tools = await listAllTools(client, opts.maxPages);
  const filter = opts.filter;
  if (filter) tools = tools.filter(typeof filter === 'function' ? filter : (t) => filter.includes(t.name));
  const format: ToolFormat = opts.format ?? 'mcp';
  const conv = { names: opts.names };
  switch (format) {
    case 'mcp': return tools as ToolOf<F>[];
    case 'openai': return tools.map((t) => toOpenAITool(t, conv)) as ToolOf<F>[];
    case 'responses': return tools.map((t) => toResponsesTool(t, conv)) as ToolOf<F>[];
    case 'anthropic': return tools.map((t) => toAnthropicTool(t, conv)) as ToolOf<F>[];
    default: throw new TypeError(`loadMcpTools: unknown format ${JSON.stringify(format)} (mcp, openai, responses or anthropic)`);
  }
}
