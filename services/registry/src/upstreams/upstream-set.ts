import { isDeepStrictEqual } from 'node:util';
import { CircuitState } from 'cockatiel';
import type { ServerConfig } from '@mcpgw/common/config';
import { ErrorCode, upstreamError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogStore } from '../catalog/catalog.js';
import type { RegistryMetrics } from '../metrics.js';
import { ClientPeer } from './client-peer.js';
import { Upstream, UpstreamCallError, type UpstreamEvents } from './upstream.js';
import type { SessionLeases } from './session-leases.js';
import { Subscriptions } from './subscriptions.js';
import type { SessionNotifier } from '../notifier.js';
import { UserAuth, type CallerIdentity, type UserAuthOptions } from './user-auth/user-auth.js';

/** A per_client upstream session nobody used for this long is closed. */
const SESSION_IDLE_MS = Number(process.env.MCPGW_CLIENT_SESSION_IDLE_MS ?? 15 * 60_000);
const SESSION_CONNECT_MS = 30_000;

interface ClientSession {
  upstream: Upstream;
  idle?: NodeJS.Timeout;
  renew?: NodeJS.Timeout;
}

/** Where a client session's request to a server goes. */
export type Target = { upstream: Upstream } | { owner: string };

/** The SDK's code for an unknown session: the edge answers the client with 404. */
export const SESSION_LOST = ErrorCode.SessionLost;

/**
 * Every configured upstream, feeding its contents into the catalog, plus the
 * per_client upstream sessions (one per client session and server, created
 * on first use, closed on EndSession or when idle).
 */
export class UpstreamSet {
  private readonly byName = new Map<string, Upstream>();
  private readonly sessions = new Map<string, ClientSession>();

  readonly subscriptions = new Subscriptions();
  /** Servers with per-user credentials (issue 20): upstream sessions per (server, user). */
  readonly userAuth: UserAuth;

  /**
   * `notifier` reaches client sessions outside calls; `leases`: with several
   * registry replicas (Redis), which one owns each per_client session.
   */
  constructor(
    private readonly catalog: CatalogStore,
    private readonly log: Logger,
    private readonly metrics: RegistryMetrics,
    private readonly notifier: SessionNotifier,
    private readonly leases?: SessionLeases,
    userAuthOptions: UserAuthOptions = {},
  ) {
    // A user's session lists the server for the catalog while the shared connection (no credential of its own) cannot.
    this.userAuth = new UserAuth(log, metrics.registry, (contents) => {
      const shared = this.byName.get(contents.name);
      if (!shared || shared.state === 'up') return;
      metrics.catalogTools.set({ server: contents.name }, contents.tools.length);
      this.catalog.put(contents).catch((err: Error) => this.log.warn({ server: contents.name, err: err.message }, 'catalog write failed'));
    }, userAuthOptions);
  }

