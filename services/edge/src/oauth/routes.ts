// The gateway as an OAuth 2.1 authorization server for its own MCP resource
// (MCP authorization, 2025-11-25 and 2026-07-28):
//   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
//   POST /oauth/register                           RFC 7591 dynamic client registration
//   GET  /oauth/authorize                          authorization code, PKCE S256 only, RFC 8707 resource
//   GET  /oauth/callback                           the organisation's IdP answers here (federated login)
//   POST /oauth/consent                            the user approves or denies on the consent page
//   POST /oauth/token                              authorization_code and refresh_token (rotating)
//   POST /oauth/revoke                             RFC 7009
// Clients are DCR-registered or identified by their metadata document URL.
// Issued tokens are short-lived JWTs bound to the gateway's resource URL.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig, TeamConfig } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogView } from '../catalog-view.js';
import type { Audit } from '../pipeline/audit.js';
import { ClientError, Clients, type OAuthClient } from './clients.js';
import type { LoginFederation } from './federation.js';
import { userPrincipal } from './principal.js';
import { digestId, type OAuthState } from './state.js';
import type { GatewayTokens, SignedInUser } from './tokens.js';

export interface OAuthDeps {
  state: OAuthState;
  tokens: GatewayTokens;
  login: LoginFederation;
  clients: Clients;
  catalog: CatalogView;
  gateway: GatewayConfig;
  audit: Audit;
  log: Logger;
}

/** A pending authorization: the client's request, our IdP login, then the signed-in user awaiting consent. */
interface Pending {
  clientId: string;
  redirectUri: string;
  state?: string;
  challenge: string;
  scope: string;
  login: { verifier: string; nonce: string };
  user?: SignedInUser;
  csrf?: string;
}

interface CodeRecord {
  clientId: string;
  redirectUri: string;
  challenge: string;
  user: SignedInUser;
  scope: string;
}

interface RefreshRecord {
  clientId: string;
  user: SignedInUser;
  scope: string;
  family: string;
}

