// Session records: everything any edge replica needs to serve a request of a
// session. Kept small (they live in Redis), refreshed only when less than half
// of the idle TTL is left.
import type { Redis } from 'ioredis';

export type SessionTransport = 'http' | 'sse';

export interface SessionRecord {
  id: string;
  /** Negotiated protocol version. */
  v: string;
  t: SessionTransport;
  /** Principal (key id) the session belongs to; '' without auth. */
  p: string;
  /** Client capabilities, as sent in initialize. */
  cc?: Record<string, unknown>;
  /** Client name/version, for logs. */
  ci?: string;
  /** Minimum level for notifications/message (logging/setLevel). */
  ll?: string;
  /** Edge instance that holds the session's legacy SSE stream. */
  e?: string;
  /** Per-server view this session was opened on; absent for the aggregate. */
  s?: string;
}

/** MCPGW_MAX_SESSIONS_PER_PRINCIPAL's default. */
export const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL = 1_000;

export interface SessionStore {
  create(rec: SessionRecord): Promise<void>;
  /** undefined: unknown or ended. Throws only when the store is down and the record is not cached. */
  get(id: string): Promise<SessionRecord | undefined>;
  update(rec: SessionRecord): Promise<void>;
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Cached {
  rec: SessionRecord;
  /** When the shared store's TTL runs out, as far as this replica knows. */
  expiresAt: number;
  /** Until when the cached copy is trusted without asking the store. */
  freshUntil: number;
}

const CACHE_MAX = 10_000;
const CACHE_FRESH_MS = 5_000;

/** What one session record may hold: `initialize`'s capabilities and client info are the client's to fill. */
export const MAX_CAPABILITIES_BYTES = 16 * 1024;
export const MAX_CLIENT_INFO_CHARS = 200;

/**
 * The capabilities to store, or why they are refused. Bounded because every
 * session's record lives in Redis for its whole TTL (5 sessions × 3 MiB grew
 * Redis by 17 MiB before this bound).
 */
export function boundedCapabilities(value: unknown): { ok: Record<string, unknown> } | { error: string } {
  if (value === undefined || value === null) return { ok: {} };
  if (typeof value !== 'object' || Array.isArray(value)) return { error: 'Invalid params: "capabilities" must be an object' };
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_CAPABILITIES_BYTES) return { error: `Invalid params: "capabilities" is ${bytes} bytes; at most ${MAX_CAPABILITIES_BYTES} are accepted` };
  return { ok: value as Record<string, unknown> };
}

/** `name/version` of initialize's clientInfo, cut to a bound (it is for logs). */
export function clientInfoText(info: unknown): string | undefined {
  if (!info || typeof info !== 'object') return undefined;
  const { name, version } = info as { name?: unknown; version?: unknown };
  return `${String(name)}/${String(version)}`.slice(0, MAX_CLIENT_INFO_CHARS);
}

/**
 * The oldest sessions of a principal beyond `max`, oldest first: they are
 * ended to make room (their clients get 404 and re-initialize, as the spec
 * intends), so a client that never ends its sessions cannot grow the store
 * without bound, while the sessions in use stay.
 */
function overflow(ids: string[], max: number): string[] {
  return ids.length > max ? ids.slice(0, ids.length - max) : [];
}

/** A bounded map, oldest entry evicted first. */
class LocalCache {
  private readonly map = new Map<string, Cached>();
  get(id: string): Cached | undefined { return this.map.get(id); }
  set(id: string, c: Cached): void {
    this.map.delete(id);
    this.map.set(id, c);
    if (this.map.size > CACHE_MAX) this.map.delete(this.map.keys().next().value!);
  }
  delete(id: string): void { this.map.delete(id); }
}

/** One process, no Redis: the embedded default. */
export class MemorySessionStore implements SessionStore {
  private readonly records = new Map<string, { rec: SessionRecord; expiresAt: number }>();
  private readonly sweeper: NodeJS.Timeout;

  /** Session ids per principal, oldest first. */
  private readonly byPrincipal = new Map<string, string[]>();

  constructor(private readonly ttlMs: number, private readonly maxPerPrincipal = DEFAULT_MAX_SESSIONS_PER_PRINCIPAL) {
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [id, r] of this.records) if (r.expiresAt <= now) this.records.delete(id);
      // The per-principal index forgets ended sessions, and principals with none.
      for (const [principal, ids] of this.byPrincipal) {
        const live = ids.filter((id) => this.records.has(id));
        if (live.length > 0) this.byPrincipal.set(principal, live);
        else this.byPrincipal.delete(principal);
      }
    }, Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  async create(rec: SessionRecord): Promise<void> {
    this.records.set(rec.id, { rec, expiresAt: Date.now() + this.ttlMs });
    const ids = (this.byPrincipal.get(rec.p) ?? []).filter((id) => this.records.has(id));
    ids.push(rec.id);
    for (const id of overflow(ids, this.maxPerPrincipal)) this.records.delete(id);
    this.byPrincipal.set(rec.p, ids.slice(-this.maxPerPrincipal));
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const r = this.records.get(id);
    if (!r || r.expiresAt <= Date.now()) return undefined;
    r.expiresAt = Date.now() + this.ttlMs;
    return r.rec;
  }

  async update(rec: SessionRecord): Promise<void> {
    const r = this.records.get(rec.id);
    if (r) r.rec = rec;
  }

  async delete(id: string): Promise<boolean> {
    return this.records.delete(id);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}

