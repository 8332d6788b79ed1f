// The registry as an OAuth client of one upstream's authorization server
// (`auth_type: oauth2_user`), per the MCP authorization spec's client side:
// the authorization server is discovered from the upstream's 401 (RFC 9728
// protected-resource metadata, then RFC 8414 or OpenID Connect discovery)
// unless configured; the client is the configured one or registered by DCR
// (RFC 7591, once per server, kept sealed in the credential store so every
// registry replica shares it); each user runs authorization code with PKCE
// S256 and the resource indicator (RFC 8707); tokens are refreshed.
import { createHash, randomBytes } from 'node:crypto';
import type { ServerConfig } from '@mcpgw/common/config';
import type { UserCredentialStore } from './credential-store.js';
import type { TokenSealer } from './sealing.js';

export interface AuthServerMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint?: string;
  revocation_endpoint?: string;
  code_challenge_methods_supported?: string[];
}

export interface ClientRegistration {
  clientId: string;
  clientSecret?: string;
  authMethod: 'none' | 'client_secret_basic' | 'client_secret_post';
  redirectUri: string;
}

/** One user's tokens for one upstream, as sealed in the store. */
export interface UpstreamTokens {
  access: string;
  refresh?: string;
  /** Epoch ms; null when the server did not say. */
  expiresAtMs: number | null;
  /** Random per connect: a new grant opens a new upstream session. */
  grant: string;
  /** When the access token was obtained (refresh is due at 80% of its lifetime, at most 60 s before expiry). */
  obtainedAtMs: number;
}

/** The authorization server refused a refresh (revoked, expired): the user must connect again. */
export class GrantRevoked extends Error {}

/** Where the DCR registration of a server is kept (sealed) in the credential store. */
export const CLIENT_PRINCIPAL = '~mcpgw-oauth-client';
const TIMEOUT_MS = 10_000;

export class UpstreamOAuth {
  private discovered?: Promise<{ as: AuthServerMetadata; resource: string; scopes: string[] }>;
  private registration?: Promise<ClientRegistration>;

  constructor(private readonly cfg: ServerConfig, private readonly store: UserCredentialStore, private readonly sealer: TokenSealer) {}

  private get auth() {
    const a = this.cfg.userAuth;
    if (a?.kind !== 'oauth2_user') throw new Error(`server '${this.cfg.name}' is not auth_type oauth2_user`);
    return a;
  }

