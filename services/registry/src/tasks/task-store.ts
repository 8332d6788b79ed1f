// Where task records live: Redis when configured (every registry replica and,
// through them, every edge sees the same task), memory otherwise (one
// registry; any number of edges). A record expires at createdAt + ttlMs: the
// spec lets a server forget a task after its TTL and forbids doing so earlier.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A principal's task index lives at most this long after its last task was written (the longest task TTL). */
const MAX_INDEX_LIFE_MS = 24 * 60 * 60_000;

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface InputAsk {
  method: string;
  params: Record<string, unknown>;
}

/** One task as stored. Written by the registry that runs the call (its owner) only. */
export interface TaskRecord {
  id: string;
  /** The principal that created it: every read, update and cancel must come from it. */
  principal: string;
  server: string;
  tool: string;
  /** Instance id of the registry running the call (updates and cancels go there). */
  owner: string;
  /** Where other replicas reach the owner (with Redis); absent with one registry. */
  ownerAddress?: string;
  status: TaskStatus;
  statusMessage?: string;
  /** False until a CreateTaskResult was handed out: before that the client knows it only as an MRTR round. */
  visible: boolean;
  createdAt: string;
  lastUpdatedAt: string;
  ttlMs: number;
  pollIntervalMs: number;
  /** The client session (or a modern principal's session id) that created it, and its era: status notifications go there. */
  session?: string;
  era?: 'modern' | 'legacy';
  /** A forwarded task: the upstream's own task id (never shown to clients). */
  upstreamTaskId?: string;
  /** Outstanding input requests by key, and the upstream's server-to-client request id of each. */
  inputRequests?: Record<string, InputAsk>;
  pending?: Record<string, string>;
  /** Keys handed out over the task's life: never reused (SEP-2663 "Task Input Requests"). */
  usedKeys?: string[];
  /** completed: the tools/call result; failed: the JSON-RPC error. */
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export interface TaskStore {
  get(id: string): Promise<TaskRecord | undefined>;
  /** Writes the whole record; it expires at createdAt + ttlMs. */
  put(rec: TaskRecord): Promise<void>;
  delete(id: string): Promise<void>;
  /** A principal's visible tasks, newest first, at most `limit`. */
  list(principal: string, limit: number): Promise<TaskRecord[]>;
  /** The owner `instance` is alive for `ttlMs` more (a heartbeat); `alive` asks. Memory: one registry, always alive. */
  beat(instance: string, ttlMs: number): Promise<void>;
  alive(instance: string): Promise<boolean>;
  close(): void;
}

const expiresAt = (rec: TaskRecord) => Date.parse(rec.createdAt) + rec.ttlMs;

export class MemoryTaskStore implements TaskStore {
  private readonly records = new Map<string, { json: string; exp: number }>();
  private readonly sweep: NodeJS.Timeout;

  constructor(sweepMs = 30_000) {
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const [id, r] of this.records) if (r.exp <= now) this.records.delete(id);
    }, sweepMs);
    this.sweep.unref();
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const r = this.records.get(id);
    if (!r) return undefined;
    if (r.exp <= Date.now()) {
      this.records.delete(id);
      return undefined;
    }
    // A copy: callers change what they get.
    return JSON.parse(r.json) as TaskRecord;
  }

  async put(rec: TaskRecord): Promise<void> {
    this.records.set(rec.id, { json: JSON.stringify(rec), exp: expiresAt(rec) });
  }

  async delete(id: string): Promise<void> {
    this.records.delete(id);
  }

  async list(principal: string, limit: number): Promise<TaskRecord[]> {
    const now = Date.now();
    return [...this.records.values()].filter((r) => r.exp > now).map((r) => JSON.parse(r.json) as TaskRecord)
      .filter((r) => r.principal === principal && r.visible)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
  }

  async beat(): Promise<void> {}

  async alive(): Promise<boolean> {
    return true;
  }

  close(): void {
    clearInterval(this.sweep);
  }
}

export class RedisTaskStore implements TaskStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  // Hash-tagged by task id, so Redis Cluster keeps each record on one slot.
  private key(id: string): string {
    return `${this.prefix}task:{${id}}`;
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const json = await this.redis.get(this.key(id));
    return json ? (JSON.parse(json) as TaskRecord) : undefined;
  }

  async put(rec: TaskRecord): Promise<void> {
    await this.redis.set(this.key(rec.id), JSON.stringify(rec), 'PXAT', expiresAt(rec));
    // The principal's index (tasks/list): scored by creation, trimmed of expired entries when read.
    if (rec.visible) {
      const index = this.indexKey(rec.principal);
      await this.redis.zadd(index, Date.parse(rec.createdAt), rec.id);
      await this.redis.pexpireat(index, Date.now() + MAX_INDEX_LIFE_MS);
    }
  }

  private indexKey(principal: string): string {
    return `${this.prefix}tasks-of:{${createHash('sha256').update(principal).digest('base64url').slice(0, 22)}}`;
  }

  async list(principal: string, limit: number): Promise<TaskRecord[]> {
    const index = this.indexKey(principal);
    const ids = await this.redis.zrevrange(index, 0, limit * 2);
    if (ids.length === 0) return [];
    const values = await Promise.all(ids.map((id) => this.redis.get(this.key(id))));
    const gone = ids.filter((_, i) => values[i] === null);
    if (gone.length > 0) await this.redis.zrem(index, ...gone);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as TaskRecord)
      .filter((r) => r.principal === principal).slice(0, limit);
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  async beat(instance: string, ttlMs: number): Promise<void> {
    await this.redis.set(`${this.prefix}task-owner:{${instance}}`, '1', 'PX', ttlMs);
  }

  async alive(instance: string): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}task-owner:{${instance}}`)) === 1;
  }

  close(): void {}
}
