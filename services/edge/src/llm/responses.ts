// POST /v1/responses with MCP tools, shaped like OpenAI's own MCP tool: the
// output carries one `mcp_list_tools` item per MCP tool entry, an `mcp_call`
// item per call the edge ran, and `mcp_approval_request` items for calls that
// wait for the caller. The edge keeps no response state: a caller approves by
// sending the `mcp_approval_request` item back with its
// `mcp_approval_response` (and earlier `mcp_call` items become the
// function_call / function_call_output pairs the model needs).
import { randomBytes } from 'node:crypto';
import { toResponsesTool, type ResponsesFunctionCall } from '@mcpgw/bridge';
import type { ModelConfig } from '@mcpgw/common/config';
import type { RequestContext } from '../dispatcher.js';
import { badRequest } from './errors.js';
import type { Providers } from './provider.js';
import { addUsage, injectedTools, runToolCall, type InjectedTools, type LoopDeps, type SplitTools, type ToolRun } from './tool-loop.js';

type Item = Record<string, unknown>;

const itemId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

function mcpCallItem(tools: InjectedTools, id: string, run: ToolRun, approvalRequestId: string | null = null): Item {
  const error = run.error
    ? { type: 'mcp_protocol_error', code: run.error.code, message: run.error.message }
    : run.isError ? { type: 'mcp_tool_execution_error', content: run.result?.content ?? [] } : null;
  return {
    type: 'mcp_call', id, server_label: tools.labelOf(run.name), name: run.name, arguments: run.arguments,
    approval_request_id: approvalRequestId, output: error ? null : run.text, error, status: error ? 'failed' : 'completed',
  };
}

/**
 * The caller's input as the provider can read it: `mcp_list_tools` dropped,
 * `mcp_call` items as function_call + function_call_output, approved
 * requests run now (declined ones answered as declined).
 */
async function providerInput(deps: LoopDeps, ctx: RequestContext, model: ModelConfig, requestId: string, tools: InjectedTools, input: Item[], output: Item[]): Promise<Item[]> {
  const requests = new Map<string, Item>();
  const answers = new Map<string, boolean>();
  for (const item of input) {
    if (item.type === 'mcp_approval_request' && typeof item.id === 'string') requests.set(item.id, item);
    if (item.type === 'mcp_approval_response' && typeof item.approval_request_id === 'string') answers.set(item.approval_request_id, item.approve === true);
  }
  const out: Item[] = [];
  for (const item of input) {
    switch (item.type) {
      case 'mcp_list_tools':
      case 'mcp_approval_request':
        break;
      case 'mcp_call':
        out.push({ type: 'function_call', call_id: item.id, name: item.name, arguments: item.arguments ?? '{}' },
          { type: 'function_call_output', call_id: item.id, output: typeof item.output === 'string' ? item.output : `Error: ${JSON.stringify(item.error ?? 'failed')}` });
        break;
      case 'mcp_approval_response': {
        const id = item.approval_request_id as string;
        const request = requests.get(id);
        if (!request) throw badRequest(`mcp_approval_response for '${id}': send the mcp_approval_request item with it (this gateway keeps no response state)`, 'input');
        const call: ResponsesFunctionCall = { type: 'function_call', call_id: id, name: String(request.name), arguments: String(request.arguments ?? '{}') };
        out.push(call);
        if (answers.get(id) && tools.mcpName(call.name)) {
          const run = await runToolCall(deps, ctx, model, requestId, tools, call);
          output.push(mcpCallItem(tools, itemId('mcp'), run, id));
          out.push({ type: 'function_call_output', call_id: id, output: run.text });
        } else {
          out.push({ type: 'function_call_output', call_id: id, output: answers.get(id) ? `Error: tool '${call.name}' is not available` : 'Error: the user declined this tool call' });
        }
        break;
      }
      default:
        out.push(item);
    }
  }
  return out;
}

export interface ResponsesLoopResult {
  response: Record<string, unknown>;
  steps: number;
}

