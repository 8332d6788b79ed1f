// Login federated to the organisation's OIDC provider (`gateway.auth.login`):
// discovery (OpenID Connect Discovery 1.0), the authorization code flow with
// PKCE S256 and a nonce, the code exchanged with client_secret_basic, and the
// ID token verified with jose against the provider's JWKS. Its claims become
// the user's team and scopes (the claims mapping).
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { LoginConfig, TeamConfig } from '@mcpgw/common/config';
import { claimList } from '../identity/jwt.js';
import type { SignedInUser } from './tokens.js';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
}

/** A login started at the IdP: what the callback needs to finish it (kept in the pending authorization). */
export interface LoginStart {
  url: string;
  verifier: string;
  nonce: string;
}

export class LoginFederation {
  private discovery?: Promise<Discovery>;
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(private readonly cfg: LoginConfig, private readonly teams: TeamConfig[], private readonly callbackUrl: string) {}

  private discover(): Promise<Discovery> {
    this.discovery ??= (async () => {
      const url = new URL('.well-known/openid-configuration', this.cfg.issuer.endsWith('/') ? this.cfg.issuer : `${this.cfg.issuer}/`);
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000), headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`OIDC discovery at ${url} answered HTTP ${res.status}`);
      const d = (await res.json()) as Discovery;
      // OIDC Discovery 1.0 section 4.3: the issuer in the document must be the one configured.
      if (d.issuer !== this.cfg.issuer) throw new Error(`OIDC discovery: issuer ${d.issuer} is not the configured ${this.cfg.issuer}`);
      this.jwks = createRemoteJWKSet(new URL(d.jwks_uri), { timeoutDuration: 5_000 });
      return d;
    })().catch((err: unknown) => {
      this.discovery = undefined;
      throw err;
    });
    return this.discovery;
  }

  /** The IdP's authorization URL for one sign-in; `state` ties its answer to our pending authorization. */
  async start(state: string): Promise<LoginStart> {
    const d = await this.discover();
    const verifier = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const url = new URL(d.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code', client_id: this.cfg.clientId, redirect_uri: this.callbackUrl, scope: this.cfg.scopes.join(' '), state, nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), verifier, nonce };
  }

  /** Exchanges the IdP's code and maps the verified ID token's claims to a user. */
  async finish(code: string, start: Pick<LoginStart, 'verifier' | 'nonce'>): Promise<SignedInUser> {
    const d = await this.discover();
    const basic = Buffer.from(`${encodeURIComponent(this.cfg.clientId)}:${encodeURIComponent(this.cfg.clientSecret)}`).toString('base64');
    const res = await fetch(d.token_endpoint, {
      method: 'POST', signal: AbortSignal.timeout(10_000),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', authorization: `Basic ${basic}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.callbackUrl, code_verifier: start.verifier }),
    });
    const json = (await res.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown };
    // Only the status and the OAuth error code: the body may echo secrets.
    if (!res.ok || typeof json.id_token !== 'string') throw new Error(`the sign-in provider refused the code: HTTP ${res.status}${typeof json.error === 'string' ? ` (${json.error})` : ''}`);
    const { payload } = await jwtVerify(json.id_token, this.jwks!, { issuer: d.issuer, audience: this.cfg.clientId, clockTolerance: 5 });
    if (payload.nonce !== start.nonce) throw new Error('the ID token\'s nonce does not match this sign-in');
    return this.map(payload);
  }

  /** The claims mapping: the team claim (a string, or a list whose first known team wins) and the scope claim. */
  map(payload: JWTPayload): SignedInUser {
    const sub = String(payload.sub);
    const known = new Set(this.teams.map((t) => t.name));
    const team = claimList(payload[this.cfg.teamClaim]).find((t) => known.has(t));
    return { sub, name: typeof payload.name === 'string' ? payload.name : sub, team, scopes: claimList(payload[this.cfg.scopeClaim]) };
  }
}
