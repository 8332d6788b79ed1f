// The scripted provider as the official openai client sees it: Chat
// Completions and Responses, streaming and not, models, errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { NotFoundError } from 'openai';
import { offeredTools, start, type ScriptedProvider, type Step } from '../fixtures/openai-provider/index.js';

const providers: ScriptedProvider[] = [];
after(() => Promise.all(providers.map((p) => p.close())));
async function provider(script: Step[], models?: string[]): Promise<{ p: ScriptedProvider; openai: OpenAI }> {
  const p = await start({ script, models });
  providers.push(p);
  return { p, openai: new OpenAI({ baseURL: p.url, apiKey: 'sk-test', maxRetries: 0 }) };
}
const tools = [{ type: 'function' as const, function: { name: 'add', description: 'Adds', parameters: { type: 'object', properties: {} } } }];

test('chat completions, streamed: text chunks, tool call argument fragments, usage, [DONE]', async () => {
  const { p, openai } = await provider([
    { answer: 'Hello there, streaming world' },
    { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 }, id: 'call_x' }, { name: 'add', arguments: { a: 1, b: 1 } }] },
  ]);
  const stream = await openai.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let finish: string | null = null;
  let usage: unknown;
  for await (const c of stream) {
    chunks++;
    text += c.choices[0]?.delta.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, 'Hello there, streaming world');
  assert.ok(chunks > 4, `text came in several chunks (${chunks})`);
  assert.equal(finish, 'stop');
  assert.ok((usage as { total_tokens: number }).total_tokens > 0);

  // The SDK's stream helper assembles tool calls from the fragments.
  const runner = openai.chat.completions.stream({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'add' }], tools });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
  const calls = final.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? [c.id, c.function.name, JSON.parse(c.function.arguments)] : []));
  assert.deepEqual(calls[0], ['call_x', 'add', { a: 2, b: 3 }]);
  assert.deepEqual(calls[1]!.slice(1), ['add', { a: 1, b: 1 }]);
  assert.deepEqual(offeredTools(p.requests[1]!), ['add']);

  // On the wire: SSE data lines ending with [DONE].
  p.push({ answer: 'raw' });
  const res = await fetch(`${p.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [], stream: true }) });
  assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
  const body = await res.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'));
  assert.ok(body.split('\n\n').filter(Boolean).every((e) => e.startsWith('data: ')));
});

test('responses, plain and streamed, with function_call items', async () => {
  const { openai } = await provider([
    { answer: 'plain answer' },
    { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 }, id: 'call_r' }] },
    { answer: 'streamed answer' },
  ]);
  const plain = await openai.responses.create({ model: 'gpt-scripted', input: 'hi' });
  assert.equal(plain.output_text, 'plain answer');
  assert.equal(plain.status, 'completed');

  const fc = await openai.responses.create({ model: 'gpt-scripted', input: 'add', tools: [{ type: 'function', name: 'add', parameters: {}, strict: false }] });
  const item = fc.output[0]!;
  assert.equal(item.type, 'function_call');
  assert.deepEqual(item.type === 'function_call' && [item.call_id, item.name, JSON.parse(item.arguments)], ['call_r', 'add', { a: 1, b: 2 }]);

  const stream = await openai.responses.create({ model: 'gpt-scripted', input: 'hi', stream: true });
  const types: string[] = [];
  let text = '';
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  assert.equal(text, 'streamed answer');
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.output_item.done']) assert.ok(types.includes(t), t);
});

test('responses streamed function call arguments', async () => {
  const { openai } = await provider([{ toolCalls: [{ name: 'add', arguments: { a: 10, b: 20 } }] }]);
  const stream = openai.responses.stream({ model: 'gpt-scripted', input: 'add' });
  const types = new Set<string>();
  stream.on('event', (ev) => types.add(ev.type));
  const final = await stream.finalResponse();
  assert.ok(types.has('response.function_call_arguments.delta') && types.has('response.function_call_arguments.done'));
  const item = final.output[0]!;
  assert.deepEqual(item.type === 'function_call' && JSON.parse(item.arguments), { a: 10, b: 20 });
});

test('models, unknown models, malformed bodies and script errors in OpenAI error shape', async () => {
  const { p, openai } = await provider([{ error: { status: 429, message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }], ['gpt-a', 'gpt-b']);
  const models = [];
  for await (const m of openai.models.list()) models.push(m.id);
  assert.deepEqual(models, ['gpt-a', 'gpt-b']);
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-x', messages: [] }), (e: unknown) => e instanceof NotFoundError && e.code === 'model_not_found');
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-a', messages: [] }), (e: unknown) => e instanceof OpenAI.RateLimitError && e.code === 'rate_limit_exceeded');
  await assert.rejects(openai.chat.completions.create({ model: 'gpt-a', messages: [] }), (e: unknown) => e instanceof OpenAI.InternalServerError && /script exhausted/.test(e.message));
  const bad = await fetch(`${p.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
  assert.equal(bad.status, 400);
  assert.deepEqual(Object.keys(((await bad.json()) as { error: object }).error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(p.requests.filter((r) => r.endpoint === 'chat.completions').length, 4);
});
