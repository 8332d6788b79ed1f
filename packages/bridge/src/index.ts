export { loadMcpTools, listAllTools, toOpenAITool, toResponsesTool, toAnthropicTool } from './tools.js';
export type { ToolFormat, ToolOf, LoadMcpToolsOptions, ToolConversionOptions } from './tools.js';
export { toMcpCall, callOpenAITool, toolResultMessage, toolResultText, functionCallOutput } from './calls.js';
export type { ToolCallOptions } from './calls.js';
export { runToolLoop } from './tool-loop.js';
export type { ChatCompletionsClient, RunToolLoopOptions, ToolLoopCall, ToolLoopStep, ToolLoopResult } from './tool-loop.js';
export { ToolArgumentsError, ToolSchemaError } from './errors.js';
export { exposedName, providerToolName, ToolNameMap, defaultToolNames, MAX_TOOL_NAME_LENGTH } from './naming.js';
export { toParameters } from './schema.js';
export type {
  JsonObject, McpTool, McpContent, McpCallToolResult, McpToolsClient, McpToolCall,
  McpTextContent, McpImageContent, McpAudioContent, McpResourceLink, McpEmbeddedResource,
  OpenAIFunctionTool, ResponsesFunctionTool, AnthropicTool, OpenAIToolCall, ResponsesFunctionCall, AnyToolCall, ToolResultMessage,
} from './types.js';
