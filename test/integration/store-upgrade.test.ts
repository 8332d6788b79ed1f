// Upgrade in place (issue 19): an install from before the store kept its keys
// and pins only in Redis. The first registry start with the store copies them
// in once; after that Redis can lose them and nothing changes.
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { fixtureStdio, startEdge, startRegistry, tempDataDir } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const MASTER = 'upgrade-master';
const PREFIX = 'mcpgw:';

describe('upgrade in place: Redis-only keys and pins are copied into the store once', () => {
  after(stopAll);

  test('an old key works and an old held change stays held after Redis loses both', async () => {
    const r = await startRedis();
    const redis = new Redis(r.url);
    try {
      // What an earlier version left in Redis: a key record (by sha256) with its id index, and a pin
      // whose approved fingerprint is not what the upstream serves now (a pending rug pull).
      const key = 'sk-mcpgw-legacy-key-from-redis-0123456789';
      const sha = createHash('sha256').update(key).digest('hex');
      await redis.set(`${PREFIX}{keys}:${sha}`, JSON.stringify({ id: 'key_legacy', name: 'legacy', createdAt: '2026-01-01T00:00:00.000Z', admin: false }));
      await redis.hset(`${PREFIX}{keys}:index`, 'key_legacy', sha);
      await redis.hset(`${PREFIX}{keys}:revoked`, 'key_gone', JSON.stringify({ id: 'key_gone', name: 'gone', createdAt: '', admin: false, revokedAt: '2026-02-01T00:00:00.000Z' }));
      await redis.hset(`${PREFIX}pins:{rp}`, 'weather', JSON.stringify({ fingerprint: 'f'.repeat(64), definition: { name: 'weather', description: 'an older definition' }, approvedAt: '2026-01-01T00:00:00.000Z' }));

      const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('rp', 'rugpull')}gateway:\n  pinning: hold\n`);
      const dataDir = tempDataDir();
      const registry = await startRegistry(cfg, { REDIS_URL: r.url, MCPGW_DATA_DIR: dataDir });
      assert.ok(registry.proc.lines.some((l) => l.includes('copied keys and pins that existed only in Redis')), 'the copy is logged');
      const edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER, REDIS_URL: r.url });
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      await waitFor('rp tools', async () => {
        const res = await fetch(`${edge.url}/mcp/tools/list`, { headers });
        const names = ((await res.json()) as { tools?: { name: string }[] }).tools?.map((t) => t.name) ?? [];
        return names.includes('rp__rug_pull') ? names : undefined;
      }).then((names) => assert.ok(!names.includes('rp__weather'), 'weather differs from its approved pin: held'));

      // Redis loses everything; a restarted registry must not copy again or forget.
      await redis.flushall();
      registry.proc.kill();
      await registry.proc.exited;
      const again = await startRegistry(cfg, { REDIS_URL: r.url, MCPGW_DATA_DIR: dataDir, GRPC_PORT: String(registry.grpcPort) });
      assert.ok(!again.proc.lines.some((l) => l.includes('copied keys and pins')), 'copied once only');
      const res = await waitFor('the old key via the restarted registry', async () => {
        const x = await fetch(`${edge.url}/mcp/tools/list`, { headers });
        if (x.status !== 200) return undefined;
        const names = ((await x.json()) as { tools: { name: string }[] }).tools.map((t) => t.name);
        return names.includes('rp__rug_pull') ? names : undefined;
      });
      assert.ok(!res.includes('rp__weather'), 'still held after Redis lost the pin');
      const keys = await waitFor('keys listed through the restarted registry', async () => {
        const x = await fetch(`${edge.url}/admin/api/keys`, { headers: { authorization: `Bearer ${MASTER}` } });
        return x.status === 200 ? (await x.json()) as { keys: { id: string; revoked: boolean }[] } : undefined;
      });
      assert.deepEqual(keys.keys.map((k) => [k.id, k.revoked]).sort(), [['key_gone', true], ['key_legacy', false]]);
    } finally {
      redis.disconnect();
    }
  });
});
