// POST /v1/chat/completions with MCP tools: the model's calls of the caller's
// MCP tools run here until it answers (or `maxSteps` model calls). Calls that
// need approval, or of the caller's own functions, go back to the caller
// unexecuted with finish_reason "tool_calls". A streaming caller gets the
// model's text as the provider streams it, step after step; tool-call chunks
// are held back (the edge runs those calls) and one finish comes at the end.
import { toOpenAITool, type OpenAIToolCall } from '@mcpgw/bridge';
import type { ModelConfig } from '@mcpgw/common/config';
import type { RequestContext } from '../dispatcher.js';
import type { Readable } from 'node:stream';
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

/** Where a streaming caller's chunks go (the route starts the SSE response on the first write). */
export interface ChunkSink {
  write(text: string): void;
  includeUsage: boolean;
}

export async function chatWithMcpTools(
  deps: LoopDeps & { providers: Providers }, ctx: RequestContext, model: ModelConfig, requestId: string,
  body: Record<string, unknown>, { mcp: entries, other, clientNames }: SplitTools, signal: AbortSignal, sink?: ChunkSink,
): Promise<ChatLoopResult> {
  const tools = injectedTools(deps, ctx, entries);
  const offered = [...other, ...tools.tools.map((t) => toOpenAITool(t, { names: tools.names }))];
  const messages = [...(body.messages as unknown[])];
  // Every step is one JSON answer; the caller's `stream` is honoured on the final answer (routes.ts).
  const { stream: _stream, stream_options: _options, tools: _tools, ...rest } = body;
  let usage: Record<string, unknown> | undefined;
  const streamed = sink ? new StreamedChat(sink) : undefined;
  for (let step = 1; ; step++) {
    if (step > 1) await deps.chargeModelCall();
    const request = { ...rest, messages, ...(offered.length ? { tools: offered } : {}) };
    const completion = streamed
      ? await streamed.step(await deps.providers.stream(model, 'chat/completions', { ...request, stream: true, stream_options: { include_usage: true } }, signal))
      : await deps.providers.json(model, 'chat/completions', request, signal);
    usage = addUsage(usage, completion.usage);
    const finish = (stoppedReason: StopReason): ChatLoopResult => {
      const done = usage ? { ...completion, usage } : completion;
      streamed?.end(done);
      return { completion: done, stoppedReason, steps: step };
    };
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

interface ChunkChoice {
  delta?: { content?: string | null; tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] };
  finish_reason?: string | null;
}

/**
 * One streamed answer per step, parsed as it comes: text is forwarded at
 * once under the first step's id, tool calls are assembled and kept, and the
 * step is returned as a `chat.completion` for the loop.
 */
class StreamedChat {
  private head?: { id: unknown; created: unknown; model: unknown; system_fingerprint: unknown };

  constructor(private readonly sink: ChunkSink) {}

  private chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    const c: Record<string, unknown> = { ...this.head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] };
    if (this.sink.includeUsage) c.usage = null;
    return `data: ${JSON.stringify(c)}\n\n`;
  }

  async step(up: { body: Readable }): Promise<Record<string, unknown>> {
    let content = '';
    let finish: string | null = null;
    let usage: unknown;
    let meta: { id?: unknown; created?: unknown; model?: unknown; system_fingerprint?: unknown } = {};
    const calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
    let buffer = '';
    const onEvent = (data: string) => {
      if (data === '[DONE]') return;
      const chunk = JSON.parse(data) as { error?: unknown; usage?: unknown; choices?: ChunkChoice[] } & typeof meta;
      if (chunk.error) throw Object.assign(new Error('provider error in stream'), { streamError: chunk.error });
      if (!this.head) {
        this.head = { id: chunk.id, created: chunk.created, model: chunk.model, system_fingerprint: chunk.system_fingerprint ?? null };
        this.sink.write(this.chunk({ role: 'assistant', content: '' }));
      }
      meta = { id: chunk.id, created: chunk.created, model: chunk.model, system_fingerprint: chunk.system_fingerprint };
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) return;
      if (choice.delta?.content) {
        content += choice.delta.content;
        this.sink.write(this.chunk({ content: choice.delta.content }));
      }
      for (const t of choice.delta?.tool_calls ?? []) {
        const c = (calls[t.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } });
        if (t.id) c.id = t.id;
        if (t.function?.name) c.function.name += t.function.name;
        if (t.function?.arguments) c.function.arguments += t.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    };
    for await (const piece of up.body) {
      buffer += (piece as Buffer).toString('utf8');
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (data) onEvent(data);
      }
    }
    const toolCalls = calls.filter(Boolean);
    const message: Record<string, unknown> = { role: 'assistant', content: content || null };
    if (toolCalls.length) message.tool_calls = toolCalls;
    return { ...meta, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: finish ?? (toolCalls.length ? 'tool_calls' : 'stop') }], ...(usage ? { usage } : {}) };
  }

  /** The tail of the caller's stream: unexecuted tool calls (if any), the finish, usage when asked, [DONE]. */
  end(completion: Record<string, unknown>): void {
    const choice = (completion.choices as { message?: Message; finish_reason?: string }[])[0];
    (choice?.message?.tool_calls ?? []).forEach((c, index) => this.sink.write(this.chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: c.function }] })));
    this.sink.write(this.chunk({}, choice?.finish_reason ?? 'stop'));
    if (this.sink.includeUsage) this.sink.write(`data: ${JSON.stringify({ ...this.head, object: 'chat.completion.chunk', choices: [], usage: completion.usage ?? null })}\n\n`);
    this.sink.write('data: [DONE]\n\n');
  }
}
