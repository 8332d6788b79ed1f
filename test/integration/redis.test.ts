// With REDIS_URL: sessions and the catalog live in Redis, so any process can
// pick up where another left off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { INIT, rpc } from '../harness/mcp.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { sseReader } from '../harness/sse.js';

describe('state in Redis', () => {
  let redis: RedisHandle;
  let prefix: string;
  let registryUrl: string;
  const demoConfig = () => writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`);

  before(async () => {
    redis = await startRedis();
    prefix = `t${Date.now()}:`;
    const registry = await startRegistry(demoConfig(), { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    registryUrl = registry.url;
  });
  after(stopAll);

  test('after kill -9 of the edge, a new edge on another port serves the same Streamable HTTP session', async () => {
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix };
    const first = await startEdge(registryUrl, env);
    await waitForTools(first.url, ['demo__']);
    const init = await rpc(`${first.url}/mcp`, INIT);
    const sid = init.headers.get('mcp-session-id')!;
    assert.ok(sid);
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    assert.equal((await rpc(`${first.url}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202);

    first.proc.kill('SIGKILL');
    await first.proc.exited;

    const second = await startEdge(registryUrl, env);
    assert.notEqual(second.port, first.port);
    const call = await rpc(`${second.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'same session' } } }, headers);
    assert.equal(call.status, 200, JSON.stringify(call.json));
    assert.equal(call.json.result.content[0].text, 'same session');

    const stored = new Redis(redis.url);
    try {
      const record = JSON.parse((await stored.get(`${prefix}session:{${sid}}`))!) as { v: string };
      assert.equal(record.v, '2025-11-25');
    } finally {
      stored.disconnect();
    }
  });

  test('a second registry serves the catalog from Redis before its own upstream answers', async () => {
    // Same server name, but this replica's upstream never finishes initializing (it reads stdin and
    // never answers; it exits when stdin closes, so a killed registry leaves no process behind).
    const hanging = writeConfig('mcp_servers:\n  demo:\n    command: node\n    args: ["-e", "process.stdin.resume().on(\\"end\\", () => process.exit(0))"]\n');
    const cold = await startRegistry(hanging, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    const edge = await startEdge(cold.url, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    const names = await waitForTools(edge.url, ['demo__']);
    assert.ok(names.includes('demo__echo'));
    const catalog = new Redis(redis.url);
    try {
      assert.equal(await catalog.get(`${prefix}{catalog}:version`), '1', 'the version moved once, for the one content change');
      assert.ok(await catalog.hget(`${prefix}{catalog}:server:demo`, 'hash'));
    } finally {
      catalog.disconnect();
    }
  });
});

describe('legacy SSE across edges', () => {
  after(stopAll);

  test('a POST that lands on the edge not holding the stream is answered on the stream', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `x${Date.now()}:` };
    const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), env);
    const [holder, other] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    await waitForTools(holder.url, ['demo__']);

    const abort = new AbortController();
    const stream = sseReader(await fetch(`${holder.url}/mcp/`, { headers: { accept: 'text/event-stream' }, signal: abort.signal }));
    const nextEvent = () => stream.next();
    try {
      const endpoint = await nextEvent();
      assert.equal(endpoint.event, 'endpoint');
      // Resolve the relative endpoint against the *other* edge.
      const postUrl = new URL(endpoint.data, `${other.url}/mcp/`).href;
      const post = (body: unknown) => fetch(postUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal((await post(INIT)).status, 202);
      const init = JSON.parse((await nextEvent()).data);
      assert.equal(init.result.serverInfo.name, 'mcpgw');
      assert.equal((await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'across' } } })).status, 202);
      const call = JSON.parse((await nextEvent()).data);
      assert.equal(call.id, 2);
      assert.equal(call.result.content[0].text, 'across');
    } finally {
      abort.abort();
    }
  });
});

describe('resumable streams across edges', () => {
  after(stopAll);

  test('kill -9 of the edge holding an SSE response mid-call: the client resumes on another edge and gets every event once', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `r${Date.now()}:` };
    const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), env);
    const [doomed, survivor] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    await waitForTools(doomed.url, ['demo__']);
    const sid = (await rpc(`${doomed.url}/mcp`, INIT)).headers.get('mcp-session-id')!;
    const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json, text/event-stream', 'content-type': 'application/json' };

    const first = sseReader(await fetch(`${doomed.url}/mcp`, {
      method: 'POST', headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'demo__countdown', arguments: { n: 10, delay_ms: 150 }, _meta: { progressToken: 'tok' } } }),
    }));
    const priming = await first.next();
    assert.ok(priming.id, 'a priming event with an id');
    assert.equal(priming.data, '');
    const progress: number[] = [];
    let lastId = priming.id!;
    while (progress.length < 3) {
      const e = await first.next();
      const msg = JSON.parse(e.data);
      assert.equal(msg.params.progressToken, 'tok');
      progress.push(msg.params.progress);
      lastId = e.id!;
    }
    doomed.proc.kill('SIGKILL');
    await doomed.proc.exited;
    first.close();

    const resumed = sseReader(await fetch(`${survivor.url}/mcp`, { headers: { ...headers, 'last-event-id': lastId } }));
    let final: any;
    while (!final) {
      const e = await resumed.next();
      const msg = JSON.parse(e.data);
      if (msg.method === 'notifications/progress') progress.push(msg.params.progress);
      else final = msg;
    }
    assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(final.id, 7);
    assert.equal(final.result.content[0].text, 'liftoff');
  });
});

describe('catalog across registry replicas', () => {
  after(stopAll);

  test('two registries running the same upstreams keep one stable version', async () => {
    const redis = await startRedis();
    const prefix = `v${Date.now()}:`;
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix, MCPGW_REFRESH_INTERVAL_MS: '300' };
    const cfg = writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n${fixtureStdio('paged', 'paged')}`);
    const [a] = await Promise.all([startRegistry(cfg, env), startRegistry(cfg, env)]);
    const edge = await startEdge(a.url, env);
    await waitForTools(edge.url, ['demo__', 'paged__']);
    const store = new Redis(redis.url);
    try {
      const v1 = await store.get(`${prefix}{catalog}:version`);
      // Both replicas refresh every 300 ms; equal contents must not move the version.
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal(await store.get(`${prefix}{catalog}:version`), v1);
      assert.equal(v1, '2', 'one version per server');
    } finally {
      store.disconnect();
    }
  });

  test('a change on one registry reaches an edge of another registry (target: within 1 s)', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `c${Date.now()}:` };
    const live = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('live', 'changing')}`), env);
    // The other replica's own upstream never answers: what it serves comes from Redis.
    const mirror = await startRegistry(writeConfig('mcp_servers:\n  live:\n    command: node\n    args: ["-e", "process.stdin.resume().on(\\"end\\", () => process.exit(0))"]\n'), env);
    const [liveEdge, mirrorEdge] = await Promise.all([startEdge(live.url, env), startEdge(mirror.url, env)]);
    await waitForTools(liveEdge.url, ['live__v1']);
    await waitForTools(mirrorEdge.url, ['live__v1']);
    const bumped = Date.now();
    const r = await fetch(`${liveEdge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'live__bump', arguments: {} }) });
    assert.equal(r.status, 200);
    await waitForTools(mirrorEdge.url, ['live__v2']);
    // The 1 s target is measured and reported; the assertion stays generous (shared CI cores).
    const ms = Date.now() - bumped;
    console.log(`catalog change reached the other replica's edge after ${ms} ms`);
    assert.ok(ms < 5_000, `the change reached the other replica's edge after ${ms} ms`);
  });
});
