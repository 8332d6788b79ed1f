// Which upstream session a call of a per-user server goes to, and with which
// credential: the caller's own `x-mcp-<server>-authorization` header
// (client_header) or the user's own OAuth tokens (oauth2_user). The edge
// sends only the principal's id and, for client_header, that one server's
// header value; the caller's gateway credential never reaches the registry.
// A user without tokens gets a URL elicitation (-32042) to the edge's
// /connect page; the connect flow's two halves run here (ConnectStart,
// ConnectFinish) so tokens never leave the registry.
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { ServerConfig } from '@mcpgw/common/config';
import { ErrorCode, upstreamError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import { UpstreamCallError, type CatalogContents, type Upstream } from '../upstream.js';
import type { TokenSource } from '../oauth2.js';
import type { UserCredentialStore } from './credential-store.js';
import { DEFAULT_POOL_OPTIONS, UserSessionError, UserSessionPool, type UserPoolOptions } from './pool.js';
import type { TokenSealer } from './sealing.js';
import { CLIENT_PRINCIPAL, GrantRevoked, UpstreamOAuth, type UpstreamTokens } from './upstream-oauth.js';

/** MCP 2025-11-25: URLElicitationRequiredError (also what SDK v2 clients of 2026-07-28 understand). */
export const URL_ELICITATION_REQUIRED = -32042;
/** How long a connect link, and the connect it starts, stays valid. */
const TICKET_TTL_MS = 10 * 60_000;

/** Who calls, as the registry knows it from the call context. */
export interface CallerIdentity {
  /** The principal's id (`key:…`, `jwt:iss#sub`, `user:…`); '' when unknown. */
  principal: string;
  /** client_header servers: the caller's header value for this server; '' when absent. */
  credential: string;
}

/** A per-user server answered without a usable credential: the call fails with this error, the client is told what to do. */
export class CredentialRequired extends UpstreamCallError {}

export interface UserAuthOptions {
  pool?: UserPoolOptions;
  /** oauth2_user: where tokens are kept (sealed); absent: oauth2_user servers answer that they are not set up. */
  store?: UserCredentialStore;
  sealer?: TokenSealer;
  /** The gateway's public URL: connect links point at its /connect page. */
  publicUrl?: string;
}

interface Ticket { p: string; s: string; e: number; id: string }
interface ConnectState { p: string; s: string; v: string; r: string; e: number; id: string }

export class UserAuth {
  readonly pool: UserSessionPool;
  private readonly oauth = new WeakMap<ServerConfig, UpstreamOAuth>();
  /** One token source per (server, user), updated in place (a session keeps the object it was opened with). */
  private readonly sources = new Map<string, UserTokens>();

  constructor(private readonly log: Logger, registry: Registry, feedCatalog: (contents: CatalogContents) => void, private readonly opts: UserAuthOptions = {}) {
    this.pool = new UserSessionPool(log, registry, feedCatalog, opts.pool ?? DEFAULT_POOL_OPTIONS);
  }

  /** The caller's own upstream session of `shared`'s server (started on first use). */
  async sessionFor(shared: Upstream, caller: CallerIdentity | undefined): Promise<Upstream> {
    const cfg = shared.config;
    const auth = cfg.userAuth!;
    const principal = caller?.principal ?? '';
    if (!principal || principal === 'anonymous') {
      throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, 'acts as each user with their own credential: call it with your own key or sign-in, not anonymously'));
    }
    switch (auth.kind) {
      case 'client_header': {
        const value = caller?.credential ?? '';
        const refused = () => new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, `refused the credential in your '${auth.header}' header (HTTP 401)`, { header: auth.header }));
        if (!value) {
          throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, `needs your own credential for it: send it in the '${auth.header}' request header`, { header: auth.header }));
        }
        try {
          return await this.pool.acquire(cfg, principal, { kind: 'header', value }, () => Promise.reject(refused()));
        } catch (err) {
          if (err instanceof UserSessionError && err.unauthorized) throw refused();
          throw err;
        }
      }
      case 'oauth2_user':
        return this.oauthSession(cfg, principal);
      case 'token_exchange': {
        // The edge exchanged the caller's JWT (RFC 8693) and sent only the result.
        const value = caller?.credential ?? '';
        const refused = () => new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, 'refused the token exchanged for yours (HTTP 401)'));
        if (!value) throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, 'acts on your behalf with an exchanged token, and none came with this call'));
        try {
          return await this.pool.acquire(cfg, principal, { kind: 'header', value }, () => Promise.reject(refused()));
        } catch (err) {
          if (err instanceof UserSessionError && err.unauthorized) throw refused();
          throw err;
        }
      }
    }
  }

  private async oauthSession(cfg: ServerConfig, principal: string, retried = false): Promise<Upstream> {
    const source = await this.sourceFor(cfg, principal);
    const onUnauthorized = async (): Promise<'retry'> => {
      // The upstream refused the token during a call: one refresh, else connect again.
      source.invalidate();
      try {
        await source.header();
        return 'retry';
      } catch (err) {
        throw await this.revoked(cfg, principal, err);
      }
    };
    try {
      return await this.pool.acquire(cfg, principal, { kind: 'tokens', source, fingerprint: source.tokens.grant }, onUnauthorized);
    } catch (err) {
      if (err instanceof UserSessionError && err.unauthorized && !retried) {
        await onUnauthorized();
        return this.oauthSession(cfg, principal, true);
      }
      if (err instanceof UserSessionError && err.unauthorized) throw await this.revoked(cfg, principal, err);
      throw err;
    }
  }

  /** The user's tokens for the server, or the URL elicitation that gets them. */
  private async sourceFor(cfg: ServerConfig, principal: string): Promise<UserTokens> {
    const { store, sealer } = this.setup(cfg);
    const key = `${cfg.name}\0${principal}`;
    const rec = await store.getUserCredential(principal, cfg.name).catch((err: Error) => {
      throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, cfg.name, `the credential store is unavailable: ${err.message}`));
    });
    if (!rec) {
      this.sources.delete(key);
      throw this.elicitation(cfg, principal);
    }
    let source = this.sources.get(key);
    if (!source || source.updatedAtMs !== rec.updatedAtMs) {
      let tokens: UpstreamTokens;
      try {
        const opened = sealer.open(rec.ciphertext, `${principal}\0${cfg.name}`);
        tokens = JSON.parse(opened.plaintext) as UpstreamTokens;
      } catch (err) {
        this.log.warn({ server: cfg.name, principal, err: (err as Error).message }, 'a stored upstream token does not open; the user connects again');
        await store.deleteUserCredential(principal, cfg.name).catch(() => {});
        throw this.elicitation(cfg, principal);
      }
      if (source) source.adopt(tokens, rec.updatedAtMs);
      else {
        source = new UserTokens(tokens, rec.updatedAtMs, (t) => this.oauthOf(cfg).refresh(t, this.callbackUrl()), (t) => this.save(cfg, principal, t));
        this.sources.set(key, source);
        if (this.sources.size > 10_000) this.sources.delete(this.sources.keys().next().value!);
      }
    }
    return source;
  }

  /** The grant is gone (refused refresh, revoked): forget the tokens and the session, and ask the user to connect again. */
  private async revoked(cfg: ServerConfig, principal: string, cause: unknown): Promise<UpstreamCallError> {
    if (!(cause instanceof GrantRevoked) && !(cause instanceof UserSessionError)) {
      return cause instanceof UpstreamCallError ? cause : new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, cfg.name, `token refresh failed: ${(cause as Error).message}`));
    }
    this.log.info({ server: cfg.name, principal }, 'upstream grant revoked or refused; the user is asked to connect again');
    this.sources.delete(`${cfg.name}\0${principal}`);
    await Promise.all([this.opts.store?.deleteUserCredential(principal, cfg.name).catch(() => false), this.pool.drop(cfg.name, principal, 'failed')]);
    return this.elicitation(cfg, principal);
  }

  private async save(cfg: ServerConfig, principal: string, tokens: UpstreamTokens): Promise<number> {
    const { store, sealer } = this.setup(cfg);
    const updatedAtMs = Date.now();
    await store.putUserCredential({ principal, server: cfg.name, ciphertext: sealer.seal(JSON.stringify(tokens), `${principal}\0${cfg.name}`), expiresAtMs: tokens.expiresAtMs, updatedAtMs });
    return updatedAtMs;
  }

  /** The -32042 error whose URL opens the gateway's connect page for this user and server. */
  private elicitation(cfg: ServerConfig, principal: string): CredentialRequired {
    const { sealer } = this.setup(cfg);
    const id = randomBytes(12).toString('base64url');
    const ticket: Ticket = { p: principal, s: cfg.name, e: Date.now() + TICKET_TTL_MS, id };
    const url = `${this.origin()}/connect/${encodeURIComponent(cfg.name)}?ticket=${sealer.seal(JSON.stringify(ticket), 'connect-ticket').toString('base64url')}`;
    return new CredentialRequired({
      code: URL_ELICITATION_REQUIRED,
      message: `upstream '${cfg.name}': connect your account first (open the link, then retry the call)`,
      data: { server: cfg.name, elicitations: [{ mode: 'url', elicitationId: id, url, message: `mcpgw needs your permission to use ${cfg.description ?? cfg.name} as you. Open the link to connect your account.` }] },
    });
  }

  /** A connect link for a principal ahead of any call (the edge's authenticated POST /connections/<server>). */
  async connectLink(configs: (name: string) => ServerConfig | undefined, principal: string, server: string): Promise<string> {
    const cfg = configs(server);
    if (cfg?.userAuth?.kind !== 'oauth2_user') throw new ConnectError(`server '${server}' does not connect user accounts`);
    if (!principal || principal === 'anonymous' || principal === CLIENT_PRINCIPAL) throw new ConnectError('connect links are for identified principals');
    this.requireSealer();
    const data = this.elicitation(cfg, principal).error.data as { elicitations: Array<{ url: string }> };
    return data.elicitations[0]!.url;
  }

  /** ConnectStart: opens the ticket of a connect link and answers with the upstream's authorization URL. */
  async connectStart(configs: (name: string) => ServerConfig | undefined, ticketText: string, redirectUri: string): Promise<{ authorizationUrl: string; server: string; principal: string }> {
    const sealer = this.requireSealer();
    let ticket: Ticket;
    try {
      ticket = JSON.parse(sealer.open(Buffer.from(ticketText, 'base64url'), 'connect-ticket').plaintext) as Ticket;
    } catch {
      throw new ConnectError('this connect link is not valid; retry the call in your MCP client for a new one');
    }
    if (ticket.e < Date.now()) throw new ConnectError('this connect link has expired; retry the call in your MCP client for a new one');
    const cfg = configs(ticket.s);
    if (cfg?.userAuth?.kind !== 'oauth2_user') throw new ConnectError(`server '${ticket.s}' does not connect user accounts`);
    if (redirectUri !== this.callbackUrl()) throw new ConnectError('the connect callback URL does not match the gateway\'s public URL');
    const verifier = randomBytes(32).toString('base64url');
    const state: ConnectState = { p: ticket.p, s: ticket.s, v: verifier, r: redirectUri, e: Date.now() + TICKET_TTL_MS, id: ticket.id };
    const url = await this.oauthOf(cfg).authorizationUrl(redirectUri, sealer.seal(JSON.stringify(state), 'connect-state').toString('base64url'), verifier);
    return { authorizationUrl: url, server: ticket.s, principal: ticket.p };
  }

  /** ConnectFinish: the authorization server's answer; the code becomes the user's sealed tokens. */
  async connectFinish(configs: (name: string) => ServerConfig | undefined, stateText: string, code: string, error: string, redirectUri: string): Promise<{ server: string; principal: string; elicitationId: string }> {
    const sealer = this.requireSealer();
    let state: ConnectState;
    try {
      state = JSON.parse(sealer.open(Buffer.from(stateText, 'base64url'), 'connect-state').plaintext) as ConnectState;
    } catch {
      throw new ConnectError('this answer does not belong to a connect the gateway started');
    }
    if (state.e < Date.now()) throw new ConnectError('this connect took too long; retry the call in your MCP client for a new link');
    if (state.r !== redirectUri) throw new ConnectError('the callback URL differs from the one the connect started with');
    if (error || !code) throw new ConnectError(`the authorization server did not grant access${error ? ` (${error.slice(0, 100)})` : ''}`);
    const cfg = configs(state.s);
    if (cfg?.userAuth?.kind !== 'oauth2_user') throw new ConnectError(`server '${state.s}' does not connect user accounts`);
    let tokens: UpstreamTokens;
    try {
      tokens = await this.oauthOf(cfg).exchange(code, state.v, redirectUri);
    } catch (err) {
      throw new ConnectError((err as Error).message);
    }
    await this.save(cfg, state.p, tokens);
    // A new grant: the user's old session (if any) goes; the next call opens one with the new tokens.
    this.sources.delete(`${cfg.name}\0${state.p}`);
    await this.pool.drop(cfg.name, state.p, 'credential');
    this.log.info({ server: cfg.name, principal: state.p }, 'user connected an upstream account');
    // Open the user's session now: while the server's shared connection cannot list (no credential of its own), it fills the catalog.
    void this.oauthSession(cfg, state.p).catch((err: Error) => this.log.warn({ server: cfg.name, err: err.message }, 'first session after connect failed'));
    return { server: cfg.name, principal: state.p, elicitationId: state.id };
  }

  async listConnections(principal: string): Promise<Array<{ server: string; expiresAtMs: number; updatedAtMs: number }>> {
    const rows = (await this.opts.store?.listUserCredentials(principal)) ?? [];
    return rows.map((r) => ({ server: r.server, expiresAtMs: r.expiresAtMs ?? 0, updatedAtMs: r.updatedAtMs }));
  }

  /** Forgets a user's tokens of one server (or all) and closes their sessions. */
  async disconnect(principal: string, server: string): Promise<number> {
    const store = this.opts.store;
    if (!store || !principal || principal === CLIENT_PRINCIPAL) return 0;
    const servers = server ? [server] : (await store.listUserCredentials(principal)).map((r) => r.server);
    const removed = server ? Number(await store.deleteUserCredential(principal, server)) : await store.deleteUserCredentials(principal);
    for (const s of servers) {
      this.sources.delete(`${s}\0${principal}`);
      await this.pool.drop(s, principal, 'credential');
    }
    return removed;
  }

  dropServers(names: string[]): Promise<void> {
    return this.pool.dropServers(names);
  }

  stop(): Promise<void> {
    return this.pool.stop();
  }

  private setup(cfg: ServerConfig): { store: UserCredentialStore; sealer: TokenSealer } {
    const { store, sealer } = this.opts;
    if (!store || !sealer || !this.opts.publicUrl) {
      throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, cfg.name, 'auth_type oauth2_user needs MCPGW_TOKEN_KEYS and the gateway\'s public URL (MCPGW_PUBLIC_URL) on the registry'));
    }
    return { store, sealer };
  }

  private requireSealer(): TokenSealer {
    if (!this.opts.sealer || !this.opts.store || !this.opts.publicUrl) throw new ConnectError('connecting accounts is not set up on this gateway (MCPGW_TOKEN_KEYS, MCPGW_PUBLIC_URL)');
    return this.opts.sealer;
  }

  private oauthOf(cfg: ServerConfig): UpstreamOAuth {
    let o = this.oauth.get(cfg);
    if (!o) {
      o = new UpstreamOAuth(cfg, this.opts.store!, this.opts.sealer!);
      this.oauth.set(cfg, o);
    }
    return o;
  }

  private origin(): string {
    return new URL(this.opts.publicUrl!).origin;
  }

  callbackUrl(): string {
    return `${this.origin()}/connect/callback`;
  }
}

