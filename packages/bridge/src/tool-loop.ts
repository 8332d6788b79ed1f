import type {
  ChatCompletion,
  ChatCompletionAssistantMessageParam,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessage,
  ChatCompletionMessageParam,
  ChatCompletionMessageToolCall,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { callOpenAITool, toolResultMessage } from './calls.js';
import { ToolArgumentsError } from './errors.js';
import { defaultToolNames, type ToolNameMap } from './naming.js';
import { loadMcpTools } from './tools.js';
import type { McpCallToolResult, McpToolsClient, ToolResultMessage } from './types.js';

/** The part of the official `openai` client the loop uses (`new OpenAI()` fits). */
export interface ChatCompletionsClient {
  chat: {
    completions: {
      create(body: ChatCompletionCreateParamsNonStreaming, options?: { signal?: AbortSignal }): PromiseLike<ChatCompletion>;
    };
  };
}

export interface RunToolLoopOptions {
  openai: ChatCompletionsClient;
  mcp: McpToolsClient;
  /**
   * The Chat Completions request. Without `tools`, every tool of `mcp` is
   * offered; with `tools`, exactly those (e.g. from `loadMcpTools` with a
   * `filter`). `stream` is not supported here.
   */
  request: Omit<ChatCompletionCreateParamsNonStreaming, 'stream'>;
  /** The most model calls (each followed by its tool calls). Default 10. */
  maxSteps?: number;
  /** The map the `request.tools` were converted with (default: the shared one). */
  names?: ToolNameMap;
  signal?: AbortSignal;
}

/** One tool call of a step and what went back to the model. */
export interface ToolLoopCall {
  call: ChatCompletionMessageToolCall;
  /** The MCP result, when the tool ran (it may still be `isError`). */
  result?: McpCallToolResult;
  /** Why the tool did not run: bad arguments, an MCP error (unknown tool…), an unsupported call type. */
  error?: Error;
  message: ToolResultMessage;
}

export interface ToolLoopStep {
  completion: ChatCompletion;
  toolCalls: ToolLoopCall[];
}

export interface ToolLoopResult {
  /** `answer`: the model answered without asking for tools; `max_steps`: `maxSteps` model calls all asked for tools. */
  stoppedReason: 'answer' | 'max_steps';
  /** The last model completion and its message (on `max_steps`, the one that asked for the last tool calls). */
  completion: ChatCompletion;
  message: ChatCompletionMessage;
  /** The whole conversation: the request's messages, then each assistant turn and tool result; can be sent again to go on. */
  messages: ChatCompletionMessageParam[];
  steps: ToolLoopStep[];
}

function hasNumericCode(err: unknown): err is Error & { code: number } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}

async function runOne(mcp: McpToolsClient, call: ChatCompletionMessageToolCall, names: ToolNameMap): Promise<ToolLoopCall> {
  const fail = (error: Error): ToolLoopCall => ({ call, error, message: { role: 'tool', tool_call_id: call.id, content: `Error: ${error.message}` } });
  if (call.type !== 'function') return fail(new Error(`tool call ${call.id}: type ${JSON.stringify(call.type)} is not supported, only function tools`));
  try {
    const result = await callOpenAITool(mcp, call, { names });
    return { call, result, message: toolResultMessage(call, result) };
  } catch (err) {
    // Bad arguments and MCP errors (an unknown tool, invalid params, a timeout)
    // go back to the model so it can correct itself; a broken connection does not.
    if (err instanceof ToolArgumentsError || hasNumericCode(err)) return fail(err);
    throw err;
  }
}

function assistantParam(message: ChatCompletionMessage): ChatCompletionAssistantMessageParam {
  const param: ChatCompletionAssistantMessageParam = { role: 'assistant', content: message.content };
  if (message.tool_calls?.length) param.tool_calls = message.tool_calls;
  if (message.refusal) param.refusal = message.refusal;
  return param;
}

/**
 * Calls the model, runs the tool calls it asks for on the MCP client (several
 * at once when it asks for several), sends the results back, and repeats
 * until the model answers or `maxSteps` model calls were made. Provider errors
 * are thrown as the `openai` client throws them (`APIError`).
 */
export async function runToolLoop(opts: RunToolLoopOptions): Promise<ToolLoopResult> {
  const { openai, mcp, signal } = opts;
  const maxSteps = opts.maxSteps ?? 10;
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new RangeError(`runToolLoop: maxSteps must be a positive integer, got ${maxSteps}`);
  const names = opts.names ?? defaultToolNames;
  const tools: ChatCompletionTool[] = opts.request.tools ?? (await loadMcpTools(mcp, { format: 'openai', names }));
  const messages: ChatCompletionMessageParam[] = [...opts.request.messages];
  const steps: ToolLoopStep[] = [];
  for (;;) {
    signal?.throwIfAborted();
    const body: ChatCompletionCreateParamsNonStreaming = { ...opts.request, messages: [...messages], stream: false };
    if (tools.length) body.tools = tools;
    const completion = await openai.chat.completions.create(body, signal ? { signal } : undefined);
    const choice = completion.choices?.[0];
    if (!choice) throw new Error(`runToolLoop: the model's completion ${completion.id} has no choices`);
    const message = choice.message;
    messages.push(assistantParam(message));
    const calls = message.tool_calls ?? [];
    if (calls.length === 0) {
      steps.push({ completion, toolCalls: [] });
      return { stoppedReason: 'answer', completion, message, messages, steps };
    }
    const toolCalls = await Promise.all(calls.map((c) => runOne(mcp, c, names)));
    for (const t of toolCalls) messages.push(t.message);
    steps.push({ completion, toolCalls });
    if (steps.length >= maxSteps) return { stoppedReason: 'max_steps', completion, message, messages, steps };
  }
}
