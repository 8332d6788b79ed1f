import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';

export const DEFAULT_PREFIX = 'mcpgw:';
const CONNECT_WAIT_MS = 3_000;
/** Reconnect attempts at most this far apart: Redis back means state back within about a second. */
const RECONNECT_MAX_MS = 1_000;

/** How REDIS_URL names the deployment: one server, a Cluster, or a Sentinel-watched master. */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: ClusterNode[]; options: RedisOptions }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string; options: RedisOptions };

/**
 * Parses REDIS_URL:
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS): one server;
 * - `redis+cluster://[user:pass@]host:port,host:port` (`rediss+cluster://` for TLS),
 *   or a comma list of `redis://` URLs: Redis Cluster, the hosts are seed nodes;
 * - `redis+sentinel://[user:pass@]host:port,host:port/mastername[?sentinelPassword=…]`
 *   (`rediss+sentinel://` for TLS to the master): Sentinel.
 */
export function parseRedisUrl(raw: string): RedisTarget {
  const url = raw.trim();
  const scheme = /^([a-z+]+):\/\//i.exec(url)?.[1]?.toLowerCase() ?? '';
  const list = !scheme.includes('+') && url.includes(',');
  if (scheme.endsWith('+cluster') || scheme.endsWith('+sentinel') || list) {
    const tls = scheme.startsWith('rediss');
    // Each comma-separated part as a URL of its own, so credentials of the first one apply.
    const parts = list ? url.split(',').map((p) => p.trim()).filter(Boolean) : [url];
    // The host list is no valid URL host: take credentials, path and query around it.
    const rest = url.replace(/^[a-z+]+:\/\//i, '');
    const at = rest.search(/@[^@]*$/);
    const userinfo = at >= 0 ? rest.slice(0, at) : '';
    const afterUser = at >= 0 ? rest.slice(at + 1) : rest;
    const hostEnd = afterUser.search(/[/?]/);
    const hostList = hostEnd >= 0 ? afterUser.slice(0, hostEnd) : afterUser;
    const tail = hostEnd >= 0 ? afterUser.slice(hostEnd) : '';
    const first = new URL(list ? parts[0]! : `redis://${userinfo ? `${userinfo}@` : ''}placeholder${tail}`);
    const hosts = list
      ? parts.map((p) => new URL(p)).map((u) => ({ host: u.hostname, port: Number(u.port || 6379) }))
      : hostList.split(',').map((hp) => {
        const i = hp.lastIndexOf(':');
        return i > 0 ? { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) } : { host: hp, port: scheme.endsWith('+sentinel') ? 26379 : 6379 };
      });
    const options: RedisOptions = {};
    if (first.username) options.username = decodeURIComponent(first.username);
    if (first.password) options.password = decodeURIComponent(first.password);
    if (tls || (list && first.protocol === 'rediss:')) options.tls = {};
    if (scheme.endsWith('+sentinel')) {
      const name = decodeURIComponent(first.pathname.replace(/^\//, ''));
      if (!name) throw new Error('REDIS_URL: redis+sentinel:// needs the master name as its path (redis+sentinel://host:26379/mymaster)');
      const sentinelPassword = first.searchParams.get('sentinelPassword');
      if (sentinelPassword) options.sentinelPassword = sentinelPassword;
      return { kind: 'sentinel', sentinels: hosts, name, options };
    }
    return { kind: 'cluster', nodes: hosts, options };
  }
  return { kind: 'single', url };
}

/**
 * A Redis client that fails fast instead of queueing while Redis is away, so
 * callers can degrade (serve cached records) rather than hang. It keeps
 * reconnecting in the background. A Cluster client is returned under the
 * same type: the commands the services use (and `duplicate`, see
 * `duplicateRedis`) exist on both.
 */
export async function connectRedis(url: string, log: Logger, role: string): Promise<Redis> {
  const target = parseRedisUrl(url);
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 1,
    connectionName: `mcpgw-${role}`,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), RECONNECT_MAX_MS),
  };
  let redis: Redis;
  if (target.kind === 'cluster') {
    redis = new Cluster(target.nodes, {
      lazyConnect: true,
      // The cluster client needs its queue while it learns the slot map; commands still time out.
      enableOfflineQueue: true,
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), RECONNECT_MAX_MS),
      redisOptions: { ...target.options, commandTimeout: 1_000, maxRetriesPerRequest: 1, connectionName: `mcpgw-${role}` },
    }) as unknown as Redis;
  } else if (target.kind === 'sentinel') {
    redis = new Redis({ ...common, ...target.options, sentinels: target.sentinels, name: target.name });
  } else {
    redis = new Redis(target.url, common);
  }
  let lastState = '';
  redis.on('error', (err: Error) => {
    if (lastState !== 'error') log.warn({ role, err: err.message }, 'redis error; degrading until it is back');
    lastState = 'error';
  });
  redis.on('ready', () => {
    if (lastState === 'error') log.info({ role }, 'redis is back');
    lastState = 'ready';
  });
  const timer = new Promise<void>((resolve) => setTimeout(resolve, CONNECT_WAIT_MS).unref());
  await Promise.race([redis.connect().catch((err: Error) => log.warn({ role, err: err.message }, 'redis not reachable at start')), timer]);
  return redis;
}

/** A second connection like `redis` (Cluster or not) with some options changed. */
export function duplicateRedis(redis: Redis, options: RedisOptions): Redis {
  if ((redis as unknown) instanceof Cluster) {
    const cluster = redis as unknown as Cluster;
    return cluster.duplicate([], { redisOptions: { ...cluster.options.redisOptions, ...options } }) as unknown as Redis;
  }
  return redis.duplicate(options);
}
