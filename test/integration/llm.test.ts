// The edge's OpenAI-compatible endpoints through real processes: a registry
// with two demo upstreams, an edge whose model_list points at the scripted
// provider (test/fixtures/openai-provider), and the official `openai` client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { offeredTools, start, type ScriptedProvider } from '../fixtures/openai-provider/index.js';
import { startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { DEMO_SERVER, stopAll, waitFor, writeConfig } from '../harness/processes.js';

const MASTER = 'llm-master-key';
const PROVIDER_KEY = 'sk-provider-secret';
const MCP_NEVER = { type: 'mcp', server_url: 'mcpgw', server_label: 'gw', require_approval: 'never' } as const;

describe('OpenAI-compatible endpoints (real processes, scripted provider)', () => {
  let edge: EdgeHandle;
  let provider: ScriptedProvider;
  let master: OpenAI;
  let team: OpenAI;
  let teamKey: string;

  /** The provider requests made since `from`. */
  const since = (from: number) => provider.requests.slice(from);
  const metric = async (line: RegExp): Promise<number> => {
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    const m = text.split('\n').find((l) => line.test(l));
    return m ? Number(m.split(' ').at(-1)) : 0;
  };
  const lastToolMessages = (body: any) => (body.messages as any[]).filter((m) => m.role === 'tool');

  before(async () => {
    provider = await start({ script: [], models: ['upstream-model'] });
    const cfg = writeConfig(`
mcp_servers:
  alpha:
    command: node
    args: ["${DEMO_SERVER}", "--label", "alpha"]
  beta:
    command: node
    args: ["${DEMO_SERVER}", "--label", "beta"]
model_list:
  - model_name: gpt-scripted
    litellm_params:
      model: openai/upstream-model
      api_base: ${provider.url}
      api_key: os.environ/SCRIPTED_PROVIDER_KEY
  - model_name: slow
    litellm_params: { model: openai/upstream-model, api_base: "${provider.url}", api_key: os.environ/SCRIPTED_PROVIDER_KEY, timeout: 0.5 }
gateway:
  teams:
    calc: { servers: [alpha, beta], tools: ["alpha__*", "beta__add"] }
`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER, SCRIPTED_PROVIDER_KEY: PROVIDER_KEY, MCPGW_LLM_MAX_STEPS: '3' });
    await waitFor('tools of both servers', async () => {
      const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      return ((await r.json()) as { tools: unknown[] }).tools.length === 10 || undefined;
    });
    const created = await fetch(`${edge.url}/admin/api/keys`, {
      method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'calc bot', team: 'calc' }),
    });
    assert.equal(created.status, 201);
    teamKey = ((await created.json()) as { key: string }).key;
    master = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: MASTER, maxRetries: 0 });
    team = new OpenAI({ baseURL: `${edge.url}/v1`, apiKey: teamKey, maxRetries: 0 });
  });
  after(async () => {
    await stopAll();
    await provider?.close();
  });

  test('models come from model_list (with and without /v1); an unknown model is 404 model_not_found', async () => {
    const models = await master.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['gpt-scripted', 'slow']);
    assert.equal((await master.models.retrieve('slow')).id, 'slow');
    const bare = await fetch(`${edge.url}/models`, { headers: { authorization: `Bearer ${MASTER}` } });
    assert.equal(bare.status, 200);
    await assert.rejects(master.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }), (err: any) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.param, 'model');
      return true;
    });
    const noKey = await fetch(`${edge.url}/v1/models`);
    assert.equal(noKey.status, 401);
  });

  test('a plain completion is forwarded with the upstream model name and key, never the gateway key', async () => {
    const from = provider.requests.length;
    provider.push({ answer: 'hello from upstream' });
    const completion = await team.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(completion.choices[0]!.message.content, 'hello from upstream');
    const [sent] = since(from);
    assert.equal(sent!.body.model, 'upstream-model');
    assert.equal(sent!.headers.authorization, `Bearer ${PROVIDER_KEY}`);
    assert.ok(!JSON.stringify(sent!.headers).includes(teamKey));
  });

  test('streaming passes the provider chunks through (chat completions and responses)', async () => {
    provider.push({ answer: 'a streamed answer in several pieces' }, { answer: 'responses stream' });
    const stream = await team.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    const pieces: string[] = [];
    let usage: unknown;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) pieces.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.ok(pieces.length > 3, `chunks: ${JSON.stringify(pieces)}`);
    assert.equal(pieces.join(''), 'a streamed answer in several pieces');
    assert.ok(usage);
    const events = await team.responses.create({ model: 'gpt-scripted', input: 'hi', stream: true });
    let text = '';
    for await (const e of events) if (e.type === 'response.output_text.delta') text += e.delta;
    assert.equal(text, 'responses stream');
  });

  test('a tool loop over two servers runs only the caller\'s tools: the out-of-scope one is never offered nor run', async () => {
    const from = provider.requests.length;
    const betaCalls = () => metric(/^mcpgw_tool_calls_total\{server="beta",outcome="ok"\}/);
    const betaBefore = await betaCalls();
    provider.push(
      { toolCalls: [{ name: 'alpha__add', arguments: { a: 2, b: 3 }, id: 'call_a' }, { name: 'beta__add', arguments: { a: 10, b: 1 }, id: 'call_b' }] },
      { toolCalls: [{ name: 'beta__echo', arguments: { message: 'sneaky' }, id: 'call_c' }] },
      (req) => ({ answer: `results: ${lastToolMessages(req.body).map((m: any) => m.content).join(' | ')}` }),
    );
    const completion = await team.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'add things' }], tools: [MCP_NEVER as any] });
    assert.equal(completion.choices[0]!.message.content, "results: 5 | 11 | Error: Invalid params: unknown tool 'beta__echo'");
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    const sent = since(from);
    assert.equal(sent.length, 3);
    assert.deepEqual(offeredTools(sent[0]!).sort(), ['alpha__add', 'alpha__countdown', 'alpha__current_time', 'alpha__echo', 'alpha__fail', 'beta__add']);
    assert.ok(sent.every((r) => !offeredTools(r).includes('beta__echo')));
    assert.ok(sent.every((r) => !(r.body.tools as any[]).some((t) => t.type === 'mcp')), 'the mcp tool itself never reaches the provider');
    assert.equal(await betaCalls(), betaBefore + 1, 'beta ran only beta__add');
    assert.equal(await metric(/^mcpgw_tool_calls_total\{server="beta",outcome="error"\}/), 0);
    assert.ok(await metric(/^mcpgw_llm_tool_calls_total\{model="gpt-scripted",outcome="ok"\}/) >= 2);
    assert.equal(await metric(/^mcpgw_denials_total\{kind="tool"\}/), 1, 'the attempt outside the scopes is audited as a denial');
  });

  test('a failing tool and arguments that are not JSON go back to the model, which answers', async () => {
    provider.push(
      { toolCalls: [{ name: 'alpha__fail', arguments: { reason: 'nope' }, id: 'call_f' }, { name: 'alpha__echo', arguments: '{"message": ', id: 'call_j' }] },
      (req) => ({ answer: lastToolMessages(req.body).map((m: any) => `${m.tool_call_id}=${m.content}`).join('\n') }),
    );
    const completion = await master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'fail' }], tools: [MCP_NEVER as any] });
    const [failed, bad] = completion.choices[0]!.message.content!.split('\n');
    assert.equal(failed, 'call_f=Error: nope');
    assert.match(bad!, /^call_j=Error: tool call call_j \(alpha__echo\): arguments are not a JSON object/);
    await waitFor('the bad-arguments log line', () => edge.proc.lines.some((l) => l.includes('model sent tool arguments that are not a JSON object') && l.includes('call_j')) || undefined);
  });

  test('a provider error passes through with its status and OpenAI body; a slow provider is 504', async () => {
    provider.push({ error: { status: 503, message: 'upstream overloaded', type: 'server_error', code: 'overloaded' } });
    await assert.rejects(team.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }] }), (err: any) => {
      assert.equal(err.status, 503);
      assert.equal(err.message, '503 upstream overloaded');
      assert.equal(err.code, 'overloaded');
      return true;
    });
    provider.push({ error: { status: 429, message: 'slow down', type: 'requests', code: 'rate_limit_exceeded' } });
    await assert.rejects(master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }], tools: [MCP_NEVER as any] }), (err: any) => err.status === 429 && err.code === 'rate_limit_exceeded');
    provider.push({ answer: 'too late', delayMs: 2_000 });
    await assert.rejects(team.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'hi' }] }), (err: any) => {
      assert.equal(err.status, 504);
      assert.equal(err.code, 'provider_timeout');
      assert.match(err.message, /did not answer within 500 ms/);
      return true;
    });
  });

  test('the loop stops after MCPGW_LLM_MAX_STEPS model calls and says so', async () => {
    const from = provider.requests.length;
    for (let i = 0; i < 3; i++) provider.push({ toolCalls: [{ name: 'alpha__add', arguments: { a: i, b: 1 } }] });
    const { data, response } = await master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'loop' }], tools: [MCP_NEVER as any] }).withResponse();
    assert.equal(since(from).length, 3);
    assert.equal(data.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(response.headers.get('x-mcpgw-stop-reason'), 'max_steps');
    assert.equal(response.headers.get('x-mcpgw-tool-steps'), '3');
  });

  test('with stream: true the loop runs the tools and streams the answer as the provider streams it; a later provider error ends the stream', async () => {
    provider.push({ toolCalls: [{ name: 'alpha__add', arguments: { a: 1, b: 2 } }] }, (req) => ({ answer: `the sum of one and two is ${lastToolMessages(req.body)[0].content}` }));
    const stream = await master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'sum' }], tools: [MCP_NEVER as any], stream: true, stream_options: { include_usage: true } });
    const pieces: string[] = [];
    const ids = new Set<string>();
    let finish: string | null = null;
    let usage: any;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      if (chunk.choices[0]?.delta.content) pieces.push(chunk.choices[0].delta.content);
      assert.equal(chunk.choices[0]?.delta.tool_calls, undefined, 'the calls the gateway runs are not shown');
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(pieces.join(''), 'the sum of one and two is 3');
    assert.ok(pieces.length > 3, `chunks as the provider sent them: ${JSON.stringify(pieces)}`);
    assert.equal(ids.size, 1, 'one completion id for the whole stream');
    assert.equal(finish, 'stop');
    assert.ok(usage.total_tokens > 0);

    provider.push({ toolCalls: [{ name: 'alpha__add', arguments: { a: 1, b: 2 } }] }, { error: { status: 500, message: 'went away', type: 'server_error' } });
    const failing = await master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'sum' }], tools: [MCP_NEVER as any], stream: true });
    await assert.rejects((async () => { for await (const _ of failing) { /* drain */ } })(), (err: any) => {
      assert.match(err.message, /went away/);
      return true;
    });
  });

  test('Responses API: mcp_list_tools and mcp_call items, allowed_tools honoured', async () => {
    const from = provider.requests.length;
    provider.push(
      { toolCalls: [{ name: 'alpha__add', arguments: { a: 20, b: 22 }, id: 'call_r' }, { name: 'alpha__echo', arguments: { message: 'not allowed' }, id: 'call_x' }] },
      (req) => ({ answer: `got ${(req.body.input as any[]).find((i) => i.type === 'function_call_output').output}` }),
    );
    const response = await team.responses.create({ model: 'gpt-scripted', input: 'what is 20 + 22?', tools: [{ ...MCP_NEVER, allowed_tools: ['alpha__add', 'beta__echo'] } as any] });
    assert.deepEqual(response.output.map((o) => o.type), ['mcp_list_tools', 'mcp_call', 'mcp_call', 'message']);
    const listed = response.output[0] as any;
    assert.equal(listed.server_label, 'gw');
    assert.deepEqual(listed.tools.map((t: any) => t.name), ['alpha__add'], 'beta__echo is allowed by the request but outside the key\'s scopes');
    const call = response.output[1] as any;
    assert.deepEqual([call.name, call.arguments, call.output, call.error, call.server_label], ['alpha__add', '{"a":20,"b":22}', '42', null, 'gw']);
    const refused = response.output[2] as any;
    assert.deepEqual([refused.name, refused.output, refused.status], ['alpha__echo', null, 'failed']);
    assert.equal(refused.error.message, "Invalid params: unknown tool 'alpha__echo'", 'visible to the key but not in allowed_tools: never run');
    assert.equal(response.output_text, 'got 42');
    assert.deepEqual(offeredTools(since(from)[0]!), ['alpha__add']);
    assert.equal(since(from)[0]!.body.model, 'upstream-model');
  });

  test('require_approval other than never: mcp_approval_request (Responses) and unexecuted tool_calls (chat); approving runs the call', async () => {
    const okCalls = () => metric(/^mcpgw_tool_calls_total\{server="alpha",outcome="ok"\}/);
    const before = await okCalls();
    const tools = [{ type: 'mcp', server_url: 'litellm_proxy', server_label: 'gw', require_approval: 'always' } as any];
    provider.push({ toolCalls: [{ name: 'alpha__add', arguments: { a: 1, b: 1 } }] });
    const first = await master.responses.create({ model: 'gpt-scripted', input: 'add 1 and 1', tools });
    const request = first.output.find((o) => o.type === 'mcp_approval_request') as any;
    assert.ok(request, JSON.stringify(first.output));
    assert.deepEqual([request.name, request.arguments, request.server_label], ['alpha__add', '{"a":1,"b":1}', 'gw']);
    assert.equal(await okCalls(), before, 'nothing ran before approval');

    provider.push((req) => ({ answer: `approved result ${(req.body.input as any[]).find((i) => i.type === 'function_call_output').output}` }));
    const second = await master.responses.create({
      model: 'gpt-scripted', tools,
      input: [{ role: 'user', content: 'add 1 and 1' }, request, { type: 'mcp_approval_response', approval_request_id: request.id, approve: true }] as any,
    });
    const call = second.output.find((o) => o.type === 'mcp_call') as any;
    assert.equal(call.approval_request_id, request.id);
    assert.equal(call.output, '2');
    assert.equal(second.output_text, 'approved result 2');
    assert.equal(await okCalls(), before + 1);

    provider.push({ toolCalls: [{ name: 'alpha__add', arguments: { a: 3, b: 4 }, id: 'call_wait' }] });
    const chat = await master.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'add' }], tools });
    assert.equal(chat.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(chat.choices[0]!.message.tool_calls![0]!.id, 'call_wait');
    assert.equal(await okCalls(), before + 1);
  });

  test('malformed bodies are 400 in OpenAI\'s error shape', async () => {
    const post = (path: string, body: string) => fetch(`${edge.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body });
    for (const [path, body, param] of [
      ['/v1/chat/completions', '{"model": "gpt-scripted", "messages": [', null],
      ['/v1/chat/completions', '{"model": "gpt-scripted"}', 'messages'],
      ['/chat/completions', '{"messages": [{"role": "user", "content": "x"}]}', 'model'],
      ['/v1/responses', '{"model": "gpt-scripted", "input": 5}', 'input'],
      ['/v1/chat/completions', '{"model": "gpt-scripted", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "mcp", "server_url": "https://elsewhere.example/mcp"}]}', 'tools[0].server_url'],
    ] as const) {
      const r = await post(path, body);
      assert.equal(r.status, 400, `${path} ${body}`);
      const { error } = (await r.json()) as any;
      assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(error.type, 'invalid_request_error');
      assert.equal(error.param, param, body);
    }
  });
});
