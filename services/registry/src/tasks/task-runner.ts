// Gateway-run tasks (io.modelcontextprotocol/tasks, SEP-2663): the registry
// runs a client's tools/call itself, on the same path as CallTool (routing,
// per_client owners, breakers, timeouts), and keeps what happens to it in the
// task store, so that any edge can read it and the edge that started it may go
// away. The upstream knows nothing of tasks: its server-to-client requests
// become the task's `inputRequests`, the client's `tasks/update` answers them,
// `tasks/cancel` cancels the upstream request.
//
// One call, three possible first answers, decided within a short window:
//   - it ended: the result, as a plain tools/call (no task remains);
//   - it asked for input: an MRTR round (the edge seals the task id in the
//     requestState; ResumeTask answers and takes the next step);
//   - it still runs: the task becomes visible and the client gets a
//     CreateTaskResult (SEP-2663 "server-directed creation").
// The registry running the call is the task's owner and its only writer;
// other replicas pass resumes, updates and cancels on to it by address.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import type { CallContext, CallEvent, CallResult, CallToolRequest, ForwardRequest } from '@mcpgw/proto/registry';
import { TaskStep_Kind, type TaskStep } from '@mcpgw/proto/registry';
import { ErrorCode, takeMeta } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import { TERMINAL, type InputAsk, type TaskRecord, type TaskStore } from './task-store.js';
import { TASKS_MARK } from '../upstreams/upstream.js';
import type { Peers } from '../peers.js';

/** The `_meta` key in which an upstream may name the inputRequests key of its request (as for MRTR). */
const INPUT_KEY_META = 'mcpgw/inputKey';
/** Requests an upstream sends together are gathered this long into one input step. */
const SETTLE_MS = 40;
const EMPTY = Buffer.alloc(0);

const RELATED_TASK = 'io.modelcontextprotocol/related-task';
const KIND: Record<string, string> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };

export interface TaskSettings {
  /** Lifetime of a task from its creation (MCPGW_TASK_TTL_MS). */
  defaultTtlMs: number;
  /** Upper bound on a requested lifetime. */
  maxTtlMs: number;
  /** A result larger than this (JSON bytes) fails the task instead of being stored (MCPGW_TASK_RESULT_MAX_BYTES). */
  maxResultBytes: number;
  /** What clients are told to wait between polls. */
  pollIntervalMs: number;
  /** How long an MRTR round of a task waits for its retry before the call is cancelled. */
  holdMs: number;
}

export const DEFAULT_TASK_SETTINGS: TaskSettings = {
  defaultTtlMs: 60 * 60_000, maxTtlMs: 24 * 60 * 60_000, maxResultBytes: 1024 * 1024, pollIntervalMs: 1_000, holdMs: 5 * 60_000,
};

/** The stream-shaped object the registry's CallTool handler writes to (a ServerWritableStream in gRPC). */
export type CallToolHandler = (call: never) => void;

export interface TaskRunnerDeps {
  store: TaskStore;
  instanceId: string;
  log: Logger;
  settings: TaskSettings;
  /** The registry's own CallTool handler: the task's call takes the path every call takes. */
  callTool: CallToolHandler;
  /** The registry's own Forward handler: a forwarded task's requests to its upstream (tasks/result, tasks/cancel). */
  forward: CallToolHandler;
  /** Whether the upstream runs this tool as a task of its own (capabilities.tasks and the tool's taskSupport): forward, do not run. */
  forwardable(server: string, tool: string): 'legacy' | 'modern' | undefined;
  /** Answers an upstream's server-to-client request (the registry's Respond: here, or broadcast to the replica that asked). */
  respond(id: string, responseJson: string): void;
  /** The other replicas: a task's call handed to a per_client owner presents this replica's link token. */
  peers: Peers;
  /** Where other replicas reach this one (with Redis); stored in each task for routing. */
  address(): string | undefined;
  /** Delivers a notification to a client session's streams (listen streams of a modern principal, a 2025 session's stream). */
  notify?(sessionId: string, messageJson: string): void;
}

