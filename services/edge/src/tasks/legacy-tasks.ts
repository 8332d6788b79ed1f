// MCP 2025-11-25 experimental tasks for 2025-era client sessions, on the same
// registry tasks as the 2026 extension (edge-tasks.ts): a `tools/call` with a
// `task` param becomes a task at once (`CreateTaskResult` = `{ task }`);
// `tasks/get` returns the Task (2025 names: `ttl`, `pollInterval`);
// `tasks/result` waits for the end and returns the tool's result (with the
// `related-task` marker) or its error; `tasks/cancel` returns the cancelled
// Task. A task that needs input asks it on the tasks/result stream, as
// 2025-11-25 has it: each input request becomes a server-to-client request
// (`_meta` related-task) whose answer is the task's tasks/update. `tasks/list`
// lists the principal's tasks, newest first (one page of at most 100).
import type { CallToolRequest } from '@mcpgw/proto/registry';
import { TaskStep_Kind } from '@mcpgw/proto/registry';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { JsonRpcRequest } from '../jsonrpc.js';
import { fail, ok, type Outcome } from '../pipeline/outcome.js';
import { taskSupportOf, type TaskLink, type TaskMode } from './edge-tasks.js';

const RELATED_TASK = 'io.modelcontextprotocol/related-task';
/** Ids of the input requests a 2025 session's tasks/result stream carries: `mcpgw-task:<taskId>:<key>`. */
const ASK_PREFIX = 'mcpgw-task:';
/** What a 2025 session's initialize result says the gateway does with tasks. */
export const LEGACY_TASKS_CAPABILITY = { list: {}, cancel: {}, requests: { tools: { call: {} } } };
export const LEGACY_TASK_METHODS: ReadonlySet<string> = new Set(['tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list']);
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const MAX_TASK_ID = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The 2026 Task JSON as 2025-11-25 names its fields. */
function asLegacyTask(task: Record<string, unknown>): Record<string, unknown> {
  const { ttlMs, pollIntervalMs, inputRequests: _i, result: _r, error: _e, resultType: _t, ...rest } = task;
  return { ...rest, ttl: ttlMs ?? null, ...(pollIntervalMs !== undefined ? { pollInterval: pollIntervalMs } : {}) };
}

export class LegacyTasks {
  constructor(private readonly opts: { link: TaskLink; mode: TaskMode; ttlMaxMs?: number }) {}

  /** How a task-augmented tools/call runs; undefined: as a plain call (the tool may not become a task). */
  runner(def: unknown, task: Record<string, unknown>): ((request: CallToolRequest) => Promise<Outcome>) | undefined {
    if (this.opts.mode === 'off' || (this.opts.mode === 'declared' && taskSupportOf(def) === 'forbidden')) return undefined;
    const ttlMs = typeof task.ttl === 'number' && Number.isInteger(task.ttl) && task.ttl > 0 ? task.ttl : 0;
    return async (request) => {
      let step;
      try {
        // Window 0: the client asked for a task, so it gets one (unless the registry answers a forwarded call at once).
        step = await this.opts.link.startTask({ call: { ...request, wantProgress: false }, windowMs: 0, ttlMs });
      } catch (err) {
        return fail({ code: ErrorCode.RegistryUnavailable, message: `mcpgw: could not start the task: ${(err as Error).message}` });
      }
      if (step.kind === TaskStep_Kind.KIND_TASK) return ok(JSON.stringify({ task: asLegacyTask(JSON.parse(step.taskJson.toString('utf8')) as Record<string, unknown>) }));
      if (step.kind === TaskStep_Kind.KIND_COMPLETE && step.result) {
        const r = step.result;
        if (r.errorJson.length > 0) return { kind: 'upstream_error', json: r.errorJson.toString('utf8'), sessionLost: r.sessionLost };
        return { kind: 'result', json: r.resultJson.toString('utf8'), toolError: r.isError };
      }
      return fail({ code: ErrorCode.InternalError, message: 'mcpgw: the task asked for input before it was created; 2025-era clients cannot answer that' });
    };
  }

  /**
   * A client's response to an input request asked on a tasks/result stream
   * (id `mcpgw-task:<taskId>:<key>`): the task's tasks/update. True when it was one.
   */
  answers(principal: string, msg: { id: unknown; result?: unknown; error?: unknown }): boolean {
    if (typeof msg.id !== 'string' || !msg.id.startsWith(ASK_PREFIX)) return false;
    const rest = msg.id.slice(ASK_PREFIX.length);
    const colon = rest.lastIndexOf(':');
    if (colon <= 0) return true;
    const taskId = rest.slice(0, colon);
    const key = rest.slice(colon + 1);
    // A refusal (an error response) is answered as a declined elicitation would be: the upstream hears a cancel.
    const answer = isObject(msg.result) ? msg.result : { action: 'cancel' };
    void this.opts.link.updateTask(principal, taskId, Buffer.from(JSON.stringify({ [key]: answer }))).catch(() => undefined);
    return true;
  }

