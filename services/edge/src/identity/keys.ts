// Virtual keys `sk-mcpgw-<random>`: stored by sha256 only (Redis, or memory
// without it), plus keys declared by hash in the config (GitOps). Edges cache
// records; a revoke is published so every edge drops its copy at once.
import { hash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { DeclaredKey, Limits } from '@mcpgw/common/config';

export const KEY_PREFIX = 'sk-mcpgw-';

export interface KeyRecord extends Limits {
  id: string;
  name: string;
  team?: string;
  servers?: string[];
  tools?: string[];
  /** ISO time. */
  expiresAt?: string;
  createdAt: string;
  admin: boolean;
  /** Declared in the config: not revocable through the API. */
  declared?: boolean;
  /** ISO time of the revoke: the record is kept (listed as revoked) but no longer authenticates. */
  revokedAt?: string;
  /** Principal id of whoever created it (admin API). */
  createdBy?: string;
}

export type NewKey = Omit<KeyRecord, 'id' | 'createdAt' | 'declared' | 'revokedAt'>;

export const sha256Hex = (s: string): string => hash('sha256', s, 'hex');

/** 192 bits from the CSPRNG, URL-safe. */
export function newKey(): { key: string; id: string } {
  return { key: `${KEY_PREFIX}${randomBytes(24).toString('base64url')}`, id: `key_${randomBytes(6).toString('hex')}` };
}

export interface KeyBackend {
  get(sha: string): Promise<KeyRecord | undefined>;
  put(sha: string, rec: KeyRecord): Promise<void>;
  /** Revokes by id (`by`: the principal id, for the audit log): the key stops authenticating, its record stays listed as revoked. The sha of the key, if it was active. */
  remove(id: string, by?: string): Promise<string | undefined>;
  /** Active and revoked keys. */
  list(): Promise<KeyRecord[]>;
  /** Subscribes to revokes made on any edge. */
  onRevoke(listener: (sha: string) => void): void;
  announceRevoke(sha: string): Promise<void>;
}

export class MemoryKeyBackend implements KeyBackend {
  private readonly bySha = new Map<string, KeyRecord>();
  private readonly revoked: KeyRecord[] = [];
  async get(sha: string) { return this.bySha.get(sha); }
  async put(sha: string, rec: KeyRecord) { this.bySha.set(sha, rec); }
  async remove(id: string) {
    for (const [sha, rec] of this.bySha) {
      if (rec.id !== id) continue;
      this.bySha.delete(sha);
      this.revoked.push({ ...rec, revokedAt: new Date().toISOString() });
      return sha;
    }
    return undefined;
  }
  async list() { return [...this.bySha.values(), ...this.revoked]; }
  onRevoke(): void { /* one process: the cache is dropped directly */ }
  async announceRevoke(): Promise<void> {}
}

/**
 * `{keys}` hash tag: every key record and the id index share one Redis Cluster
 * slot, so create and revoke are single MULTI transactions.
 */
export class RedisKeyBackend implements KeyBackend {
  private readonly recordPrefix: string;
  private readonly index: string;
  private readonly revoked: string;
  private readonly channel: string;

  constructor(private readonly redis: Redis, private readonly sub: Redis | undefined, prefix: string) {
    this.recordPrefix = `${prefix}{keys}:`;
    this.index = `${prefix}{keys}:index`;
    this.revoked = `${prefix}{keys}:revoked`;
    this.channel = `${prefix}keys:revoked`;
  }

  async get(sha: string): Promise<KeyRecord | undefined> {
    const text = await this.redis.get(this.recordPrefix + sha);
    return text ? (JSON.parse(text) as KeyRecord) : undefined;
  }

  async put(sha: string, rec: KeyRecord): Promise<void> {
    await this.redis.multi().set(this.recordPrefix + sha, JSON.stringify(rec)).hset(this.index, rec.id, sha).exec();
  }

  async remove(id: string): Promise<string | undefined> {
    const sha = await this.redis.hget(this.index, id);
    if (!sha) return undefined;
    const text = await this.redis.get(this.recordPrefix + sha);
    const tombstone = JSON.stringify({ ...(text ? (JSON.parse(text) as KeyRecord) : { id, name: id, createdAt: '', admin: false }), revokedAt: new Date().toISOString() });
    await this.redis.multi().del(this.recordPrefix + sha).hdel(this.index, id).hset(this.revoked, id, tombstone).exec();
    return sha;
  }

  async list(): Promise<KeyRecord[]> {
    const [index, revoked] = await Promise.all([this.redis.hgetall(this.index), this.redis.hgetall(this.revoked)]);
    const shas = Object.values(index);
    const texts = shas.length ? await this.redis.mget(shas.map((s) => this.recordPrefix + s)) : [];
    return [...texts, ...Object.values(revoked)].filter((t): t is string => t !== null).map((t) => JSON.parse(t) as KeyRecord);
  }

  onRevoke(listener: (sha: string) => void): void {
    if (!this.sub) return;
    this.sub.on('message', (ch: string, sha: string) => { if (ch === this.channel) listener(sha); });
    this.sub.subscribe(this.channel).catch(() => { /* ioredis resubscribes on reconnect */ });
  }

  async announceRevoke(sha: string): Promise<void> {
    await this.redis.publish(this.channel, sha);
  }
}

const NEGATIVE_TTL_MS = 5_000;
const CACHE_MAX = 10_000;

export type KeyLookup = { found: KeyRecord } | { missing: true } | { unavailable: true };

/** Key records with a bounded local cache in front of the backend. */
export class KeyStore {
  private readonly declared = new Map<string, KeyRecord>();
  private readonly cache = new Map<string, { rec?: KeyRecord; until: number }>();
  /** Key ids by sha of keys that authenticated here (kept past the cache TTL: their streams may still be open). */
  private readonly idsBySha = new Map<string, string>();
  private readonly revokedListeners: ((keyId: string) => void)[] = [];

  constructor(private readonly backend: KeyBackend, declared: DeclaredKey[], private readonly cacheMs: number) {
    for (const d of declared) {
      this.declared.set(d.sha256, {
        id: d.id, name: d.name, team: d.team, servers: d.servers, tools: d.tools, expiresAt: d.expiresAt,
        admin: d.admin, rpm: d.rpm, maxConcurrency: d.maxConcurrency, createdAt: '', declared: true,
      });
    }
    backend.onRevoke((sha) => {
      this.cache.delete(sha);
      const id = this.idsBySha.get(sha);
      if (id) this.revoked(id);
    });
  }

  /** Called with the key id of every key revoked on any edge that authenticated here, and of each revoked here. */
  onRevoked(listener: (keyId: string) => void): void {
    this.revokedListeners.push(listener);
  }

  private revoked(id: string): void {
    for (const l of this.revokedListeners) l(id);
  }

  /** Looks up a presented key. A backend that is down serves what is cached; else `unavailable`. */
  async lookup(key: string): Promise<KeyLookup> {
    const sha = sha256Hex(key);
    const declared = this.declared.get(sha);
    if (declared) return { found: declared };
    const now = Date.now();
    const cached = this.cache.get(sha);
    if (cached && cached.until > now) return cached.rec ? { found: cached.rec } : { missing: true };
    let rec: KeyRecord | undefined;
    try {
      rec = await this.backend.get(sha);
    } catch {
      if (cached?.rec) {
        // The store (or registry) is down: the last known record serves, rechecked after a short grace
        // rather than on every request. A revoke still drops it at once (pub/sub).
        cached.until = now + NEGATIVE_TTL_MS;
        return { found: cached.rec };
      }
      return { unavailable: true };
    }
    // Unknown keys are cached briefly too: a new key cannot have been presented before it existed.
    this.cache.set(sha, { rec, until: now + (rec ? this.cacheMs : NEGATIVE_TTL_MS) });
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    if (rec) {
      this.idsBySha.set(sha, rec.id);
      if (this.idsBySha.size > CACHE_MAX) this.idsBySha.delete(this.idsBySha.keys().next().value!);
    }
    return rec ? { found: rec } : { missing: true };
  }

  async create(input: NewKey): Promise<{ key: string; record: KeyRecord }> {
    const { key, id } = newKey();
    const record: KeyRecord = { ...input, id, createdAt: new Date().toISOString(), admin: input.admin ?? false };
    await this.backend.put(sha256Hex(key), record);
    return { key, record };
  }

  async list(): Promise<KeyRecord[]> {
    return [...this.declared.values(), ...(await this.backend.list())].sort((a, b) => a.id.localeCompare(b.id));
  }

  isDeclared(id: string): boolean {
    for (const r of this.declared.values()) if (r.id === id) return true;
    return false;
  }

  /** false: no such (revocable) key. */
  async revoke(id: string, by?: string): Promise<boolean> {
    const sha = await this.backend.remove(id, by);
    if (!sha) return false;
    this.cache.delete(sha);
    await this.backend.announceRevoke(sha);
    this.revoked(id);
    return true;
  }
}
