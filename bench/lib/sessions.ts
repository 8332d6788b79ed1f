// Session cost: a fresh edge (with --expose-gc and the mem-probe preload)
// holds N idle sessions; its memory after a forced GC and Redis's memory are
// read at each count.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import { RawHttp, RawSession } from './clients.js';
import { rssBytes, stopProcess, waitForLine, type Proc } from './procs.js';
import type { MemPoint, SessionCost } from './results.js';
import { median } from './stats.js';

const KEY_PREFIX = 'mcpgw:session:';

/** How many probes each edge has answered (the probe numbers its answers). */
const probes = new WeakMap<Proc, number>();

/** Asks the edge (mem-probe preload) for its memory after a GC. */
async function edgeMemory(proc: Proc): Promise<{ rss: number; heapUsed: number; external: number }> {
  const n = (probes.get(proc) ?? 0) + 1;
  probes.set(proc, n);
  process.kill(proc.pid, 'SIGUSR2');
  const m = await waitForLine(proc, new RegExp(`^bench-mem ${n} (.*)$`), `memory probe ${n}`, 15_000);
  const u = JSON.parse(m[1]!) as { rss: number; heapUsed: number; external: number };
  return { rss: rssBytes(proc.pid) || u.rss, heapUsed: u.heapUsed, external: u.external };
}

async function redisMemory(redis: Redis): Promise<{ used: number; keys: number }> {
  const info = await redis.info('memory');
  const used = Number(info.match(/used_memory:(\d+)/)?.[1] ?? NaN);
  const keys = await redis.dbsize();
  return { used, keys };
}

async function point(proc: Proc, redis: Redis, sessions: number): Promise<MemPoint> {
  // Let sockets settle and timers fire before reading.
  await new Promise((r) => setTimeout(r, 200));
  const [e, rd] = await Promise.all([edgeMemory(proc), redisMemory(redis)]);
  return { sessions, rssBytes: e.rss, heapUsedBytes: e.heapUsed, externalBytes: e.external, redisUsedMemoryBytes: rd.used, redisKeys: rd.keys };
}

/** Runs `fn(i)` for i in [from, to) with at most `parallel` at once. */
async function pool(from: number, to: number, parallel: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(0, to - from)) }, worker));
}

async function keyStats(redis: Redis, ids: string[]): Promise<{ keyBytes: number; recordBytes: number }> {
  const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 50)) === 0).slice(0, 50);
  const usage: number[] = [];
  const record: number[] = [];
  for (const id of sample) {
    const key = `${KEY_PREFIX}{${id}}`;
    const [u, len] = await Promise.all([redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') as Promise<number | null>, redis.strlen(key).catch(() => 0)]);
    if (typeof u === 'number') usage.push(u);
    record.push(len);
  }
  return { keyBytes: median(usage), recordBytes: median(record) };
}

function perSession(baseline: MemPoint, last: MemPoint, keys: { keyBytes: number; recordBytes: number }): SessionCost['perSession'] {
  const n = last.sessions - baseline.sessions;
  return {
    edgeRssBytes: Math.round((last.rssBytes - baseline.rssBytes) / n),
    edgeHeapBytes: Math.round((last.heapUsedBytes + last.externalBytes - baseline.heapUsedBytes - baseline.externalBytes) / n),
    redisKeyBytes: keys.keyBytes,
    redisUsedBytes: Math.round((last.redisUsedMemoryBytes - baseline.redisUsedMemoryBytes) / n),
    recordBytes: keys.recordBytes,
  };
}

export interface SessionPhaseOptions {
  edge: { proc: Proc; url: string };
  redis: Redis;
  counts: number[];
  warm: number;
  onProgress?: (opened: number) => void;
}

/** Idle Streamable HTTP sessions: initialize + notifications/initialized each, nothing held open. */
export async function httpSessionCost(o: SessionPhaseOptions): Promise<SessionCost> {
  const http = new RawHttp(64);
  const url = `${o.edge.url}/mcp`;
  const ids: string[] = [];
  const open = async () => {
    const s = await RawSession.open(http, url);
    ids.push(s.sessionId);
  };
  await pool(0, o.warm, 32, open);
  const baseline = await point(o.edge.proc, o.redis, 0);
  const measured: string[] = [];
  const points: MemPoint[] = [];
  let opened = 0;
  for (const count of o.counts) {
    await pool(opened, count, 32, async () => {
      const s = await RawSession.open(http, url);
      measured.push(s.sessionId);
      if (measured.length % 500 === 0) o.onProgress?.(measured.length);
    });
    opened = count;
    points.push(await point(o.edge.proc, o.redis, count));
  }
  const keys = await keyStats(o.redis, measured);
  http.close();
  // Clean up the records so later phases measure from a quiet Redis.
  await deleteKeys(o.redis, [...ids, ...measured]);
  return { transport: 'streamable-http', baseline, points, perSession: perSession(baseline, points.at(-1)!, keys) };
}

interface SseConn { req: ClientRequest; res?: IncomingMessage; sessionId?: string }

function openSse(url: URL): Promise<SseConn> {
  return new Promise((resolve, reject) => {
    const conn: SseConn = { req: undefined as never };
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      conn.res = res;
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`GET ${url.pathname}: HTTP ${res.statusCode}`));
        return;
      }
      let buf = '';
      const onData = (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        const m = buf.match(/event: endpoint\ndata: [^\n]*sessionId=([^\s&]+)/);
        if (m) {
          conn.sessionId = m[1];
          res.off('data', onData);
          // Keep reading (keep-alive comments) without holding the text.
          res.on('data', () => {});
          resolve(conn);
        }
      };
      res.on('data', onData);
      res.on('error', () => {});
    });
    conn.req = req;
    req.setTimeout(30_000, () => req.destroy(new Error('SSE open timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Legacy SSE connections (GET /sse), each an open stream with its session. */
export async function sseSessionCost(o: SessionPhaseOptions): Promise<SessionCost> {
  const url = new URL('/sse', o.edge.url);
  const conns: SseConn[] = [];
  await pool(0, o.warm, 32, async () => { conns.push(await openSse(url)); });
  const baseline = await point(o.edge.proc, o.redis, 0);
  const measured: string[] = [];
  const points: MemPoint[] = [];
  let opened = 0;
  try {
    for (const count of o.counts) {
      await pool(opened, count, 64, async () => {
        const c = await openSse(url);
        conns.push(c);
        measured.push(c.sessionId!);
        if (measured.length % 500 === 0) o.onProgress?.(measured.length);
      });
      opened = count;
      points.push(await point(o.edge.proc, o.redis, count));
    }
    const keys = await keyStats(o.redis, measured);
    return { transport: 'legacy-sse', baseline, points, perSession: perSession(baseline, points.at(-1)!, keys) };
  } finally {
    for (const c of conns) c.req.destroy();
  }
}

async function deleteKeys(redis: Redis, ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500).map((id) => `${KEY_PREFIX}{${id}}`);
    if (batch.length) await redis.unlink(...batch);
  }
}

export async function stopEdge(proc: Proc): Promise<void> {
  await stopProcess(proc, 3_000);
}
