// Tasks (io.modelcontextprotocol/tasks, SEP-2663) at the edge. The edge keeps
// nothing: a task-eligible tools/call goes to the registry's StartTask, which
// runs the call and answers within a short window with its result, its input
// requests (an MRTR round whose sealed requestState names the task) or a task;
// tasks/get, tasks/update and tasks/cancel go to the registry by task id, so a
// task started through one edge is polled, answered, cancelled and fetched
// through any other, and outlives the edge that started it.
import type { ServiceError } from '@grpc/grpc-js';
import type { CallToolRequest, GetTaskResponse, ListTasksResponse, ResumeTaskRequest, StartTaskRequest, TaskAck, TaskStep } from '@mcpgw/proto/registry';
import { TaskStep_Kind } from '@mcpgw/proto/registry';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import { fromGrpcError } from '../errors.js';
import type { JsonRpcRequest } from '../jsonrpc.js';
import { fail, ok, type Outcome } from '../pipeline/outcome.js';
import { MODERN_CODES, type EraError } from '../era/modern.js';
import { targetOf } from '../era/mrtr.js';
import type { RequestState, StateSealer } from '../era/sealed-state.js';

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** The methods of the extension (tasks/result and tasks/list of 2025-11-25 are gone: -32601). */
export const TASK_METHODS: ReadonlySet<string> = new Set(['tasks/get', 'tasks/update', 'tasks/cancel']);

/**
 * Which tools may become tasks for a client that declared the extension:
 * `declared` (default): tools whose definition says `execution.taskSupport`
 * optional or required; `all`: every tool (any slow tool becomes durable; the
 * upstream's own `forbidden` is about its task protocol, which a gateway-run
 * task never uses); `off`: none.
 */
export type TaskMode = 'declared' | 'all' | 'off';

/** The registry's task RPCs (RegistryLink has them). */
export interface TaskLink {
  startTask(req: StartTaskRequest): Promise<TaskStep>;
  resumeTask(req: ResumeTaskRequest): Promise<TaskStep>;
  getTask(principal: string, taskId: string): Promise<GetTaskResponse>;
  updateTask(principal: string, taskId: string, inputResponsesJson: Buffer): Promise<TaskAck>;
  cancelTask(principal: string, taskId: string): Promise<TaskAck>;
  listTasks(principal: string): Promise<ListTasksResponse>;
}

export interface EdgeTasksOptions {
  link: TaskLink;
  sealer: StateSealer;
  log: Logger;
  mode: TaskMode;
  /** How long a call may take before it becomes a task (MCPGW_TASK_WINDOW_MS). */
  windowMs: number;
  /** Lifetime of the requestState of a task's MRTR round. */
  holdMs: number;
}

const CAPABILITY: Record<string, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots',
};
const MAX_TASK_ID = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a request's `_meta` client capabilities declare the tasks extension. */
export function declaresTasks(capabilities: Record<string, unknown>): boolean {
  return isObject(capabilities.extensions) && isObject(capabilities.extensions[TASKS_EXTENSION]);
}

/** A tool definition's `execution.taskSupport` (absent: forbidden, as in 2025-11-25). */
export function taskSupportOf(def: unknown): 'forbidden' | 'optional' | 'required' {
  const s = isObject(def) && isObject(def.execution) ? def.execution.taskSupport : undefined;
  return s === 'optional' || s === 'required' ? s : 'forbidden';
}

export function missingTasksExtension(what: string): EraError {
  return {
    httpStatus: 400,
    code: MODERN_CODES.missingRequiredClientCapability,
    message: `Missing required client capability 'extensions["${TASKS_EXTENSION}"]': ${what} needs it, and params._meta["io.modelcontextprotocol/clientCapabilities"] does not declare it`,
    data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } } },
  };
}

/** What the modern adapter knows of the request the task belongs to. */
export interface TaskRequestInfo {
  principal: string;
  msg: JsonRpcRequest;
  capabilities: Record<string, unknown>;
}

export class EdgeTasks {
  constructor(private readonly opts: EdgeTasksOptions) {}

  /** A tools/call of a tool that requires a task, from a client that cannot take one: -32021 (SEP-2663 "Required Capabilities"). */
  gate(def: unknown, capabilities: Record<string, unknown>): EraError | undefined {
    if (taskSupportOf(def) === 'required' && !declaresTasks(capabilities)) return missingTasksExtension('this tool runs only as a task');
    return undefined;
  }

  /** How this tools/call runs when it may become a task; undefined: as a plain call. */
  runner(info: TaskRequestInfo, def: unknown): ((request: CallToolRequest) => Promise<Outcome>) | undefined {
    const { mode } = this.opts;
    if (mode === 'off' || !declaresTasks(info.capabilities)) return undefined;
    // `all` ignores the upstream's `forbidden` (which SDK servers put on every plain tool): the upstream never
    // sees a task-augmented request, only a plain call that the registry holds for the client.
    if (mode === 'declared' && taskSupportOf(def) === 'forbidden') return undefined;
    return async (request) => {
      // The registry keeps the call past this request: it is not this request's progress stream any more.
      const call: CallToolRequest = { ...request, wantProgress: false };
      return this.outcome(info, await this.rpc(() => this.opts.link.startTask({ call, windowMs: this.opts.windowMs, ttlMs: 0 }), request.server));
    };
  }

