// Redis as users run it: a real local 3-master Redis Cluster behind
// REDIS_URL=redis+cluster://…; registry and edges as real processes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from 'ioredis';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { INIT, rpc } from '../harness/mcp.js';
import { restCall } from '../harness/load.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis, startRedisSentinel, startRedisCluster } from '../harness/redis.js';
import { parseRedisUrl } from '@mcpgw/common/redis';

after(stopAll);

test('REDIS_URL forms: single, cluster, comma list, sentinel', () => {
  assert.deepEqual(parseRedisUrl('redis://h:1'), { kind: 'single', url: 'redis://h:1' });
  const c = parseRedisUrl('rediss+cluster://u:p%40ss@a:7000,b:7001');
  assert.equal(c.kind, 'cluster');
  assert.deepEqual(c.kind === 'cluster' && c.nodes, [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
  assert.deepEqual(c.kind === 'cluster' && c.options, { username: 'u', password: 'p@ss', tls: {} });
  const l = parseRedisUrl('redis://:pw@a:7000,redis://b:7001');
  assert.equal(l.kind, 'cluster');
  assert.equal(l.kind === 'cluster' && l.options.password, 'pw');
  const s = parseRedisUrl('redis+sentinel://:pw@s1:26379,s2/mymaster?sentinelPassword=sp');
  assert.deepEqual(s, { kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }], name: 'mymaster', options: { password: 'pw', sentinelPassword: 'sp' } });
});

test('a 3-master Redis Cluster: list, call, and one session across two edges', async () => {
  const cluster = await startRedisCluster(3);
  const env = { REDIS_URL: cluster.url, MCPGW_REDIS_PREFIX: 'cl:' };
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), env);
  const [a, b] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
  const names = await waitForTools(a.url, ['demo__']);
  assert.ok(names.includes('demo__echo'));
  await waitForTools(b.url, ['demo__']);
  assert.equal((await restCall(b.url, 'demo__echo', { message: 'via cluster' })).text, 'via cluster');

  // A Streamable HTTP session created on edge a, used on edge b (session record and event stream in the cluster).
  const init = await rpc(`${a.url}/mcp`, INIT);
  const sid = init.headers.get('mcp-session-id')!;
  assert.ok(sid, JSON.stringify(init.json));
  const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  assert.equal((await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status, 202);
  const call = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'same session' } } }, headers);
  assert.equal(call.status, 200, JSON.stringify(call.json));
  assert.equal(call.json.result.content[0].text, 'same session');
  // Progress goes over SSE with stored events (a stream key in the cluster).
  const progress = await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'demo__countdown', arguments: { n: 2, delay_ms: 10 }, _meta: { progressToken: 'p1' } } }, headers);
  assert.equal(progress.status, 200);
  assert.match(String(progress.json), /liftoff/);

  // What the cluster holds: the catalog under one hash tag, the session under its own.
  const client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  try {
    assert.ok(await client.get('cl:{catalog}:version'));
    assert.ok(await client.hget('cl:{catalog}:server:demo', 'hash'));
    assert.ok(await client.get(`cl:session:{${sid}}`));
  } finally {
    client.disconnect();
  }
  const errors = [...registry.proc.lines, ...a.proc.lines, ...b.proc.lines].filter((l) => /CROSSSLOT|MOVED|"level":50/.test(l));
  assert.deepEqual(errors, []);
});

test('Redis behind Sentinel (redis+sentinel://…/mastername): list, call, session across two edges', async () => {
  const master = await startRedis();
  const sentinel = await startRedisSentinel(Number(new URL(master.url).port), 'mymaster');
  const env = { REDIS_URL: `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster`, MCPGW_REDIS_PREFIX: 'se:' };
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), env);
  const [a, b] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
  await waitForTools(a.url, ['demo__']);
  await waitForTools(b.url, ['demo__']);
  const init = await rpc(`${a.url}/mcp`, INIT);
  const sid = init.headers.get('mcp-session-id')!;
  const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const call = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'via sentinel' } } }, headers);
  assert.equal(call.json.result.content[0].text, 'via sentinel');
  const { Redis } = await import('ioredis');
  const direct = new Redis(master.url);
  try {
    assert.ok(await direct.get('se:{catalog}:version'), 'the catalog is in the master Sentinel named');
  } finally {
    direct.disconnect();
  }
});
