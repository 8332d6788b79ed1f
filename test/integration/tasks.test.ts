// Tasks (io.modelcontextprotocol/tasks, docs/tasks.md) as deployed: Redis, one
// registry with the link token, edges that come and go, two principals (virtual
// keys). The upstreams know nothing of tasks: the conformance fixture declares
// `execution.taskSupport` on its task tools (MCPGW_TASKS=declared would do);
// the recorder's `slow` tool declares nothing and becomes a task only because
// the edges run with MCPGW_TASKS=all.
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { INIT, rpc as rpcRaw } from '../harness/mcp.js';
import { sseReader } from '../harness/sse.js';

const V = '2026-07-28';
const TASKS = 'io.modelcontextprotocol/tasks';
const MASTER = 'tasks-master-key-0123456789';
const CAPS = { elicitation: {}, extensions: { [TASKS]: {} } };

type Rpc = { id?: unknown; result?: Record<string, any>; error?: { code: number; message: string; data?: Record<string, unknown> } };

let registryUrl: string;
let env: Record<string, string>;
let record: string;
let fwdRecord: string;
const keys: Record<string, string> = {};

/** One 2026-07-28 request, with the headers the spec asks for. */
async function modern(edge: EdgeHandle, key: string, method: string, params: Record<string, unknown>, caps: Record<string, unknown> = CAPS): Promise<{ status: number; body: Rpc }> {
  const body = { jsonrpc: '2.0', id: Math.floor(Math.random() * 1e9), method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': caps } } };
  const name = typeof params.name === 'string' ? params.name : typeof params.taskId === 'string' ? params.taskId : undefined;
  const res = await fetch(`${edge.url}/mcp`, {
    method: 'POST', body: JSON.stringify(body),
    headers: {
      'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${key}`,
      'mcp-protocol-version': V, 'mcp-method': method, ...(name ? { 'mcp-name': name } : {}),
    },
  });
  return { status: res.status, body: (await res.json()) as Rpc };
}

const text = (r: Record<string, any> | undefined) => ((r?.content as { text?: string }[] | undefined) ?? []).map((c) => c.text ?? '').join('');

async function startTask(edge: EdgeHandle, key: string, name: string, args: Record<string, unknown>): Promise<string> {
  const r = await modern(edge, key, 'tools/call', { name, arguments: args });
  assert.equal(r.body.result?.resultType, 'task', `${name} should become a task: ${JSON.stringify(r.body)}`);
  assert.equal(typeof r.body.result?.taskId, 'string');
  return r.body.result!.taskId as string;
}

/** Polls tasks/get until the task reaches `until` (or any terminal status). */
async function poll(edge: EdgeHandle, key: string, taskId: string, until: string[] = ['completed', 'failed', 'cancelled']): Promise<Record<string, any>> {
  return waitFor(`task ${taskId} to reach ${until.join('/')}`, async () => {
    const r = await modern(edge, key, 'tasks/get', { taskId });
    assert.ok(r.body.result, `tasks/get failed: ${JSON.stringify(r.body)}`);
    return until.includes(r.body.result.status as string) ? r.body.result : undefined;
  }, 60_000);
}

const read = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const recorded = () => readFileSync(record, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('tasks across edges (Redis, link token, two principals)', () => {
  let a: EdgeHandle;
  let b: EdgeHandle;

  before(async () => {
    const redis = await startRedis();
    record = join(mkdtempSync(join(tmpdir(), 'mcpgw-tasks-')), 'record.jsonl');
    fwdRecord = join(mkdtempSync(join(tmpdir(), 'mcpgw-tasks-')), 'fwd.jsonl');
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('conf', 'conformance', [], '    session: per_client\n')}${fixtureStdio('rec', 'recorder', ['--record', record])}${fixtureStdio('fwd', 'tasks', ['--record', fwdRecord])}`);
    const prefix = `tasks${Date.now()}:`;
    const registry = await startRegistry(cfg, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    registryUrl = registry.url;
    env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix, MCPGW_MASTER_KEY: MASTER, MCPGW_STATE_SECRET: 'tasks-test-secret-0123456789abcdef', MCPGW_TASKS: 'all' };
    [a, b] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    await waitFor('tools of conf and rec', async () => {
      const r = await fetch(`${a.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      const names = ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name);
      return names.includes('conf__slow_compute') && names.includes('rec__slow') && names.includes('fwd__delay') ? names : undefined;
    });
    for (const who of ['alice', 'bob']) {
      const res = await fetch(`${a.url}/admin/api/keys`, {
        method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: who }),
      });
      assert.equal(res.status, 201);
      keys[who] = ((await res.json()) as { key: string }).key;
    }
  });
  after(stopAll);

  test('a task created on edge A is polled and fetched on edge B after A is killed', async () => {
    const doomed = await startEdge(registryUrl, env);
    const taskId = await startTask(doomed, keys.alice!, 'conf__slow_compute', { seconds: 2, label: 'survivor' });
    doomed.proc.kill('SIGKILL');
    await doomed.proc.exited;
    const done = await poll(b, keys.alice!, taskId);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(done.resultType, 'complete');
    assert.match(text(done.result), /computed survivor/);
    assert.equal(done.taskId, taskId);
    assert.ok(Number.isInteger(done.ttlMs) && done.ttlMs > 0);
  });

  test('a gateway-run task for a slow upstream tool (no task support of its own) survives an edge restart', async () => {
    const first = await startEdge(registryUrl, env);
    const taskId = await startTask(first, keys.alice!, 'rec__slow', { ms: 3000 });
    const working = await modern(first, keys.alice!, 'tasks/get', { taskId });
    assert.equal(working.body.result?.status, 'working');
    first.proc.kill('SIGTERM');
    await first.proc.exited;
    // The edge comes back (a new process, as after a rollout) and the client polls it.
    const restarted = await startEdge(registryUrl, env);
    const done = await poll(restarted, keys.alice!, taskId);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(text(done.result), 'slept 3000 ms');
    // The upstream ran the call once: nothing was retried or duplicated by the restart.
    const calls = recorded().filter((e) => e.event === 'request' && e.method === 'tools/call' && e.name === 'slow');
    assert.equal(calls.length, 1, JSON.stringify(calls));
  });

  test('a task is visible only to the principal that created it', async () => {
    const taskId = await startTask(a, keys.alice!, 'conf__slow_compute', { seconds: 3, label: 'private' });
    for (const key of [keys.bob!, MASTER]) {
      const get = await modern(b, key, 'tasks/get', { taskId });
      assert.equal(get.body.error?.code, -32602, JSON.stringify(get.body));
      assert.match(get.body.error!.message, /unknown task/);
      const cancel = await modern(b, key, 'tasks/cancel', { taskId });
      assert.equal(cancel.body.error?.code, -32602, 'another principal cannot cancel it');
    }
    // An unknown id is answered exactly like a foreign one.
    const unknown = await modern(b, keys.bob!, 'tasks/get', { taskId: 't-does-not-exist' });
    assert.deepEqual({ ...unknown.body.error, message: undefined, data: undefined }, { ...(await modern(b, keys.bob!, 'tasks/get', { taskId })).body.error, message: undefined, data: undefined });
    const mine = await modern(b, keys.alice!, 'tasks/get', { taskId });
    assert.equal(mine.body.result?.status, 'working', 'the owner still sees it, untouched');
    const done = await poll(a, keys.alice!, taskId);
    assert.equal(done.status, 'completed');
  });

  test('tasks/cancel on another edge cancels the task and reaches the upstream', async () => {
    const taskId = await startTask(a, keys.alice!, 'rec__slow', { ms: 30_000 });
    const ack = await modern(b, keys.alice!, 'tasks/cancel', { taskId });
    assert.deepEqual(ack.body.result, { resultType: 'complete' });
    const after = await modern(a, keys.alice!, 'tasks/get', { taskId });
    assert.equal(after.body.result?.status, 'cancelled');
    assert.equal(after.body.result?.result, undefined);
    // The upstream heard notifications/cancelled and its handler stopped.
    await waitFor('the upstream to see the cancellation', () => {
      const ev = recorded();
      return ev.some((e) => e.event === 'cancelled') && ev.some((e) => e.event === 'aborted' && e.tool === 'slow') ? true : undefined;
    });
    // Idempotent: a second cancel of the terminal task is the same empty ack.
    const again = await modern(a, keys.alice!, 'tasks/cancel', { taskId });
    assert.deepEqual(again.body.result, { resultType: 'complete' });
  });

  test('a task that asks for input: input_required on one edge, answered with tasks/update on the other', async () => {
    const taskId = await startTask(a, keys.alice!, 'conf__confirm_delete', { filename: 'report.txt' });
    const asking = await poll(b, keys.alice!, taskId, ['input_required']);
    assert.deepEqual(Object.keys(asking.inputRequests), ['confirm']);
    assert.equal(asking.inputRequests.confirm.method, 'elicitation/create');
    const ack = await modern(a, keys.alice!, 'tasks/update', { taskId, inputResponses: { confirm: { action: 'accept', content: { confirm: true } } } });
    assert.deepEqual(ack.body.result, { resultType: 'complete' });
    const done = await poll(b, keys.alice!, taskId);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(text(done.result), 'deleted report.txt');
  });

  test('without the extension in the request: tasks/* are -32021, a task-supporting tool runs synchronously', async () => {
    const plain = { elicitation: {} };
    const get = await modern(a, keys.alice!, 'tasks/get', { taskId: 't-x' }, plain);
    assert.equal(get.status, 400);
    assert.equal(get.body.error?.code, -32021);
    assert.deepEqual(get.body.error?.data, { requiredCapabilities: { extensions: { [TASKS]: {} } } });
    const call = await modern(a, keys.alice!, 'tools/call', { name: 'conf__slow_compute', arguments: { seconds: 1, label: 'sync' } }, plain);
    assert.equal(call.body.result?.resultType, 'complete');
    assert.match(text(call.body.result), /computed sync/);
  });

  test('an upstream with tasks of its own gets the task forwarded (the gateway id outside, the upstream id inside)', async () => {
    const taskId = await startTask(a, keys.alice!, 'fwd__delay', { ms: 1500 });
    assert.match(taskId, /^t-/, 'the client sees the gateway\'s task id');
    const done = await poll(b, keys.alice!, taskId);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal(text(done.result), 'delayed 1500 ms');
    assert.equal((done.result._meta ?? {})['io.modelcontextprotocol/related-task'], undefined, 'no 2025 related-task marker on the inlined result');
    const seen = read(fwdRecord).filter((e) => e.event === 'request').map((e) => e.method);
    assert.ok(seen.includes('tools/call') && seen.includes('tasks/result'), `the upstream ran its own task: ${JSON.stringify(seen)}`);
    // The upstream's own id never reaches the client: its responses carry ids the gateway mapped.
    assert.ok(!JSON.stringify(done).includes('"task":'), 'no 2025 nested task envelope');
  });

  test('cancelling a forwarded task sends the upstream its own tasks/cancel', async () => {
    const taskId = await startTask(b, keys.alice!, 'fwd__delay', { ms: 30_000 });
    const ack = await modern(a, keys.alice!, 'tasks/cancel', { taskId });
    assert.deepEqual(ack.body.result, { resultType: 'complete' });
    assert.equal((await modern(b, keys.alice!, 'tasks/get', { taskId })).body.result?.status, 'cancelled');
    await waitFor('the upstream to get tasks/cancel', () => read(fwdRecord).some((e) => e.event === 'request' && e.method === 'tasks/cancel') || undefined);
  });

  test('a 2025-era session uses 2025-11-25 experimental tasks: task param, tasks/get, tasks/result, tasks/cancel, across edges', async () => {
    const auth = { authorization: `Bearer ${keys.alice!}` };
    // JSON, or the last message of an SSE answer (calls to per_client upstreams stream).
    const rpc = async (url: string, body: unknown, headers: Record<string, string>) => {
      const r = await rpcRaw(url, body, headers);
      if (typeof r.json !== 'string') return r;
      const data = (r.json as string).split('\n').filter((l) => l.startsWith('data: {')).pop();
      return { ...r, json: data ? JSON.parse(data.slice(6)) : undefined };
    };
    const init = await rpc(`${a.url}/mcp`, INIT, auth);
    assert.deepEqual(init.json.result.capabilities.tasks, { list: {}, cancel: {}, requests: { tools: { call: {} } } });
    const sid = init.headers.get('mcp-session-id')!;
    const h = { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    const created = await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'conf__slow_compute', arguments: { seconds: 1, label: 'legacy' }, task: { ttl: 60_000 } } }, h);
    const task = created.json.result?.task;
    assert.ok(task && typeof task.taskId === 'string', JSON.stringify(created.json));
    assert.equal(task.status, 'working');
    assert.equal(task.ttl, 60_000);
    const got = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 3, method: 'tasks/get', params: { taskId: task.taskId } }, h);
    assert.equal(got.json.result.taskId, task.taskId);
    // tasks/result waits for the end, on the other edge.
    const result = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 4, method: 'tasks/result', params: { taskId: task.taskId } }, h);
    assert.match(text(result.json.result), /computed legacy/);
    assert.deepEqual(result.json.result._meta['io.modelcontextprotocol/related-task'], { taskId: task.taskId });
    // Cancel: the cancelled Task; a finished one cannot be cancelled.
    const long = await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'rec__slow', arguments: { ms: 30_000 }, task: {} } }, h);
    const cancelled = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 6, method: 'tasks/cancel', params: { taskId: long.json.result.task.taskId } }, h);
    assert.equal(cancelled.json.result.status, 'cancelled');
    const again = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 7, method: 'tasks/cancel', params: { taskId: task.taskId } }, h);
    assert.equal(again.json.error?.code, -32602);
    // tasks/list: the principal's tasks, newest first; another principal's session lists none of them.
    const listed = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 9, method: 'tasks/list', params: {} }, h);
    const ids = (listed.json.result.tasks as { taskId: string; ttl: number }[]).map((t) => t.taskId);
    assert.ok(ids.includes(task.taskId) && ids.includes(long.json.result.task.taskId), JSON.stringify(listed.json));
    assert.ok(ids.indexOf(long.json.result.task.taskId) < ids.indexOf(task.taskId), 'newest first');
    const bobInit = await rpc(`${a.url}/mcp`, INIT, { authorization: `Bearer ${keys.bob!}` });
    const bobH = { authorization: `Bearer ${keys.bob!}`, 'mcp-session-id': bobInit.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
    const bobs = await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 10, method: 'tasks/list', params: {} }, bobH);
    assert.ok(!(bobs.json.result.tasks as { taskId: string }[]).some((t) => ids.includes(t.taskId)), 'none of alice\'s tasks');
    // Without a task param the same tool answers as before.
    const plain = await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'conf__greet', arguments: { name: 'Ann' } } }, h);
    assert.equal(text(plain.json.result), 'Hello, Ann!');
  });

  test('notifications/tasks/status reach the principal\'s listen stream on another edge, with the result inlined at the end', async () => {
    const body = { jsonrpc: '2.0', id: 'listen-1', method: 'subscriptions/listen', params: { notifications: { toolsListChanged: true }, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': CAPS } } };
    const abort = new AbortController();
    const res = await fetch(`${b.url}/mcp`, {
      method: 'POST', body: JSON.stringify(body), signal: abort.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${keys.alice!}`, 'mcp-protocol-version': V, 'mcp-method': 'subscriptions/listen' },
    });
    const sse = sseReader(res);
    try {
      assert.match((await sse.next()).data, /subscriptions\/acknowledged/);
      // Another principal's task is not announced here.
      await startTask(a, keys.bob!, 'conf__slow_compute', { seconds: 1, label: 'bobs' });
      const taskId = await startTask(a, keys.alice!, 'conf__slow_compute', { seconds: 1, label: 'announced' });
      const seen: { taskId: string; status: string; result?: unknown; _meta?: Record<string, unknown> }[] = [];
      while (!seen.some((n) => n.taskId === taskId && n.status === 'completed')) {
        const ev = JSON.parse((await sse.next()).data) as { method: string; params: (typeof seen)[number] };
        if (ev.method === 'notifications/tasks/status') seen.push(ev.params);
      }
      assert.ok(seen.every((n) => n.taskId === taskId), `only alice's task: ${JSON.stringify(seen.map((n) => n.taskId))}`);
      assert.deepEqual(seen.map((n) => n.status), ['working', 'completed']);
      assert.match(text(seen.at(-1)!.result as Record<string, any>), /computed announced/);
      assert.equal(seen.at(-1)!._meta?.['io.modelcontextprotocol/subscriptionId'], 'listen-1');
    } finally {
      sse.close();
      abort.abort();
    }
  });

  test('a 2025-era session\'s task that needs input asks it on the tasks/result stream, and the answer resumes it', async () => {
    const auth = { authorization: `Bearer ${keys.alice!}` };
    // The client can answer elicitations (its per_client upstream session declares so).
    const init = await rpcRaw(`${a.url}/mcp`, { ...INIT, params: { ...INIT.params, capabilities: { elicitation: {} } } }, auth);
    const sid = init.headers.get('mcp-session-id')!;
    const h = { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    await rpcRaw(`${a.url}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    const created = await rpcRaw(`${a.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'conf__confirm_delete', arguments: { filename: 'old.log' }, task: {} } }, { ...h, accept: 'application/json' });
    const taskId = (created.json as { result: { task: { taskId: string } } }).result.task.taskId;
    const res = await fetch(`${b.url}/mcp`, {
      method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tasks/result', params: { taskId } }),
      headers: { ...h, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    });
    const sse = sseReader(res);
    try {
      type Ask = { id: string; method: string; params: Record<string, any> };
      let ask: Ask | undefined;
      while (!ask) {
        const ev = await sse.next();
        const m = (ev.data ? JSON.parse(ev.data) : {}) as Partial<Ask>;
        if (m.method === 'elicitation/create') ask = m as Ask;
      }
      assert.equal(ask.id, `mcpgw-task:${taskId}:confirm`);
      assert.deepEqual(ask.params._meta['io.modelcontextprotocol/related-task'], { taskId });
      const answered = await rpcRaw(`${a.url}/mcp`, { jsonrpc: '2.0', id: ask.id, result: { action: 'accept', content: { confirm: true } } }, h);
      assert.equal(answered.status, 202);
      let final: { id?: number; result?: Record<string, any> } | undefined;
      while (!final) {
        const m = JSON.parse((await sse.next()).data || '{}') as { id?: number; result?: Record<string, any> };
        if (m.id === 3) final = m;
      }
      assert.equal(text(final.result), 'deleted old.log');
    } finally {
      sse.close();
    }
  });
});
