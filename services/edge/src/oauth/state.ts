// The gateway authorization server's short-lived state: registered clients
// (RFC 7591), pending authorizations, authorization codes and refresh tokens.
// In Redis (shared by every edge, with TTLs) or in memory (one edge). Codes
// and refresh tokens are taken at most once (GETDEL): a replayed one finds
// nothing. Keys are hashed where the key itself is a credential.
// (The system of record, issue 19, is the durable home for clients and
// refresh-token families; docs/delegated-identity.md says what moves there.)
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export type StateKind = 'client' | 'pending' | 'code' | 'rt' | 'rtused' | 'family' | 'connect';

export interface OAuthState {
  put(kind: StateKind, id: string, value: unknown, ttlS: number): Promise<void>;
  get<T>(kind: StateKind, id: string): Promise<T | undefined>;
  /** Reads and deletes in one step: a second take of the same id gets nothing. */
  take<T>(kind: StateKind, id: string): Promise<T | undefined>;
  del(kind: StateKind, id: string): Promise<void>;
}

/** Ids that are credentials (codes, refresh tokens) are stored under their sha256, never in clear. */
export const digestId = (secret: string) => createHash('sha256').update(secret).digest('base64url');

export class MemoryOAuthState implements OAuthState {
  private readonly items = new Map<string, { value: string; expires: number }>();

  async put(kind: StateKind, id: string, value: unknown, ttlS: number): Promise<void> {
    this.sweep();
    this.items.set(`${kind}:${id}`, { value: JSON.stringify(value), expires: Date.now() + ttlS * 1000 });
  }

  async get<T>(kind: StateKind, id: string): Promise<T | undefined> {
    const it = this.items.get(`${kind}:${id}`);
    if (!it || it.expires <= Date.now()) return undefined;
    return JSON.parse(it.value) as T;
  }

  async take<T>(kind: StateKind, id: string): Promise<T | undefined> {
    const v = await this.get<T>(kind, id);
    this.items.delete(`${kind}:${id}`);
    return v;
  }

  async del(kind: StateKind, id: string): Promise<void> {
    this.items.delete(`${kind}:${id}`);
  }

  /** Bounded by expiry: expired entries go whenever something is written. */
  private sweep(): void {
    if (this.items.size < 1024) return;
    const now = Date.now();
    for (const [k, v] of this.items) if (v.expires <= now) this.items.delete(k);
  }
}

export class RedisOAuthState implements OAuthState {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private key(kind: StateKind, id: string): string {
    return `${this.prefix}oauth:${kind}:${id}`;
  }

  async put(kind: StateKind, id: string, value: unknown, ttlS: number): Promise<void> {
    await this.redis.set(this.key(kind, id), JSON.stringify(value), 'EX', Math.max(1, Math.ceil(ttlS)));
  }

  async get<T>(kind: StateKind, id: string): Promise<T | undefined> {
    const v = await this.redis.get(this.key(kind, id));
    return v === null ? undefined : (JSON.parse(v) as T);
  }

  async take<T>(kind: StateKind, id: string): Promise<T | undefined> {
    const v = await this.redis.getdel(this.key(kind, id));
    return v === null ? undefined : (JSON.parse(v) as T);
  }

  async del(kind: StateKind, id: string): Promise<void> {
    await this.redis.del(this.key(kind, id));
  }
}
