// OAuth 2.0 client credentials for upstreams that require it (`auth_type:
// oauth2`): the token is fetched from `token_url`, cached, refreshed before it
// expires with one refresh in flight, and dropped when the upstream answers
// 401. Only the registry holds it; the client's own credential never reaches
// an upstream.
import type { OAuth2Config } from '@mcpgw/common/config';

/** Refresh this long before the token's expiry (or, for short-lived tokens, at 90% of their lifetime). */
const EARLY_MS = 60_000;
const DEFAULT_LIFETIME_S = 300;

/** Where an upstream's `Authorization` comes from per request: client credentials, or one user's own tokens (user-auth/). */
export interface TokenSource {
  header(): Promise<string>;
  /** The upstream refused the token (401). */
  invalidate(): void;
}

export class ClientCredentials implements TokenSource {
  private token?: { value: string; refreshAt: number };
  private inflight?: Promise<string>;

  constructor(private readonly cfg: OAuth2Config, private readonly server: string) {}

  /** The `Authorization` header value; fetches a token when none is fresh. */
  async header(): Promise<string> {
    if (this.token && Date.now() < this.token.refreshAt) return `Bearer ${this.token.value}`;
    this.inflight ??= this.fetchToken().finally(() => { this.inflight = undefined; });
    return `Bearer ${await this.inflight}`;
  }

  /** The upstream refused the token (401): the next call fetches a new one. */
  invalidate(): void {
    this.token = undefined;
  }

  private async fetchToken(): Promise<string> {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.cfg.scopes.length > 0) body.set('scope', this.cfg.scopes.join(' '));
    if (this.cfg.audience) body.set('audience', this.cfg.audience);
    // client_secret_basic (RFC 6749 2.3.1): every authorization server must support it.
    const basic = Buffer.from(`${encodeURIComponent(this.cfg.clientId)}:${encodeURIComponent(this.cfg.clientSecret)}`).toString('base64');
    const res = await fetch(this.cfg.tokenUrl, {
      method: 'POST', body, signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${basic}` },
    });
    const json = (await res.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
    if (!res.ok || typeof json.access_token !== 'string') {
      // The body may echo credentials: only the status and the OAuth error code are reported.
      throw new Error(`oauth2 token request for '${this.server}' failed: HTTP ${res.status}${typeof json.error === 'string' ? ` (${json.error})` : ''}`);
    }
    const lifetimeMs = (typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_LIFETIME_S) * 1000;
    this.token = { value: json.access_token, refreshAt: Date.now() + lifetimeMs - Math.min(EARLY_MS, lifetimeMs * 0.1) };
    return json.access_token;
  }
}

/** A fetch that adds the upstream's OAuth token (for the SDK's HTTP and SSE transports). */
export function fetchWithToken(inner: (url: string | URL, init?: RequestInit) => Promise<Response>, auth: TokenSource) {
  return async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', await auth.header());
    const res = await inner(url, { ...init, headers });
    if (res.status === 401) auth.invalidate();
    return res;
  };
}
