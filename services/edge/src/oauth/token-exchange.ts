// `auth_type: token_exchange` (RFC 8693, on-behalf-of): the edge exchanges
// the caller's own JWT (from a trusted issuer, gateway.auth.jwt) at the
// server's token endpoint for a token with the server's audience, and passes
// only the exchanged token to the registry (CallContext.server_credential).
// The caller's token itself never crosses gRPC. The edge authenticates at the
// token endpoint as the gateway's sign-in client (gateway.auth.login) when
// one is configured, else as a public client. Exchanged tokens are cached per
// (subject token, server) until shortly before they expire; bounded.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { LoginConfig } from '@mcpgw/common/config';
import { credentialOf } from '../identity/authenticate.js';
import type { Principal } from '../identity/principal.js';

interface ExchangeParams {
  token_endpoint: string;
  audience: string;
  scopes: string[];
}

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const CACHE_MAX = 10_000;
const EARLY_MS = 30_000;

export class ExchangeError extends Error {}

export class TokenExchanger {
  private readonly cache = new Map<string, { token: string; until: number }>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(private readonly client?: Pick<LoginConfig, 'clientId' | 'clientSecret'>) {}

  /** The exchanged token for this caller and server, as an Authorization value. */
  async credential(paramsJson: string, server: string, principal: Principal, headers: IncomingHttpHeaders | undefined): Promise<string> {
    const subject = headers && principal.kind === 'jwt' ? credentialOf(headers) : undefined;
    if (!subject) throw new ExchangeError(`server '${server}' acts on your behalf with a token exchanged for your own: call it with a JWT of a trusted issuer (gateway.auth.jwt)`);
    const key = `${server}\0${createHash('sha256').update(subject).digest('base64url')}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return `Bearer ${hit.token}`;
    let p = this.inflight.get(key);
    if (!p) {
      p = this.exchange(JSON.parse(paramsJson) as ExchangeParams, server, subject, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return `Bearer ${await p}`;
  }

  private async exchange(params: ExchangeParams, server: string, subject: string, key: string): Promise<string> {
    const body = new URLSearchParams({ grant_type: GRANT, subject_token: subject, subject_token_type: JWT_TYPE, requested_token_type: ACCESS_TYPE });
    if (params.audience) body.set('audience', params.audience);
    if (params.scopes.length) body.set('scope', params.scopes.join(' '));
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (this.client) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(this.client.clientId)}:${encodeURIComponent(this.client.clientSecret)}`).toString('base64')}`;
    let res: Response;
    try {
      res = await fetch(params.token_endpoint, { method: 'POST', body, headers, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new ExchangeError(`the token exchange for '${server}' could not reach its token endpoint: ${(err as Error).message}`);
    }
    const json = (await res.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    // Only the status and the OAuth error code: the body may echo the subject token.
    if (!res.ok || typeof json.access_token !== 'string') throw new ExchangeError(`the token exchange for '${server}' was refused: HTTP ${res.status}${typeof json.error === 'string' ? ` (${json.error.slice(0, 60)})` : ''}`);
    const lifetimeMs = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 60_000;
    this.cache.set(key, { token: json.access_token, until: Date.now() + lifetimeMs - Math.min(EARLY_MS, lifetimeMs * 0.2) });
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    return json.access_token;
  }
}
