// The system of record end to end (issue 19): two registries on one Postgres,
// each with its own edge, Redis between them and the link token on. Keys made
// on one edge work on the other at once; a pin decided through one registry
// holds on the other; Redis FLUSHALL loses no key and serves no held tool;
// with Postgres killed, cached keys still work, unknown keys get 401, admin
// writes get 503, and everything resumes when it is back.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startEdge, startFixtureServer, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { createDatabase, startPostgres, type PostgresHandle } from '../harness/postgres.js';

const MASTER = 'store-master';
const auth = { authorization: `Bearer ${MASTER}` };
const KEY_CACHE_MS = 4_000;

async function toolNames(edge: EdgeHandle): Promise<string[]> {
  const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: auth });
  return ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
}

async function call(edge: EdgeHandle, name: string, headers: Record<string, string> = auth, args: Record<string, unknown> = {}) {
  const r = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ name, arguments: args }) });
  return { status: r.status, json: (await r.json()) as any };
}

async function admin(edge: EdgeHandle, method: string, path: string, body?: unknown) {
  const r = await fetch(`${edge.url}/admin/api${path}`, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, json: (await r.json()) as any };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('system of record: two registries on one Postgres, two edges, Redis', () => {
  let pg: PostgresHandle;
  let redis: Redis;
  let a: EdgeHandle;
  let b: EdgeHandle;

  before(async () => {
    pg = await startPostgres();
    const databaseUrl = await createDatabase(pg, 'gateway');
    const r = await startRedis();
    redis = new Redis(r.url);
    const fixture = await startFixtureServer('rugpull', 'http');
    const cfg = writeConfig(`mcp_servers:\n  rp:\n    url: ${fixture.url}\n    transport: http\ngateway:\n  pinning: hold\n  hold_new: true\n`);
    const env = { REDIS_URL: r.url, DATABASE_URL: databaseUrl };
    // Started together: the migration lock keeps them from racing.
    const [r1, r2] = await Promise.all([startRegistry(cfg, env), startRegistry(cfg, env)]);
    const edgeEnv = { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER, REDIS_URL: r.url, MCPGW_KEY_CACHE_MS: String(KEY_CACHE_MS) };
    [a, b] = await Promise.all([startEdge(r1.url, edgeEnv), startEdge(r2.url, edgeEnv)]);
    await waitFor('rp tools on both edges', async () => ((await toolNames(a)).includes('rp__weather') && (await toolNames(b)).includes('rp__weather')) || undefined);
  });
  after(async () => {
    redis?.disconnect();
    await stopAll();
    await pg?.stop().catch(() => {});
  });

  test('a key created through edge A works on edge B at once; a revoke through B stops it on A', async () => {
    const created = await admin(a, 'POST', '/keys', { name: 'ci' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.created_by, 'master');
    assert.equal((await call(b, 'rp__weather', bearer(created.json.key), { city: 'Oslo' })).status, 200, 'the new key works on the other edge (other registry)');
    assert.equal((await call(a, 'rp__weather', bearer(created.json.key), { city: 'Oslo' })).status, 200);
    assert.equal((await admin(b, 'DELETE', `/keys/${created.json.id}`)).status, 200);
    await waitFor('revoked key refused on both edges', async () => ((await call(a, 'rp__weather', bearer(created.json.key), { city: 'Oslo' })).status === 401
      && (await call(b, 'rp__weather', bearer(created.json.key), { city: 'Oslo' })).status === 401) || undefined, 5_000);
    const listed = (await admin(a, 'GET', '/keys')).json.keys as { id: string; revoked: boolean }[];
    assert.equal(listed.find((k) => k.id === created.json.id)?.revoked, true, 'a revoked key stays listed');
  });

  test('a changed tool is held on both; approved through registry 1 it holds on registry 2; rejected stays rejected; history and audit say who', async () => {
    // Through both edges, so each registry's upstream session hears list_changed (the fixture tells the
    // other sessions of a change): a registry that still saw the old definition would flag the approved one again.
    assert.equal((await call(a, 'rp__rug_pull')).status, 200);
    assert.equal((await call(b, 'rp__rug_pull')).status, 200);
    await waitFor('weather withheld on both edges', async () => (!(await toolNames(a)).includes('rp__weather') && !(await toolNames(b)).includes('rp__weather')) || undefined);
    const pending = (await admin(b, 'GET', '/tools?server=rp')).json.tools.find((t: any) => t.name === 'rp__weather');
    assert.equal(pending.pin, 'held');
    const approved = await admin(a, 'POST', '/tools/rp__weather/approve', { fingerprint: pending.pending.fingerprint });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    // Registry 2 reads the same store: the approval is there, not a second pending change.
    const seenOn2 = (await admin(b, 'GET', '/tools?server=rp')).json.tools.find((t: any) => t.name === 'rp__weather');
    assert.equal(seenOn2.pin, 'trusted', JSON.stringify({ approved: approved.json, seenOn2, history: (await admin(a, 'GET', '/tools/rp__weather/history')).json }, null, 1));
    assert.equal(seenOn2.fingerprint, pending.pending.fingerprint);
    await waitFor('weather back on both edges', async () => ((await toolNames(a)).includes('rp__weather') && (await toolNames(b)).includes('rp__weather')) || undefined);
    assert.equal((await admin(b, 'POST', '/tools/rp__exfiltrate/reject', {})).status, 200);
    const onA = (await admin(a, 'GET', '/tools?server=rp')).json.tools.find((t: any) => t.name === 'rp__exfiltrate');
    assert.equal(onA.pin, 'rejected', 'a rejection through registry 2 holds on registry 1');
    const history = await admin(a, 'GET', '/tools/rp__weather/history');
    assert.equal(history.status, 200, JSON.stringify(history.json));
    const decisions = (history.json.decisions as { decision: string; principal: string; fingerprint: string }[]).map((d) => d.decision);
    assert.ok(decisions.includes('approved') && decisions.includes('changed') && decisions.includes('first_seen'), decisions.join(','));
    const audit = (await admin(b, 'GET', '/audit?limit=50')).json.entries as { action: string; principal: string; target: string }[];
    assert.ok(audit.some((e) => e.action === 'pin_approved' && e.target === 'rp/weather' && e.principal === 'master'), JSON.stringify(audit));
    assert.ok(audit.some((e) => e.action === 'pin_rejected' && e.target === 'rp/exfiltrate'));
    assert.ok(audit.some((e) => e.action === 'key_created') && audit.some((e) => e.action === 'key_revoked'));
  });

  test('the call log and usage counters are the whole gateway\'s: calls made through edge A show on edge B, per key', async () => {
    const created = (await admin(a, 'POST', '/keys', { name: 'counted' })).json as { key: string; id: string };
    for (let i = 0; i < 3; i++) assert.equal((await call(a, 'rp__weather', bearer(created.key), { city: `c${i}` })).status, 200);
    const seen = await waitFor('edge A\'s calls in the call log read through edge B', async () => {
      const calls = (await admin(b, 'GET', '/calls?limit=200')).json.calls as { tool: string; key_id: string | null; edge: string }[];
      const mine = calls.filter((c) => c.key_id === created.id);
      return mine.length === 3 ? mine : undefined;
    }, 10_000);
    assert.ok(seen.every((c) => c.tool === 'weather' && c.edge), JSON.stringify(seen));
    const usage = (await admin(b, 'GET', '/usage')).json.usage as { key_id: string | null; server: string; tool: string; calls: number }[];
    assert.equal(usage.find((u) => u.key_id === created.id && u.server === 'rp' && u.tool === 'weather')?.calls, 3, JSON.stringify(usage));
    const stats = (await admin(b, 'GET', '/stats')).json as { source: string; servers: { name: string; calls: number }[] };
    assert.equal(stats.source, 'store');
    assert.ok((stats.servers.find((x) => x.name === 'rp')?.calls ?? 0) >= 3);
  });

  test('Redis FLUSHALL: keys keep working after the key cache TTL, the rejected tool is never served', async () => {
    const key = (await admin(a, 'POST', '/keys', { name: 'survivor' })).json.key as string;
    assert.equal((await call(b, 'rp__weather', bearer(key), { city: 'Oslo' })).status, 200);
    await redis.flushall();
    const until = Date.now() + KEY_CACHE_MS + 2_000;
    let served = 0;
    let failed = 0;
    while (Date.now() < until) {
      for (const edge of [a, b]) {
        if ((await toolNames(edge)).includes('rp__exfiltrate')) served++;
        if ((await call(edge, 'rp__exfiltrate')).status === 200) served++;
        if ((await call(edge, 'rp__weather', bearer(key), { city: 'Oslo' })).status !== 200) failed++;
      }
      await sleep(200);
    }
    assert.equal(served, 0, 'the rejected tool was never listed or callable');
    assert.equal(failed, 0, 'no call with the key failed, before or after its cache entry expired');
    const keys = (await admin(b, 'GET', '/keys')).json.keys as { name: string }[];
    assert.ok(keys.some((k) => k.name === 'survivor') && keys.some((k) => k.name === 'ci'), 'every key is still listed');
    assert.ok((await admin(a, 'GET', '/audit?limit=100')).json.entries.length >= 4, 'the audit log is whole');
  });

  test('Postgres killed: cached keys work, unknown keys 401, admin writes 503, the held tool stays held; back without a restart', async () => {
    const key = (await admin(a, 'POST', '/keys', { name: 'cached' })).json.key as string;
    assert.equal((await call(a, 'rp__weather', bearer(key), { city: 'Oslo' })).status, 200, 'now cached on edge A');
    await pg.kill();
    try {
      assert.equal((await call(a, 'rp__weather', bearer(key), { city: 'Oslo' })).status, 200, 'a cached key works while the store is down');
      const unknown = await call(b, 'rp__weather', bearer(`sk-mcpgw-${'x'.repeat(32)}`), { city: 'Oslo' });
      assert.equal(unknown.status, 401, 'an unknown key is refused, not a 500');
      const write = await admin(a, 'POST', '/keys', { name: 'during outage' });
      assert.equal(write.status, 503, JSON.stringify(write.json));
      assert.match(write.json.error.message, /store is unavailable.*no key was created/);
      assert.equal((await admin(b, 'DELETE', '/keys/key_nope')).status, 503);
      assert.ok(!(await toolNames(a)).includes('rp__exfiltrate') && !(await toolNames(b)).includes('rp__exfiltrate'), 'the rejected tool stays withheld');
    } finally {
      await pg.start();
    }
    const back = await waitFor('admin writes again', async () => {
      const r = await admin(b, 'POST', '/keys', { name: 'after outage' });
      return r.status === 201 ? r.json : undefined;
    }, 20_000);
    assert.equal((await call(a, 'rp__weather', bearer(back.key), { city: 'Oslo' })).status, 200);
    const names = ((await admin(a, 'GET', '/keys')).json.keys as { name: string }[]).map((k) => k.name);
    assert.ok(!names.includes('during outage'), 'nothing half-written');
  });
});