  /** RFC 9728 from the upstream's 401 (or its well-known URL), then the authorization server's metadata. */
  discover(): Promise<{ as: AuthServerMetadata; resource: string; scopes: string[] }> {
    this.discovered ??= this.runDiscovery().catch((err: unknown) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }

  private async runDiscovery(): Promise<{ as: AuthServerMetadata; resource: string; scopes: string[] }> {
    const url = new URL(this.cfg.url!);
    let resource = url.toString();
    let scopes: string[] = [];
    let issuer = this.auth.authorizationServer;
    if (!issuer) {
      const prm = await this.protectedResourceMetadata(url);
      if (!prm) throw new Error('the upstream names no authorization server (no RFC 9728 metadata); set authorization_server');
      issuer = prm.authorization_servers[0];
      // RFC 9728 section 3.3: the metadata must be about this resource.
      if (prm.resource) {
        if (new URL(prm.resource).origin !== url.origin) throw new Error(`the upstream's protected-resource metadata names another resource (${prm.resource})`);
        resource = prm.resource;
      }
      scopes = prm.scopes_supported ?? [];
    }
    const as = await authServerMetadata(issuer!);
    // OAuth 2.1 and MCP: PKCE S256 must be offered; an AS that says nothing is tried anyway (RFC 8414 makes the field optional).
    if (as.code_challenge_methods_supported && !as.code_challenge_methods_supported.includes('S256')) throw new Error(`the authorization server ${as.issuer} does not support PKCE S256`);
    return { as, resource, scopes };
  }

  private async protectedResourceMetadata(url: URL): Promise<{ resource?: string; authorization_servers: string[]; scopes_supported?: string[] } | undefined> {
    const candidates: string[] = [];
    // The 401 of an unauthenticated initialize names the metadata (RFC 9728 section 5.1).
    const probe = await fetch(url, {
      method: 'POST', signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'mcpgw', version: '0.1.0' } } }),
    }).catch(() => undefined);
    await probe?.body?.cancel().catch(() => {});
    const named = /resource_metadata="([^"]+)"/.exec(probe?.headers.get('www-authenticate') ?? '')?.[1];
    if (named) candidates.push(named);
    const path = url.pathname.replace(/\/$/, '');
    if (path) candidates.push(`${url.origin}/.well-known/oauth-protected-resource${path}`);
    candidates.push(`${url.origin}/.well-known/oauth-protected-resource`);
    for (const c of candidates) {
      const doc = await getJson(c) as { resource?: string; authorization_servers?: unknown } | undefined;
      if (doc && Array.isArray(doc.authorization_servers) && typeof doc.authorization_servers[0] === 'string') return doc as { resource?: string; authorization_servers: string[] };
    }
    return undefined;
  }

  /** The configured client, or one registered by DCR for `redirectUri` (once per server, shared by replicas through the store). */
  client(redirectUri: string): Promise<ClientRegistration> {
    const a = this.auth;
    if (a.clientId) return Promise.resolve({ clientId: a.clientId, clientSecret: a.clientSecret, authMethod: a.clientSecret ? 'client_secret_basic' : 'none', redirectUri });
    this.registration ??= this.register(redirectUri).catch((err: unknown) => {
      this.registration = undefined;
      throw err;
    });
    return this.registration.then((r) => (r.redirectUri === redirectUri ? r : ((this.registration = undefined), this.client(redirectUri))));
  }

  private async register(redirectUri: string): Promise<ClientRegistration> {
    const bound = `${CLIENT_PRINCIPAL}\0${this.cfg.name}`;
    const kept = await this.store.getUserCredential(CLIENT_PRINCIPAL, this.cfg.name);
    if (kept) {
      const r = JSON.parse(this.sealer.open(kept.ciphertext, bound).plaintext) as ClientRegistration;
      if (r.redirectUri === redirectUri) return r;
    }
    const { as } = await this.discover();
    if (!as.registration_endpoint) throw new Error(`the authorization server ${as.issuer} offers no dynamic client registration; configure client_id (and client_secret)`);
    const res = await fetch(as.registration_endpoint, {
      method: 'POST', signal: AbortSignal.timeout(TIMEOUT_MS), headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ client_name: 'mcpgw gateway', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    const json = (await res.json().catch(() => ({}))) as { client_id?: string; client_secret?: string; token_endpoint_auth_method?: string; error?: string };
    if (!res.ok || !json.client_id) throw new Error(`dynamic client registration at ${as.issuer} failed: HTTP ${res.status}${json.error ? ` (${json.error})` : ''}`);
    const method = json.token_endpoint_auth_method === 'client_secret_post' || json.token_endpoint_auth_method === 'none' ? json.token_endpoint_auth_method : 'client_secret_basic';
    const reg: ClientRegistration = { clientId: json.client_id, clientSecret: json.client_secret, authMethod: json.client_secret ? method : 'none', redirectUri };
    await this.store.putUserCredential({ principal: CLIENT_PRINCIPAL, server: this.cfg.name, ciphertext: this.sealer.seal(JSON.stringify(reg), bound), expiresAtMs: null, updatedAtMs: Date.now() });
    return reg;
  }

  /** The authorization request of one user's connect; the verifier stays with the caller (sealed in `state`). */
  async authorizationUrl(redirectUri: string, state: string, verifier: string): Promise<string> {
    const [{ as, resource, scopes }, client] = await Promise.all([this.discover(), this.client(redirectUri)]);
    const u = new URL(as.authorization_endpoint);
    const scope = (this.auth.scopes.length ? this.auth.scopes : scopes).join(' ');
    u.search = new URLSearchParams({
      response_type: 'code', client_id: client.clientId, redirect_uri: redirectUri, state, resource,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
      ...(scope ? { scope } : {}),
    }).toString();
    return u.toString();
  }

  async exchange(code: string, verifier: string, redirectUri: string): Promise<UpstreamTokens> {
    const { resource } = await this.discover();
    return this.tokenRequest({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri, resource }, redirectUri, randomBytes(12).toString('base64url'));
  }

  /** A new access token (and, when the server rotates them, a new refresh token); GrantRevoked when refused. */
  async refresh(tokens: UpstreamTokens, redirectUri: string): Promise<UpstreamTokens> {
    if (!tokens.refresh) throw new GrantRevoked('no refresh token');
    const { resource } = await this.discover();
    const next = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh, resource }, redirectUri, tokens.grant);
    return { ...next, refresh: next.refresh ?? tokens.refresh };
  }

  private async tokenRequest(params: Record<string, string>, redirectUri: string, grant: string): Promise<UpstreamTokens> {
    const [{ as }, client] = await Promise.all([this.discover(), this.client(redirectUri)]);
    const body = new URLSearchParams(params);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (client.authMethod === 'client_secret_basic' && client.clientSecret) {
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
    } else {
      body.set('client_id', client.clientId);
      if (client.authMethod === 'client_secret_post' && client.clientSecret) body.set('client_secret', client.clientSecret);
    }
    const res = await fetch(as.token_endpoint, { method: 'POST', body, headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
    const json = (await res.json().catch(() => ({}))) as { access_token?: unknown; refresh_token?: unknown; expires_in?: unknown; error?: unknown };
    if (!res.ok || typeof json.access_token !== 'string') {
      const error = typeof json.error === 'string' ? json.error : '';
      // Only the status and the OAuth error code: token endpoint bodies may echo secrets.
      const msg = `token request to ${as.issuer} failed: HTTP ${res.status}${error ? ` (${error})` : ''}`;
      if (error === 'invalid_grant' || res.status === 400 || res.status === 401) throw new GrantRevoked(msg);
      throw new Error(msg);
    }
    return {
      access: json.access_token,
      refresh: typeof json.refresh_token === 'string' ? json.refresh_token : undefined,
      expiresAtMs: typeof json.expires_in === 'number' && json.expires_in > 0 ? Date.now() + json.expires_in * 1000 : null,
      grant,
      obtainedAtMs: Date.now(),
    };
  }
}

/** RFC 8414 (with the issuer's path inserted), then OpenID Connect discovery; the issuer must match. */
async function authServerMetadata(issuer: string): Promise<AuthServerMetadata> {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/$/, '');
  const candidates = [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
    `${u.origin}${path}/.well-known/openid-configuration`,
  ];
  for (const c of candidates) {
    const doc = await getJson(c) as AuthServerMetadata | undefined;
    if (!doc?.authorization_endpoint || !doc.token_endpoint) continue;
    if (doc.issuer.replace(/\/$/, '') !== issuer.replace(/\/$/, '')) throw new Error(`authorization server metadata at ${c} names issuer ${doc.issuer}, not ${issuer}`);
    return doc;
  }
  throw new Error(`no authorization server metadata found for ${issuer}`);
}

async function getJson(url: string): Promise<unknown> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' }, redirect: 'error' });
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    return await res.json();
  } catch {
    return undefined;
  }
}
