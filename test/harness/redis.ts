import { execFileSync } from 'node:child_process';
import { freePort, startProcess, waitForLine, type Proc } from './processes.js';

export interface RedisHandle {
  url: string;
  proc?: Proc;
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * A private redis-server on a free port (no persistence), or REDIS_URL when
 * the environment provides one (tests then use their own key prefix).
 */
export async function startRedis(): Promise<RedisHandle> {
  if (!hasRedisServer()) {
    if (process.env.REDIS_URL) return { url: process.env.REDIS_URL };
    throw new Error('redis-server is not on PATH and REDIS_URL is unset: install it (apt-get install redis-server) or point REDIS_URL at a Redis');
  }
  const port = await freePort();
  const proc = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForLine(proc, /Ready to accept connections/, 'redis-server start');
  return { url: `redis://127.0.0.1:${port}`, proc };
}
