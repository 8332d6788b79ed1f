// The registry's task runner in-process (services/registry/src/tasks/task-runner.ts),
// with a fake CallTool handler standing in for the upstream: the window's three
// answers, the result bound, the TTL, input keys, cancellation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallEvent, CallToolRequest } from '@mcpgw/proto/registry';
import { TaskStep_Kind } from '@mcpgw/proto/registry';
import { createLogger } from '@mcpgw/common/logger';
import { DEFAULT_TASK_SETTINGS, TaskRunner, type TaskSettings } from '../../services/registry/src/tasks/task-runner.js';
import { MemoryTaskStore } from '../../services/registry/src/tasks/task-store.js';
import { Peers } from '../../services/registry/src/peers.js';

const EMPTY = Buffer.alloc(0);
type FakeCall = { request: CallToolRequest; write(ev: CallEvent): void; end(): void; on(ev: string, fn: () => void): void };
type Script = (call: FakeCall, cancelled: () => boolean) => void;

const result = (text: string): CallEvent => ({ event: { $case: 'result', value: { resultJson: Buffer.from(JSON.stringify({ content: [{ type: 'text', text }] })), errorJson: EMPTY, isError: false, sessionLost: false } }, eventId: '', messageJson: EMPTY });
const ask = (id: string, key: string): CallEvent => ({ event: { $case: 'serverRequest', value: { id, method: 'elicitation/create', paramsJson: Buffer.from(JSON.stringify({ message: key, _meta: { 'mcpgw/inputKey': key } })) } }, eventId: '', messageJson: EMPTY });

function runner(script: Script, settings: Partial<TaskSettings> = {}) {
  const responded: { id: string; json: string }[] = [];
  const store = new MemoryTaskStore();
  const r = new TaskRunner({
    store, instanceId: 'test', log: createLogger('test'), settings: { ...DEFAULT_TASK_SETTINGS, ...settings }, peers: new Peers(undefined, undefined),
    callTool: (call: never) => {
      const c = call as unknown as FakeCall & NodeJS.EventEmitter;
      let cancelled = false;
      c.on('cancelled', () => { cancelled = true; });
      script(c, () => cancelled);
    },
    forward: () => { throw new Error('no forwarding here'); },
    forwardable: () => undefined,
    respond: (id, json) => responded.push({ id, json }),
    address: () => undefined,
  });
  return { r, store, responded };
}

const request = (principal = 'alice'): CallToolRequest => ({
  context: { principal, sessionId: 's', requestId: '1', traceparent: '', timeoutMs: 0, protocolVersion: '2026-07-28', progressToken: '', storeEvents: false, clientCapabilitiesJson: EMPTY, serverCredential: '' },
  server: 'srv', tool: 'tool', argumentsJson: Buffer.from('{}'), metaJson: EMPTY, wantProgress: false,
});

test('a call that ends inside the window is a plain result, and no task remains', async () => {
  const { r } = runner((c) => setTimeout(() => { c.write(result('fast')); c.end(); }, 5));
  const step = await r.start(request(), 200, 0);
  assert.equal(step.kind, TaskStep_Kind.KIND_COMPLETE);
  assert.match(step.result!.resultJson.toString(), /fast/);
  assert.equal(r.running, 0);
});

test('a call still running after the window is a task: durable, private, and its result inlined once done', async () => {
  const { r, store } = runner((c) => setTimeout(() => { c.write(result('slow')); c.end(); }, 80));
  const step = await r.start(request(), 10, 0);
  assert.equal(step.kind, TaskStep_Kind.KIND_TASK);
  const task = JSON.parse(step.taskJson.toString()) as { taskId: string; status: string; ttlMs: number };
  assert.equal(task.status, 'working');
  assert.equal(task.ttlMs, DEFAULT_TASK_SETTINGS.defaultTtlMs);
  assert.equal((await store.get(task.taskId))?.visible, true, 'stored before the answer left');
  await new Promise((res) => setTimeout(res, 150));
  const rec = await store.get(task.taskId);
  assert.equal(rec?.status, 'completed');
  assert.match(JSON.stringify(rec?.result), /slow/);
  assert.equal(await r.cancel('mallory', task.taskId), false, 'another principal cannot cancel it');
  assert.deepEqual((await store.list('alice', 10)).map((t) => t.id), [task.taskId], 'listed for its principal (2025 tasks/list)');
  assert.deepEqual(await store.list('mallory', 10), []);
});

test('a result over MCPGW_TASK_RESULT_MAX_BYTES fails the task instead of being stored', async () => {
  const { r, store } = runner((c) => setTimeout(() => { c.write(result('x'.repeat(2_000))); c.end(); }, 30), { maxResultBytes: 100 });
  const { taskId } = JSON.parse((await r.start(request(), 0, 0)).taskJson.toString()) as { taskId: string };
  await new Promise((res) => setTimeout(res, 80));
  const rec = await store.get(taskId);
  assert.equal(rec?.status, 'failed');
  assert.equal(rec?.error?.code, -32019);
  assert.equal(rec?.result, undefined);
});

test('a task outliving its TTL fails and its call is cancelled', async () => {
  let cancelledSeen = false;
  const { r, store } = runner((_c, cancelled) => { const t = setInterval(() => { if (cancelled()) { cancelledSeen = true; clearInterval(t); } }, 5); });
  const step = await r.start(request(), 0, 60);
  const { taskId, ttlMs } = JSON.parse(step.taskJson.toString()) as { taskId: string; ttlMs: number };
  assert.equal(ttlMs, 60);
  await new Promise((res) => setTimeout(res, 40));
  const live = await store.get(taskId);
  assert.equal(live?.status, 'working');
  await new Promise((res) => setTimeout(res, 60));
  assert.ok(cancelledSeen, 'the call was cancelled');
  assert.equal(await store.get(taskId), undefined, 'the record expired with its TTL');
});

test('input requests: keys from the upstream, never reused; answers reach the held requests; partial answers keep input_required', async () => {
  const { r, store, responded } = runner((c) => setTimeout(() => { c.write(ask('reg.1', 'a')); c.write(ask('reg.2', 'a')); }, 20));
  const { taskId } = JSON.parse((await r.start(request(), 0, 0)).taskJson.toString()) as { taskId: string };
  await new Promise((res) => setTimeout(res, 50));
  const rec = await store.get(taskId);
  assert.equal(rec?.status, 'input_required');
  assert.deepEqual(Object.keys(rec!.inputRequests!).sort(), ['a', 'elicitation_1'], 'a key asked twice is not reused');
  assert.equal(await r.update('alice', taskId, Buffer.from(JSON.stringify({ a: { action: 'accept', content: {} }, unknown: { x: 1 } }))), true);
  assert.deepEqual(responded.map((x) => x.id), ['reg.1']);
  const after = await store.get(taskId);
  assert.equal(after?.status, 'input_required');
  assert.deepEqual(Object.keys(after!.inputRequests!), ['elicitation_1']);
  await r.update('alice', taskId, Buffer.from(JSON.stringify({ elicitation_1: { action: 'decline' } })));
  assert.equal((await store.get(taskId))?.status, 'working');
  await r.cancel('alice', taskId);
  assert.equal((await store.get(taskId))?.status, 'cancelled');
});
