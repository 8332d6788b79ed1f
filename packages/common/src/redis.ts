import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export const DEFAULT_PREFIX = 'mcpgw:';
const CONNECT_WAIT_MS = 3_000;

/**
 * A Redis client that fails fast instead of queueing while Redis is away, so
 * callers can degrade (serve cached records) rather than hang. It keeps
 * reconnecting in the background.
 */
export async function connectRedis(url: string, log: Logger, role: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 1,
    connectionName: `mcpgw-${role}`,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  });
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
