// Which registry replica owns a client session's per_client upstream session.
// The first replica to serve it claims a lease (`SET NX PX`, renewed while the
// session lives); the others forward to the owner. A marker remembers that
// the session had an upstream session, so when the owner is lost the client
// hears it (404, re-initialize) instead of silently getting a fresh upstream.
import type { Redis } from 'ioredis';

export type Claim = { kind: 'self' } | { kind: 'other'; address: string } | { kind: 'lost' };

export interface SessionLeases {
  claim(server: string, sessionId: string): Promise<Claim>;
  /** false when this replica no longer holds the lease. */
  renew(server: string, sessionId: string): Promise<boolean>;
  /** `ended`: the client ended the session, so the marker goes too. */
  release(server: string, sessionId: string, ended: boolean): Promise<void>;
  readonly ttlMs: number;
}

const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'LOST' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return ARGV[1]`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
return 1`;

export class RedisSessionLeases implements SessionLeases {
  address = '';

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly instanceId: string,
    readonly ttlMs = 30_000,
    private readonly markerTtlMs = 24 * 3600_000,
  ) {}

  private keys(server: string, sessionId: string): [string, string] {
    // Hash-tagged by session: both keys in one slot for Redis Cluster.
    return [`${this.prefix}lease:upstream:{${sessionId}}:${server}`, `${this.prefix}lease:seen:{${sessionId}}:${server}`];
  }

  private get value(): string {
    return `${this.instanceId} ${this.address}`;
  }

  async claim(server: string, sessionId: string): Promise<Claim> {
    const held = String(await this.redis.eval(CLAIM, 2, ...this.keys(server, sessionId), this.value, this.ttlMs, this.markerTtlMs));
    if (held === 'LOST') return { kind: 'lost' };
    if (held === this.value) return { kind: 'self' };
    return { kind: 'other', address: held.slice(held.indexOf(' ') + 1) };
  }

  async renew(server: string, sessionId: string): Promise<boolean> {
    return Number(await this.redis.eval(RENEW, 2, ...this.keys(server, sessionId), this.value, this.ttlMs, this.markerTtlMs)) === 1;
  }

  async release(server: string, sessionId: string, ended: boolean): Promise<void> {
    await this.redis.eval(RELEASE, 2, ...this.keys(server, sessionId), this.value, ended ? '1' : '0');
  }
}
