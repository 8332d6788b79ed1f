// Issue 20, outbound: `auth_type: oauth2_user`. An upstream that validates
// bearer JWTs of its own authorization server (oidc-provider, a real process)
// and answers as the user the token names. The registry discovers the AS from
// the upstream's 401 (RFC 9728, then OIDC discovery), registers by DCR (RFC
// 7591), and runs authorization code + PKCE S256 + resource (RFC 8707) per
// user through the edge's /connect pages; tokens are sealed (AES-256-GCM) in
// Redis. A user without a token gets the -32042 URL elicitation; after the
// connect the retried call succeeds; two users see their own identity;
// refresh happens unnoticed; a revoked grant leads back to the elicitation,
// never to another user's token; disconnect forgets the tokens. With the
// gateway's own sign-in on, a link made for a signed-in user connects only
// after the browser signed in as that user (phishing defence).
import { GatewayTokens } from '../../services/edge/src/oauth/tokens.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startEdge, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { Browser, signInAt, startOidcProvider, startUserUpstream } from '../harness/oidc.js';
import { freePort, stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const MASTER = 'oauth2-user-master-key';
const TOKEN_KEYS = `k1:${randomBytes(32).toString('base64')}`;
const STATE_SECRET = 'o2u-test-state-secret-0123456789';

describe('auth_type: oauth2_user: each user\'s own upstream account', () => {
  let edge: EdgeHandle;
  let registry: RegistryHandle;
  let as: Awaited<ReturnType<typeof startOidcProvider>>;
  let upstream: Awaited<ReturnType<typeof startUserUpstream>>;
  let redisUrl: string;
  let dataDir: string;
  let gatewayTokens: GatewayTokens;
  const keys: Record<string, string> = {};

  before(async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}/mcp`;
    // The upstream's authorization server: access tokens live 4 s, so calls a few seconds apart need a refresh.
    // It is also the organisation's IdP for the gateway's own sign-in (gw-login).
    as = await startOidcProvider({ accessTtlS: 4, clients: [`gw-login:gw-login-secret:http://127.0.0.1:${port}/oauth/callback`] });
    gatewayTokens = new GatewayTokens(STATE_SECRET, `http://127.0.0.1:${port}`, publicUrl);
    upstream = await startUserUpstream(['--issuer', as.issuer]);
    const cfg = writeConfig(`mcp_servers:
  mine:
    url: ${upstream.url}
    transport: http
    auth_type: oauth2_user
    description: the user-upstream fixture
gateway:
  auth:
    login:
      issuer: ${as.issuer}
      client_id: gw-login
      client_secret: gw-login-secret
      scopes: [openid, profile]
`);
    const redis = await startRedis();
    redisUrl = redis.url;
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'o2u-test:', MCPGW_PUBLIC_URL: publicUrl };
    dataDir = mkdtempSync(join(tmpdir(), 'o2u-store-'));
    registry = await startRegistry(cfg, { ...env, MCPGW_TOKEN_KEYS: TOKEN_KEYS, MCPGW_DATA_DIR: dataDir });
    edge = await startEdge(registry.url, { ...env, PORT: String(port), MCPGW_MASTER_KEY: MASTER, MCPGW_CONFIG: cfg, MCPGW_STATE_SECRET: STATE_SECRET });
    for (const name of ['alice', 'bob', 'dave']) {
      const r = await fetch(`${edge.url}/admin/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) });
      keys[name] = ((await r.json()) as { key: string }).key;
    }
  });
  after(() => stopAll());

  async function call(who: string): Promise<{ text?: string; error?: McpError }> {
    const client = new Client({ name: `as-${who}`, version: '1.0.0' }, { capabilities: { elicitation: { url: {} } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${edge.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${keys[who]}` } } }));
    try {
      const r = (await client.callTool({ name: 'mine__whoami', arguments: {} })) as { content: { text: string }[]; isError?: boolean };
      return { text: r.content[0]?.text };
    } catch (err) {
      if (err instanceof McpError) return { error: err };
      throw err;
    } finally {
      await client.close();
    }
  }

  /** The person opens the connect link and signs in at the upstream's authorization server as `account`. */
  async function connect(url: string, account: string): Promise<string> {
    const browser = new Browser();
    assert.ok(url.startsWith(`${edge.url}/connect/mine?ticket=`), url);
    const back = await signInAt(browser, as.issuer, url, account);
    assert.equal(back.pathname, '/connect/callback');
    const done = await browser.follow(back.toString(), () => false);
    return done.page!.html;
  }

  test('the first user connects ahead of any call; the tools appear; the call answers as her', async () => {
    const r = await fetch(`${edge.url}/connections/mine`, { method: 'POST', headers: { authorization: `Bearer ${keys.alice}` } });
    assert.equal(r.status, 200);
    const { url } = (await r.json()) as { url: string };
    assert.match(await connect(url, 'alice'), /Connected mine/);
    await waitFor('mine__whoami in the catalog', async () => {
      const l = await fetch(`${edge.url}/mcp/tools/list`, { headers: { authorization: `Bearer ${keys.alice}` } });
      return ((await l.json()) as { tools: { name: string }[] }).tools.some((t) => t.name === 'mine__whoami') || undefined;
    });
    assert.equal((await call('alice')).text, 'user:alice');
  });

  test('a user without a token gets the URL elicitation (-32042); after connecting, the retried call answers as him; alice is still alice', async () => {
    const first = await call('bob');
    assert.equal(first.error?.code, -32042);
    const elicitations = (first.error!.data as { elicitations: Array<{ mode: string; url: string; elicitationId: string }> }).elicitations;
    assert.equal(elicitations[0]!.mode, 'url');
    assert.ok(elicitations[0]!.elicitationId);
    assert.match(await connect(elicitations[0]!.url, 'bob'), /Connected mine/);
    assert.equal((await call('bob')).text, 'user:bob');
    assert.equal((await call('alice')).text, 'user:alice');
    // A connect link is good for one principal only: bob's link opened by anyone connects bob, never alice.
    const seen = await upstream.seen();
    const subs = new Set(seen.filter((a) => a.startsWith('Bearer ')).map((a) => decodeJwt(a.slice(7)).sub));
    assert.deepEqual([...subs].sort(), ['alice', 'bob']);
  });

  test('2026-07-28: the same ask is an InputRequiredResult with a URL-mode elicitation (no -32042 on the modern wire)', async () => {
    const modern = async (caps: Record<string, unknown>) => {
      const r = await fetch(`${edge.url}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${keys.dave}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'mine__whoami' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'mine__whoami', arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': caps } } }),
      });
      return (await r.json()) as { result?: { resultType: string; inputRequests: Record<string, { method: string; params: { mode: string; url: string } }> }; error?: { code: number } };
    };
    const asked = await modern({ elicitation: { url: {} } });
    assert.equal(asked.result?.resultType, 'input_required', JSON.stringify(asked));
    const req = Object.values(asked.result!.inputRequests)[0]!;
    assert.equal(req.method, 'elicitation/create');
    assert.equal(req.params.mode, 'url');
    assert.match(req.params.url, /\/connect\/mine\?ticket=/);
    const without = await modern({});
    assert.equal(without.error?.code, -32021, 'without the URL elicitation capability: MissingRequiredClientCapability');
  });

  test('refresh happens without the user noticing', async () => {
    const before = (await (await fetch(`${as.issuer}/test/grants`)).json()) as string[];
    await new Promise((r) => setTimeout(r, 4_500));
    assert.equal((await call('alice')).text, 'user:alice');
    const after = (await (await fetch(`${as.issuer}/test/grants`)).json()) as string[];
    assert.ok(after.filter((g) => g === 'refresh_token').length > before.filter((g) => g === 'refresh_token').length, 'the registry refreshed alice\'s token');
  });

  test('a revoked grant leads back to the elicitation, never to another user\'s token; disconnect forgets the tokens', async () => {
    // bob's grant is revoked at the authorization server and his tokens at the upstream.
    await fetch(`${as.issuer}/test/revoke?sub=bob`, { method: 'POST' });
    await fetch(`${upstream.origin}/revoke-user?sub=bob`, { method: 'POST' });
    const seenBefore = (await upstream.seen()).length;
    const r = await call('bob');
    assert.equal(r.error?.code, -32042, JSON.stringify(r));
    const later = (await upstream.seen()).slice(seenBefore).filter((a) => a.startsWith('Bearer '));
    assert.ok(later.every((a) => decodeJwt(a.slice(7)).sub === 'bob'), 'only bob\'s own (refused) token was tried for bob');
    assert.equal((await call('alice')).text, 'user:alice', 'alice is unaffected');
    // Connections: alice sees hers; disconnect; her next call asks her to connect again.
    const list = (await (await fetch(`${edge.url}/connections`, { headers: { authorization: `Bearer ${keys.alice}` } })).json()) as { connections: { server: string }[] };
    assert.deepEqual(list.connections.map((c) => c.server), ['mine']);
    const del = (await (await fetch(`${edge.url}/connections/mine`, { method: 'DELETE', headers: { authorization: `Bearer ${keys.alice}` } })).json()) as { removed: number };
    assert.equal(del.removed, 1);
    assert.equal((await call('alice')).error?.code, -32042);
    // Revoking a key drops its upstream tokens too.
    const link = (await (await fetch(`${edge.url}/connections/mine`, { method: 'POST', headers: { authorization: `Bearer ${keys.dave}` } })).json()) as { url: string };
    assert.match(await connect(link.url, 'dave'), /Connected mine/);
    const daveId = ((await (await fetch(`${edge.url}/admin/api/keys`, { headers: { authorization: `Bearer ${MASTER}` } })).json()) as { keys: { id: string; name: string }[] }).keys.find((k) => k.name === 'dave')!.id;
    const connections = async () => ((await (await fetch(`${edge.url}/admin/api/connections?principal=key:${daveId}`, { headers: { authorization: `Bearer ${MASTER}` } })).json()) as { connections: unknown[] }).connections.length;
    assert.equal(await connections(), 1);
    await fetch(`${edge.url}/admin/api/keys/${daveId}`, { method: 'DELETE', headers: { authorization: `Bearer ${MASTER}` } });
    await waitFor('dave\'s tokens dropped with his key', async () => (await connections()) === 0 || undefined);
  });

  test('a signed-in user\'s connect link works only for a browser signed in as that user', async () => {
    // carol signed in through the gateway's authorization server (her token minted here with the edges' shared secret).
    keys.carol = await gatewayTokens.mint({ sub: 'carol', name: 'carol', scopes: [], clientId: 'test', family: 'f' });
    const r = await call('carol');
    assert.equal(r.error?.code, -32042);
    const url = (r.error!.data as { elicitations: Array<{ url: string }> }).elicitations[0]!.url;
    // Mallory got the link: signing in as mallory does not connect anything to carol.
    const mallory = new Browser();
    const back = await signInAt(mallory, as.issuer, url, 'mallory');
    assert.equal(back.pathname, '/oauth/callback', 'the connect page asked for the gateway sign-in first');
    const refused = await mallory.request(back.toString());
    assert.equal(refused.status, 403);
    assert.match(await refused.text(), /another user/);
    assert.equal((await call('carol')).error?.code, -32042, 'nothing was connected for carol');
    // Carol herself: gateway sign-in, then the upstream's authorization (same provider here), then connected.
    const browser = new Browser();
    const signedIn = await signInAt(browser, as.issuer, url, 'carol');
    const connected = await signInAt(browser, as.issuer, signedIn.toString(), 'carol');
    assert.equal(connected.pathname, '/connect/callback');
    assert.match((await browser.follow(connected.toString(), () => false)).page!.html, /Connected mine/);
    assert.equal((await call('carol')).text, 'user:carol');
  });

  test('tokens rest sealed in the store, none in Redis; the pool is measured; nothing a user presents reaches the upstream', async () => {
    const db = new DatabaseSync(join(dataDir, 'mcpgw.db'), { readOnly: true });
    try {
      const rows = db.prepare('SELECT principal, server, ciphertext FROM user_credentials').all() as { ciphertext: Uint8Array }[];
      assert.ok(rows.length > 0, 'the users\' tokens are rows of the system of record');
      for (const r of rows) assert.ok(!/eyJ/.test(Buffer.from(r.ciphertext).toString('latin1')), 'no JWT in clear');
    } finally {
      db.close();
    }
    const { Redis } = await import('ioredis');
    const redis = new Redis(redisUrl);
    try {
      assert.deepEqual(await redis.keys('o2u-test:usercred:*'), [], 'no user token in Redis');
    } finally {
      redis.disconnect();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${registry.metricsPort}/metrics`)).text();
    assert.match(metrics, /mcpgw_user_sessions\{server="mine"\} \d/);
    assert.match(metrics, /mcpgw_user_session_evictions_total\{server="mine",reason="(credential|failed)"\} \d/);
    const seen = await upstream.seen();
    for (const k of [MASTER, keys.alice!, keys.bob!]) assert.ok(!seen.some((a) => a.includes(k)), 'a gateway key reached the upstream');
    const logs = [...registry.proc.lines, ...edge.proc.lines].join('\n');
    assert.ok(!seen.filter((a) => a.startsWith('Bearer ')).some((a) => logs.includes(a.slice(7))), 'an upstream token appears in a log');
  });
});
