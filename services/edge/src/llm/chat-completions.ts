// POST /v1/chat/completions with MCP tools: the model's calls of the caller's
// MCP tools run here until it answers (or `maxSteps` model calls). Calls that
// need approval, or of the caller's own functions, go back to the caller
// unexecuted with finish_reason "tool_calls".
import { toOpenAITool, type OpenAIToolCall } from '@mcpgw/bridge';
import type { ModelConfig } from '@mcpgw/common/config';
import type { RequestContext } from '../dispatcher.js';
import type { Providers } from './provider.js';
import { addUsage, injectedTools, runToolCall, type LoopDeps, type SplitTools } from './tool-loop.js';

export type StopReason = 'answer' | 'approval' | 'client_tools' | 'max_steps';

export interface ChatLoopResult {
  completion: Record<string, unknown>;
  stoppedReason: StopReason;
  steps: number;
}

interface Message {
  role?: string;
  content?: unknown;
  tool_calls?: OpenAIToolCall[];
}

export async function chatWithMcpTools(
  deps: LoopDeps & { providers: Providers }, ctx: RequestContext, model: ModelConfig, requestId: string,
  body: Record<string, unknown>, { mcp: entries, other, clientNames }: SplitTools, signal: AbortSignal,
): Promise<ChatLoopResult> {
  const tools = injectedTools(deps, ctx, entries);
  const offered = [...other, ...tools.tools.map((t) => toOpenAITool(t, { names: tools.names }))];
  const messages = [...(body.messages as unknown[])];
  // Every step is one JSON answer; the caller's `stream` is honoured on the final answer (routes.ts).
  const { stream: _stream, stream_options: _options, tools: _tools, ...rest } = body;
  let usage: Record<string, unknown> | undefined;
  for (let step = 1; ; step++) {
    const completion = await deps.providers.json(model, 'chat/completions', { ...rest, messages, ...(offered.length ? { tools: offered } : {}) }, signal);
    usage = addUsage(usage, completion.usage);
    const finish = (stoppedReason: StopReason): ChatLoopResult => ({ completion: usage ? { ...completion, usage } : completion, stoppedReason, steps: step });
    const choice = (completion.choices as { message?: Message }[] | undefined)?.[0];
    const calls = choice?.message?.tool_calls ?? [];
    if (calls.length === 0) return finish('answer');
    if (calls.some((c) => !c.function || clientNames.has(c.function.name))) return finish('client_tools');
    // A name that was not offered runs nowhere: the model reads "unknown tool" (runToolCall).
    const ours = calls.map((c) => tools.mcpName(c.function.name));
    if (ours.some((n) => n !== undefined && tools.needsApproval(n))) return finish('approval');
    if (step >= deps.maxSteps) return finish('max_steps');
    messages.push({ role: 'assistant', content: choice!.message!.content ?? null, tool_calls: calls });
    const runs = await Promise.all(calls.map((c) => runToolCall(deps, ctx, model, requestId, tools, c)));
    runs.forEach((r, i) => messages.push({ role: 'tool', tool_call_id: calls[i]!.id, content: r.text }));
  }
}

/**
 * A finished completion as `chat.completion.chunk` SSE events (role, content,
 * tool calls, finish, usage when asked, `[DONE]`), for a streaming caller
 * whose answer came out of the tool loop.
 */
export function completionAsChunks(completion: Record<string, unknown>, includeUsage: boolean): string[] {
  const choice = (completion.choices as { message?: Message; finish_reason?: string }[] | undefined)?.[0];
  const message = choice?.message ?? {};
  const base = { id: completion.id, object: 'chat.completion.chunk', created: completion.created, model: completion.model, system_fingerprint: completion.system_fingerprint ?? null };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => {
    const c: Record<string, unknown> = { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
    if (includeUsage) c.usage = null;
    return `data: ${JSON.stringify(c)}\n\n`;
  };
  const out = [chunk({ role: 'assistant', content: '' })];
  if (typeof message.content === 'string' && message.content) out.push(chunk({ content: message.content }));
  (message.tool_calls ?? []).forEach((c, index) => out.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: c.function }] })));
  out.push(chunk({}, choice?.finish_reason ?? 'stop'));
  if (includeUsage) out.push(`data: ${JSON.stringify({ ...base, choices: [], usage: completion.usage ?? null })}\n\n`);
  out.push('data: [DONE]\n\n');
  return out;
}
