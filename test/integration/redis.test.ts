// With REDIS_URL: sessions and the catalog live in Redis, so any process can
// pick up where another left off.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { INIT, rpc } from '../harness/mcp.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';

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
    // Same server name, but this replica's upstream never finishes initializing.
    const hanging = writeConfig('mcp_servers:\n  demo:\n    command: node\n    args: ["-e", "setInterval(() => {}, 1000)"]\n');
    const cold = await startRegistry(hanging, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    const edge = await startEdge(cold.url, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: prefix });
    const names = await waitForTools(edge.url, ['demo__']);
    assert.ok(names.includes('demo__echo'));
    const catalog = new Redis(redis.url);
    try {
      assert.equal(await catalog.get(`${prefix}catalog:version`), '1', 'the version moved once, for the one content change');
      assert.ok(await catalog.hget(`${prefix}catalog:demo`, 'hash'));
    } finally {
      catalog.disconnect();
    }
  });
});