/** A typed failure of a task operation, answered to the client as a JSON-RPC error. */
export class TaskError extends Error {
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message);
  }
}

interface Live {
  rec: TaskRecord;
  /** The upstream request running now: the tools/call, or a forwarded task's tasks/result. */
  call: TaskCall;
  /** A forwarded task's call context (its follow-up requests use the same upstream session). */
  context?: CallContext;
  /** A forwarded task: whose tasks ('legacy': 2025-11-25, 'modern': the extension). */
  kind?: 'legacy' | 'modern';
  /** Keys of a modern upstream's input requests already answered (a poll racing the update must not ask them again). */
  answered?: Set<string>;
  /** The last status announced with notifications/tasks/status. */
  notified?: string;
  waiters: Set<() => void>;
  writes: Promise<void>;
  /** Cancels the call when its TTL (or an MRTR round's hold) runs out. */
  timer?: NodeJS.Timeout;
}

/**
 * What the registry's CallTool handler needs of its gRPC stream: the request,
 * metadata, write/end, and the 'cancelled' event (a task cancel).
 */
class TaskCall extends EventEmitter {
  cancelled = false;
  constructor(readonly request: CallToolRequest | ForwardRequest, readonly metadata: Metadata, private readonly sink: { event(ev: CallEvent): void; end(): void }) {
    super();
  }
  sendMetadata(): void {}
  getDeadline(): number {
    return Infinity;
  }
  write(ev: CallEvent): boolean {
    this.sink.event(ev);
    return true;
  }
  end(): void {
    this.sink.end();
    this.emit('close');
  }
}

const now = () => new Date().toISOString();
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The Task object of the wire (SEP-2663 as the conformance suite checks it: ttlMs, pollIntervalMs, no requestState). */
export function taskJson(rec: TaskRecord, detailed: boolean): Record<string, unknown> {
  const task: Record<string, unknown> = {
    taskId: rec.id, status: rec.status, ...(rec.statusMessage ? { statusMessage: rec.statusMessage } : {}),
    createdAt: rec.createdAt, lastUpdatedAt: rec.lastUpdatedAt, ttlMs: rec.ttlMs, pollIntervalMs: rec.pollIntervalMs,
  };
  if (!detailed) return task;
  if (rec.status === 'input_required') task.inputRequests = rec.inputRequests ?? {};
  if (rec.status === 'completed') task.result = rec.result ?? { content: [] };
  if (rec.status === 'failed') task.error = rec.error ?? { code: ErrorCode.InternalError, message: 'the task failed' };
  return task;
}

/** The owner's heartbeat: refreshed this often, read as dead after three misses. */
const BEAT_MS = 5_000;

export class TaskRunner {
  private readonly live = new Map<string, Live>();
  private readonly beat: NodeJS.Timeout;

  constructor(private readonly deps: TaskRunnerDeps) {
    // Other replicas tell a task whose owner died from one still running by this heartbeat.
    const beat = () => void deps.store.beat(deps.instanceId, BEAT_MS * 3).catch(() => undefined);
    beat();
    this.beat = setInterval(beat, BEAT_MS);
    this.beat.unref();
  }

  get running(): number {
    return this.live.size;
  }

