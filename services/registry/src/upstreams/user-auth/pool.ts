// Upstream sessions per (server, user) for servers whose credential is the
// user's own (`auth_type: client_header`, `oauth2_user`, `token_exchange`).
// One user's session, token or failure never touches another's: each entry is
// its own Upstream (own connection, breaker and bulkhead), keyed by server and
// principal id. The pool is bounded (least recently used goes first when full)
// and idle sessions are closed; both are counted in metrics.
import { createHash } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServerConfig } from '@mcpgw/common/config';
import { ErrorCode, upstreamError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import { Upstream, UpstreamCallError, type CallOptions, type CatalogContents, type UpstreamEvents } from '../upstream.js';
import type { TokenSource } from '../oauth2.js';

export interface UserPoolOptions {
  /** Sessions across all servers and users (default 1000, MCPGW_USER_SESSIONS_MAX). */
  maxSessions: number;
  /** A session unused this long is closed (default 10 min, MCPGW_USER_SESSION_IDLE_MS). */
  idleMs: number;
  /** How long a call waits for a new session to connect. */
  connectMs: number;
}

export const DEFAULT_POOL_OPTIONS: UserPoolOptions = {
  maxSessions: Number(process.env.MCPGW_USER_SESSIONS_MAX ?? 1000),
  idleMs: Number(process.env.MCPGW_USER_SESSION_IDLE_MS ?? 10 * 60_000),
  connectMs: 30_000,
};

/** What one user brings for one server: a header value (client_header) or a token source (oauth2_user, token_exchange). */
export type UserCredential = { kind: 'header'; value: string } | { kind: 'tokens'; source: TokenSource; fingerprint: string };

/**
 * What a user's session does when the upstream answers 401 during a call:
 * 'retry' once (a refreshed token), or throw the error the client gets
 * (a URL elicitation to connect again, a refused header).
 */
export type OnUnauthorized = () => Promise<'retry'>;

/** One user's upstream session: a 401 during a call goes to its owner's handler instead of surfacing as an outage. */
export class UserUpstream extends Upstream {
  onUnauthorized?: OnUnauthorized;
  /** The user's token source (oauth2_user): a refused refresh counts as a 401. */
  tokens?: TokenSource & { failed?: unknown };

  override async request(method: string, params: Record<string, unknown> | undefined, opts: CallOptions = {}): Promise<Record<string, unknown>> {
    try {
      return await super.request(method, params, opts);
    } catch (err) {
      if (!this.onUnauthorized || !(err instanceof UpstreamCallError) || !(/\b401\b/.test(err.error.message) || this.tokens?.failed)) throw err;
      await this.onUnauthorized();
      return super.request(method, params, opts);
    }
  }
}

interface Entry {
  upstream: UserUpstream;
  /** Digest of the credential the session was opened with: another one opens a new session. */
  fingerprint: string;
  idle?: NodeJS.Timeout;
}

type EvictReason = 'idle' | 'capacity' | 'credential' | 'failed' | 'reload';

export class UserSessionPool {
  private readonly entries = new Map<string, Entry>();
  private readonly size: Gauge;
  private readonly evictions: Counter;

  /**
   * `feedCatalog`: a user session's lists go to the catalog while the server's
   * shared connection cannot list (it has no credential of its own).
   */
  constructor(
    private readonly log: Logger,
    registry: Registry,
    private readonly feedCatalog: (contents: CatalogContents) => void,
    private readonly opts: UserPoolOptions = DEFAULT_POOL_OPTIONS,
  ) {
    this.size = new Gauge({ name: 'mcpgw_user_sessions', help: 'Upstream sessions held per (server, user), by server', labelNames: ['server'], registers: [registry] });
    this.evictions = new Counter({ name: 'mcpgw_user_session_evictions_total', help: 'Per-user upstream sessions closed, by server and reason (idle, capacity, credential, failed, reload)', labelNames: ['server', 'reason'], registers: [registry] });
  }

  /**
   * The user's own upstream session for `cfg`, opened on first use and
   * connected when returned. A different credential than the session's opens
   * a new session (the old one is closed).
   */
  async acquire(cfg: ServerConfig, principal: string, credential: UserCredential, onUnauthorized?: OnUnauthorized): Promise<UserUpstream> {
    const key = `${cfg.name}\0${principal}`;
    const fingerprint = credential.kind === 'header' ? createHash('sha256').update(credential.value).digest('base64url') : credential.fingerprint;
    let entry = this.entries.get(key);
    if (entry && (entry.fingerprint !== fingerprint || entry.upstream.config.url !== cfg.url)) {
      await this.close(key, 'credential');
      entry = undefined;
    }
    if (!entry) {
      this.makeRoom();
      // A shared listing credential (static Authorization header) is never a user's: it is dropped. The user's header
      // becomes this session's Authorization (the Upstream's redactor masks it in every error and log).
      const headers = withoutAuthorization(cfg.headers);
      const own: ServerConfig = { ...cfg, headers: credential.kind === 'header' ? { ...headers, Authorization: credential.value } : headers };
      const upstream = new UserUpstream(own, this.log, this.events(cfg), undefined, credential.kind === 'tokens' ? credential.source : undefined);
      if (credential.kind === 'tokens') upstream.tokens = credential.source;
      entry = { upstream, fingerprint };
      upstream.start();
      this.size.inc({ server: cfg.name });
    } else {
      // Most recently used last: Map order is the eviction order.
      this.entries.delete(key);
    }
    this.entries.set(key, entry);
    const e = entry;
    e.upstream.onUnauthorized = onUnauthorized;
    clearTimeout(e.idle);
    e.idle = setTimeout(() => void this.close(key, 'idle'), this.opts.idleMs);
    e.idle.unref();
    const state = await settled(e.upstream, this.opts.connectMs);
    if (state !== 'up') {
      // A session that cannot start is not kept: the next call tries afresh (with a new credential, perhaps).
      const why = e.upstream.lastError || 'not connected in time';
      await this.close(key, 'failed');
      throw new UserSessionError(upstreamError(ErrorCode.UpstreamUnavailable, cfg.name, `your own session could not start: ${e.upstream.redact(why)}`), /\b401\b/.test(why));
    }
    return e.upstream;
  }

  /** Drops one user's session of a server (its credential was revoked or replaced). */
  async drop(server: string, principal: string, reason: EvictReason = 'failed'): Promise<void> {
    await this.close(`${server}\0${principal}`, reason);
  }

  /** Closes every session of servers that changed or went away. */
  async dropServers(names: string[]): Promise<void> {
    const set = new Set(names);
    await Promise.all([...this.entries.keys()].filter((k) => set.has(k.slice(0, k.indexOf('\0')))).map((k) => this.close(k, 'reload')));
  }

  get count(): number {
    return this.entries.size;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.entries.keys()].map((k) => this.close(k, 'reload')));
  }

  /** Full: the least recently used session goes (the one least likely to have a call in flight). */
  private makeRoom(): void {
    while (this.entries.size >= Math.max(1, this.opts.maxSessions)) {
      const oldest = this.entries.keys().next().value!;
      void this.close(oldest, 'capacity');
    }
  }

  private async close(key: string, reason: EvictReason): Promise<void> {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    clearTimeout(e.idle);
    const server = e.upstream.config.name;
    this.size.dec({ server });
    this.evictions.inc({ server, reason });
    await e.upstream.stop().catch(() => {});
  }

  private events(cfg: ServerConfig): UpstreamEvents {
    return {
      contents: (c) => this.feedCatalog({ ...c, name: cfg.name }),
      notification: () => {},
      state: () => {},
      breaker: () => {},
    };
  }
}

/** A user's session that did not start; `unauthorized`: the upstream refused the credential (HTTP 401). */
export class UserSessionError extends UpstreamCallError {
  constructor(error: ConstructorParameters<typeof UpstreamCallError>[0], readonly unauthorized: boolean) {
    super(error, true);
  }
}

/** Waits for the first connect attempt's outcome: a user's session that fails is reported at once, not retried for the whole wait. */
async function settled(u: Upstream, timeoutMs: number): Promise<'up' | 'down' | 'connecting'> {
  const deadline = Date.now() + timeoutMs;
  while (u.state === 'connecting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return u.state;
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
}
