// Issue 20: `auth_type: token_exchange` (RFC 8693, on-behalf-of). Callers
// present JWTs of a trusted issuer; the edge exchanges each caller's JWT at the
// server's token endpoint for a token with the server's audience and passes
// only that one on; the upstream answers as the user the exchanged token
// names. The caller's JWT reaches the token endpoint only, never the upstream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startEdge, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { startIssuer, type TestIssuer } from '../harness/jwks.js';
import { startUserUpstream } from '../harness/oidc.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const MASTER = 'token-exchange-master';
const AUDIENCE = 'mcpgw-test';

describe('auth_type: token_exchange (RFC 8693)', () => {
  let edge: EdgeHandle;
  let registry: RegistryHandle;
  let issuer: TestIssuer;
  let upstream: Awaited<ReturnType<typeof startUserUpstream>>;
  let sts: Server;
  const exchanges: Record<string, string>[] = [];

  before(async () => {
    issuer = await startIssuer(AUDIENCE);
    const jwks = createRemoteJWKSet(new URL(issuer.jwksUrl));
    // The security token service: checks the subject token against the issuer, answers with a token for the audience.
    sts = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c; });
      req.on('end', async () => {
        const p = Object.fromEntries(new URLSearchParams(body));
        exchanges.push({ ...p, authorization: req.headers.authorization ?? '' });
        if (p.grant_type !== 'urn:ietf:params:oauth:grant-type:token-exchange' || p.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt' || p.audience !== 'internal-api') {
          return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_request"}');
        }
        try {
          const { payload } = await jwtVerify(p.subject_token!, jwks, { issuer: issuer.issuer, audience: AUDIENCE });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `xchg-${payload.sub}`, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 300 }));
        } catch {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
        }
      });
    });
    await new Promise<void>((r) => sts.listen(0, '127.0.0.1', r));
    upstream = await startUserUpstream(['--tokens', 'catalog-tok=catalog,xchg-alice=alice,xchg-bob=bob']);
    const cfg = writeConfig(`mcp_servers:
  onbehalf:
    url: ${upstream.url}
    transport: http
    auth_type: token_exchange
    token_endpoint: http://127.0.0.1:${(sts.address() as AddressInfo).port}/token
    audience: internal-api
    headers: { Authorization: "Bearer catalog-tok" }
gateway:
  auth:
    jwt:
      - issuer: ${issuer.issuer}
        audiences: [${AUDIENCE}]
        jwks_url: ${issuer.jwksUrl}
`);
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'xchg-test:', MCPGW_CONFIG: cfg };
    registry = await startRegistry(cfg, env);
    edge = await startEdge(registry.url, { ...env, MCPGW_MASTER_KEY: MASTER });
    await waitFor('onbehalf tools', async () => {
      const r = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${MASTER}` } });
      return ((await r.json()) as { tools: { name: string }[] }).tools.some((t) => t.name === 'onbehalf__whoami') || undefined;
    });
  });
  after(async () => {
    sts.close();
    await issuer.close();
    await stopAll();
  });

  async function call(bearer: string): Promise<{ text?: string; error?: McpError }> {
    const client = new Client({ name: 'xchg', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${edge.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }));
    try {
      const r = (await client.callTool({ name: 'onbehalf__whoami', arguments: {} })) as { content: { text: string }[] };
      return { text: r.content[0]?.text };
    } catch (err) {
      if (err instanceof McpError) return { error: err };
      throw err;
    } finally {
      await client.close();
    }
  }

  test('each caller\'s JWT is exchanged for a token of the server\'s audience; the upstream answers as that user and never sees the caller\'s JWT', async () => {
    // A token names the servers it may reach: one with neither a team nor a scope reaches none (fail closed).
    const alice = await issuer.sign({ sub: 'alice', scope: 'server:onbehalf' });
    const bob = await issuer.sign({ sub: 'bob', scope: 'server:onbehalf' });
    assert.equal((await call(alice)).text, 'user:alice');
    assert.equal((await call(bob)).text, 'user:bob');
    assert.equal((await call(alice)).text, 'user:alice');
    // One exchange per caller token: the exchanged token is reused until shortly before it expires.
    assert.equal(exchanges.filter((e) => e.subject_token === alice).length, 1);
    assert.ok(exchanges.every((e) => e.audience === 'internal-api' && e.requested_token_type === 'urn:ietf:params:oauth:token-type:access_token'));
    assert.ok(exchanges.every((e) => e.authorization === ''), 'no sign-in client configured: a public exchange');
    const seen = await upstream.seen();
    assert.ok(!seen.some((a) => a.includes(alice) || a.includes(bob) || a.includes(MASTER)), 'a caller credential reached the upstream');
    assert.ok(seen.includes('Bearer xchg-alice') && seen.includes('Bearer xchg-bob'));
    const logs = [...registry.proc.lines, ...edge.proc.lines].join('\n');
    assert.ok(!logs.includes('xchg-alice') && !logs.includes(alice));
  });

  test('a caller without a JWT (a key) cannot be exchanged: a clear error, nothing sent anywhere', async () => {
    const before = exchanges.length;
    const r = await call(MASTER);
    assert.equal(r.error?.code, -32016);
    assert.match(r.error!.message, /JWT/);
    assert.equal(exchanges.length, before);
  });
});