  /** The retry of a task's MRTR round: answers, then the next step. */
  async resume(info: TaskRequestInfo, state: RequestState): Promise<Outcome> {
    const responses = info.msg.params?.inputResponses;
    if (responses !== undefined && !isObject(responses)) {
      return fail({ code: ErrorCode.InvalidParams, message: 'Invalid params: inputResponses must be an object keyed by the inputRequests keys' });
    }
    const taskId = state.task!;
    const step = await this.rpc(() => this.opts.link.resumeTask({
      principal: info.principal, taskId, inputResponsesJson: Buffer.from(JSON.stringify(responses ?? {})), windowMs: this.opts.windowMs,
    }), '');
    return this.outcome(info, step);
  }

  /** tasks/get, tasks/update, tasks/cancel. */
  async handle(principal: string, msg: JsonRpcRequest): Promise<Outcome> {
    const taskId = msg.params?.taskId;
    if (typeof taskId !== 'string' || taskId === '' || taskId.length > MAX_TASK_ID) {
      return fail({ code: ErrorCode.InvalidParams, message: `Invalid params: ${msg.method} needs "taskId" (a string of at most ${MAX_TASK_ID} characters)` });
    }
    // Unknown, expired and another principal's tasks are answered alike (no existence leak).
    const unknown = fail({ code: ErrorCode.InvalidParams, message: `Invalid params: unknown task '${taskId}'`, data: { taskId } });
    switch (msg.method) {
      case 'tasks/get': {
        const r = await this.rpc(() => this.opts.link.getTask(principal, taskId), '');
        if ('error' in r) return r.error;
        if (!r.found) return unknown;
        return ok(`{"resultType":"complete",${r.taskJson.toString('utf8').slice(1)}`);
      }
      case 'tasks/update': {
        const responses = msg.params?.inputResponses;
        if (!isObject(responses)) return fail({ code: ErrorCode.InvalidParams, message: 'Invalid params: tasks/update needs "inputResponses" (an object keyed by the inputRequests keys)' });
        const r = await this.rpc(() => this.opts.link.updateTask(principal, taskId, Buffer.from(JSON.stringify(responses))), '');
        if ('error' in r) return r.error;
        // Acknowledged whether or not the task exists (SEP-2663): the outcome shows on tasks/get.
        return ok('{"resultType":"complete"}');
      }
      case 'tasks/cancel': {
        const r = await this.rpc(() => this.opts.link.cancelTask(principal, taskId), '');
        if ('error' in r) return r.error;
        return r.found ? ok('{"resultType":"complete"}') : unknown;
      }
      default:
        return fail({ code: ErrorCode.MethodNotFound, message: `Method not found: ${msg.method}` });
    }
  }

  private async rpc<T>(call: () => Promise<T>, server: string): Promise<T | { error: Outcome }> {
    try {
      return await call();
    } catch (err) {
      return { error: fail(taskRpcError(err, server)) };
    }
  }

  private outcome(info: TaskRequestInfo, step: TaskStep | { error: Outcome }): Outcome {
    if ('error' in step) return step.error;
    switch (step.kind) {
      case TaskStep_Kind.KIND_COMPLETE: {
        const r = step.result;
        if (!r) return fail({ code: ErrorCode.InternalError, message: 'mcpgw: the registry answered a task step without its result' });
        if (r.errorJson.length > 0) return { kind: 'upstream_error', json: r.errorJson.toString('utf8'), sessionLost: r.sessionLost };
        return { kind: 'result', json: r.resultJson.toString('utf8'), toolError: r.isError };
      }
      case TaskStep_Kind.KIND_TASK:
        // CreateTaskResult: the Task's fields at the top level, resultType "task" (SEP-2663 "Polymorphic Results").
        return ok(`{"resultType":"task",${step.taskJson.toString('utf8').slice(1)}`);
      case TaskStep_Kind.KIND_INPUT_REQUIRED: {
        const asks = JSON.parse(step.inputRequestsJson.toString('utf8')) as Record<string, { method: string; params: Record<string, unknown> }>;
        for (const ask of Object.values(asks)) {
          const cap = CAPABILITY[ask.method];
          if (cap && !isObject(info.capabilities[cap])) {
            void this.opts.link.cancelTask(info.principal, step.taskId).catch(() => undefined);
            return fail({
              code: MODERN_CODES.missingRequiredClientCapability,
              message: `Missing required client capability '${cap}': the upstream's ${ask.method} during this ${info.msg.method} needs it, and params._meta["io.modelcontextprotocol/clientCapabilities"] does not declare it`,
              data: { requiredCapabilities: { [cap]: {} } },
            });
          }
        }
        const requestState = this.opts.sealer.seal({
          principal: info.principal, requestId: info.msg.id, method: info.msg.method, target: targetOf(info.msg), registry: '',
          pending: Object.fromEntries(Object.keys(asks).map((k) => [k, k])), asks, task: step.taskId,
        }, this.opts.holdMs);
        return ok(JSON.stringify({ resultType: 'input_required', inputRequests: asks, requestState }));
      }
      default:
        return fail({ code: ErrorCode.InternalError, message: 'mcpgw: the registry answered a task step of an unknown kind' });
    }
  }
}

/** A registry's TaskError travels as INVALID_ARGUMENT with the JSON-RPC error in its details; anything else is a link failure. */
function taskRpcError(err: unknown, server: string): JsonRpcError {
  const e = err as Partial<ServiceError>;
  if (e.code === 3 /* INVALID_ARGUMENT */ && typeof e.details === 'string') {
    try {
      const parsed = JSON.parse(e.details) as JsonRpcError;
      if (typeof parsed.code === 'number' && typeof parsed.message === 'string') return parsed;
    } catch { /* not a TaskError */ }
  }
  return fromGrpcError(err, server);
}
