// Tasks in the registry: the runner and its gRPC handlers, built from the
// registry's own CallTool and Respond so a task's call takes the path of any call.
import type { Peers } from '../peers.js';
import type { Logger } from '@mcpgw/common/logger';
import { taskHandlers, type TaskHandlers } from './handlers.js';
import { DEFAULT_TASK_SETTINGS, TaskRunner, type CallToolHandler, type TaskSettings } from './task-runner.js';
import { MemoryTaskStore, type TaskStore } from './task-store.js';

export interface RegistryTasksDeps {
  store?: TaskStore;
  settings?: Partial<TaskSettings>;
  instanceId: string;
  log: Logger;
  peers: Peers;
  address?: () => string | undefined;
  callTool: CallToolHandler;
  forward: CallToolHandler;
  forwardable(server: string, tool: string): 'legacy' | 'modern' | undefined;
  respond(id: string, responseJson: string): void;
  notify?(sessionId: string, messageJson: string): void;
}

export interface RegistryTasks {
  runner: TaskRunner;
  store: TaskStore;
  handlers: TaskHandlers;
}

export function createRegistryTasks(deps: RegistryTasksDeps): RegistryTasks {
  const store = deps.store ?? new MemoryTaskStore();
  const runner = new TaskRunner({
    store, instanceId: deps.instanceId, log: deps.log, settings: { ...DEFAULT_TASK_SETTINGS, ...Object.fromEntries(Object.entries(deps.settings ?? {}).filter(([, v]) => v !== undefined)) },
    callTool: deps.callTool, forward: deps.forward, forwardable: deps.forwardable, respond: deps.respond, notify: deps.notify, peers: deps.peers, address: deps.address ?? (() => undefined),
  });
  return { runner, store, handlers: taskHandlers({ runner, store, log: deps.log, peers: deps.peers }) };
}

export { forwardsTasks } from './forwarding.js';
export { MemoryTaskStore, RedisTaskStore, type TaskStore } from './task-store.js';
export type { TaskSettings } from './task-runner.js';
