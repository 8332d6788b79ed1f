// auth_type: oauth2 end to end: a local authorization server (client
// credentials) and an upstream that accepts only its tokens. The registry
// fetches a token, reuses it, refreshes it before expiry with one request in
// flight, and the client's own credential never reaches the upstream.
// auth_type: client_header beside it (issue 20): each caller's
// x-mcp-<server>-authorization reaches that server alone, as its
// Authorization, and appears in no log; nothing a caller presents to the
// gateway reaches any upstream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoHttp, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig, type Proc } from '../harness/processes.js';
import { startUserUpstream } from '../harness/oidc.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startRedis } from '../harness/redis.js';

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

// The no-passthrough check for client_header: its own gateway (with Redis), so
// the client-credentials test above keeps its timing.
describe('upstream auth_type: client_header (issue 20)', () => {
  let edge: EdgeHandle;
  let registryProc: Proc;
  let personal: Awaited<ReturnType<typeof startUserUpstream>>;
  let other: Awaited<ReturnType<typeof startUserUpstream>>;

  before(async () => {
    // The gateway's own listing credential (headers) reads the catalog; each call carries the caller's own.
    personal = await startUserUpstream(['--tokens', 'catalog-token-9=catalog,alice-upstream-token-1=alice,bob-upstream-token-2=bob']);
    // Another server with the gateway's shared credential: it must never see a caller's header for 'personal'.
    other = await startUserUpstream(['--tokens', 'shared-other-token=gateway']);
    const cfg = writeConfig(`mcp_servers:
  personal:
    url: ${personal.url}
    transport: http
    auth_type: client_header
    headers: { Authorization: "Bearer catalog-token-9" }
  secured:
    url: ${other.url}
    transport: http
    auth_type: bearer_token
    auth_value: shared-other-token
`);
    const redis = await startRedis();
    const registry = await startRegistry(cfg, { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'client-header-test:' });
    registryProc = registry.proc;
    edge = await startEdge(registry.url, { MCPGW_MASTER_KEY: MASTER, REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'client-header-test:' });
  });
  after(() => stopAll());

  test('client_header: each caller\'s x-mcp-<server>-authorization reaches that server only, as its Authorization; never logged; missing or refused is a clear error', async () => {
    // A real MCP client session (the SDK's), with the caller's extra headers on every request.
    const call = async (headers: Record<string, string>, name = 'personal__whoami') => {
      const client = new Client({ name: 'client-header-test', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${edge.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${MASTER}`, ...headers } } }));
      try {
        const result = await client.callTool({ name, arguments: {} }) as { content: { text: string }[] };
        return { result };
      } catch (err) {
        if (!(err instanceof McpError)) throw err;
        return { error: { code: err.code, message: err.message, data: err.data as Record<string, unknown> | undefined } };
      } finally {
        await client.close();
      }
    };
    await waitFor('personal tools', async () => {
      const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      return ((await r.json()) as { tools: { name: string }[] }).tools.some((t) => t.name === 'personal__whoami') || undefined;
    });
    const alice = await call({ 'x-mcp-personal-authorization': 'Bearer alice-upstream-token-1', 'x-mcp-secured-authorization': 'Bearer not-for-anyone' });
    assert.equal(alice.result?.content[0]!.text, "user:alice", JSON.stringify(alice));
    const bob = await call({ 'x-mcp-personal-authorization': 'Bearer bob-upstream-token-2' });
    assert.equal(bob.result?.content[0]!.text, 'user:bob', 'the same principal with another header gets a session with that credential, not the earlier one');
    const again = await call({ 'x-mcp-personal-authorization': 'Bearer alice-upstream-token-1' });
    assert.equal(again.result?.content[0]!.text, 'user:alice');
    // The catalog's own credential is never used for a user's call.
    const calls = (await personal.seen()).filter((a) => a === 'Bearer catalog-token-9').length;
    await call({ 'x-mcp-personal-authorization': 'Bearer bob-upstream-token-2' });
    assert.equal((await personal.seen()).filter((a) => a === 'Bearer catalog-token-9').length, calls);

    const missing = await call({});
    assert.equal(missing.error?.code, -32016);
    assert.match(missing.error!.message, /x-mcp-personal-authorization/);
    const refused = await call({ 'x-mcp-personal-authorization': 'Bearer stolen-or-expired-token' });
    assert.equal(refused.error?.code, -32016);
    assert.match(refused.error!.message, /refused/);
    assert.ok(!refused.error!.message.includes('stolen-or-expired-token'), 'the refused credential is not echoed');

    // The other server's header and the gateway key never reach any upstream.
    await waitFor('secured tools', async () => {
      const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      return ((await r.json()) as { tools: { name: string }[] }).tools.some((t) => t.name === 'secured__whoami') || undefined;
    });
    const secured = await call({ 'x-mcp-secured-authorization': 'Bearer not-for-anyone', 'x-mcp-personal-authorization': 'Bearer alice-upstream-token-1' }, 'secured__whoami');
    assert.equal(secured.result?.content[0]!.text, 'user:gateway', 'a static-credential server acts as the gateway, whatever headers the caller sends');
    const personalSaw = await personal.seen();
    assert.ok(personalSaw.every((a) => /^Bearer (catalog-token-9|alice-upstream-token-1|bob-upstream-token-2|stolen-or-expired-token)$/.test(a)), `personal saw ${JSON.stringify(personalSaw)}`);
    const otherSaw = await other.seen();
    assert.ok(otherSaw.every((a) => a === 'Bearer shared-other-token'), `secured saw ${JSON.stringify(otherSaw)}`);
    // Never logged, by either service.
    const logs = [...registryProc.lines, ...edge.proc.lines].join('\n');
    for (const secret of ['alice-upstream-token-1', 'bob-upstream-token-2', 'stolen-or-expired-token', 'not-for-anyone']) assert.ok(!logs.includes(secret), `a log line holds ${secret}`);
  });
});
