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
export async function startRedis(fixedPort?: number): Promise<RedisHandle> {
  if (!hasRedisServer()) {
    if (process.env.REDIS_URL) return { url: process.env.REDIS_URL };
    throw new Error('redis-server is not on PATH and REDIS_URL is unset: install it (apt-get install redis-server) or point REDIS_URL at a Redis');
  }
  const port = fixedPort ?? await freePort();
  const proc = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitForLine(proc, /Ready to accept connections/, 'redis-server start');
  return { url: `redis://127.0.0.1:${port}`, proc };
}

/**
 * A real local Redis Cluster of `masters` nodes (no replicas, no persistence),
 * created with `redis-cli --cluster create`; resolves once every slot is served.
 */
export async function startRedisCluster(masters = 3): Promise<{ url: string; ports: number[]; procs: Proc[] }> {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const ports: number[] = [];
  const procs: Proc[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'mcpgw-cluster-'));
    const proc = startProcess('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--dir', dir]);
    await waitForLine(proc, /Ready to accept connections/, `redis cluster node ${port}`);
    ports.push(port);
    procs.push(proc);
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const info = execFileSync('redis-cli', ['-p', String(ports[0]), 'cluster', 'info']).toString();
    if (info.includes('cluster_state:ok')) break;
    if (Date.now() > deadline) throw new Error(`redis cluster not ok: ${info}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, procs };
}

/** A Sentinel (redis-server --sentinel) watching the master on `masterPort` under `name`. */
export async function startRedisSentinel(masterPort: number, name: string): Promise<{ port: number; proc: Proc }> {
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${name} 127.0.0.1 ${masterPort} 1\n`);
  const proc = startProcess('redis-server', [conf, '--sentinel']);
  await waitForLine(proc, /monitor master|Sentinel ID|Running mode=sentinel/, 'redis sentinel');
  return { port, proc };
}