  /** Starts the call; answers with its first step within `windowMs`. */
  async start(req: CallToolRequest, windowMs: number, ttlMs: number): Promise<TaskStep> {
    const forwarded = this.deps.forwardable(req.server, req.tool);
    if (forwarded) return this.startForwarded(req, ttlMs, forwarded);
    const rec = this.newRecord(req, ttlMs);
    const id = rec.id;
    // The call is known to the registry (its Cancel, the per_client session's routing) by the task's id.
    const context = { ...req.context!, requestId: JSON.stringify(`task:${id}`), storeEvents: false };
    const metadata = this.metadata();
    let ended = false;
    const live: Live = {
      rec, waiters: new Set(), writes: Promise.resolve(),
      call: new TaskCall({ ...req, context, wantProgress: true }, metadata, {
        event: (ev) => this.onEvent(live, ev),
        end: () => {
          if (ended) return;
          ended = true;
          if (!TERMINAL.has(live.rec.status)) this.finish(live, { error: { code: ErrorCode.InternalError, message: 'mcpgw: the call ended without a result', data: { server: rec.server } } });
        },
      }),
    };
    this.live.set(id, live);
    this.arm(live, rec.ttlMs);
    this.deps.callTool(live.call as never);
    return this.step(live, windowMs);
  }

  private newRecord(req: CallToolRequest, ttlMs: number): TaskRecord {
    const { settings } = this.deps;
    const created = now();
    const rec: TaskRecord = {
      id: `t-${randomBytes(16).toString('base64url')}`, principal: req.context?.principal ?? '', server: req.server, tool: req.tool, owner: this.deps.instanceId,
      status: 'working', visible: false, createdAt: created, lastUpdatedAt: created,
      ttlMs: Math.min(ttlMs > 0 ? ttlMs : settings.defaultTtlMs, settings.maxTtlMs), pollIntervalMs: settings.pollIntervalMs,
    };
    const address = this.deps.address();
    if (address) rec.ownerAddress = address;
    if (req.context?.sessionId) rec.session = req.context.sessionId;
    rec.era = req.context?.protocolVersion === '2026-07-28' ? 'modern' : 'legacy';
    return rec;
  }

  private metadata(): Metadata {
    return this.deps.peers.metadata();
  }

