// The events of SSE response streams, kept so a client can resume with
// Last-Event-ID on any edge replica, even after the replica that served the
// stream died. With Redis: a stream per session (`<prefix>events:{<id>}`,
// trimmed, expiring), written by whichever process produced the event. Without
// Redis: memory, for one edge.
import type { Redis } from 'ioredis';
import { duplicateRedis } from './redis.js';

export interface StoredEvent {
  id: string;
  /** Which response stream (request) the event belongs to; a session's streams share one log. */
  streamId: string;
  text: string;
  /** The JSON-RPC response that ends the stream. */
  final: boolean;
}

export interface EventLog {
  /** Stores one event of `streamId` (the JSON text of the request id); returns its SSE event id. */
  append(sessionId: string, streamId: string, text: string, final: boolean): Promise<string>;
  /** Stores several events of one stream in one round trip; returns their ids in order. */
  appendMany(sessionId: string, streamId: string, events: { text: string; final: boolean }[]): Promise<string[]>;
  /** The session's events after `eventId` (all streams); waits up to `waitMs` when there are none yet. */
  readAfter(sessionId: string, eventId: string, waitMs: number): Promise<StoredEvent[]>;
  close(): Promise<void>;
}

/** The id before any event of a stream: what the priming event carries. */
export function primingEventId(streamId: string): string {
  return encodeEventId(streamId, '0-0');
}

export function encodeEventId(streamId: string, entry: string): string {
  return `${Buffer.from(streamId).toString('base64url')}_${entry}`;
}

export function decodeEventId(id: string): { streamId: string; entry: string } | undefined {
  const sep = id.lastIndexOf('_');
  if (sep <= 0 || !/^\d+-\d+$/.test(id.slice(sep + 1))) return undefined;
  return { streamId: Buffer.from(id.slice(0, sep), 'base64url').toString('utf8'), entry: id.slice(sep + 1) };
}

const MAX_EVENTS_PER_SESSION = 1000;

export class RedisEventLog implements EventLog {
  private reader?: Redis;
  /** When each session's log TTL was last refreshed: refreshed again only when half of it is gone. */
  private readonly refreshed = new Map<string, number>();

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs: number) {}

  private key(sessionId: string): string {
    return `${this.prefix}events:{${sessionId}}`;
  }

  async append(sessionId: string, streamId: string, text: string, final: boolean): Promise<string> {
    return (await this.appendMany(sessionId, streamId, [{ text, final }]))[0]!;
  }

  async appendMany(sessionId: string, streamId: string, events: { text: string; final: boolean }[]): Promise<string[]> {
    const key = this.key(sessionId);
    const pipeline = this.redis.pipeline();
    for (const e of events) pipeline.xadd(key, 'MAXLEN', '~', MAX_EVENTS_PER_SESSION, '*', 's', streamId, 'd', e.text, 'f', e.final ? '1' : '0');
    const now = Date.now();
    if (now - (this.refreshed.get(sessionId) ?? 0) > this.ttlMs / 2) {
      pipeline.pexpire(key, this.ttlMs);
      this.refreshed.delete(sessionId);
      this.refreshed.set(sessionId, now);
      if (this.refreshed.size > 10_000) this.refreshed.delete(this.refreshed.keys().next().value!);
    }
    const results = (await pipeline.exec()) ?? [];
    return events.map((_, i) => {
      const [err, entry] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return encodeEventId(streamId, String(entry));
    });
  }

  async readAfter(sessionId: string, eventId: string, waitMs: number): Promise<StoredEvent[]> {
    const at = decodeEventId(eventId);
    if (!at) return [];
    // Blocking reads get their own connection (they hold it while they wait).
    this.reader ??= duplicateRedis(this.redis, { commandTimeout: waitMs + 2_000, enableOfflineQueue: true });
    const res = await this.reader.xread('COUNT', 200, 'BLOCK', Math.max(1, waitMs), 'STREAMS', this.key(sessionId), at.entry);
    const entries = res?.[0]?.[1] ?? [];
    return entries.map(([entry, fields]) => {
      const f = fieldsOf(fields);
      return { id: encodeEventId(f.s ?? '', entry), streamId: f.s ?? '', text: f.d ?? '', final: f.f === '1' };
    });
  }

  async close(): Promise<void> {
    await this.reader?.quit().catch(() => this.reader?.disconnect());
  }
}

function fieldsOf(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]!] = list[i + 1]!;
  return out;
}

interface MemoryEntry {
  n: number;
  streamId: string;
  text: string;
  final: boolean;
}

/** One edge, no Redis: events in memory, dropped after the session TTL. */
export class MemoryEventLog implements EventLog {
  private readonly sessions = new Map<string, { entries: MemoryEntry[]; touched: number; waiters: Set<() => void> }>();
  private next = 1;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ttlMs: number) {
    this.sweeper = setInterval(() => {
      const cutoff = Date.now() - ttlMs;
      for (const [id, s] of this.sessions) if (s.touched < cutoff) this.sessions.delete(id);
    }, Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  private session(id: string) {
    let s = this.sessions.get(id);
    if (!s) this.sessions.set(id, (s = { entries: [], touched: Date.now(), waiters: new Set() }));
    s.touched = Date.now();
    return s;
  }

  async append(sessionId: string, streamId: string, text: string, final: boolean): Promise<string> {
    const s = this.session(sessionId);
    const n = this.next++;
    s.entries.push({ n, streamId, text, final });
    if (s.entries.length > MAX_EVENTS_PER_SESSION) s.entries.shift();
    for (const w of s.waiters) w();
    return encodeEventId(streamId, `${n}-0`);
  }

  async appendMany(sessionId: string, streamId: string, events: { text: string; final: boolean }[]): Promise<string[]> {
    const ids: string[] = [];
    for (const e of events) ids.push(await this.append(sessionId, streamId, e.text, e.final));
    return ids;
  }

  async readAfter(sessionId: string, eventId: string, waitMs: number): Promise<StoredEvent[]> {
    const at = decodeEventId(eventId);
    if (!at) return [];
    const after = Number(at.entry.split('-')[0]);
    const s = this.session(sessionId);
    const pick = () => s.entries.filter((e) => e.n > after)
      .map((e) => ({ id: encodeEventId(e.streamId, `${e.n}-0`), streamId: e.streamId, text: e.text, final: e.final }));
    let found = pick();
    if (found.length === 0 && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); s.waiters.delete(done); resolve(); };
        const timer = setTimeout(done, waitMs);
        s.waiters.add(done);
      });
      found = pick();
    }
    return found;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
