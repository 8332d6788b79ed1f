// The first step of the policy chain: the request's credential becomes one
// principal, or a typed failure that the transport answers as 401.
import { hash, timingSafeEqual } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { IncomingHttpHeaders } from 'node:http';
import type { TeamConfig } from '@mcpgw/common/config';
import { Access, type ScopeLayer } from './access.js';
import { claimList, type JwtVerifier } from './jwt.js';
import { KEY_PREFIX, type KeyRecord, type KeyStore } from './keys.js';
import { ANONYMOUS, MASTER, type LimitRule, type Principal } from './principal.js';
import type { GatewayTokens } from '../oauth/tokens.js';
import { userPrincipal } from '../oauth/principal.js';

/** Bounded reasons: the `reason` label of mcpgw_auth_failures_total. */
export type AuthFailureReason = 'missing' | 'query_string' | 'unknown_key' | 'expired_key' | 'key_store_unavailable'
  | 'malformed' | 'unknown_issuer' | 'expired' | 'wrong_audience' | 'wrong_issuer' | 'unknown_kid' | 'bad_signature' | 'jwks_unavailable' | 'invalid_claims';

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; reason: AuthFailureReason; message: string; tokenPresented: boolean };

/** Query parameters that look like credentials: refused, never used (they end up in logs and browser history). */
const QUERY_CREDENTIALS = ['key', 'api_key', 'apikey', 'access_token', 'token', 'x-api-key'];

/** One-shot hash: no Hash object per request (a few µs less than createHash on every authenticated call). */
const digest = (s: string) => hash('sha256', s, 'buffer');

export interface AuthenticatorOptions {
  masterKey?: string;
  keys: KeyStore;
  jwt: JwtVerifier;
  teams: TeamConfig[];
  /** Keys are declared in the config: auth is required even without a master key. */
  keysEnabled: boolean;
  /** `gateway.auth.login`: access tokens the gateway's own authorization server issued (oauth/). */
  gatewayTokens?: GatewayTokens;
}

export class Authenticator {
  private readonly masterDigest?: Buffer;
  private readonly teams: Map<string, TeamConfig>;
  /** Principals built from key records, by key id + record identity (cheap to rebuild, but not per request). */
  private readonly principals = new WeakMap<KeyRecord, Principal>();

  constructor(private readonly opts: AuthenticatorOptions) {
    this.masterDigest = opts.masterKey ? digest(opts.masterKey) : undefined;
    this.teams = new Map(opts.teams.map((t) => [t.name, t]));
  }

  /** With no master key, no keys and no issuers, every request is the anonymous principal (the embedded default). */
  get required(): boolean {
    return this.masterDigest !== undefined || this.opts.jwt.enabled || this.opts.keysEnabled || this.opts.gatewayTokens !== undefined;
  }

  async authenticate(headers: IncomingHttpHeaders, query: Record<string, unknown> | undefined): Promise<AuthOutcome> {
    if (query && QUERY_CREDENTIALS.some((k) => k in query)) {
      return { ok: false, reason: 'query_string', message: 'credentials in the query string are not accepted; send "Authorization: Bearer <key>" or "X-API-Key"', tokenPresented: true };
    }
    if (!this.required) return { ok: true, principal: ANONYMOUS };
    const token = credentialOf(headers);
    if (!token) return { ok: false, reason: 'missing', message: 'send a credential as "Authorization: Bearer <key or token>" or "X-API-Key: <key>"', tokenPresented: false };
    if (this.masterDigest && timingSafeEqual(digest(token), this.masterDigest)) return { ok: true, principal: MASTER };
    if (token.startsWith(KEY_PREFIX)) return this.fromKey(token);
    if (this.opts.gatewayTokens && token.split('.').length === 3 && this.issuedHere(token)) return this.fromGatewayToken(token);
    if (this.opts.jwt.enabled && token.split('.').length === 3) return this.fromJwt(token);
    return { ok: false, reason: 'unknown_key', message: 'the key is not valid (unknown or revoked)', tokenPresented: true };
  }

