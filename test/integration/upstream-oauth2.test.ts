// auth_type: oauth2 end to end: a local authorization server (client
// credentials) and an upstream that accepts only its tokens. The registry
// fetches a token, reuses it, refreshes it before expiry with one request in
// flight, and the client's own credential never reaches the upstream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoHttp, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';

const MASTER = 'oauth2-test-master';
const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
};

describe('upstream auth_type: oauth2 (client credentials)', () => {
  let edge: EdgeHandle;
  const servers: Server[] = [];
  const tokenRequests: { authorization?: string; body: string }[] = [];
  const issued = new Set<string>();
  const seenByUpstream: string[] = [];

  before(async () => {
    // The authorization server: tokens live 2 s, so the registry refreshes them after 1.8 s (at 90% of a short lifetime).
    const auth = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c; });
      req.on('end', () => {
        tokenRequests.push({ authorization: req.headers.authorization, body });
        const ok = req.headers.authorization === `Basic ${Buffer.from('gw-client:s3cret').toString('base64')}`;
        if (!ok) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
        const token = `tok-${issued.size + 1}`;
        issued.add(token);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 2 }));
      });
    });
    const demo = await startDemoHttp('secured');
    const target = new URL(demo.url);
    // The upstream: a gate in front of the demo server that accepts only issued tokens.
    const gate = createServer((req, res) => {
      const authz = req.headers.authorization ?? '';
      seenByUpstream.push(authz);
      if (!issued.has(authz.replace(/^Bearer /, ''))) return void res.writeHead(401).end('no');
      const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    servers.push(auth, gate);
    const [authPort, gatePort] = [await listen(auth), await listen(gate)];
    const cfg = writeConfig(`mcp_servers:
  secured:
    url: http://127.0.0.1:${gatePort}/mcp
    transport: http
    auth_type: oauth2
    token_url: http://127.0.0.1:${authPort}/token
    client_id: gw-client
    client_secret: s3cret
    scopes: [tools.read, tools.call]
`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url, { MCPGW_MASTER_KEY: MASTER });
  });
  after(async () => {
    for (const s of servers) s.close();
    await stopAll();
  });

  test('tokens are fetched with client_secret_basic and the scopes, reused, refreshed before expiry; the client credential never reaches the upstream', async () => {
    const names = await waitFor('secured tools', async () => {
      const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      const tools = ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name);
      return tools.includes('secured__add') ? tools : undefined;
    });
    assert.ok(names.length > 0);
    const call = async () => {
      const r = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'secured__add', arguments: { a: 1, b: 2 } }) });
      return { status: r.status, json: (await r.json()) as { content: { text: string }[] } };
    };
    const results = await Promise.all(Array.from({ length: 8 }, call));
    assert.ok(results.every((r) => r.status === 200 && r.json.content[0]!.text === '3'));
    const before = tokenRequests.length;
    assert.ok(before >= 1 && before <= 2, `token requests so far: ${before}`);
    assert.match(tokenRequests[0]!.body, /grant_type=client_credentials/);
    assert.match(tokenRequests[0]!.body, /scope=tools.read\+tools.call/);
    // After the refresh point, calls keep working with a new token.
    await new Promise((r) => setTimeout(r, 2_200));
    assert.ok((await Promise.all(Array.from({ length: 4 }, call))).every((r) => r.status === 200));
    assert.ok(tokenRequests.length > before, 'a new token was fetched before the old one expired');
    assert.ok(seenByUpstream.every((a) => a.startsWith('Bearer tok-')), 'the upstream only ever saw the gateway\'s own tokens');
    assert.ok(!seenByUpstream.some((a) => a.includes(MASTER)));
  });
});
