// session: per_client — each client session has its own upstream session,
// owned by one registry replica; other replicas forward to it; losing the
// owner is never hidden: the client gets 404 and re-initializes knowingly.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { INIT, rpc } from '../harness/mcp.js';
import { stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const call = (url: string, sid: string, id: number, name: string) =>
  rpc(`${url}/mcp`, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' });
const count = (r: { json: any }) => Number(r.json.result.content[0].text);

describe('per_client upstream sessions', () => {
  after(stopAll);

  test('two client sessions see separate upstream state; another registry replica forwards to the owner; a lost owner is a 404', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `pc${Date.now()}:` };
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('st', 'stateful', [], '    session: per_client\n')}`);
    const [regA, regB] = await Promise.all([startRegistry(cfg, env), startRegistry(cfg, env)]);
    const [viaA, viaB] = await Promise.all([startEdge(regA.url, env), startEdge(regB.url, env)]);
    await waitForTools(viaA.url, ['st__incr']);
    await waitForTools(viaB.url, ['st__incr']);

    const one = (await rpc(`${viaA.url}/mcp`, INIT)).headers.get('mcp-session-id')!;
    const two = (await rpc(`${viaA.url}/mcp`, INIT)).headers.get('mcp-session-id')!;
    assert.equal(count(await call(viaA.url, one, 1, 'st__incr')), 1);
    assert.equal(count(await call(viaA.url, one, 2, 'st__incr')), 2);
    assert.equal(count(await call(viaA.url, two, 1, 'st__incr')), 1, 'the second client session has its own upstream state');

    // Registry B does not own session one's upstream session: it forwards to A.
    assert.equal(count(await call(viaB.url, one, 3, 'st__incr')), 3);

    regA.proc.kill('SIGKILL');
    await regA.proc.exited;
    const lost = await call(viaB.url, one, 4, 'st__incr');
    assert.equal(lost.status, 404, JSON.stringify(lost.json));
    assert.match(lost.json.error.message, /lost|gone/);
    const after = await call(viaB.url, one, 5, 'st__incr');
    assert.equal(after.status, 404, 'the session stays ended');

    // A new session starts clean on the surviving replica.
    const three = (await rpc(`${viaB.url}/mcp`, INIT)).headers.get('mcp-session-id')!;
    assert.equal(count(await call(viaB.url, three, 1, 'st__incr')), 1);
  });

  test('DELETE ends the client session and closes its upstream session', async () => {
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('st', 'stateful', [], '    session: per_client\n')}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['st__incr']);
    const sid = (await rpc(`${edge.url}/mcp`, INIT)).headers.get('mcp-session-id')!;
    assert.equal(count(await call(edge.url, sid, 1, 'st__incr')), 1);
    const connected = () => registry.proc.lines.filter((l) => l.includes('"perClient":true') && l.includes('upstream connected')).length;
    assert.equal(connected(), 1);
    assert.equal((await fetch(`${edge.url}/mcp`, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).status, 200);
    assert.equal((await call(edge.url, sid, 2, 'st__incr')).status, 404);
  });
});