export async function responsesWithMcpTools(
  deps: LoopDeps & { providers: Providers }, ctx: RequestContext, model: ModelConfig, requestId: string,
  body: Record<string, unknown>, { mcp: entries, other, clientNames }: SplitTools, signal: AbortSignal,
): Promise<ResponsesLoopResult> {
  const tools = injectedTools(deps, ctx, entries);
  const offered = [...other, ...tools.tools.map((t) => toResponsesTool(t, { names: tools.names }))];
  const output: Item[] = entries.map((e) => ({
    type: 'mcp_list_tools', id: itemId('mcpl'), server_label: e.label, error: null,
    tools: tools.listed(e).map((t) => ({ name: t.name, description: t.description ?? null, input_schema: t.inputSchema ?? { type: 'object', properties: {} }, annotations: t.annotations ?? null })),
  }));
  const given = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : (body.input as Item[] | undefined) ?? [];
  const input = await providerInput(deps, ctx, model, requestId, tools, given, output);
  const { stream: _stream, stream_options: _options, tools: _tools, ...rest } = body;
  let usage: Record<string, unknown> | undefined;
  for (let step = 1; ; step++) {
    if (step > 1) await deps.chargeModelCall();
    const response = await deps.providers.json(model, 'responses', { ...rest, input, ...(offered.length ? { tools: offered } : {}) }, signal);
    usage = addUsage(usage, response.usage);
    const items = (response.output as Item[] | undefined) ?? [];
    const calls = items.filter((i) => i.type === 'function_call') as unknown as ResponsesFunctionCall[];
    const finish = (extra: Partial<Record<string, unknown>> = {}, tail: Item[] = items): ResponsesLoopResult => ({
      response: { ...response, ...extra, output: [...output, ...tail], tools: body.tools ?? [], ...(usage ? { usage } : {}) },
      steps: step,
    });
    if (calls.length === 0 || calls.some((c) => clientNames.has(c.name))) return finish();
    const said = items.filter((i) => i.type !== 'function_call');
    // A name that was not offered runs nowhere: the model reads "unknown tool" (runToolCall).
    const needs = (c: ResponsesFunctionCall) => { const n = tools.mcpName(c.name); return n !== undefined && tools.needsApproval(n); };
    if (calls.some(needs)) {
      // Calls that need no approval run now; the others wait for the caller.
      const tail: Item[] = [...said];
      for (const c of calls) {
        const name = tools.mcpName(c.name)!;
        if (needs(c)) tail.push({ type: 'mcp_approval_request', id: itemId('mcpr'), server_label: tools.labelOf(name), name, arguments: c.arguments });
        else tail.push(mcpCallItem(tools, itemId('mcp'), await runToolCall(deps, ctx, model, requestId, tools, c)));
      }
      return finish({}, tail);
    }
    if (step >= deps.maxSteps) {
      const tail: Item[] = [...said, ...calls.map((c) => ({
        type: 'mcp_call', id: itemId('mcp'), server_label: tools.labelOf(c.name), name: tools.names.toMcp(c.name), arguments: c.arguments, output: null,
        error: { type: 'mcp_protocol_error', code: -32000, message: `not run: the gateway's limit of ${deps.maxSteps} model calls per request was reached` }, status: 'incomplete',
      }))];
      return finish({ status: 'incomplete', incomplete_details: { reason: 'max_steps' } }, tail);
    }
    output.push(...said);
    input.push(...items);
    const runs = await Promise.all(calls.map((c) => runToolCall(deps, ctx, model, requestId, tools, c)));
    runs.forEach((run, i) => {
      output.push(mcpCallItem(tools, itemId('mcp'), run));
      input.push({ type: 'function_call_output', call_id: calls[i]!.call_id, output: run.text });
    });
  }
}

/**
 * A finished response as the Responses API's streaming events (created,
 * in_progress, each output item added/done with its text deltas, completed),
 * for a streaming caller whose answer came out of the tool loop.
 */
export function responseAsEvents(response: Record<string, unknown>): string[] {
  let sequence_number = 0;
  const out: string[] = [];
  const event = (type: string, data: Record<string, unknown>) => out.push(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence_number++, ...data })}\n\n`);
  const pending = { ...response, status: 'in_progress', output: [], usage: null };
  event('response.created', { response: pending });
  event('response.in_progress', { response: pending });
  ((response.output as Item[] | undefined) ?? []).forEach((item, output_index) => {
    if (item.type === 'message' && Array.isArray(item.content)) {
      event('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      (item.content as Item[]).forEach((part, content_index) => {
        const ids = { item_id: item.id, output_index, content_index };
        event('response.content_part.added', { ...ids, part: { ...part, text: '' } });
        if (part.type === 'output_text' && typeof part.text === 'string') {
          event('response.output_text.delta', { ...ids, delta: part.text, logprobs: [] });
          event('response.output_text.done', { ...ids, text: part.text, logprobs: [] });
        }
        event('response.content_part.done', { ...ids, part });
      });
    } else {
      event('response.output_item.added', { output_index, item });
    }
    event('response.output_item.done', { output_index, item });
  });
  event(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
  return out;
}