  /** tasks/get, tasks/result, tasks/cancel of a 2025 session; `notify` is the tasks/result stream (input requests go there). */
  async handle(principal: string, msg: JsonRpcRequest, signal: AbortSignal | undefined, waitMs: number, notify?: (json: string) => void): Promise<Outcome> {
    if (msg.method === 'tasks/list') {
      try {
        const r = await this.opts.link.listTasks(principal);
        return ok(JSON.stringify({ tasks: r.tasksJson.map((b) => asLegacyTask(JSON.parse(b.toString('utf8')) as Record<string, unknown>)) }));
      } catch (err) {
        return fail({ code: ErrorCode.RegistryUnavailable, message: `mcpgw: tasks are unavailable: ${(err as Error).message}` });
      }
    }
    const taskId = msg.params?.taskId;
    if (typeof taskId !== 'string' || taskId === '' || taskId.length > MAX_TASK_ID) {
      return fail({ code: ErrorCode.InvalidParams, message: `Invalid params: ${msg.method} needs "taskId" (a string of at most ${MAX_TASK_ID} characters)` });
    }
    const unknown = fail({ code: ErrorCode.InvalidParams, message: `Invalid params: unknown task '${taskId}'`, data: { taskId } });
    const get = async (): Promise<Record<string, unknown> | undefined> => {
      const r = await this.opts.link.getTask(principal, taskId);
      return r.found ? JSON.parse(r.taskJson.toString('utf8')) as Record<string, unknown> : undefined;
    };
    try {
      switch (msg.method) {
        case 'tasks/get': {
          const t = await get();
          return t ? ok(JSON.stringify(asLegacyTask(t))) : unknown;
        }
        case 'tasks/cancel': {
          const t = await get();
          if (!t) return unknown;
          if (TERMINAL.has(String(t.status))) return fail({ code: ErrorCode.InvalidParams, message: `Invalid params: task '${taskId}' already ${String(t.status)}`, data: { taskId, status: t.status } });
          await this.opts.link.cancelTask(principal, taskId);
          const after = await get();
          return ok(JSON.stringify(asLegacyTask(after ?? { ...t, status: 'cancelled' })));
        }
        case 'tasks/result': {
          // Blocks until the task ends (2025-11-25), polling the registry at the task's own interval.
          const deadline = Date.now() + waitMs;
          const asked = new Set<string>();
          for (;;) {
            const t = await get();
            if (!t) return unknown;
            if (t.status === 'input_required' && isObject(t.inputRequests) && notify) {
              for (const [key, req] of Object.entries(t.inputRequests as Record<string, { method?: string; params?: Record<string, unknown> }>)) {
                if (asked.has(key) || typeof req.method !== 'string') continue;
                asked.add(key);
                const params = { ...(req.params ?? {}), _meta: { ...(req.params?._meta as object | undefined), [RELATED_TASK]: { taskId } } };
                notify(JSON.stringify({ jsonrpc: '2.0', id: `${ASK_PREFIX}${taskId}:${key}`, method: req.method, params }));
              }
            }
            if (t.status === 'completed') {
              const result = isObject(t.result) ? t.result : {};
              const meta = isObject(result._meta) ? result._meta : {};
              return { kind: 'result', json: JSON.stringify({ ...result, _meta: { ...meta, [RELATED_TASK]: { taskId } } }), toolError: result.isError === true };
            }
            if (t.status === 'failed') return { kind: 'upstream_error', json: JSON.stringify(t.error ?? { code: ErrorCode.InternalError, message: 'the task failed' }), sessionLost: false };
            if (t.status === 'cancelled') return fail({ code: ErrorCode.Cancelled, message: `Cancelled: task '${taskId}' was cancelled`, data: { taskId } });
            if (signal?.aborted) return fail({ code: ErrorCode.Cancelled, message: 'Cancelled: the client went away' });
            if (Date.now() >= deadline) return fail({ code: ErrorCode.RequestTimeout, message: `Request timed out: task '${taskId}' is still ${String(t.status)}; call tasks/result again`, data: { taskId } });
            const interval = typeof t.pollIntervalMs === 'number' ? Math.min(Math.max(t.pollIntervalMs, 100), 1_000) : 500;
            await new Promise((r) => setTimeout(r, Math.min(interval, Math.max(1, deadline - Date.now()))));
          }
        }
        default:
          return fail({ code: ErrorCode.MethodNotFound, message: `Method not found: ${msg.method}` });
      }
    } catch (err) {
      return fail({ code: ErrorCode.RegistryUnavailable, message: `mcpgw: tasks are unavailable: ${(err as Error).message}` });
    }
  }
}
