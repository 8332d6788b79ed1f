// The registry's gRPC handlers for tasks: StartTask, ResumeTask, GetTask,
// UpdateTask, CancelTask. Spread into the service object by server.ts. Reads
// come from the task store (any replica answers); a resume, update or cancel
// of a task another replica runs is passed on to that replica by address.
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceError } from '@grpc/grpc-js';
import {
  type CancelTaskRequest, type GetTaskRequest, type GetTaskResponse, type ListTasksRequest, type ListTasksResponse, type RegistryServer, type ResumeTaskRequest,
  type StartTaskRequest, type TaskAck, type TaskStep, type UpdateTaskRequest,
} from '@mcpgw/proto/registry';
import type { Logger } from '@mcpgw/common/logger';
import { TaskError, taskJson, type TaskRunner } from './task-runner.js';
import { TERMINAL, type TaskStore } from './task-store.js';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Peers } from '../peers.js';

export type TaskHandlers = Pick<RegistryServer, 'startTask' | 'resumeTask' | 'getTask' | 'updateTask' | 'cancelTask' | 'listTasks'>;
/** tasks/list pages: the newest this many. */
const LIST_MAX = 100;

export interface TaskHandlerDeps {
  runner: TaskRunner;
  store: TaskStore;
  log: Logger;
  /** The other replicas: operations on a task another replica runs go to it. */
  peers: Peers;
}

/** A TaskError travels as INVALID_ARGUMENT with its JSON-RPC error in the details, for the edge to answer with. */
function toStatus(err: unknown): Partial<ServiceError> {
  if (err instanceof TaskError) {
    return { code: status.INVALID_ARGUMENT, details: JSON.stringify({ code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) }) };
  }
  return { code: status.INTERNAL, details: `task operation failed: ${(err as Error).message}` };
}

export function taskHandlers(deps: TaskHandlerDeps): TaskHandlers {
  const { runner, store, peers } = deps;
  const peer = (address: string) => peers.client(address);
  /** A mark, so a forwarded operation is never forwarded again. */
  const forwarded = (md: Metadata) => peers.metadata(md, { 'x-mcpgw-forwarded': '1' });
  const answer = <T>(cb: sendUnaryData<T>, p: Promise<T>) => p.then((v) => cb(null, v), (err: unknown) => cb(toStatus(err)));

  /** Where a task that this replica does not run is run: its owner's address, when another live replica holds it. */
  const ownerOf = async (id: string): Promise<string | undefined> => {
    if (runner.local(id)) return undefined;
    const rec = await store.get(id);
    return rec?.ownerAddress;
  };

  return {
    startTask(call: ServerUnaryCall<StartTaskRequest, TaskStep>, cb: sendUnaryData<TaskStep>) {
      const { call: req, windowMs, ttlMs } = call.request;
      if (!req?.context) return cb({ code: status.INVALID_ARGUMENT, details: 'StartTask needs the call and its context' });
      void answer(cb, runner.start(req, windowMs, ttlMs));
    },

    resumeTask(call: ServerUnaryCall<ResumeTaskRequest, TaskStep>, cb: sendUnaryData<TaskStep>) {
      const r = call.request;
      void answer(cb, ownerOf(r.taskId).then((address) => address && !call.metadata.get('x-mcpgw-forwarded').length
        ? new Promise<TaskStep>((resolve, reject) => peer(address).resumeTask(r, forwarded(call.metadata), { deadline: Date.now() + r.windowMs + 10_000 }, (err, res) => (err ? reject(fromPeer(err)) : resolve(res))))
        : runner.resume(r.principal, r.taskId, r.inputResponsesJson, r.windowMs)));
    },

    getTask(call: ServerUnaryCall<GetTaskRequest, GetTaskResponse>, cb: sendUnaryData<GetTaskResponse>) {
      const { principal, taskId } = call.request;
      void answer(cb, (async () => {
        const local = runner.local(taskId);
        const rec = local ?? await store.get(taskId);
        // Another principal's task is answered exactly like an unknown one.
        if (!rec || rec.principal !== principal || !rec.visible) return { found: false, taskJson: Buffer.alloc(0) };
        if (!local && !TERMINAL.has(rec.status) && !(await store.alive(rec.owner).catch(() => true))) {
          // Its registry died (no heartbeat): the call died with it. Said once, and kept.
          Object.assign(rec, {
            status: 'failed', lastUpdatedAt: new Date().toISOString(), inputRequests: undefined, pending: undefined,
            error: { code: ErrorCode.UpstreamUnavailable, message: 'mcpgw: the registry running this task is gone; its call was lost', data: { server: rec.server } },
          });
          await store.put(rec).catch(() => undefined);
        }
        return { found: true, taskJson: Buffer.from(JSON.stringify(taskJson(rec, true))) };
      })());
    },

    updateTask(call: ServerUnaryCall<UpdateTaskRequest, TaskAck>, cb: sendUnaryData<TaskAck>) {
      const r = call.request;
      void answer(cb, ownerOf(r.taskId).then((address) => address && !call.metadata.get('x-mcpgw-forwarded').length
        ? new Promise<TaskAck>((resolve, reject) => peer(address).updateTask(r, forwarded(call.metadata), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(fromPeer(err)) : resolve(res))))
        : runner.update(r.principal, r.taskId, r.inputResponsesJson).then((found) => ({ found }))));
    },

    listTasks(call: ServerUnaryCall<ListTasksRequest, ListTasksResponse>, cb: sendUnaryData<ListTasksResponse>) {
      const { principal, limit } = call.request;
      const n = Math.min(limit || LIST_MAX, LIST_MAX);
      void answer(cb, store.list(principal, n).then((recs) => ({
        // A task this replica runs is fresher here than in the store.
        tasksJson: recs.map((r) => Buffer.from(JSON.stringify(taskJson(runner.local(r.id) ?? r, false)))),
      })));
    },

    cancelTask(call: ServerUnaryCall<CancelTaskRequest, TaskAck>, cb: sendUnaryData<TaskAck>) {
      const r = call.request;
      void answer(cb, ownerOf(r.taskId).then(async (address) => {
        if (address && !call.metadata.get('x-mcpgw-forwarded').length) {
          return new Promise<TaskAck>((resolve, reject) => peer(address).cancelTask(r, forwarded(call.metadata), { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(fromPeer(err)) : resolve(res))));
        }
        if (await runner.cancel(r.principal, r.taskId)) return { found: true };
        // Not running here: a terminal task of this principal is acknowledged as it is (cancel is idempotent).
        const rec = await store.get(r.taskId);
        return { found: rec !== undefined && rec.principal === r.principal && rec.visible };
      }));
    },
  };
}

/** The owner's answer, passed on: its TaskError details travel unchanged. */
function fromPeer(err: ServiceError): unknown {
  if (err.code === status.INVALID_ARGUMENT) {
    try {
      const e = JSON.parse(err.details) as { code: number; message: string; data?: unknown };
      return new TaskError(e.code, e.message, e.data);
    } catch { /* not ours */ }
  }
  return new Error(err.details);
}