const PENDING_TTL_S = 600;
const CODE_TTL_S = 60;
const REFRESH_TTL_S = 30 * 24 * 3600;
const FORM_LIMIT = 64 * 1024;
const CSRF_COOKIE = 'mcpgw_oauth_csrf';

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function registerOAuth(app: FastifyInstance, deps: OAuthDeps): void {
  const { state, tokens, login, clients } = deps;
  const issuer = tokens.issuer;
  const teams = new Map<string, TeamConfig>(deps.gateway.teams.map((t) => [t.name, t]));
  const secureCookie = issuer.startsWith('https:');

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const metadata = {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    registration_endpoint: `${issuer}/oauth/register`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
    scopes_supported: ['mcp'],
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
    resource_indicators_supported: true,
  };
  app.get('/.well-known/oauth-authorization-server', async () => metadata);
  // RFC 8414 section 3.1 inserts the issuer's path; ours has none, but clients also try the OIDC name.
  app.get('/.well-known/openid-configuration', async () => metadata);

  app.post('/oauth/register', { bodyLimit: FORM_LIMIT }, async (req, reply) => {
    try {
      const out = await clients.register(req.body);
      deps.log.info({ clientId: out.client_id, clientName: out.client_name }, 'oauth client registered');
      return reply.code(201).header('cache-control', 'no-store').send(out);
    } catch (err) {
      if (err instanceof ClientError) return reply.code(400).send({ error: err.error, error_description: err.message });
      throw err;
    }
  });

  app.get('/oauth/authorize', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    let client: OAuthClient | undefined;
    try {
      client = q.client_id ? await clients.find(q.client_id) : undefined;
    } catch (err) {
      if (err instanceof ClientError) return page(reply, 400, 'Unknown client', err.message);
      throw err;
    }
    // Without a known client and one of its redirect URIs nothing may be redirected (RFC 6749 section 4.1.2.1).
    if (!client) return page(reply, 400, 'Unknown client', 'client_id is missing or not registered.');
    const redirectUri = q.redirect_uri ?? (client.redirectUris.length === 1 ? client.redirectUris[0]! : '');
    if (!client.redirectUris.includes(redirectUri)) return page(reply, 400, 'Invalid redirect', 'redirect_uri is not one the client registered.');
    const fail = (error: string, description: string) => reply.redirect(withParams(redirectUri, { error, error_description: description, state: q.state, iss: issuer }), 302);
    if (q.response_type !== 'code') return fail('unsupported_response_type', 'only response_type=code');
    if (!q.code_challenge || q.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge)) return fail('invalid_request', 'PKCE with code_challenge_method=S256 is required');
    if (q.resource !== undefined && !sameResource(q.resource, tokens.resource)) return fail('invalid_target', `this authorization server issues tokens for ${tokens.resource} only`);
    const id = randomBytes(24).toString('base64url');
    let start;
    try {
      start = await login.start(id);
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'sign-in provider unavailable');
      return fail('temporarily_unavailable', 'the sign-in provider cannot be reached');
    }
    const pending: Pending = { clientId: client.clientId, redirectUri, state: q.state, challenge: q.code_challenge, scope: 'mcp', login: { verifier: start.verifier, nonce: start.nonce } };
    await state.put('pending', id, pending, PENDING_TTL_S);
    return reply.redirect(start.url, 302);
  });

  app.get('/oauth/callback', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    const id = q.state ?? '';
    // A sign-in the connect page asked for (connect.ts): the person must be the user the connect link is for.
    const connecting = id.length <= 64 ? await state.take<ConnectSignIn>('connect', id) : undefined;
    if (connecting) return finishConnectSignIn(reply, login, connecting, q);
    const pending = id.length <= 64 ? await state.get<Pending>('pending', id) : undefined;
    if (!pending || pending.user) return page(reply, 400, 'Sign-in expired', 'This sign-in is unknown or already used; start again from your MCP client.');
    if (q.error || !q.code) {
      await state.del('pending', id);
      return reply.redirect(withParams(pending.redirectUri, { error: 'access_denied', error_description: 'sign-in was not completed', state: pending.state, iss: issuer }), 302);
    }
    let user: SignedInUser;
    try {
      user = await login.finish(q.code, pending.login);
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'sign-in failed');
      await state.del('pending', id);
      return page(reply, 502, 'Sign-in failed', (err as Error).message);
    }
    const csrf = randomBytes(24).toString('base64url');
    await state.put('pending', id, { ...pending, user, csrf }, PENDING_TTL_S);
    const client = await clients.find(pending.clientId).catch(() => undefined);
    reply.header('set-cookie', `${CSRF_COOKIE}=${csrf}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age=${PENDING_TTL_S}${secureCookie ? '; Secure' : ''}`);
    return consentPage(reply, { id, csrf, user, client, redirectUri: pending.redirectUri, reach: reachOf(user) });
  });

  app.post('/oauth/consent', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    const id = body.request ?? '';
    const pending = id.length <= 64 ? await state.get<Pending>('pending', id) : undefined;
    // The form's token must match the cookie set with the page and the pending record: no cross-site approval.
    const cookie = cookieOf(req, CSRF_COOKIE);
    if (!pending?.user || !pending.csrf || body.csrf !== pending.csrf || cookie !== pending.csrf) return page(reply, 400, 'Consent expired', 'This consent page is unknown, already used or was not opened in this browser.');
    await state.del('pending', id);
    reply.header('set-cookie', `${CSRF_COOKIE}=; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age=0`);
    if (body.decision !== 'approve') {
      deps.log.info({ principal: `user:${pending.user.sub}`, clientId: pending.clientId }, 'oauth consent denied');
      return reply.redirect(withParams(pending.redirectUri, { error: 'access_denied', error_description: 'the user denied access', state: pending.state, iss: issuer }), 302);
    }
    const code = randomBytes(32).toString('base64url');
    const rec: CodeRecord = { clientId: pending.clientId, redirectUri: pending.redirectUri, challenge: pending.challenge, user: pending.user, scope: pending.scope };
    await state.put('code', digestId(code), rec, CODE_TTL_S);
    deps.log.info({ principal: `user:${pending.user.sub}`, clientId: pending.clientId }, 'oauth consent granted');
    // RFC 9207: the iss parameter tells the client which server answered (mix-up defence).
    return reply.redirect(withParams(pending.redirectUri, { code, state: pending.state, iss: issuer }), 302);
  });

  app.post('/oauth/token', async (req, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    const auth = clientAuthOf(req, body);
    const client = auth.clientId ? await clients.find(auth.clientId).catch(() => undefined) : undefined;
    if (!client || !clients.authenticate(client, auth.secret)) return tokenError(reply, 401, 'invalid_client', 'unknown client or wrong client authentication');
    if (body.resource !== undefined && !sameResource(body.resource, tokens.resource)) return tokenError(reply, 400, 'invalid_target', `tokens are for ${tokens.resource} only`);
    if (body.grant_type === 'authorization_code') {
      const rec = body.code ? await state.take<CodeRecord>('code', digestId(body.code)) : undefined;
      if (!rec || rec.clientId !== client.clientId) return tokenError(reply, 400, 'invalid_grant', 'the code is unknown, expired, used or not this client\'s');
      if (body.redirect_uri !== undefined && body.redirect_uri !== rec.redirectUri) return tokenError(reply, 400, 'invalid_grant', 'redirect_uri differs from the authorization request');
      const verifier = body.code_verifier ?? '';
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || createHash('sha256').update(verifier).digest('base64url') !== rec.challenge) {
        return tokenError(reply, 400, 'invalid_grant', 'code_verifier does not match the code_challenge (PKCE)');
      }
      const family = randomBytes(16).toString('base64url');
      await state.put('family', family, { clientId: client.clientId, sub: rec.user.sub }, REFRESH_TTL_S);
      return issue(reply, { clientId: client.clientId, user: rec.user, scope: rec.scope, family });
    }
    if (body.grant_type === 'refresh_token') {
      const presented = body.refresh_token ?? '';
      const key = digestId(presented);
      const rec = await state.take<RefreshRecord>('rt', key);
      if (!rec) {
        // A refresh token used twice: someone else may hold it. The whole family is revoked (OAuth 2.1 section 4.3.1).
        const used = await state.get<{ family: string }>('rtused', key);
        if (used) {
          await state.del('family', used.family);
          deps.log.warn({ family: used.family }, 'refresh token reused; its family is revoked');
        }
        return tokenError(reply, 400, 'invalid_grant', 'the refresh token is unknown, expired, revoked or already used');
      }
      if (rec.clientId !== client.clientId || !(await state.get('family', rec.family))) return tokenError(reply, 400, 'invalid_grant', 'the refresh token is revoked or not this client\'s');
      await state.put('rtused', key, { family: rec.family }, REFRESH_TTL_S);
      return issue(reply, rec);
    }
    return tokenError(reply, 400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
  });

  app.post('/oauth/revoke', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    const auth = clientAuthOf(req, body);
    const client = auth.clientId ? await clients.find(auth.clientId).catch(() => undefined) : undefined;
    if (!client || !clients.authenticate(client, auth.secret)) return tokenError(reply, 401, 'invalid_client', 'unknown client or wrong client authentication');
    const token = body.token ?? '';
    // A refresh token: its family goes (every refresh token issued from the same grant).
    const rt = await state.take<RefreshRecord>('rt', digestId(token));
    if (rt && rt.clientId === client.clientId) await state.del('family', rt.family);
    else if (token.split('.').length === 3) {
      // One of our access tokens: its family goes too, so it cannot be refreshed; it expires within minutes.
      const v = await tokens.verify(token);
      if (v.ok && v.claims.clientId === client.clientId) await state.del('family', v.claims.family);
    }
    // RFC 7009 section 2.2: 200 whether or not the token was known.
    return reply.code(200).send();
  });

  async function issue(reply: FastifyReply, r: RefreshRecord): Promise<FastifyReply> {
    const accessToken = await tokens.mint({ ...r.user, clientId: r.clientId, family: r.family });
    const refreshToken = randomBytes(32).toString('base64url');
    await state.put('rt', digestId(refreshToken), r, REFRESH_TTL_S);
    return reply.send({ access_token: accessToken, token_type: 'Bearer', expires_in: tokens.ttlS, refresh_token: refreshToken, scope: r.scope });
  }

  /** What the user would reach through the client: the servers and tools of their view. */
  function reachOf(user: SignedInUser): { servers: Map<string, number>; admin: boolean; team?: string } {
    const principal = userPrincipal(user, teams);
    const view = deps.catalog.view(undefined, principal.access);
    const servers = new Map<string, number>();
    for (const route of view?.tools.values() ?? []) servers.set(route.server, (servers.get(route.server) ?? 0) + 1);
    return { servers, admin: principal.admin, team: principal.team };
  }
}

