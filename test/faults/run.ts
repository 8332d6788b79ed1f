// `npm run test:faults`: the fault suite of issue 10. Real processes on
// loopback (Redis, two registries with the shared token, two edges, stdio
// upstreams incl. a hanging and a crashing one), a bounded load of 9
// concurrent REST clients alternating edges, and one fault per scenario.
// Row 9 adds clients that run tasks (docs/tasks.md) through the same faults.
// Prints a table and exits non-zero when a hard invariant breaks:
//   - 0 failed calls except calls in flight on a process that was killed;
//   - 0 lost, crossed or duplicated responses;
//   - the catalog is never empty on a live edge;
//   - recovery (where measured) within 5 s of the dependency being back.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { listToolNames, restCall, startLoad, timeUntil, type CallOutcome, type LoadStats } from '../harness/load.js';
import { DEMO_SERVER, freePort, stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { startTaskLoad } from '../harness/task-load.js';

/** The long outage of the issue is 45 s; 20 s keeps the suite under 5 minutes and already outlives grpc's default backoff steps. */
const LONG_OUTAGE_MS = Number(process.env.FAULTS_LONG_OUTAGE_MS ?? 20_000);
const RECOVERY_TARGET_MS = 5_000;
const TOKEN = 'faults-token-5f1c0a9e7d3b';

interface Row {
  scenario: string;
  calls: number;
  failed: number;
  excused: number;
  lostOrDup: number;
  recoveryMs?: number;
  note: string;
  violations: string[];
}

const rows: Row[] = [];
const config = writeConfig([
  'mcp_servers:',
  '  demo:',
  '    command: node',
  `    args: ["${DEMO_SERVER}"]`,
  fixtureStdio('hangy', 'hang', [], '    timeout_ms: 500\n').trimEnd(),
  fixtureStdio('crashy', 'crash').trimEnd(),
  fixtureStdio('slowpoke', 'basic').trimEnd(),
  '',
].join('\n'));

let redis: RedisHandle;
let redisPort: number;
const registryPorts: string[] = [];
const edgePorts: string[] = [];
const registries: RegistryHandle[] = [];
const edges: EdgeHandle[] = [];
/** Edges the "load balancer" sends to (an edge leaves it before a planned stop, as a Kubernetes endpoint does). */
let inRotation: EdgeHandle[] = [];
let env: NodeJS.ProcessEnv;

async function startRegistryAt(i: number): Promise<RegistryHandle> {
  registries[i] = await startRegistry(config, { ...env, GRPC_PORT: registryPorts[i] });
  return registries[i]!;
}

async function startEdgeAt(i: number): Promise<EdgeHandle> {
  const targets = i === 0 ? registryPorts : [...registryPorts].reverse();
  edges[i] = await startEdge(targets.map((p) => `127.0.0.1:${p}`).join(','), { ...env, PORT: edgePorts[i] });
  return edges[i]!;
}

/** Catalog watchdog: every 200 ms, every live edge must list the demo tools. */
const catalogViolations: string[] = [];
let watching = true;
async function watchCatalogs(): Promise<void> {
  while (watching) {
    for (const e of edges) {
      if (!e || e.proc.child.exitCode !== null) continue;
      const res = await fetch(`${e.url}/mcp/tools/list`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (!res?.ok) continue; // down or stopping: not a catalog answer
      // Judge this answer, not a second request: one that meets an edge going down is no catalog answer either.
      const body = (await res.json().catch(() => undefined)) as { tools?: { name: string }[] } | undefined;
      if (!body) continue;
      const names = (body.tools ?? []).map((t) => t.name);
      if (names.length > 0 && !names.includes('demo__echo')) catalogViolations.push(`${new Date().toISOString()} ${e.url}: ${names.length} tools, no demo__echo`);
      if (names.length === 0) catalogViolations.push(`${new Date().toISOString()} ${e.url}: empty catalog`);
    }
    await sleep(200);
  }
}

function load() {
  return startLoad({ edges: () => inRotation.map((e) => e.url), echoTool: 'demo__echo', workers: 9, maxCallsPerWorker: 100_000, pauseMs: 10 });
}

/** Failures of calls that were in flight on `killedUrl` (or anywhere, for a registry) at `killMs` are excused. */
function account(scenario: string, stats: LoadStats, opts: { killMs?: number; killedEdge?: string; anyInFlight?: boolean; recoveryMs?: number; note?: string; extra?: string[] }): Row {
  const inFlightAtKill = (o: CallOutcome) => opts.killMs !== undefined && o.startedMs <= opts.killMs + 50 && o.endedMs >= opts.killMs
    && (opts.anyInFlight || o.edge === opts.killedEdge);
  const excused = stats.failures.filter(inFlightAtKill).length;
  const unexcused = stats.failures.filter((o) => !inFlightAtKill(o));
  const violations = [...(opts.extra ?? [])];
  if (unexcused.length) violations.push(`${unexcused.length} failed calls, e.g. ${JSON.stringify(unexcused.slice(0, 2))}`);
  if (stats.crossed) violations.push(`${stats.crossed} crossed or duplicated responses`);
  if (opts.recoveryMs !== undefined && opts.recoveryMs > RECOVERY_TARGET_MS) violations.push(`recovery ${opts.recoveryMs} ms > ${RECOVERY_TARGET_MS} ms`);
  const row: Row = { scenario, calls: stats.calls, failed: stats.failed, excused, lostOrDup: stats.crossed, recoveryMs: opts.recoveryMs, note: opts.note ?? '', violations };
  rows.push(row);
  console.log(`  ${scenario}: ${stats.calls} calls, ${stats.failed} failed (${excused} in flight on the killed process), recovery ${opts.recoveryMs ?? '-'} ms${violations.length ? ` — VIOLATION: ${violations.join('; ')}` : ''}`);
  return row;
}

/** How many tools/call the registry ran since it started (its own metric). */
async function registryCalls(r: RegistryHandle): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`)).text();
  const m = /mcpgw_upstream_request_duration_seconds_count\{[^}]*server="demo"[^}]*\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}

async function registryOutage(scenario: string, outageMs: number): Promise<void> {
  const run = load();
  await sleep(1_000);
  const killMs = Date.now();
  registries[0]!.proc.kill('SIGKILL');
  await registries[0]!.proc.exited;
  await sleep(outageMs);
  const r = await startRegistryAt(0);
  const recoveryMs = await timeUntil('the restarted registry serving calls', async () => (await registryCalls(r)) > 0, 30_000, 50);
  await sleep(1_000);
  account(scenario, await run.stop(), { killMs, anyInFlight: true, recoveryMs, note: `other registry up; recovery = restarted registry serving edge calls again` });
}

async function main(): Promise<void> {
  const started = Date.now();
  redisPort = await freePort();
  redis = await startRedis(redisPort);
  // MCPGW_TASKS=all: the tasks row (9) runs slowpoke's plain `slow` tool as gateway-run tasks.
  env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'faults:', MCPGW_REGISTRY_TOKEN: TOKEN, MCPGW_TASKS: 'all' };
  for (let i = 0; i < 2; i++) registryPorts.push(String(await freePort()));
  for (let i = 0; i < 2; i++) edgePorts.push(String(await freePort()));
  await Promise.all([startRegistryAt(0), startRegistryAt(1)]);
  await Promise.all([startEdgeAt(0), startEdgeAt(1)]);
  for (const e of edges) await waitFor(`${e.url} tools`, async () => (await listToolNames(e.url)).includes('demo__echo') || undefined);
  inRotation = [...edges];
  const watchdog = watchCatalogs();
  console.log(`stack up in ${Date.now() - started} ms (Redis, 2 registries, 2 edges; 9 clients)`);

  // 1. kill -9 of an edge: only its in-flight calls fail; the load balancer drops it.
  {
    const run = load();
    await sleep(1_000);
    const killed = edges[0]!;
    const killMs = Date.now();
    killed.proc.kill('SIGKILL');
    inRotation = [edges[1]!];
    await killed.proc.exited;
    await sleep(1_000);
    const back = Date.now();
    await startEdgeAt(0);
    await timeUntil('the restarted edge answering a call', async () => (await restCall(edges[0]!.url, 'demo__echo', { message: 'x' })).ok);
    const recoveryMs = Date.now() - back;
    inRotation = [...edges];
    await sleep(1_000);
    account('edge kill -9 (restarted after 1 s)', await run.stop(), { killMs, killedEdge: killed.url, recoveryMs, note: 'recovery = new edge process started and serving' });
  }

  // 2, 3. registry kill -9, restarted after 5 s and after the long outage (the other registry stays up).
  await registryOutage('registry kill -9, restart after 5 s', 5_000);
  await registryOutage(`registry kill -9, restart after ${LONG_OUTAGE_MS / 1000} s`, LONG_OUTAGE_MS);

  // 4. two registries, one killed and left dead: calls that never touched it must not fail.
  {
    registries[1]!.proc.kill('SIGKILL');
    await registries[1]!.proc.exited;
    const killMs = Date.now();
    const run = load();
    await sleep(5_000);
    account('two registries, one dead (calls start after the kill)', await run.stop(), { killMs: killMs - 1_000, anyInFlight: true, note: 'no call may fail' });
    await startRegistryAt(1);
  }

  // 5. Redis killed and restarted empty: calls go on, catalogs stay, the catalog is written back.
  {
    const run = load();
    await sleep(1_000);
    redis.proc!.kill('SIGKILL');
    await redis.proc!.exited;
    await sleep(2_000);
    redis = await startRedis(redisPort);
    const client = new Redis(redis.url);
    const recoveryMs = await timeUntil('the catalog back in Redis', async () => Boolean(await client.get('faults:{catalog}:version')), 30_000, 50);
    client.disconnect();
    await sleep(2_000);
    account('Redis kill -9, restart empty after 2 s', await run.stop(), { recoveryMs, note: 'recovery = catalog re-published into Redis' });
  }

  // 6. A hanging upstream: its calls time out, everything else flows, and it is not "circuit open".
  {
    const run = load();
    const hung = await Promise.all(Array.from({ length: 9 }, (_, i) => restCall(edges[i % 2]!.url, 'hangy__wait', {})));
    const extra = hung.filter((h) => h.ok || !/timed out/.test(h.error ?? '')).map((h) => `hang call answered '${h.error ?? h.text}' (expected a timeout)`);
    await sleep(1_000);
    account('upstream hang (9 calls time out)', await run.stop(), { extra, note: 'other upstreams unaffected; no open breaker' });
  }

  // 7. An upstream crashing with calls in flight: the rest flows; it serves again within 5 s.
  {
    const run = load();
    const crashes = Promise.all(Array.from({ length: 4 }, (_, i) => restCall(edges[i % 2]!.url, 'crashy__crash', { delay_ms: 200 })));
    await crashes;
    const recoveryMs = await timeUntil('crashy serving again', async () => (await restCall(edges[0]!.url, 'crashy__echo', { message: 'up' })).text === 'up', 20_000, 50);
    await sleep(500);
    account('upstream crash with 4 calls in flight', await run.stop(), { recoveryMs, note: 'recovery = crashed upstream serving again (both registries restart it)' });
  }

  // 8. Rolling restart of every edge and every registry, one by one, under load.
  {
    const run = load();
    await sleep(1_000);
    let worstMs = 0;
    for (let i = 0; i < 2; i++) {
      inRotation = edges.filter((_, j) => j !== i); // the endpoint leaves the Service first (preStop)
      await sleep(300);
      edges[i]!.proc.kill('SIGTERM');
      await edges[i]!.proc.exited;
      const t = Date.now();
      await startEdgeAt(i);
      await waitFor('edge catalog', async () => (await listToolNames(edges[i]!.url)).includes('demo__echo') || undefined);
      worstMs = Math.max(worstMs, Date.now() - t);
      inRotation = [...edges];
      await sleep(500);
    }
    for (let i = 0; i < 2; i++) {
      registries[i]!.proc.kill('SIGTERM');
      const code = await registries[i]!.proc.exited;
      if (code !== 0) console.log(`  registry ${i} exited with ${code} after SIGTERM`);
      const r = await startRegistryAt(i);
      const before = Date.now();
      await timeUntil('restarted registry serving calls', async () => (await registryCalls(r)) > 0, 30_000, 50);
      worstMs = Math.max(worstMs, Date.now() - before);
      await sleep(500);
    }
    await sleep(1_000);
    account('rolling restart: 2 edges then 2 registries (SIGTERM)', await run.stop(), { recoveryMs: worstMs, note: 'recovery = slowest replacement serving' });
  }

  // 9. Tasks in the load (issue 22): 4 clients run gateway-run tasks (0.5-2 s each) and poll them through the
  // edges in rotation while an edge is killed and restarted; every task must end completed with its own result.
  {
    const run = load();
    const tasks = startTaskLoad({ edges: () => inRotation.map((e) => e.url), tool: 'slowpoke__slow', workers: 4, ms: () => 500 + Math.floor(Math.random() * 1500) });
    await sleep(2_000);
    const killed = edges[0]!;
    const killMs = Date.now();
    killed.proc.kill('SIGKILL');
    inRotation = [edges[1]!];
    await killed.proc.exited;
    await sleep(1_000);
    const back = Date.now();
    await startEdgeAt(0);
    await timeUntil('the restarted edge answering a call', async () => (await restCall(edges[0]!.url, 'demo__echo', { message: 'x' })).ok);
    const recoveryMs = Date.now() - back;
    inRotation = [...edges];
    await sleep(3_000);
    const t = await tasks.stop();
    const lostTasks = t.wrong.length;
    const unexcused = t.unstarted.filter((u) => !(u.edge === killed.url && u.atMs >= killMs - 50 && u.atMs <= killMs + 15_000));
    const extra = [
      ...(lostTasks ? [`${lostTasks} tasks lost or wrong, e.g. ${t.wrong.slice(0, 2).join(' | ')}`] : []),
      ...(unexcused.length ? [`${unexcused.length} task creations failed off the killed edge, e.g. ${JSON.stringify(unexcused.slice(0, 2))}`] : []),
    ];
    account('tasks in the load: edge kill -9 while tasks run', await run.stop(), {
      killMs, killedEdge: killed.url, recoveryMs, extra,
      note: `${t.started} tasks created, ${t.completed} completed with their own result, ${lostTasks} lost, ${t.unstarted.length} creations cut by the kill, ${t.pollRetries} polls retried on the other edge`,
    });
  }

  watching = false;
  await watchdog;
  const total = Date.now() - started;
  printTable(total);
  const violations = rows.flatMap((r) => r.violations.map((v) => `${r.scenario}: ${v}`));
  if (catalogViolations.length) violations.push(`catalog empty on a live edge ${catalogViolations.length} times, e.g. ${catalogViolations.slice(0, 3).join(' | ')}`);
  await stopAll();
  if (violations.length) {
    console.error(`\nFAULT SUITE FAILED:\n- ${violations.join('\n- ')}`);
    process.exit(1);
  }
  console.log('\nall invariants held: 0 failed calls except in flight on a killed process, 0 lost/duplicated responses, catalog never empty on a live edge');
}

function printTable(totalMs: number): void {
  const header = '| scenario | calls | failed calls | of which in flight on the killed process | lost / duplicated responses | time to recover | note |';
  const lines = [header, '|---|--:|--:|--:|--:|--:|---|'];
  for (const r of rows) {
    lines.push(`| ${r.scenario} | ${r.calls} | ${r.failed} | ${r.excused} | ${r.lostOrDup} | ${r.recoveryMs === undefined ? '—' : `${(r.recoveryMs / 1000).toFixed(2)} s`} | ${r.note} |`);
  }
  lines.push('', `catalog checks on live edges every 200 ms: ${catalogViolations.length} empty; whole suite ${(totalMs / 1000).toFixed(0)} s`);
  console.log(`\n${lines.join('\n')}`);
}

main().catch(async (err: unknown) => {
  console.error(err);
  await stopAll();
  process.exit(1);
});
