// Issue 10, item 1: Redis restarted empty must not empty the edges' catalogs;
// the registry writes back what it holds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { listToolNames, restCall, timeUntil } from '../harness/load.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

after(stopAll);

test('Redis restarted empty: the catalog stays on every edge and is re-published into Redis', async () => {
  const redis = await startRedis();
  const port = Number(new URL(redis.url).port);
  const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'loss:' };
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), env);
  const [a, b] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
  await waitForTools(a.url, ['demo__']);
  await waitForTools(b.url, ['demo__']);

  redis.proc!.kill('SIGKILL');
  await redis.proc!.exited;
  const restarted = await startRedis(port);
  assert.equal(restarted.url, redis.url);

  // For 6 s after the restart (reconnects and resyncs happen within it), every list on both edges has the tools and calls work.
  const until = Date.now() + 6_000;
  let checks = 0;
  while (Date.now() < until) {
    for (const edge of [a, b]) {
      const names = await listToolNames(edge.url);
      assert.ok(names.includes('demo__echo'), `edge ${edge.url} lost its catalog after the Redis restart (check ${checks}): ${JSON.stringify(names)}`);
    }
    const call = await restCall(a.url, 'demo__echo', { message: `m${checks}` });
    assert.ok(call.ok, `call ${checks} failed: ${call.status} ${call.error}`);
    checks++;
    await new Promise((r) => setTimeout(r, 100));
  }

  const client = new Redis(redis.url);
  try {
    const ms = await timeUntil('the catalog back in Redis', async () => Boolean(await client.get('loss:{catalog}:version')) && Boolean(await client.hget('loss:{catalog}:server:demo', 'hash')), 10_000);
    console.log(`# catalog re-published into the empty Redis (seen ${ms} ms after the 6 s check window)`);
    assert.deepEqual(await client.smembers('loss:{catalog}:servers'), ['demo']);
  } finally {
    client.disconnect();
  }
  // A new edge (cold start from the registry) sees the catalog too.
  const c = await startEdge(registry.url, env);
  assert.ok((await waitForTools(c.url, ['demo__'])).includes('demo__echo'));
});
