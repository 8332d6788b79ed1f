// MCP 2026-07-28 across edges (Redis, two edges sharing MCPGW_STATE_SECRET, a 2025-era
// per_client upstream): an MRTR call started on one edge is resumed on the other, over
// two rounds, and back; a listen stream on one edge hears a change made through the
// other; an edge with another secret refuses the state.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const V = '2026-07-28';
const SECRET = 'cross-edge-test-secret-0123456789';
let edges: EdgeHandle[];
let stranger: EdgeHandle;

type Rpc = { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

async function call(edge: EdgeHandle, id: number, name: string, extra: Record<string, unknown> = {}, caps: Record<string, unknown> = { elicitation: {}, sampling: {}, roots: {} }): Promise<{ status: number; body: Rpc }> {
  const body = { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {}, ...extra, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': caps } } };
  const res = await fetch(`${edge.url}/servers/conf/mcp`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': name },
  });
  return { status: res.status, body: (await res.json()) as Rpc };
}

const text = (r: Rpc) => ((r.result?.content as { text?: string }[] | undefined) ?? []).map((c) => c.text ?? '').join('');

describe('2026-07-28 across two edges', () => {
  before(async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `xedge${Date.now()}:`, MCPGW_STATE_SECRET: SECRET };
    const sharedState = join(mkdtempSync(join(tmpdir(), 'mcpgw-xedge-')), 'state.json');
    const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('conf', 'conformance', ['--shared-state', sharedState], '    session: per_client\n')}`), env);
    edges = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    stranger = await startEdge(registry.url, { ...env, MCPGW_STATE_SECRET: 'another-secret-entirely-0123456789' });
    await waitForTools(edges[0]!.url, ['conf__']);
  });
  after(stopAll);

  test('a two-round MRTR call: started on edge A, resumed on edge B, finished on edge A', async () => {
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const first = await call(a, 1, 'test_input_required_result_multi_round');
    assert.equal(first.body.result?.resultType, 'input_required', JSON.stringify(first.body));
    assert.deepEqual(Object.keys(first.body.result!.inputRequests as object), ['step1']);
    const second = await call(b, 2, 'test_input_required_result_multi_round', {
      requestState: first.body.result!.requestState, inputResponses: { step1: { action: 'accept', content: { name: 'Ada' } } },
    });
    assert.equal(second.body.result?.resultType, 'input_required', JSON.stringify(second.body));
    assert.deepEqual(Object.keys(second.body.result!.inputRequests as object), ['step2']);
    const done = await call(a, 3, 'test_input_required_result_multi_round', {
      requestState: second.body.result!.requestState, inputResponses: { step2: { action: 'accept', content: { color: 'teal' } } },
    });
    assert.equal(done.status, 200);
    assert.equal(done.body.id, 3);
    assert.equal(done.body.result?.resultType, 'complete');
    assert.equal(text(done.body), 'name=Ada, color=teal');
  });

  test('three concurrent input requests come as one InputRequiredResult; answered on the other edge', async () => {
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const first = await call(a, 10, 'test_input_required_result_multiple_inputs');
    const keys = Object.keys(first.body.result!.inputRequests as object).sort();
    assert.deepEqual(keys, ['client_roots', 'greeting', 'user_name']);
    const done = await call(b, 11, 'test_input_required_result_multiple_inputs', {
      requestState: first.body.result!.requestState,
      inputResponses: {
        user_name: { action: 'accept', content: { name: 'Lin' } },
        greeting: { role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'm', stopReason: 'endTurn' },
        client_roots: { roots: [{ uri: 'file:///w', name: 'w' }] },
      },
    });
    assert.equal(text(done.body), 'name=Lin; greeting=hi; roots=1', JSON.stringify(done.body));
  });

  test('an edge with another MCPGW_STATE_SECRET refuses the state as tampered (edges must share it)', async () => {
    const first = await call(edges[0]!, 20, 'test_input_required_result_elicitation');
    const retry = await call(stranger, 21, 'test_input_required_result_elicitation', {
      requestState: first.body.result!.requestState, inputResponses: { user_name: { action: 'accept', content: { name: 'Eve' } } },
    });
    assert.equal(retry.status, 400);
    assert.equal(retry.body.error?.code, -32602);
    assert.equal(retry.body.error?.data?.reason, 'tampered');
  });

  test('a listen stream on edge B hears the tool list change made through edge A', async () => {
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const listen = await openListen(b, 'L1', { toolsListChanged: true });
    try {
      await listen.until(() => listen.frames.length > 0, 'the acknowledgement');
      assert.equal(listen.frames[0]!.method, 'notifications/subscriptions/acknowledged');
      assert.deepEqual(listen.frames[0]!.params?.notifications, { toolsListChanged: true });
      await call(a, 30, 'test_trigger_tool_change', {}, {});
      await listen.until(() => listen.frames.some((f) => f.method === 'notifications/tools/list_changed'), 'notifications/tools/list_changed');
      const changed = listen.frames.find((f) => f.method === 'notifications/tools/list_changed')!;
      assert.equal(changed.params?._meta?.['io.modelcontextprotocol/subscriptionId'], 'L1');
    } finally {
      listen.close();
    }
  });

  test('resourceSubscriptions: an update of a subscribed resource, made through edge A, reaches the listen stream on edge B', async () => {
    const [a, b] = edges as [EdgeHandle, EdgeHandle];
    const listen = await openListen(b, 'L2', { resourceSubscriptions: ['test://watched-resource'] });
    try {
      await listen.until(() => listen.frames.length > 0, 'the acknowledgement');
      assert.deepEqual(listen.frames[0]!.params?.notifications, { resourceSubscriptions: ['test://watched-resource'] });
      // the acknowledgement comes once the subscription is in place at the registry
      await call(a, 40, 'touch_watched_resource', {}, {});
      await listen.until(() => listen.frames.some((f) => f.method === 'notifications/resources/updated'), 'notifications/resources/updated');
      const updated = listen.frames.find((f) => f.method === 'notifications/resources/updated');
      assert.ok(updated, `resources/updated on the listen stream; frames: ${JSON.stringify(listen.frames)}`);
      assert.equal((updated.params as { uri?: string }).uri, 'test://watched-resource');
      assert.equal(updated.params?._meta?.['io.modelcontextprotocol/subscriptionId'], 'L2');
    } finally {
      listen.close();
    }
  });
});

type Frame = { method?: string; params?: { _meta?: Record<string, unknown>; notifications?: unknown } };

async function openListen(edge: EdgeHandle, id: string, notifications: Record<string, unknown>) {
  const abort = new AbortController();
  const res = await fetch(`${edge.url}/servers/conf/mcp`, {
    method: 'POST', signal: abort.signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'mcp-protocol-version': V, 'mcp-method': 'subscriptions/listen' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: { notifications, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} } } }),
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let buffer = '';
  const frames: Frame[] = [];
  let pending: ReturnType<typeof reader.read> | undefined;
  const take = (value: Uint8Array) => {
    buffer += Buffer.from(value).toString('utf8');
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(0, i).split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('');
      buffer = buffer.slice(i + 2);
      if (data) frames.push(JSON.parse(data) as Frame);
    }
  };
  const readOnce = async (ms: number): Promise<boolean> => {
    pending ??= reader.read();
    const r = await Promise.race([pending, new Promise<undefined>((res) => setTimeout(() => res(undefined), ms))]);
    if (!r) return false;
    pending = undefined;
    if (r.done) throw new Error('listen stream ended');
    take(r.value);
    return true;
  };
  return {
    frames,
    async until(pred: () => boolean, what: string) {
      const deadline = Date.now() + 15_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames)}`);
        await readOnce(500);
      }
    },
    async drain(ms: number) {
      const end = Date.now() + ms;
      while (Date.now() < end) await readOnce(Math.max(1, end - Date.now()));
    },
    close() { abort.abort(); },
  };
}
