// Structural types: just the fields the bridge reads, so that the MCP SDK 1.x
// `Client` (@modelcontextprotocol/sdk), the v2 `Client`
// (@modelcontextprotocol/client) and anything shaped like them fit, and the
// tool shapes are what the OpenAI and Anthropic SDKs accept.

export type JsonObject = { [key: string]: unknown };

/** An MCP tool as `tools/list` returns it. */
export type McpTool = {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: JsonObject;
  outputSchema?: JsonObject;
  annotations?: JsonObject;
  _meta?: JsonObject;
};

export type McpTextContent = { type: 'text'; text: string };
export type McpImageContent = { type: 'image'; data: string; mimeType: string };
export type McpAudioContent = { type: 'audio'; data: string; mimeType: string };
export type McpResourceLink = { type: 'resource_link'; uri: string; name?: string; mimeType?: string };
export type McpEmbeddedResource = { type: 'resource'; resource: { uri: string; mimeType?: string; text?: string; blob?: string } };
/** A content block of a tool result; unknown block types are described by their type. */
export type McpContent = { type: string; [key: string]: unknown };

/** An MCP `CallToolResult`. */
export type McpCallToolResult = {
  content?: McpContent[];
  // An object per the spec; typed loosely because SDK 1.x types it `unknown`.
  structuredContent?: unknown;
  isError?: boolean;
  _meta?: JsonObject;
};

/** What the bridge needs of an MCP client session: any SDK 1.x or v2 `Client` fits. */
export interface McpToolsClient {
  listTools(params?: { cursor?: string }): Promise<{ tools: McpTool[]; nextCursor?: string }>;
  // SDK 1.x may type the result as the pre-2024-11-05 `{ toolResult }` shape too.
  callTool(params: { name: string; arguments?: JsonObject }): Promise<McpCallToolResult | { toolResult: unknown }>;
}

/** A Chat Completions function tool (`tools` of `chat.completions.create`). */
export type OpenAIFunctionTool = {
  type: 'function';
  function: { name: string; description: string; parameters: JsonObject; strict?: boolean | null };
};

/** A Responses API function tool (`tools` of `responses.create`). */
export type ResponsesFunctionTool = {
  type: 'function';
  name: string;
  description: string;
  parameters: JsonObject;
  strict: boolean | null;
};

/** An Anthropic Messages API tool. */
export type AnthropicTool = {
  name: string;
  description: string;
  input_schema: JsonObject;
};

/** A Chat Completions function tool call as the model returns it (`message.tool_calls[i]`). */
export type OpenAIToolCall = {
  id: string;
  type?: 'function';
  function: { name: string; arguments: string };
};

/** A Responses API `function_call` output item. */
export type ResponsesFunctionCall = {
  type: 'function_call';
  call_id: string;
  name: string;
  arguments: string;
};

/** A tool call in either shape, as `toMcpCall` and `callOpenAITool` accept it. */
export type AnyToolCall = OpenAIToolCall | ResponsesFunctionCall;

/** An MCP `tools/call` request's params. */
export type McpToolCall = { name: string; arguments: JsonObject };

/** A Chat Completions `role: "tool"` message. */
export type ToolResultMessage = { role: 'tool'; tool_call_id: string; content: string };
