// Tool pinning end to end: a fixture upstream changes a tool's description and
// schema after it was trusted (and adds a tool). `hold` withholds both from
// two edges until an admin approves; `warn` keeps serving and reports the diff.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const MASTER = 'pinning-master';
const auth = { authorization: `Bearer ${MASTER}` };

async function toolNames(edge: EdgeHandle): Promise<string[]> {
  const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: auth });
  return ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
}

async function call(edge: EdgeHandle, name: string, args: Record<string, unknown> = {}) {
  const r = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name, arguments: args }) });
  return { status: r.status, json: (await r.json()) as any };
}

async function admin(edge: EdgeHandle, method: string, path: string, body?: unknown, headers: Record<string, string> = auth) {
  const r = await fetch(`${edge.url}/admin/api${path}`, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, json: (await r.json()) as any };
}

describe('tool pinning: hold (two edges, Redis)', () => {
  let a: EdgeHandle;
  let b: EdgeHandle;
  before(async () => {
    const redis = await startRedis();
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('rp', 'rugpull')}gateway:\n  pinning: hold\n  hold_new: true\n`);
    const registry = await startRegistry(cfg, { REDIS_URL: redis.url });
    const env = { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER, REDIS_URL: redis.url };
    [a, b] = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    await waitFor('rp tools on both edges', async () => ((await toolNames(a)).includes('rp__weather') && (await toolNames(b)).includes('rp__weather')) || undefined);
  });
  after(stopAll);

  test('a changed tool disappears from lists and calls on both edges, with a readable diff, until approved (effective within 1 s)', async () => {
    assert.equal((await call(a, 'rp__weather', { city: 'Oslo' })).status, 200);
    assert.equal((await call(a, 'rp__rug_pull')).status, 200);
    await waitFor('weather withheld on both edges', async () => (!(await toolNames(a)).includes('rp__weather') && !(await toolNames(b)).includes('rp__weather')) || undefined);
    assert.ok(!(await toolNames(b)).includes('rp__exfiltrate'), 'a new tool of a known server is held too (hold_new)');
    const denied = await call(b, 'rp__weather', { city: 'Oslo' });
    assert.equal(denied.status, 404);
    assert.match(denied.json.error.message, /unknown tool 'rp__weather'/);

    const { json } = await admin(a, 'GET', '/tools?server=rp');
    const weather = (json.tools as any[]).find((t) => t.name === 'rp__weather');
    assert.equal(weather.pin, 'held');
    assert.match(weather.pending.diff.description.new, /id_rsa/);
    assert.equal(weather.pending.diff.description.old, 'Current weather for a city.');
    assert.ok(weather.pending.diff.inputSchema.new.properties.notes);
    assert.equal((json.tools as any[]).find((t) => t.name === 'rp__exfiltrate').pin, 'held');
    const servers = await (await fetch(`${a.url}/servers`, { headers: auth })).json() as { servers: { name: string; pinChanges: number }[] };
    assert.equal(servers.servers.find((s) => s.name === 'rp')!.pinChanges, 2);

    assert.equal((await admin(b, 'POST', '/tools/rp__weather/approve', { fingerprint: '0'.repeat(64) })).status, 409);
    assert.equal((await admin(b, 'POST', '/tools/rp__nosuch/approve', {})).status, 404);
    assert.equal((await admin(b, 'POST', '/tools/rp__weather/approve', { fingerprint: 'xyz' })).status, 400);
    const approvedAt = performance.now();
    const approved = await admin(b, 'POST', '/tools/rp__weather/approve', { fingerprint: weather.pending.fingerprint });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    assert.equal(approved.json.pin, 'trusted');
    const ms = await waitFor('weather back on both edges', async () => ((await toolNames(a)).includes('rp__weather') && (await toolNames(b)).includes('rp__weather') ? performance.now() - approvedAt : undefined));
    console.log(`approval effective on both edges after ${ms.toFixed(0)} ms (target: 1 s)`);
    assert.ok(ms < 1_000, `approval took ${ms} ms`);
    assert.equal((await admin(b, 'POST', '/tools/rp__weather/approve', { fingerprint: weather.pending.fingerprint })).status, 409);
    assert.equal((await call(a, 'rp__weather', { city: 'Oslo' })).status, 200);
    // Rejected: stays withheld.
    assert.equal((await admin(a, 'POST', '/tools/rp__exfiltrate/reject', {})).status, 200);
    assert.ok(!(await toolNames(a)).includes('rp__exfiltrate'));
  });

  test('the admin API by principal: 401 without a credential, 403 for a team key, 200 for an admin key and the master key', async () => {
    const team = await admin(a, 'POST', '/keys', { name: 'plain' });
    const adminKey = await admin(a, 'POST', '/keys', { name: 'ops admin', admin: true });
    const none = await fetch(`${a.url}/admin/api/tools`);
    assert.equal(none.status, 401);
    await none.text();
    assert.equal((await admin(a, 'GET', '/tools', undefined, { authorization: `Bearer ${team.json.key}` })).status, 403);
    assert.equal((await admin(a, 'GET', '/tools', undefined, { authorization: `Bearer ${adminKey.json.key}` })).status, 200);
    for (const path of ['/servers', '/tools', '/calls?limit=5', '/config', '/stats', '/teams', '/keys']) {
      const r = await admin(b, 'GET', path);
      assert.equal(r.status, 200, path);
    }
    const config = await admin(a, 'GET', '/config');
    assert.ok(!JSON.stringify(config.json).includes(MASTER), 'the master key never appears in the effective config');
    const calls = await admin(a, 'GET', '/calls?limit=50');
    assert.ok((calls.json.calls as { tool: string; outcome: string }[]).some((c) => c.tool === 'weather' && c.outcome === 'ok'));
    assert.equal((await admin(a, 'GET', '/calls?limit=0')).status, 400);
  });
});

describe('tool pinning: warn (no Redis)', () => {
  let edge: EdgeHandle;
  before(async () => {
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('rp', 'rugpull')}gateway:\n  pinning: warn\n`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER });
    await waitFor('rp tools', async () => (await toolNames(edge)).includes('rp__weather') || undefined);
  });
  after(stopAll);

  test('a changed tool keeps being served and is reported as changed until acknowledged', async () => {
    await call(edge, 'rp__rug_pull');
    const weather = await waitFor('change reported', async () => {
      const { json } = await admin(edge, 'GET', '/tools');
      const w = (json.tools as any[]).find((t) => t.name === 'rp__weather');
      return w?.pin === 'changed' ? w : undefined;
    });
    assert.ok((await toolNames(edge)).includes('rp__weather'));
    assert.ok((await toolNames(edge)).includes('rp__exfiltrate'), 'new tools are trusted on sight without hold_new');
    assert.equal((await admin(edge, 'POST', '/tools/rp__weather/approve', { fingerprint: weather.pending.fingerprint })).status, 200);
    const { json } = await admin(edge, 'GET', '/tools');
    assert.equal((json.tools as any[]).find((t) => t.name === 'rp__weather').pin, 'trusted');
  });
});
