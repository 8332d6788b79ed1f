// A task whose registry dies (kill -9): the call dies with it, and the task
// must not stay `working` forever. The owner's heartbeat lapses; any other
// registry then reports the task failed (docs/tasks.md "What survives what").
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const V = '2026-07-28';
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': { extensions: { 'io.modelcontextprotocol/tasks': {} } } };

async function modern(edge: EdgeHandle, method: string, params: Record<string, unknown>, name: string): Promise<Record<string, any>> {
  const res = await fetch(`${edge.url}/mcp`, {
    method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: META } }),
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': V, 'mcp-method': method, 'mcp-name': name },
  });
  return (await res.json()) as Record<string, any>;
}

describe('tasks when their registry dies', () => {
  let registries: RegistryHandle[];
  let edge: EdgeHandle;
  let redis: Redis;
  const prefix = `tloss${Date.now()}:`;

  before(async () => {
    const r = await startRedis();
    redis = new Redis(r.url);
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('slowpoke', 'basic')}`);
    const env = { REDIS_URL: r.url, MCPGW_REDIS_PREFIX: prefix };
    registries = await Promise.all([startRegistry(cfg, env), startRegistry(cfg, env)]);
    edge = await startEdge(registries.map((x) => x.url).join(','), { ...env, MCPGW_TASKS: 'all' });
    await waitFor('slowpoke tools', async () => ((await (await fetch(`${edge.url}/mcp/tools/list`)).json()) as { tools: { name: string }[] }).tools.some((t) => t.name === 'slowpoke__slow') || undefined);
  });
  after(async () => {
    redis.disconnect();
    await stopAll();
  });

  test('the owner registry killed: another registry reports the task failed once its heartbeat lapses', async () => {
    const created = await modern(edge, 'tools/call', { name: 'slowpoke__slow', arguments: { ms: 120_000 } }, 'slowpoke__slow');
    const taskId = created.result?.taskId as string;
    assert.equal(created.result?.resultType, 'task', JSON.stringify(created));
    const rec = JSON.parse((await redis.get(`${prefix}task:{${taskId}}`))!) as { ownerAddress?: string; status: string };
    assert.equal(rec.status, 'working');
    const owner = registries.find((r) => rec.ownerAddress?.endsWith(`:${r.grpcPort}`));
    assert.ok(owner, `the owner is one of ours: ${rec.ownerAddress}`);
    owner.proc.kill('SIGKILL');
    await owner.proc.exited;
    const failed = await waitFor('the task reported failed', async () => {
      const r = await modern(edge, 'tasks/get', { taskId }, taskId);
      return r.result?.status === 'failed' ? r.result : undefined;
    }, 40_000);
    assert.equal(failed.error.code, -32010);
    assert.match(failed.error.message, /registry running this task is gone/);
  });
});