/** The connect page's sign-in (connect.ts): who the link is for, where to go once that is who signed in. */
export interface ConnectSignIn {
  principal: string;
  next: string;
  login: { verifier: string; nonce: string };
}

async function finishConnectSignIn(reply: FastifyReply, login: LoginFederation, c: ConnectSignIn, q: Record<string, string | undefined>): Promise<FastifyReply> {
  if (q.error || !q.code) return page(reply, 400, 'Not connected', 'Sign-in was not completed.');
  let user: SignedInUser;
  try {
    user = await login.finish(q.code, c.login);
  } catch (err) {
    return page(reply, 502, 'Sign-in failed', (err as Error).message);
  }
  // URL elicitation's phishing defence: a link sent to someone else must not connect their account to its owner.
  if (`user:${user.sub}` !== c.principal) return page(reply, 403, 'Not connected', 'This connect link was made for another user. Open the link your own MCP client showed you.');
  return reply.redirect(c.next, 302);
}

function consentPage(reply: FastifyReply, p: { id: string; csrf: string; user: SignedInUser; client?: OAuthClient; redirectUri: string; reach: { servers: Map<string, number>; admin: boolean; team?: string } }): FastifyReply {
  const client = p.client;
  const rows = [...p.reach.servers].sort().map(([s, n]) => `<li><b>${html(s)}</b>: ${n} tool${n === 1 ? '' : 's'}</li>`).join('') || '<li>no tools at the moment</li>';
  const body = `<h1>Allow access?</h1>
<p><b>${html(client?.clientName ?? 'A client')}</b>${client?.kind === 'metadata_document' ? ` (${html(client.clientId)})` : ''} asks to use the MCP gateway as <b>${html(p.user.name)}</b>${p.reach.team ? ` (team ${html(p.reach.team)})` : ''}.</p>
<p>After you allow it, you are sent back to <code>${html(new URL(p.redirectUri).origin)}</code>.</p>
<p>It will reach, as you:</p><ul>${rows}</ul>${p.reach.admin ? '<p><b>and the gateway\'s admin API.</b></p>' : ''}
<form method="post" action="/oauth/consent">
<input type="hidden" name="request" value="${html(p.id)}"/>
<input type="hidden" name="csrf" value="${html(p.csrf)}"/>
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`;
  return sendPage(reply, 200, 'mcpgw: allow access', body);
}

function page(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  return sendPage(reply, status, `mcpgw: ${title}`, `<h1>${html(title)}</h1><p>${html(text)}</p>`);
}

function sendPage(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8')
    // No scripts, no framing (clickjacking of the consent button), forms post to ourselves only.
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer')
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>${html(title)}</title></head><body>${body}</body></html>`);
}

function tokenError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Basic realm="mcpgw"');
  return reply.code(status).send({ error, error_description: description });
}

/** client_secret_basic, client_secret_post, or a public client's bare client_id. */
function clientAuthOf(req: FastifyRequest, body: Record<string, string | undefined>): { clientId?: string; secret?: string } {
  const authz = req.headers.authorization;
  if (authz?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  }
  return { clientId: body.client_id, secret: body.client_secret };
}

function cookieOf(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function withParams(uri: string, params: Record<string, string | undefined>): string {
  const u = new URL(uri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

/** RFC 8707 resource equality, ignoring a trailing slash. */
function sameResource(a: string, b: string): boolean {
  return a.replace(/\/$/, '') === b.replace(/\/$/, '');
}