  /** One request to the task's upstream through the registry's Forward path; its server requests go to `onRequest`. */
  private forwardOnce(live: { call?: TaskCall } | undefined, context: CallContext, server: string, method: string, params: Record<string, unknown>, onEvent?: (ev: CallEvent) => void): Promise<CallResult> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (r: CallResult) => { if (!done) { done = true; resolve(r); } };
      const call = new TaskCall({ context, server, method, paramsJson: Buffer.from(JSON.stringify(params)), wantProgress: false }, this.metadata(), {
        event: (ev) => {
          if (ev.event?.$case === 'result') finish(ev.event.value);
          else onEvent?.(ev);
        },
        end: () => finish({ resultJson: EMPTY, errorJson: Buffer.from(JSON.stringify({ code: ErrorCode.InternalError, message: `mcpgw: ${method} ended without a result`, data: { server } })), isError: false, sessionLost: false }),
      });
      if (live) live.call = call;
      this.deps.forward(call as never);
    });
  }

  /**
   * An upstream with tasks of its own (2025-11-25 experimental tasks): the
   * tools/call goes to it task-augmented; its task id stays in the record (the
   * client only ever sees the gateway's id, so ids of different upstreams never
   * collide); the owner follows it with tasks/result (its input requests, on a
   * per_client session, become the task's inputRequests) and cancels it with
   * tasks/cancel.
   */
  private async startForwarded(req: CallToolRequest, ttlMs: number, kind: 'legacy' | 'modern'): Promise<TaskStep> {
    const rec = this.newRecord(req, ttlMs);
    const context: CallContext = { ...req.context!, requestId: JSON.stringify(`task:${rec.id}`), storeEvents: false };
    const meta = req.metaJson.length > 0 ? JSON.parse(req.metaJson.toString('utf8')) as Record<string, unknown> : {};
    const args = req.argumentsJson.length > 0 ? JSON.parse(req.argumentsJson.toString('utf8')) as unknown : {};
    // 2025-11-25: a task-augmented call (`task` param); 2026-07-28: the extension in the request's capabilities.
    const params: Record<string, unknown> = kind === 'legacy'
      ? { name: req.tool, arguments: args, task: { ttl: rec.ttlMs }, ...(Object.keys(meta).length > 0 ? { _meta: meta } : {}) }
      : { name: req.tool, arguments: args, _meta: { ...meta, [TASKS_MARK]: true } };
    const first = await this.forwardOnce(undefined, context, req.server, 'tools/call', params);
    const created = first.errorJson.length === 0 ? JSON.parse(first.resultJson.toString('utf8')) as Record<string, unknown> : undefined;
    const task = kind === 'legacy' ? (created && isObject(created.task) ? created.task : undefined) : (created?.resultType === 'task' ? created : undefined);
    if (!task || typeof task.taskId !== 'string') {
      // The upstream answered at once (or failed): a plain result, no task.
      return { kind: TaskStep_Kind.KIND_COMPLETE, result: first, inputRequestsJson: EMPTY, taskId: '', taskJson: EMPTY };
    }
    rec.upstreamTaskId = task.taskId;
    rec.visible = true;
    const interval = kind === 'legacy' ? task.pollInterval : task.pollIntervalMs;
    if (typeof interval === 'number' && interval > 0) rec.pollIntervalMs = Math.min(5_000, Math.max(100, Math.round(interval)));
    const live: Live = { rec, waiters: new Set(), writes: Promise.resolve(), call: undefined as unknown as TaskCall, context, kind };
    this.live.set(rec.id, live);
    this.set(live, {}, false);
    this.arm(live, rec.ttlMs);
    void (kind === 'legacy' ? this.follow(live) : this.poll(live));
    return this.taskStep(live);
  }

  /** The params of a request about a forwarded task (a modern upstream must see the extension declared). */
  private upstreamParams(live: Live, params: Record<string, unknown>): Record<string, unknown> {
    return live.kind === 'modern' ? { ...params, _meta: { [TASKS_MARK]: true } } : params;
  }

  /**
   * Follows a task of a 2026-07-28 upstream (the extension has no blocking
   * tasks/result): its tasks/get at its poll interval, mirrored into the
   * record (status, inputRequests with the upstream's own keys, result or
   * error), until it ends.
   */
  private async poll(live: Live): Promise<void> {
    const { rec } = live;
    let misses = 0;
    while (!TERMINAL.has(rec.status)) {
      await new Promise((r) => setTimeout(r, rec.pollIntervalMs));
      if (TERMINAL.has(rec.status)) return;
      const r = await this.forwardOnce(live, live.context!, rec.server, 'tasks/get', this.upstreamParams(live, { taskId: rec.upstreamTaskId }));
      if (TERMINAL.has(rec.status)) return;
      if (r.errorJson.length > 0) {
        const error = JSON.parse(r.errorJson.toString('utf8')) as TaskRecord['error'];
        // The upstream forgot the task (-32602), or failed to answer too often: the task failed.
        if (error?.code === ErrorCode.InvalidParams || ++misses >= 10) {
          this.finish(live, { error: { code: ErrorCode.UpstreamUnavailable, message: `mcpgw: the upstream's task could not be read: ${error?.message ?? 'no answer'}`, data: { server: rec.server } } });
        }
        continue;
      }
      misses = 0;
      const t = JSON.parse(r.resultJson.toString('utf8')) as Record<string, unknown>;
      if (t.status === 'completed') this.finish(live, { resultJson: Buffer.from(JSON.stringify(isObject(t.result) ? t.result : {})), errorJson: EMPTY, isError: false, sessionLost: false });
      else if (t.status === 'failed') this.finish(live, { error: isObject(t.error) ? t.error as TaskRecord['error'] & object : { code: ErrorCode.InternalError, message: 'the upstream task failed' } });
      else if (t.status === 'cancelled') { this.set(live, { status: 'cancelled', inputRequests: undefined, pending: undefined }); this.settled(live); }
      else if (t.status === 'input_required' && isObject(t.inputRequests)) {
        const asks = Object.fromEntries(Object.entries(t.inputRequests as Record<string, InputAsk>).filter(([k]) => !live.answered?.has(k)));
        if (Object.keys(asks).length === 0) continue;
        const changed = JSON.stringify(asks) !== JSON.stringify(rec.inputRequests ?? {});
        if (changed || rec.status !== 'input_required') {
          this.set(live, { status: 'input_required', inputRequests: asks, pending: Object.fromEntries(Object.keys(asks).map((k) => [k, k])) });
        }
      } else if (t.status === 'working' && rec.status !== 'working') {
        this.set(live, { status: 'working', inputRequests: undefined, pending: undefined });
      }
    }
  }

  /** Follows a forwarded task with tasks/result until it ends (a tasks/result cut by a timeout is asked again). */
  private async follow(live: Live): Promise<void> {
    const { rec } = live;
    while (!TERMINAL.has(rec.status)) {
      const r = await this.forwardOnce(live, live.context!, rec.server, 'tasks/result', { taskId: rec.upstreamTaskId }, (ev) => this.onEvent(live, ev));
      if (TERMINAL.has(rec.status)) return;
      if (r.errorJson.length > 0) {
        const error = JSON.parse(r.errorJson.toString('utf8')) as { code?: number };
        if (error.code === ErrorCode.RequestTimeout) continue;
      }
      // The inlined result is the call's own: the 2025 related-task marker goes (SEP-2663 keeps the id at the root).
      if (r.resultJson.length > 0) {
        const result = JSON.parse(r.resultJson.toString('utf8')) as Record<string, unknown>;
        if (isObject(result._meta) && RELATED_TASK in result._meta) {
          const { [RELATED_TASK]: _gone, ...meta } = result._meta;
          if (Object.keys(meta).length > 0) result._meta = meta;
          else delete result._meta;
          this.finish(live, { ...r, resultJson: Buffer.from(JSON.stringify(result)) });
          return;
        }
      }
      this.finish(live, r);
    }
  }

  /** The MRTR retry of a task not yet handed out: answers, then the next step. */
  async resume(principal: string, id: string, responsesJson: Buffer, windowMs: number): Promise<TaskStep> {
    const live = this.own(principal, id);
    this.answer(live, parseResponses(responsesJson), true);
    this.arm(live, Date.parse(live.rec.createdAt) + live.rec.ttlMs - Date.now());
    return this.step(live, windowMs);
  }

  /** tasks/update: answers the outstanding requests it names (others are ignored, as SEP-2663 says). */
  async update(principal: string, id: string, responsesJson: Buffer): Promise<boolean> {
    const live = this.live.get(id);
    if (!live || live.rec.principal !== principal || !live.rec.visible) return false;
    this.answer(live, parseResponses(responsesJson), false);
    await live.writes;
    return true;
  }

  /** tasks/cancel: the task is cancelled at once, and its upstream request with it. Idempotent on terminal tasks. */
  async cancel(principal: string, id: string): Promise<boolean> {
    const live = this.live.get(id);
    if (!live || live.rec.principal !== principal) return false;
    if (!TERMINAL.has(live.rec.status)) {
      this.set(live, { status: 'cancelled', statusMessage: 'cancelled by the client', inputRequests: undefined, pending: undefined });
      live.call?.emit('cancelled');
      // A forwarded task is cancelled where it runs: the upstream's own tasks/cancel.
      if (live.rec.upstreamTaskId && live.context) {
        void this.forwardOnce(undefined, live.context, live.rec.server, 'tasks/cancel', this.upstreamParams(live, { taskId: live.rec.upstreamTaskId })).then((r) => {
          if (r.errorJson.length > 0) this.deps.log.info({ task: live.rec.id, error: r.errorJson.toString('utf8') }, 'upstream tasks/cancel failed');
        });
      }
      this.settled(live);
    }
    await live.writes;
    return true;
  }

  /** The record as this replica runs it (fresher than the store), or undefined when another replica (or none) does. */
  local(id: string): TaskRecord | undefined {
    return this.live.get(id)?.rec;
  }

  /** On shutdown: tasks still running fail (their calls die with this process), so clients stop polling. */
  async close(): Promise<void> {
    clearInterval(this.beat);
    for (const live of [...this.live.values()]) {
      if (!TERMINAL.has(live.rec.status)) this.finish(live, { error: { code: ErrorCode.UpstreamUnavailable, message: 'mcpgw: the registry running this task shut down', data: { server: live.rec.server } } });
      live.call?.emit('cancelled');
    }
    await Promise.all([...this.live.values()].map((l) => l.writes));
  }

  private own(principal: string, id: string): Live {
    const live = this.live.get(id);
    if (!live || live.rec.principal !== principal) throw new TaskError(ErrorCode.InvalidParams, 'Invalid requestState: the call it names is gone', { reason: 'expired' });
    return live;
  }

  private onEvent(live: Live, ev: CallEvent): void {
    const e = ev.event;
    if (!e || TERMINAL.has(live.rec.status)) return;
    switch (e.$case) {
      case 'progress': {
        // The task's status message follows the upstream's progress (tasks/get shows it).
        const p = e.value;
        this.set(live, { statusMessage: p.message || (p.hasTotal ? `progress ${p.progress}/${p.total}` : `progress ${p.progress}`) }, false);
        return;
      }
      case 'serverRequest': {
        const r = e.value;
        let params: Record<string, unknown> = {};
        try {
          const p: unknown = JSON.parse(r.paramsJson.toString('utf8') || '{}');
          if (isObject(p)) params = p;
        } catch { /* unreadable params are passed as none */ }
        const key = this.keyFor(live.rec, r.method, params);
        this.set(live, {
          status: 'input_required',
          inputRequests: { ...live.rec.inputRequests, [key.key]: { method: r.method, params: key.params } },
          pending: { ...live.rec.pending, [key.key]: r.id },
        });
        return;
      }
      case 'result':
        this.finish(live, e.value);
        return;
      default:
        // Log messages and list_changed of a per_client session have no place in a task.
        return;
    }
  }

  /** A key for an upstream request: the one it names, else `<kind>_<n>`; never one used before in this task. */
  private keyFor(rec: TaskRecord, method: string, params: Record<string, unknown>): { key: string; params: Record<string, unknown> } {
    const used = new Set(rec.usedKeys ?? []);
    const named = takeMeta(params, INPUT_KEY_META);
    params = named.params;
    let key = typeof named.value === 'string' ? named.value : '';
    if (!key || used.has(key)) {
      const kind = KIND[method] ?? 'input';
      let n = 1;
      while (used.has(`${kind}_${n}`)) n++;
      key = `${kind}_${n}`;
    }
    rec.usedKeys = [...used, key];
    return { key, params };
  }

  private finish(live: Live, r: CallResult | { error: { code: number; message: string; data?: unknown } }): void {
    if (TERMINAL.has(live.rec.status)) return;
    if ('error' in r) {
      this.set(live, { status: 'failed', error: r.error, inputRequests: undefined, pending: undefined });
    } else if (r.errorJson.length > 0) {
      // A JSON-RPC error of the upstream (or the gateway on its behalf): the task failed (SEP-2663 "failed").
      const error = JSON.parse(r.errorJson.toString('utf8')) as TaskRecord['error'];
      this.set(live, { status: 'failed', error, inputRequests: undefined, pending: undefined });
    } else if (r.resultJson.length > this.deps.settings.maxResultBytes) {
      const error = {
        code: ErrorCode.LimitExceeded,
        message: `mcpgw: the task's result (${r.resultJson.length} bytes) exceeds the gateway's bound of ${this.deps.settings.maxResultBytes} bytes (MCPGW_TASK_RESULT_MAX_BYTES)`,
        data: { server: live.rec.server, bytes: r.resultJson.length },
      };
      this.set(live, { status: 'failed', error, inputRequests: undefined, pending: undefined });
    } else {
      // A tool error (isError: true) is a completed task: "failed" is for JSON-RPC errors only.
      const result = JSON.parse(r.resultJson.toString('utf8')) as Record<string, unknown>;
      this.set(live, { status: 'completed', result, inputRequests: undefined, pending: undefined });
    }
    this.settled(live);
  }

  /** A terminal task runs no more: its timer goes, and the live entry once its record is written. */
  private settled(live: Live): void {
    clearTimeout(live.timer);
    void live.writes.then(() => {
      if (this.live.get(live.rec.id) === live) this.live.delete(live.rec.id);
    });
  }

  /** Applies a change, stamps it, writes the record (in order) and wakes the waiting steps. */
  private set(live: Live, patch: Partial<TaskRecord>, stamp = true): void {
    const rec = live.rec;
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete (rec as unknown as Record<string, unknown>)[k];
      else (rec as unknown as Record<string, unknown>)[k] = v;
    }
    if (stamp) rec.lastUpdatedAt = now();
    const copy = { ...rec };
    live.writes = live.writes.then(() => this.deps.store.put(copy)).catch((err: Error) => {
      this.deps.log.warn({ task: rec.id, err: err.message }, 'task store write failed');
    });
    if (rec.visible && patch.status !== undefined && patch.status !== live.notified) this.notifyStatus(live, copy);
    for (const w of [...live.waiters]) w();
  }

  /** Answers outstanding input requests by key; `strict`: a malformed answer is an error (an MRTR retry). */
  private answer(live: Live, responses: Record<string, unknown>, strict: boolean): void {
    const rec = live.rec;
    const pending = { ...rec.pending };
    const asks: Record<string, InputAsk> = { ...rec.inputRequests };
    for (const [key, value] of Object.entries(responses)) {
      const id = pending[key];
      if (id === undefined) continue;
      if (!isObject(value)) {
        if (strict) throw new TaskError(ErrorCode.InvalidParams, `Invalid params: inputResponses["${key}"] must be the ${asks[key]?.method ?? 'input'} result object`, { key });
        continue;
      }
    }
    let answered = 0;
    const upstreamAnswers: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(responses)) {
      const id = pending[key];
      if (id === undefined || !isObject(value)) continue;
      // A modern upstream's own task takes its answers with its own tasks/update; otherwise the held request is answered.
      if (live.kind === 'modern') {
        upstreamAnswers[key] = value;
        (live.answered ??= new Set()).add(key);
      }
      else this.deps.respond(id, JSON.stringify({ jsonrpc: '2.0', id, result: value }));
      delete pending[key];
      delete asks[key];
      answered++;
    }
    if (answered === 0) return;
    if (live.kind === 'modern' && live.context) {
      void this.forwardOnce(undefined, live.context, live.rec.server, 'tasks/update', this.upstreamParams(live, { taskId: live.rec.upstreamTaskId, inputResponses: upstreamAnswers })).then((r) => {
        if (r.errorJson.length > 0) this.deps.log.info({ task: live.rec.id, error: r.errorJson.toString('utf8') }, 'upstream tasks/update failed');
      });
    }
    const left = Object.keys(asks).length > 0;
    this.set(live, {
      status: left ? 'input_required' : 'working', inputRequests: left ? asks : undefined, pending: left ? pending : undefined,
    });
  }

  /** Cancels the call after `ms` (its TTL, or an MRTR round nobody resumes). */
  private arm(live: Live, ms: number): void {
    clearTimeout(live.timer);
    live.timer = setTimeout(() => {
      if (!TERMINAL.has(live.rec.status)) {
        this.deps.log.info({ task: live.rec.id }, 'task expired before it ended; cancelling its call');
        this.finish(live, { error: { code: ErrorCode.RequestTimeout, message: 'mcpgw: the task expired before its call ended', data: { server: live.rec.server } } });
        live.call?.emit('cancelled');
      }
      this.live.delete(live.rec.id);
    }, Math.max(1, ms));
    live.timer.unref();
  }

  private waitChange(live: Live, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        live.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      live.waiters.add(done);
    });
  }

  /** The step the client gets now: a result, an input round, or the task. */
  private async step(live: Live, windowMs: number): Promise<TaskStep> {
    const deadline = Date.now() + windowMs;
    let settling = false;
    for (;;) {
      const rec = live.rec;
      if (rec.visible) return this.taskStep(live);
      if (TERMINAL.has(rec.status)) {
        // Ended inside the window: a plain result, and no task remains.
        this.live.delete(rec.id);
        clearTimeout(live.timer);
        await live.writes;
        await this.deps.store.delete(rec.id).catch(() => undefined);
        const result: CallResult = rec.status === 'completed'
          ? { resultJson: Buffer.from(JSON.stringify(rec.result ?? {})), errorJson: EMPTY, isError: rec.result?.isError === true, sessionLost: false }
          : { resultJson: EMPTY, errorJson: Buffer.from(JSON.stringify(rec.error ?? {})), isError: false, sessionLost: false };
        return { kind: TaskStep_Kind.KIND_COMPLETE, result, inputRequestsJson: EMPTY, taskId: '', taskJson: EMPTY };
      }
      if (rec.status === 'input_required') {
        if (!settling) {
          // Requests sent together reach the client together.
          settling = true;
          await new Promise((r) => setTimeout(r, SETTLE_MS));
          continue;
        }
        this.arm(live, Math.min(this.deps.settings.holdMs, Date.parse(rec.createdAt) + rec.ttlMs - Date.now()));
        await live.writes;
        return { kind: TaskStep_Kind.KIND_INPUT_REQUIRED, inputRequestsJson: Buffer.from(JSON.stringify(rec.inputRequests ?? {})), taskId: rec.id, taskJson: EMPTY };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        // Still running: it becomes a task, durable before the client hears of it (SEP-2663 "durably created").
        this.set(live, { visible: true }, false);
        this.notifyStatus(live, { ...live.rec });
        return this.taskStep(live);
      }
      await this.waitChange(live, left);
    }
  }

  /**
   * notifications/tasks/status (optional in SEP-2663 and 2025-11-25; clients
   * poll anyway) to the creating session once its record is written: a modern
   * principal's listen streams get the DetailedTask, a 2025 session's stream
   * the 2025 Task. At most once per status.
   */
  private notifyStatus(live: Live, rec: TaskRecord): void {
    const notify = this.deps.notify;
    if (!notify || !rec.session) return;
    live.notified = rec.status;
    const detailed = taskJson(rec, true);
    let params: Record<string, unknown> = detailed;
    if (rec.era === 'legacy') {
      const { ttlMs, pollIntervalMs, inputRequests: _i, result: _r, error: _e, ...rest } = detailed;
      params = { ...rest, ttl: ttlMs, pollInterval: pollIntervalMs };
    }
    const text = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tasks/status', params });
    void live.writes.then(() => notify(rec.session!, text));
  }

  private async taskStep(live: Live): Promise<TaskStep> {
    this.arm(live, Date.parse(live.rec.createdAt) + live.rec.ttlMs - Date.now());
    await live.writes;
    return { kind: TaskStep_Kind.KIND_TASK, inputRequestsJson: EMPTY, taskId: live.rec.id, taskJson: Buffer.from(JSON.stringify(taskJson(live.rec, false))) };
  }
}

function parseResponses(bytes: Buffer): Record<string, unknown> {
  if (bytes.length === 0) return {};
  let v: unknown;
  try { v = JSON.parse(bytes.toString('utf8')); } catch { v = undefined; }
  if (!isObject(v)) throw new TaskError(ErrorCode.InvalidParams, 'Invalid params: inputResponses must be an object keyed by the inputRequests keys');
  return v;
}