  get(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  all(): Upstream[] {
    return [...this.byName.values()];
  }

  /**
   * The upstream a client session's request goes to: the shared one, or for
   * `session: per_client` servers that client session's own (started on first use).
   */
  async forSession(name: string, sessionId: string, clientCapabilities: () => Record<string, unknown>, caller?: CallerIdentity): Promise<Target | undefined> {
    const shared = this.byName.get(name);
    if (shared?.config.userAuth) return { upstream: await this.userAuth.sessionFor(shared, caller) };
    if (!shared || shared.config.session !== 'per_client') return shared && { upstream: shared };
    if (!sessionId) throw new UpstreamCallError(upstreamError(ErrorCode.InvalidParams, name, 'is per_client: call it within an MCP session (not over REST)'));
    const key = `${name}\0${sessionId}`;
    let s = this.sessions.get(key);
    if (!s && this.leases) {
      const claim = await this.leases.claim(name, sessionId);
      if (claim.kind === 'other') return { owner: claim.address };
      if (claim.kind === 'lost') throw sessionLost(name);
    }
    if (!s) {
      const count = [...this.sessions.values()].filter((x) => x.upstream.config.name === name).length;
      if (count >= shared.config.maxSessions) {
        throw new UpstreamCallError(upstreamError(ErrorCode.Overloaded, name, `has ${count} client sessions open (max_sessions); try again later`));
      }
      const peer = new ClientPeer(clientCapabilities(), (text) => this.notifier.publish(sessionId, text));
      const upstream = new Upstream(shared.config, this.log, this.eventsFor(shared.config, false), peer);
      s = { upstream };
      this.sessions.set(key, s);
      upstream.start();
      if (this.leases) this.keepLease(key, name, sessionId, s);
    }
    clearTimeout(s.idle);
    const session = s;
    session.idle = setTimeout(() => void this.closeSession(key), SESSION_IDLE_MS);
    session.idle.unref();
    try {
      await session.upstream.whenUp(SESSION_CONNECT_MS);
    } catch (err) {
      await this.closeSession(key);
      throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, name, `client session could not start: ${(err as Error).message}`), true);
    }
    return { upstream: session.upstream };
  }

  /** Renews the lease while the session lives; losing it closes our upstream session. */
  private keepLease(key: string, name: string, sessionId: string, s: ClientSession): void {
    const leases = this.leases!;
    s.renew = setInterval(() => {
      leases.renew(name, sessionId).then((held) => {
        if (!held) {
          this.log.warn({ server: name }, 'per_client lease lost; closing the upstream session');
          void this.closeSession(key, false);
        }
      }, (err: Error) => this.log.warn({ server: name, err: err.message }, 'lease renewal failed'));
    }, leases.ttlMs / 3);
    s.renew.unref();
  }

  /** Closes the per_client upstream sessions of a client session. */
  async endSession(sessionId: string): Promise<number> {
    for (const { server, uri } of this.subscriptions.dropSession(sessionId)) {
      this.byName.get(server)?.request('resources/unsubscribe', { uri }).catch(() => {});
    }
    const keys = [...this.sessions.keys()].filter((k) => k.endsWith(`\0${sessionId}`));
    await Promise.all(keys.map((k) => this.closeSession(k, true)));
    return keys.length;
  }

  /** `ended`: the client ended its session (DELETE); else the upstream session was lost (idle, reload, shutdown). */
  private async closeSession(key: string, ended = false): Promise<void> {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    clearTimeout(s.idle);
    clearInterval(s.renew);
    const [name, sessionId] = key.split('\0') as [string, string];
    await Promise.all([
      s.upstream.stop(),
      this.leases?.release(name, sessionId, ended).catch((err: Error) => this.log.warn({ server: name, err: err.message }, 'lease release failed')),
    ]);
  }

  /**
   * Makes the running set match `configs`: starts new servers, stops removed
   * ones (and drops them from the catalog), restarts changed ones. Unchanged
   * servers keep their connections and in-flight calls.
   */
  async apply(configs: ServerConfig[]): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const next = new Map(configs.map((c) => [c.name, c]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    for (const [name, upstream] of this.byName) {
      const cfg = next.get(name);
      if (!cfg) removed.push(name);
      else if (!isDeepStrictEqual(cfg, upstream.config)) changed.push(name);
    }
    for (const name of next.keys()) if (!this.byName.has(name)) added.push(name);

    await Promise.all([...removed, ...changed].map(async (name) => {
      const upstream = this.byName.get(name)!;
      this.byName.delete(name);
      const ownSessions = [...this.sessions.keys()].filter((k) => k.startsWith(`${name}\0`));
      await Promise.all([upstream.stop(), ...ownSessions.map((k) => this.closeSession(k)), this.userAuth.dropServers([name])]);
    }));
    for (const name of removed) {
      await this.catalog.remove(name).catch((err: Error) => this.log.warn({ server: name, err: err.message }, 'catalog remove failed'));
      for (const g of [this.metrics.upstreamUp, this.metrics.catalogTools, this.metrics.breakerState]) g.remove({ server: name });
    }
    for (const name of [...changed, ...added]) this.startOne(next.get(name)!);
    return { added, removed, changed };
  }

  /** Metrics and catalog updates for an upstream; `shared` ones also feed the catalog and the up/breaker gauges. */
  private eventsFor(cfg: ServerConfig, shared: boolean): UpstreamEvents {
    const { metrics } = this;
    return {
      contents: (contents) => {
        if (!shared || this.byName.get(cfg.name)?.config !== cfg) return; // replaced meanwhile
        metrics.catalogTools.set({ server: cfg.name }, contents.tools.length);
        this.catalog.put(contents).catch((err: Error) => this.log.warn({ server: cfg.name, err: err.message }, 'catalog write failed'));
      },
      notification: (message) => {
        const uri = (message.params as { uri?: unknown } | undefined)?.uri;
        if (message.method !== 'notifications/resources/updated' || typeof uri !== 'string') return;
        const text = JSON.stringify({ jsonrpc: '2.0', ...message });
        // A session that subscribed by the aggregate's renamed URI hears that name (the edge's resource-uris.ts).
        for (const [sessionId, alias] of this.subscriptions.subscribers(cfg.name, uri)) {
          this.notifier.publish(sessionId, alias ? JSON.stringify({ jsonrpc: '2.0', ...message, params: { ...(message.params as object), uri: alias } }) : text);
        }
      },
      state: (u) => {
        if (shared) metrics.upstreamUp.set({ server: cfg.name }, u.state === 'up' ? 1 : 0);
        if (u.state === 'connecting') metrics.upstreamReconnects.inc({ server: cfg.name });
      },
      breaker: (_u, s) => {
        if (!shared) return;
        // The gauge reads 0 closed, 1 open, 2 half-open (cockatiel's own numbering; isolated counts as open).
        metrics.breakerState.set({ server: cfg.name }, s === CircuitState.Isolated ? CircuitState.Open : s);
        this.log.warn({ server: cfg.name, breaker: CircuitState[s] }, 'circuit breaker changed');
      },
    };
  }

  private startOne(cfg: ServerConfig): void {
    const upstream = new Upstream(cfg, this.log, this.eventsFor(cfg, true));
    this.metrics.upstreamUp.set({ server: cfg.name }, 0);
    this.metrics.breakerState.set({ server: cfg.name }, 0);
    this.byName.set(cfg.name, upstream);
    upstream.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.all().map((u) => u.stop()), ...[...this.sessions.keys()].map((k) => this.closeSession(k)), this.userAuth.stop()]);
    this.byName.clear();
  }
}

function sessionLost(server: string): UpstreamCallError {
  return new UpstreamCallError({
    code: SESSION_LOST,
    message: `the upstream session of '${server}' for this client session was lost (its registry replica went away or it idled out); initialize a new session`,
    data: { server, sessionLost: true },
  });
}