/** A connect that cannot go on; the message is shown to the person in the browser. */
export class ConnectError extends Error {}

/** EARLY_MS before expiry (or at 80% of a short lifetime), the token is refreshed; one refresh in flight. */
const EARLY_MS = 60_000;

/** One user's tokens of one server, refreshed before expiry; every refresh is sealed back into the store. */
class UserTokens implements TokenSource {
  /** The authorization server refused a refresh: every later header() fails at once with it. */
  failed?: GrantRevoked;
  private stale = false;
  private inflight?: Promise<string>;

  constructor(
    public tokens: UpstreamTokens,
    public updatedAtMs: number,
    private readonly refresher: (t: UpstreamTokens) => Promise<UpstreamTokens>,
    private readonly persist: (t: UpstreamTokens) => Promise<number>,
  ) {}

  /** Another replica refreshed (the store row changed): take its tokens (a rotated refresh token included). */
  adopt(tokens: UpstreamTokens, updatedAtMs: number): void {
    this.tokens = tokens;
    this.updatedAtMs = updatedAtMs;
    this.stale = false;
    this.failed = undefined;
  }

  async header(): Promise<string> {
    if (this.failed) throw this.failed;
    const t = this.tokens;
    const due = t.expiresAtMs === null ? Infinity : t.expiresAtMs - Math.min(EARLY_MS, (t.expiresAtMs - t.obtainedAtMs) * 0.2);
    if (!this.stale && Date.now() < due) return `Bearer ${t.access}`;
    this.inflight ??= this.refresh().finally(() => { this.inflight = undefined; });
    return `Bearer ${await this.inflight}`;
  }

  invalidate(): void {
    this.stale = true;
  }

  private async refresh(): Promise<string> {
    let next: UpstreamTokens;
    try {
      next = await this.refresher(this.tokens);
    } catch (err) {
      if (err instanceof GrantRevoked) this.failed = err;
      throw err;
    }
    this.tokens = next;
    this.stale = false;
    this.updatedAtMs = await this.persist(next);
    return next.access;
  }
}