  private async fromKey(token: string): Promise<AuthOutcome> {
    const found = await this.opts.keys.lookup(token);
    if ('unavailable' in found) return { ok: false, reason: 'key_store_unavailable', message: 'the key store is unavailable and this key is not cached here; retry shortly', tokenPresented: true };
    if ('missing' in found) return { ok: false, reason: 'unknown_key', message: 'the key is not valid (unknown or revoked)', tokenPresented: true };
    const rec = found.found;
    if (rec.expiresAt && Date.parse(rec.expiresAt) <= Date.now()) return { ok: false, reason: 'expired_key', message: `the key expired at ${rec.expiresAt}`, tokenPresented: true };
    let principal = this.principals.get(rec);
    if (!principal) {
      const team = rec.team ? this.teams.get(rec.team) : undefined;
      principal = {
        id: `key:${rec.id}`, name: rec.name, kind: 'key', admin: rec.admin, team: rec.team, keyId: rec.id,
        access: new Access(layersOf(team, { servers: rec.servers, tools: rec.tools })),
        limits: limitsOf(team, { bucket: `key:${rec.id}`, rpm: rec.rpm, maxConcurrency: rec.maxConcurrency }),
      };
      this.principals.set(rec, principal);
    }
    return { ok: true, principal };
  }

  private issuedHere(token: string): boolean {
    try {
      return this.opts.gatewayTokens!.issued(decodeJwt(token));
    } catch {
      return false;
    }
  }

  /** A user signed in through the gateway's own authorization server. */
  private async fromGatewayToken(token: string): Promise<AuthOutcome> {
    const v = await this.opts.gatewayTokens!.verify(token);
    if (!v.ok) return { ok: false, reason: v.reason, message: v.message, tokenPresented: true };
    if (v.claims.team && !this.teams.has(v.claims.team)) return { ok: false, reason: 'invalid_claims', message: `the token names team '${v.claims.team}', which this gateway does not know`, tokenPresented: true };
    return { ok: true, principal: userPrincipal(v.claims, this.teams) };
  }

  private async fromJwt(token: string): Promise<AuthOutcome> {
    const v = await this.opts.jwt.verify(token);
    if (!v.ok) return { ok: false, reason: v.reason, message: v.message, tokenPresented: true };
    const { payload, issuer } = v;
    const claimed = typeof payload[issuer.teamClaim] === 'string' ? (payload[issuer.teamClaim] as string) : undefined;
    const teamName = claimed ?? issuer.defaultTeam;
    const team = teamName ? this.teams.get(teamName) : undefined;
    if (teamName && !team) return { ok: false, reason: 'invalid_claims', message: `the token names team '${teamName}', which this gateway does not know`, tokenPresented: true };
    const scopes = claimList(payload[issuer.scopeClaim]);
    const servers = scopes.filter((s) => s.startsWith('server:')).map((s) => s.slice(7));
    const tools = scopes.filter((s) => s.startsWith('tool:')).map((s) => s.slice(5));
    // Fail closed: a token that names no team and no server or tool scope reaches nothing (an empty list allows no server).
    const ownServers = servers.length > 0 ? servers : !team && tools.length === 0 ? [] : undefined;
    const subject = typeof payload.sub === 'string' ? payload.sub : 'unknown';
    const id = `jwt:${issuer.issuer}#${subject}`;
    return {
      ok: true,
      principal: {
        id, name: subject, kind: 'jwt', admin: scopes.includes('mcpgw:admin'), team: teamName,
        access: new Access(layersOf(team, { servers: ownServers, tools: tools.length ? tools : undefined })),
        limits: limitsOf(team, { bucket: id }),
      },
    };
  }
}

/** `Authorization: Bearer <token>` (scheme case-insensitive) or `X-API-Key: <key>`. */
export function credentialOf(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth) {
    const space = auth.indexOf(' ');
    if (space > 0 && auth.slice(0, space).toLowerCase() === 'bearer') return auth.slice(space + 1).trim() || undefined;
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : undefined;
}

export function layersOf(team: TeamConfig | undefined, own: ScopeLayer): ScopeLayer[] {
  return [...(team ? [{ servers: team.servers, tools: team.tools }] : []), own];
}

export function limitsOf(team: TeamConfig | undefined, own: LimitRule): LimitRule[] {
  const rules: LimitRule[] = [];
  if (own.rpm || own.maxConcurrency) rules.push(own);
  if (team && (team.rpm || team.maxConcurrency)) rules.push({ bucket: `team:${team.name}`, rpm: team.rpm, maxConcurrency: team.maxConcurrency });
  return rules;
}