/**
 * Redis-backed records (`<prefix>session:{id}`, hash-tagged for Redis Cluster)
 * with a small local cache: a cached session costs no Redis round trip, an
 * uncached one costs one pipelined GET+PTTL. With Redis down, cached records
 * keep serving.
 */
export class RedisSessionStore implements SessionStore {
  private readonly cache = new LocalCache();
  private readonly channel: string;

  /**
   * `sub`: a subscriber connection; updates and deletes are announced on
   * `<prefix>sessions` so other replicas drop their cached copy at once.
   */
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs: number, sub?: Redis,
    private readonly maxPerPrincipal = DEFAULT_MAX_SESSIONS_PER_PRINCIPAL) {
    this.channel = `${prefix}sessions`;
    if (sub) {
      sub.on('message', (ch: string, id: string) => { if (ch === this.channel) this.cache.delete(id); });
      sub.subscribe(this.channel).catch(() => { /* ioredis resubscribes on reconnect */ });
    }
  }

  private announce(id: string): Promise<unknown> {
    return this.redis.publish(this.channel, id).catch(() => 0);
  }

  private key(id: string): string {
    return `${this.prefix}session:{${id}}`;
  }

  /** Session ids of one principal by creation time (`<prefix>psessions:{principal}`), for the per-principal bound. */
  private principalKey(principal: string): string {
    return `${this.prefix}psessions:{${principal}}`;
  }

  async create(rec: SessionRecord): Promise<void> {
    const now = Date.now();
    const index = this.principalKey(rec.p);
    await this.redis.set(this.key(rec.id), JSON.stringify(rec), 'PX', this.ttlMs);
    // One key per transaction: the session and the index hash to different Redis Cluster slots.
    const [, , count] = (await this.redis.multi().zadd(index, now, rec.id).pexpire(index, this.ttlMs).zcard(index).exec()) ?? [];
    this.cache.set(rec.id, { rec, expiresAt: now + this.ttlMs, freshUntil: now + CACHE_FRESH_MS });
    const over = Number(count?.[1] ?? 0) - this.maxPerPrincipal;
    if (over > 0) {
      // ZPOPMIN takes the oldest; ids of sessions that already expired count until popped, which ends nothing.
      const popped = await this.redis.zpopmin(index, over);
      const ids = popped.filter((_, i) => i % 2 === 0);
      for (const id of ids) await this.delete(id);
    }
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const now = Date.now();
    const cached = this.cache.get(id);
    if (cached && cached.freshUntil > now) {
      await this.refreshIfHalfGone(cached, now);
      return cached.rec;
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await this.redis.pipeline().get(this.key(id)).pttl(this.key(id)).exec();
    } catch (err) {
      if (cached) return cached.rec; // Redis away: the cached copy keeps serving
      throw err;
    }
    const [getRes, ttlRes] = results ?? [];
    if (getRes?.[0]) {
      if (cached) return cached.rec;
      throw getRes[0];
    }
    const text = getRes?.[1];
    if (typeof text !== 'string') {
      this.cache.delete(id);
      return undefined;
    }
    const rec = JSON.parse(text) as SessionRecord;
    const pttl = Number(ttlRes?.[1] ?? 0);
    const entry = { rec, expiresAt: now + (pttl > 0 ? pttl : this.ttlMs), freshUntil: now + CACHE_FRESH_MS };
    this.cache.set(id, entry);
    await this.refreshIfHalfGone(entry, now);
    return rec;
  }

  private async refreshIfHalfGone(c: Cached, now: number): Promise<void> {
    if (c.expiresAt - now > this.ttlMs / 2) return;
    c.expiresAt = now + this.ttlMs;
    // Fire and forget: a failed refresh only shortens the session's life.
    this.redis.pexpire(this.key(c.rec.id), this.ttlMs).catch(() => {});
  }

  async update(rec: SessionRecord): Promise<void> {
    const now = Date.now();
    await this.redis.set(this.key(rec.id), JSON.stringify(rec), 'PX', this.ttlMs);
    this.cache.set(rec.id, { rec, expiresAt: now + this.ttlMs, freshUntil: now + CACHE_FRESH_MS });
    await this.announce(rec.id);
  }

  async delete(id: string): Promise<boolean> {
    this.cache.delete(id);
    const deleted = (await this.redis.del(this.key(id))) > 0;
    await this.announce(id);
    return deleted;
  }

  async close(): Promise<void> {}
}
