// Rate limits (requests per minute) and concurrency limits per key, per team
// and per tool. Requests per minute are counted in Redis with
// rate-limiter-flexible, so every edge shares one budget; with Redis down (or
// without Redis) each edge counts locally (fail open to local buckets, counted
// in mcpgw_rate_limit_fallback_total). Concurrent calls are counted per edge:
// a Redis semaphore would leak slots whenever an edge dies mid-call.
import type { Redis } from 'ioredis';
import picomatch from 'picomatch';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Limits } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import type { EdgeMetrics } from '../metrics.js';
import type { LimitRule, Principal } from '../identity/principal.js';

export type LimitScope = 'key' | 'team' | 'tool';

export type LimitDecision =
  | { ok: true; release: () => void }
  | { ok: false; scope: LimitScope; retryAfterMs: number; message: string };

const NOTHING_TO_RELEASE = { ok: true as const, release: () => {} };

export class Limiter {
  private readonly shared = new Map<number, RateLimiterAbstract>();
  private readonly local = new Map<number, RateLimiterAbstract>();
  private readonly inFlight = new Map<string, number>();
  private readonly toolRules: { match: (name: string) => boolean; limits: Limits }[];
  private lastFallbackLog = 0;

  constructor(private readonly opts: { redis?: Redis; prefix: string; toolLimits: { pattern: string; limits: Limits }[]; metrics: EdgeMetrics; log: Logger }) {
    this.toolRules = opts.toolLimits.map((t) => ({ match: picomatch(t.pattern), limits: t.limits }));
  }

  /** True when some limit could apply to `principal` (so callers skip all work otherwise). */
  applies(principal: Principal): boolean {
    return principal.limits.length > 0 || this.toolRules.length > 0;
  }

  /** Takes one request and one concurrency slot from every rule that applies; release the slots when the call ends. */
  async acquire(principal: Principal, tool?: string): Promise<LimitDecision> {
    const rules: { rule: LimitRule; scope: LimitScope }[] = principal.limits.map((rule) => ({ rule, scope: rule.bucket.startsWith('team:') ? 'team' : 'key' }));
    if (tool !== undefined) {
      const t = this.toolRules.find((r) => r.match(tool));
      if (t) rules.push({ rule: { bucket: `tool:${tool}`, ...t.limits }, scope: 'tool' });
    }
    if (rules.length === 0) return NOTHING_TO_RELEASE;
    const held: string[] = [];
    const release = () => { for (const b of held.splice(0)) this.inFlight.set(b, (this.inFlight.get(b) ?? 1) - 1); };
    for (const { rule, scope } of rules) {
      if (rule.maxConcurrency) {
        const n = this.inFlight.get(rule.bucket) ?? 0;
        if (n >= rule.maxConcurrency) {
          release();
          return this.denied(scope, 1_000, `too many concurrent calls for ${describe(rule.bucket)} (max_concurrency ${rule.maxConcurrency})`);
        }
        this.inFlight.set(rule.bucket, n + 1);
        held.push(rule.bucket);
      }
      if (rule.rpm) {
        const retryAfterMs = await this.consume(rule.bucket, rule.rpm);
        if (retryAfterMs !== undefined) {
          release();
          return this.denied(scope, retryAfterMs, `rate limit of ${rule.rpm} requests per minute reached for ${describe(rule.bucket)}`);
        }
      }
    }
    return { ok: true, release };
  }

  private denied(scope: LimitScope, retryAfterMs: number, message: string): LimitDecision {
    this.opts.metrics.rateLimited.inc({ scope });
    return { ok: false, scope, retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)), message };
  }

  /** undefined when the request fits; else ms until it would. */
  private async consume(bucket: string, rpm: number): Promise<number | undefined> {
    const shared = this.limiter(this.shared, rpm, true);
    try {
      await (shared ?? this.limiter(this.local, rpm, false)!).consume(bucket);
      return undefined;
    } catch (res) {
      if (res instanceof RateLimiterRes) return res.msBeforeNext;
      // Redis is down: count locally rather than refuse or let everything through.
      this.opts.metrics.rateLimitFallback.inc();
      if (Date.now() - this.lastFallbackLog > 10_000) {
        this.lastFallbackLog = Date.now();
        this.opts.log.warn({ err: (res as Error).message }, 'rate limits: Redis unavailable, counting per edge');
      }
      try {
        await this.limiter(this.local, rpm, false)!.consume(bucket);
        return undefined;
      } catch (local) {
        return local instanceof RateLimiterRes ? local.msBeforeNext : undefined;
      }
    }
  }

  private limiter(cache: Map<number, RateLimiterAbstract>, points: number, shared: boolean): RateLimiterAbstract | undefined {
    if (shared && !this.opts.redis) return undefined;
    let l = cache.get(points);
    if (!l) {
      l = shared
        ? new RateLimiterRedis({ storeClient: this.opts.redis, keyPrefix: `${this.opts.prefix}rl:${points}`, points, duration: 60, rejectIfRedisNotReady: true })
        : new RateLimiterMemory({ keyPrefix: `rl:${points}`, points, duration: 60 });
      cache.set(points, l);
    }
    return l;
  }
}

function describe(bucket: string): string {
  const colon = bucket.indexOf(':');
  return `${bucket.slice(0, colon)} '${bucket.slice(colon + 1)}'`;
}
