// Issue 20, inbound: the gateway as an OAuth 2.1 authorization server for its
// own resource, with sign-in federated to an OIDC provider (oidc-provider, a
// real process). The official TypeScript SDK client, with its OAuth client
// provider, discovers everything from the 401 (RFC 9728, RFC 8414), registers
// (RFC 7591), runs authorization code + PKCE S256 with the resource indicator
// (RFC 8707); the test drives the IdP's login and the gateway's consent page
// over HTTP, as a person's browser would; then the client lists and calls
// tools as the signed-in user. Claims map to teams and scopes; refresh tokens
// rotate and a replay revokes the family; revocation (RFC 7009); a client ID
// metadata document client; everything with Redis and the registry link token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { startDemoHttp, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { Browser, formOf, signInAt, startOidcProvider } from '../harness/oidc.js';
import { freePort, stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const CLIENT_REDIRECT = 'http://127.0.0.1:1/callback';

/** The SDK's OAuth client provider, in memory: what a desktop client keeps on disk. */
class MemoryProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  lastAuthorizationUrl?: URL;
  get redirectUrl() { return CLIENT_REDIRECT; }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'sdk test client', redirect_uris: [CLIENT_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  }
  clientInformation() { return this.info; }
  saveClientInformation(i: OAuthClientInformationMixed) { this.info = i; }
  tokens() { return this.saved; }
  saveTokens(t: OAuthTokens) { this.saved = t; }
  redirectToAuthorization(url: URL) { this.lastAuthorizationUrl = url; }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

describe('sign-in: the gateway as an OAuth 2.1 authorization server, federated to an OIDC provider', () => {
  let edge: EdgeHandle;
  let publicUrl: string;
  let issuer: string;
  const servers: Server[] = [];

  before(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    publicUrl = `${origin}/mcp`;
    const idp = await startOidcProvider({
      clients: [`gw-login:gw-login-secret:${origin}/oauth/callback`],
      accounts: { alice: { team: 'eng' }, bob: { team: ['unknown', 'ops'], mcp_scope: 'tool:demo__echo' } },
    });
    issuer = idp.issuer;
    const demo = await startDemoHttp('demo');
    const cfg = writeConfig(`mcp_servers:
  demo:
    url: ${demo.url}
    transport: http
gateway:
  teams:
    eng: { servers: [demo] }
    ops: { servers: [demo] }
  auth:
    login:
      issuer: ${issuer}
      client_id: gw-login
      client_secret: gw-login-secret
      scopes: [openid, profile]
      scope_claim: mcp_scope
`);
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'signin-test:', MCPGW_CONFIG: cfg, MCPGW_STATE_SECRET: 'signin-test-state-secret-0123456789' };
    const registry = await startRegistry(cfg, env);
    edge = await startEdge(registry.url, { ...env, PORT: String(port), MCPGW_PUBLIC_URL: publicUrl, MCPGW_OAUTH_DEV_HTTP_CLIENT_IDS: '1' });
    await waitFor('demo tools', async () => {
      const r = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`);
      return r.ok || undefined;
    });
  });
  after(async () => {
    for (const s of servers) s.close();
    await stopAll();
  });

  /** What a person does in the browser: sign in at the IdP as `account`, allow on the consent page; returns the code. */
  async function personApproves(authorizationUrl: URL, account: string, decision = 'approve'): Promise<URL> {
    const browser = new Browser();
    const back = await signInAt(browser, issuer, authorizationUrl.toString(), account);
    assert.equal(back.pathname, '/oauth/callback', 'the IdP answers at the gateway\'s callback');
    const consent = await browser.follow(back.toString(), (u) => u.toString().startsWith(CLIENT_REDIRECT));
    assert.ok(consent.page, 'the gateway shows its consent page');
    const { action, fields } = formOf(consent.page.html, consent.page.url);
    const done = await browser.follow(action, (u) => u.toString().startsWith(CLIENT_REDIRECT), { method: 'POST', form: { ...fields, decision } });
    assert.ok(done.stopped, 'the consent sends the browser back to the client');
    return done.stopped;
  }

  async function signIn(account: string): Promise<{ client: Client; provider: MemoryProvider }> {
    const provider = new MemoryProvider();
    const first = new StreamableHTTPClientTransport(new URL(publicUrl), { authProvider: provider });
    const client = new Client({ name: 'oauth-test', version: '1.0.0' });
    await assert.rejects(client.connect(first), UnauthorizedError);
    assert.ok(provider.lastAuthorizationUrl, 'the SDK sent the user to the gateway\'s authorization endpoint');
    const back = await personApproves(provider.lastAuthorizationUrl, account);
    assert.equal(back.searchParams.get('iss'), new URL(publicUrl).origin, 'RFC 9207 iss in the authorization response');
    await first.finishAuth(back.searchParams.get('code')!);
    const again = new Client({ name: 'oauth-test', version: '1.0.0' });
    await again.connect(new StreamableHTTPClientTransport(new URL(publicUrl), { authProvider: provider }));
    return { client: again, provider };
  }

  test('discovery: 401 points to RFC 9728 metadata naming the gateway; RFC 8414 metadata offers S256 only, DCR and client ID metadata documents', async () => {
    const r = await fetch(publicUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    const prmUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    assert.ok(prmUrl, challenge);
    const prm = (await (await fetch(prmUrl)).json()) as { resource: string; authorization_servers: string[] };
    assert.equal(prm.resource, publicUrl);
    assert.deepEqual(prm.authorization_servers, [new URL(publicUrl).origin]);
    const as = (await (await fetch(`${prm.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    assert.equal(as.issuer, new URL(publicUrl).origin);
    assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
    assert.equal(as.client_id_metadata_document_supported, true);
    assert.ok(as.registration_endpoint && as.revocation_endpoint);
  });

  test('the SDK client signs alice in without a person (IdP login and consent driven over HTTP), then lists and calls tools as her', async () => {
    const { client, provider } = await signIn('alice');
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(tools.includes('demo__echo'), tools.join(','));
    const r = (await client.callTool({ name: 'demo__echo', arguments: { message: 'hi' } })) as { content: { text: string }[] };
    assert.match(r.content[0]!.text, /hi/);
    const claims = decodeJwt(provider.saved!.access_token);
    assert.equal(claims.aud, publicUrl, 'RFC 8707: the token is bound to the gateway\'s resource URL');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.team, 'eng', 'the IdP\'s team claim became the team');
    assert.ok((claims.exp! - claims.iat!) <= 300, 'short-lived');
    assert.ok(provider.info && !String(provider.info.client_id).startsWith('http'), 'registered by DCR (RFC 7591)');
    // The edge's logs name the principal, never the token.
    assert.ok(!edge.proc.lines.join('\n').includes(provider.saved!.access_token));
    await client.close();
  });

  test('claims mapping: bob\'s first known team and his scope claim narrow what he sees', async () => {
    const { client, provider } = await signIn('bob');
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.deepEqual(tools, ['demo__echo']);
    assert.equal(decodeJwt(provider.saved!.access_token).team, 'ops');
    await client.close();
  });

  test('refresh tokens rotate; a replayed one revokes its family; revocation (RFC 7009) ends refreshing', async () => {
    const { client, provider } = await signIn('alice');
    await client.close();
    const token = `${new URL(publicUrl).origin}/oauth/token`;
    const clientId = String(provider.info!.client_id);
    const refresh = (rt: string) => fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: clientId, resource: publicUrl }) });
    const first = provider.saved!.refresh_token!;
    const r1 = await refresh(first);
    assert.equal(r1.status, 200);
    const t1 = (await r1.json()) as OAuthTokens;
    assert.notEqual(t1.refresh_token, first, 'a new refresh token each time');
    // The new access token works.
    const ok = await fetch(`${new URL(publicUrl).origin}/mcp/tools/list`, { headers: { authorization: `Bearer ${t1.access_token}` } });
    assert.equal(ok.status, 200);
    // Replaying the first: refused, and the family (including t1's refresh token) is revoked.
    assert.equal((await refresh(first)).status, 400);
    assert.equal((await refresh(t1.refresh_token!)).status, 400, 'reuse detection revoked the whole family');
    // A fresh sign-in, then revocation.
    const second = await signIn('alice');
    await second.client.close();
    const rev = await fetch(`${new URL(publicUrl).origin}/oauth/revoke`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: second.provider.saved!.refresh_token!, client_id: String(second.provider.info!.client_id) }) });
    assert.equal(rev.status, 200);
    const after = await fetch(token, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: second.provider.saved!.refresh_token!, client_id: String(second.provider.info!.client_id) }) });
    assert.equal(after.status, 400);
  });

  test('a client ID metadata document client; PKCE is S256 only; a wrong verifier, a reused code and a foreign resource are refused', async () => {
    // The client's metadata document (the draft's https rule relaxed for loopback in development).
    const doc = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: `http://127.0.0.1:${(doc.address() as AddressInfo).port}/client.json`, client_name: 'Metadata Doc Client', redirect_uris: [CLIENT_REDIRECT], token_endpoint_auth_method: 'none' }));
    });
    servers.push(doc);
    await new Promise<void>((r) => doc.listen(0, '127.0.0.1', r));
    const clientId = `http://127.0.0.1:${(doc.address() as AddressInfo).port}/client.json`;
    const origin = new URL(publicUrl).origin;
    const verifier = randomBytes(32).toString('base64url');
    const authorize = (params: Record<string, string>) => new URL(`${origin}/oauth/authorize?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: CLIENT_REDIRECT, state: 's1', resource: publicUrl, ...params })}`);
    // plain PKCE is refused (back to the client with an error), as is no PKCE.
    const plain = await fetch(authorize({ code_challenge: verifier, code_challenge_method: 'plain' }), { redirect: 'manual' });
    assert.match(plain.headers.get('location') ?? '', /error=invalid_request/);
    const foreign = await fetch(authorize({ code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', resource: 'https://elsewhere.example/mcp' }), { redirect: 'manual' });
    assert.match(foreign.headers.get('location') ?? '', /error=invalid_target/);
    const back = await personApproves(authorize({ code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }), 'alice');
    assert.equal(back.searchParams.get('state'), 's1');
    const code = back.searchParams.get('code')!;
    const exchange = (v: string) => fetch(`${origin}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: v, client_id: clientId, redirect_uri: CLIENT_REDIRECT, resource: publicUrl }) });
    const wrong = await exchange(randomBytes(32).toString('base64url'));
    assert.equal(wrong.status, 400, 'a wrong verifier is refused (and uses up the code)');
    assert.equal((await exchange(verifier)).status, 400, 'a code is good once');
    // The full flow succeeds with the right verifier.
    const again = await personApproves(authorize({ code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' }), 'alice');
    const good = await fetch(`${origin}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code: again.searchParams.get('code')!, code_verifier: verifier, client_id: clientId, redirect_uri: CLIENT_REDIRECT, resource: publicUrl }) });
    assert.equal(good.status, 200);
    const t = (await good.json()) as OAuthTokens;
    assert.equal(decodeJwt(t.access_token).client_id, clientId);
  });

  test('a denied consent sends the client an access_denied error and no code', async () => {
    const provider = new MemoryProvider();
    const transport = new StreamableHTTPClientTransport(new URL(publicUrl), { authProvider: provider });
    await assert.rejects(new Client({ name: 'x', version: '1' }).connect(transport), UnauthorizedError);
    const back = await personApproves(provider.lastAuthorizationUrl!, 'alice', 'deny');
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('code'), null);
  });
});
