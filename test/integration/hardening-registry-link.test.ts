// Issue 10, items 3, 4, 6, draining and the "registry unavailable" text: the
// edge–registry link as real processes.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { credentials, makeGenericClientConstructor, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { RegistryClient } from '@mcpgw/proto/registry';
import { startEdge, startRegistry, waitForTools, type RegistryHandle } from '../harness/gateway.js';
import { restCall, startLoad, timeUntil } from '../harness/load.js';
import { DEMO_SERVER, freePort, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const DEMO = () => writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`);
const TOKEN = 'test-registry-token-0123456789';

after(stopAll);

function listServers(url: string, token?: string): Promise<{ code: number; servers?: number }> {
  const client = new RegistryClient(url, credentials.createInsecure());
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client.listServers({}, md, { deadline: Date.now() + 5_000 }, (err: ServiceError | null, res) => {
      client.close();
      resolve(err ? { code: err.code } : { code: status.OK, servers: res!.servers.length });
    });
  });
}

function healthCheck(url: string): Promise<string> {
  const Health = makeGenericClientConstructor(healthService as never, 'Health');
  const client = new Health(url, credentials.createInsecure()) as unknown as { check(req: object, opts: object, cb: (err: Error | null, res: { status: string }) => void): void; close(): void };
  return new Promise((resolve, reject) => {
    client.check({ service: '' }, { deadline: Date.now() + 5_000 }, (err, res) => {
      client.close();
      return err ? reject(err) : resolve(String(res.status));
    });
  });
}

describe('registry token (MCPGW_REGISTRY_TOKEN)', () => {
  test('callers without the token get UNAUTHENTICATED; health stays open; an edge with the token works', async () => {
    const registry = await startRegistry(DEMO(), { MCPGW_REGISTRY_TOKEN: TOKEN });
    assert.equal((await listServers(registry.url)).code, status.UNAUTHENTICATED, 'no token');
    assert.equal((await listServers(registry.url, 'wrong')).code, status.UNAUTHENTICATED, 'wrong token');
    assert.equal((await listServers(registry.url, `${TOKEN}x`)).code, status.UNAUTHENTICATED, 'longer token');
    const ok = await listServers(registry.url, TOKEN);
    assert.equal(ok.code, status.OK);
    assert.equal(ok.servers, 1);
    assert.equal(await healthCheck(registry.url), 'SERVING');

    const edge = await startEdge(registry.url, { MCPGW_REGISTRY_TOKEN: TOKEN });
    await waitForTools(edge.url, ['demo__']);
    const call = await restCall(edge.url, 'demo__echo', { message: 'authorized' });
    assert.equal(call.text, 'authorized');

    // An edge without the token never gets a catalog (not ready) and its calls fail.
    const stranger = await startEdge(registry.url, {}, false);
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal((await fetch(`${stranger.url}/readyz`)).status, 503);
    assert.ok(registry.proc.lines.some((l) => l.includes('missing or wrong MCPGW_REGISTRY_TOKEN')));
    assert.ok(!registry.proc.lines.some((l) => l.includes(TOKEN)), 'the token never appears in the registry log');
  });
});

describe('edge → registry reconnect', () => {
  test('after a 14 s registry outage, calls work within 2.5 s of the registry being back (capped backoff)', async () => {
    const grpcPort = String(await freePort());
    const config = DEMO();
    let registry: RegistryHandle = await startRegistry(config, { GRPC_PORT: grpcPort });
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['demo__']);
    registry.proc.kill('SIGKILL');
    await registry.proc.exited;
    await new Promise((r) => setTimeout(r, 14_000));
    registry = await startRegistry(config, { GRPC_PORT: grpcPort });
    const ms = await timeUntil('a call after the registry is back', async () => (await restCall(edge.url, 'demo__echo', { message: 'back' }, 2_000)).ok, 20_000);
    console.log(`# first successful call ${ms} ms after the registry was ready again (14 s outage)`);
    assert.ok(ms < 2_500, `calls came back ${ms} ms after the registry (target < 2.5 s)`);
  });
});

test('with no registry reachable, the client-facing error does not name the registry address', async () => {
  const grpcPort = String(await freePort());
  const registry = await startRegistry(DEMO(), { GRPC_PORT: grpcPort });
  const edge = await startEdge(registry.url);
  await waitForTools(edge.url, ['demo__']);
  registry.proc.kill('SIGKILL');
  await registry.proc.exited;
  const down = await restCall(edge.url, 'demo__echo', { message: 'x' });
  assert.equal(down.ok, false);
  assert.equal(down.status, 502);
  assert.ok(!down.error?.includes(grpcPort) && !down.error?.includes('127.0.0.1'), `client-facing error names the registry address: ${down.error}`);
});

describe('two registries', () => {
  test('one killed: calls that never touched it do not fail', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'two:' };
    const [r1, r2] = await Promise.all([startRegistry(DEMO(), env), startRegistry(DEMO(), env)]);
    const edges = await Promise.all([startEdge(`${r1.url},${r2.url}`, env), startEdge(`${r2.url},${r1.url}`, env)]);
    for (const e of edges) await waitForTools(e.url, ['demo__']);
    r1.proc.kill('SIGKILL');
    await r1.proc.exited;
    const load = startLoad({ edges: () => edges.map((e) => e.url), echoTool: 'demo__echo', maxCallsPerWorker: 40 });
    const stats = await load.done();
    console.log(`# ${stats.calls} calls with one of two registries dead: ${stats.failed} failed`);
    assert.equal(stats.failed, 0, `failed calls: ${JSON.stringify(stats.failures.slice(0, 3))}`);
    assert.equal(stats.crossed, 0);
  });

  test('SIGTERM drains a registry under load: in-flight calls finish, new ones go to the other, 0 failed calls', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'drain:' };
    const [r1, r2] = await Promise.all([startRegistry(DEMO(), env), startRegistry(DEMO(), env)]);
    const edges = await Promise.all([startEdge(`${r1.url},${r2.url}`, env), startEdge(`${r2.url},${r1.url}`, env)]);
    for (const e of edges) await waitForTools(e.url, ['demo__']);
    const load = startLoad({
      edges: () => edges.map((e) => e.url), echoTool: 'demo__echo',
      slow: { tool: 'demo__countdown', args: { n: 4, delay_ms: 100 }, every: 3, expect: 'liftoff' },
    });
    await new Promise((r) => setTimeout(r, 1_000));
    r1.proc.kill('SIGTERM');
    const code = await r1.proc.exited;
    await new Promise((r) => setTimeout(r, 1_000));
    const stats = await load.stop();
    console.log(`# ${stats.calls} calls across a registry drain: ${stats.failed} failed`);
    if (stats.failed) for (const e of edges) console.log(e.proc.lines.filter((l) => /"level":(40|50)/.test(l)).slice(-10).join('\n'));
    assert.equal(code, 0, 'the draining registry exits cleanly');
    assert.ok(r1.proc.lines.some((l) => l.includes('registry drained')));
    assert.equal(stats.failed, 0, `failed calls: ${JSON.stringify(stats.failures.slice(0, 3))}`);
    assert.equal(stats.crossed, 0);
  });
});
