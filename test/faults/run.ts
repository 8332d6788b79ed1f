// `npm run test:faults`: the fault suite of issue 10. Real processes on
// loopback (Redis, two registries with the shared token, two edges, stdio
// upstreams incl. a hanging and a crashing one), a bounded load of 9
// concurrent REST clients alternating edges, and one fault per scenario.
// Since issue 19 the registries share a Postgres (the store) and every call
// of the load carries a virtual key created through the admin API (a short
// key cache TTL, so lookups reach the registry and its store all the time);
// a tool held by pinning must never be listed or called, and store faults
// (Redis FLUSHALL with an approval in flight, Postgres killed) have rows.
//
// Row 9 adds clients that run tasks (docs/tasks.md) through the same faults.
// Prints a table and exits non-zero when a hard invariant breaks:
//   - 0 failed calls except calls in flight on a process that was killed;
//   - a held tool never served; an approval given during a fault stands;
//   - 0 lost, crossed or duplicated responses;
//   - the catalog is never empty on a live edge;
//   - recovery (where measured) within 5 s of the dependency being back.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { listToolNames, restCall, startLoad, timeUntil, type CallOutcome, type LoadStats } from '../harness/load.js';
import { DEMO_SERVER, freePort, stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis, type RedisHandle } from '../harness/redis.js';
import { createDatabase, startPostgres, type PostgresHandle } from '../harness/postgres.js';
import { startFixtureServer } from '../harness/gateway.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTaskLoad } from '../harness/task-load.js';

/** The long outage of the issue is 45 s; 20 s keeps the suite under 5 minutes and already outlives grpc's default backoff steps. */
const LONG_OUTAGE_MS = Number(process.env.FAULTS_LONG_OUTAGE_MS ?? 20_000);
const RECOVERY_TARGET_MS = 5_000;
const TOKEN = 'faults-token-5f1c0a9e7d3b';
const MASTER = 'faults-master-2b7e41';
const ADMIN = { authorization: `Bearer ${MASTER}` };
/** Short, so cached keys expire many times per scenario and lookups go through the registry to the store. */
const KEY_CACHE_MS = 3_000;
const DB_OUTAGE_MS = Number(process.env.FAULTS_DB_OUTAGE_MS ?? 20_000);
/** The virtual keys of the load (worker i uses keys[i % n]), created through the admin API. */
let keys: string[] = [];
const workerHeaders = (w: number) => ({ authorization: `Bearer ${keys[w % keys.length]}` });

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
let config: string;
/** The rug-pull fixture over HTTP, shared by both registries: its `weather` and `exfiltrate` get held. */
let rugpullUrl: string;
function writeSuiteConfig(): string {
  return writeConfig([
    'mcp_servers:',
    '  demo:',
    '    command: node',
    `    args: ["${DEMO_SERVER}"]`,
    fixtureStdio('hangy', 'hang', [], '    timeout_ms: 500\n').trimEnd(),
    fixtureStdio('crashy', 'crash').trimEnd(),
    fixtureStdio('slowpoke', 'basic').trimEnd(),
    '  rp:',
    `    url: ${rugpullUrl}`,
    '    transport: http',
    'gateway:',
    '  pinning: hold',
    '  hold_new: true',
    '',
  ].join('\n'));
}
let pg: PostgresHandle;

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
  edges[i] = await startEdge(targets.map((p) => `127.0.0.1:${p}`).join(','), { ...env, PORT: edgePorts[i], MCPGW_CONFIG: config, MCPGW_MASTER_KEY: MASTER, MCPGW_KEY_CACHE_MS: String(KEY_CACHE_MS) });
  return edges[i]!;
}

/** Catalog watchdog: every 200 ms, every live edge must list the demo tools. */
const catalogViolations: string[] = [];
/** Every time a held tool was listed or answered a call on a live edge. */
const heldServed: string[] = [];
/** Tools pinning holds now (the watchdog checks none of them is ever served). */
const held = new Set(['rp__exfiltrate']);
let watching = true;
async function watchCatalogs(): Promise<void> {
  while (watching) {
    for (const e of edges) {
      if (!e || e.proc.child.exitCode !== null) continue;
      for (const tool of held) {
        const probe = await restCall(e.url, tool, {}, 2_000, ADMIN);
        if (probe.ok) heldServed.push(`${new Date().toISOString()} ${e.url}: held ${tool} answered a call`);
      }
      const res = await fetch(`${e.url}/mcp/tools/list`, { headers: ADMIN, signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
      if (!res?.ok) continue; // down or stopping: not a catalog answer
      // Judge this answer, not a second request: one that meets an edge going down is no catalog answer either.
      const body = (await res.json().catch(() => undefined)) as { tools?: { name: string }[] } | undefined;
      if (!body) continue;
      const names = (body.tools ?? []).map((t) => t.name);
      if (names.length > 0 && !names.includes('demo__echo')) catalogViolations.push(`${new Date().toISOString()} ${e.url}: ${names.length} tools, no demo__echo`);
      if (names.length === 0) catalogViolations.push(`${new Date().toISOString()} ${e.url}: empty catalog`);
      for (const tool of held) if (names.includes(tool)) heldServed.push(`${new Date().toISOString()} ${e.url}: held ${tool} listed`);
    }
    await sleep(200);
  }
}

function load() {
  return startLoad({ edges: () => inRotation.map((e) => e.url), echoTool: 'demo__echo', workers: 9, maxCallsPerWorker: 100_000, pauseMs: 10, headers: workerHeaders });
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
  pg = await startPostgres();
  rugpullUrl = (await startFixtureServer('rugpull', 'http')).url;
  config = writeSuiteConfig();
  // MCPGW_TASKS=all: the tasks row (9) runs slowpoke's plain `slow` tool as gateway-run tasks.
  env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: 'faults:', MCPGW_REGISTRY_TOKEN: TOKEN, DATABASE_URL: await createDatabase(pg, 'faults'), MCPGW_TASKS: 'all' };
  for (let i = 0; i < 2; i++) registryPorts.push(String(await freePort()));
  for (let i = 0; i < 2; i++) edgePorts.push(String(await freePort()));
  await Promise.all([startRegistryAt(0), startRegistryAt(1)]);
  await Promise.all([startEdgeAt(0), startEdgeAt(1)]);
  for (const e of edges) await waitFor(`${e.url} tools`, async () => (await listToolNames(e.url, ADMIN)).includes('demo__echo') || undefined);
  inRotation = [...edges];
  keys = await Promise.all([0, 1, 2].map((i) => createKey(edges[i % 2]!, `load-${i}`)));
  await rugPull();
  const watchdog = watchCatalogs();
  console.log(`stack up in ${Date.now() - started} ms (Redis, Postgres, 2 registries, 2 edges; 9 clients with ${keys.length} virtual keys; rp__weather and rp__exfiltrate held)`);

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
    await timeUntil('the restarted edge answering a call', async () => (await restCall(edges[0]!.url, 'demo__echo', { message: 'x' }, 30_000, ADMIN)).ok);
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
    // Long enough for every key's cache entry to expire: the keys are looked up again after Redis lost everything.
    await sleep(Math.max(2_000, KEY_CACHE_MS * 2));
    account('Redis kill -9, restart empty after 2 s (virtual keys, a held tool)', await run.stop(), { recoveryMs, note: 'keys looked up again after the restart; recovery = catalog re-published into Redis' });
  }

  // 5b. Redis FLUSHALL under load, with an approval given at the same moment: keys keep working
  //     after their cache entries expire, the approval stands, the held tool is never served.
  {
    const auditBefore = await auditCount();
    const run = load();
    await sleep(1_000);
    const client = new Redis(redis.url);
    const [approval] = await Promise.all([approve('rp__weather'), client.flushall()]);
    const t = Date.now();
    const extra: string[] = [];
    if (approval !== 200) extra.push(`approval during FLUSHALL answered ${approval}`);
    // Recovery: the approval effective on both edges (the catalog re-published from the store's pins).
    const recoveryMs = await timeUntil('the approved rp__weather served on both edges', async () => {
      for (const e of edges) if (!(await listToolNames(e.url, ADMIN)).includes('rp__weather')) return false;
      return true;
    }, 30_000, 50).catch(() => { extra.push('the approved rp__weather was not served on both edges within 30 s'); return undefined; });
    client.disconnect();
    await sleep(Math.max(0, KEY_CACHE_MS * 2 - (Date.now() - t)));
    const pin = await pinState('rp__weather');
    if (pin !== 'trusted') extra.push(`the approval did not stand: rp__weather is '${pin}'`);
    const auditAfter = await auditCount();
    if (auditAfter < auditBefore + 1) extra.push(`audit log lost entries: ${auditBefore} before, ${auditAfter} after`);
    account('Redis FLUSHALL under load, an approval in flight (virtual keys, a held tool)', await run.stop(), {
      recoveryMs, extra, note: `keys used ${((Date.now() - t) / KEY_CACHE_MS).toFixed(0)}× their cache TTL after the flush; approval stands; audit ${auditBefore} → ${auditAfter}; recovery = the approved tool served on both edges`,
    });
  }

  // 5c. Postgres killed under load: cached keys keep working, unknown keys 401, admin writes 503; all resumes without a restart.
  {
    const run = load();
    await sleep(1_000);
    await pg.kill();
    const extra: string[] = [];
    await sleep(Math.min(2_000, DB_OUTAGE_MS));
    const write = await adminCall(edges[0]!, 'POST', '/keys', { name: 'during outage' });
    if (write.status !== 503) extra.push(`admin write during the outage answered ${write.status} (expected 503)`);
    const unknown = await restCall(edges[1]!.url, 'demo__echo', { message: 'x' }, 10_000, { authorization: `Bearer sk-mcpgw-unknown-${Date.now()}` });
    if (unknown.status !== 401) extra.push(`unknown key during the outage answered ${unknown.status} (expected 401)`);
    await sleep(Math.max(0, DB_OUTAGE_MS - 2_000));
    await pg.start();
    const back = Date.now();
    await timeUntil('admin writes again', async () => (await adminCall(edges[1]!, 'POST', '/keys', { name: `after outage ${Date.now()}` })).status === 201, 30_000, 100);
    const recoveryMs = Date.now() - back;
    await sleep(1_000);
    const names = ((await adminCall(edges[0]!, 'GET', '/keys')).json as { keys: { name: string }[] }).keys.map((k) => k.name);
    if (names.includes('during outage')) extra.push('a key was half-written during the outage');
    account(`Postgres kill -9 for ${DB_OUTAGE_MS / 1000} s under load (virtual keys)`, await run.stop(), {
      recoveryMs, extra, note: 'cached keys served throughout; unknown key 401 and admin write 503 during; recovery = admin writes again after Postgres is back',
    });
  }

  // 6. A hanging upstream: its calls time out, everything else flows, and it is not "circuit open".
  {
    const run = load();
    const hung = await Promise.all(Array.from({ length: 9 }, (_, i) => restCall(edges[i % 2]!.url, 'hangy__wait', {}, 30_000, ADMIN)));
    const extra = hung.filter((h) => h.ok || !/timed out/.test(h.error ?? '')).map((h) => `hang call answered '${h.error ?? h.text}' (expected a timeout)`);
    await sleep(1_000);
    account('upstream hang (9 calls time out)', await run.stop(), { extra, note: 'other upstreams unaffected; no open breaker' });
  }

  // 7. An upstream crashing with calls in flight: the rest flows; it serves again within 5 s.
  {
    const run = load();
    const crashes = Promise.all(Array.from({ length: 4 }, (_, i) => restCall(edges[i % 2]!.url, 'crashy__crash', { delay_ms: 200 }, 30_000, ADMIN)));
    await crashes;
    const recoveryMs = await timeUntil('crashy serving again', async () => (await restCall(edges[0]!.url, 'crashy__echo', { message: 'up' }, 30_000, ADMIN)).text === 'up', 20_000, 50);
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
      await waitFor('edge catalog', async () => (await listToolNames(edges[i]!.url, ADMIN)).includes('demo__echo') || undefined);
      worstMs = Math.max(worstMs, Date.now() - t);
      inRotation = [...edges];
      await sleep(500);
    }
    for (let i = 0; i < 2; i++) {
      registries[i]!.proc.kill('SIGTERM');
      const code = await registries[i]!.proc.exited;
      if (code !== 0) console.log(`  registry ${i} exited with ${code} after SIGTERM; its last lines:\n${registries[i]!.proc.lines.slice(-12).join('\n')}`);
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
    const tasks = startTaskLoad({ edges: () => inRotation.map((e) => e.url), tool: 'slowpoke__slow', workers: 4, ms: () => 500 + Math.floor(Math.random() * 1500), auth: ADMIN });
    await sleep(2_000);
    const killed = edges[0]!;
    const killMs = Date.now();
    killed.proc.kill('SIGKILL');
    inRotation = [edges[1]!];
    await killed.proc.exited;
    await sleep(1_000);
    const back = Date.now();
    await startEdgeAt(0);
    await timeUntil('the restarted edge answering a call', async () => (await restCall(edges[0]!.url, 'demo__echo', { message: 'x' }, 30_000, ADMIN)).ok);
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
  if (heldServed.length) violations.push(`a held tool was served ${heldServed.length} times, e.g. ${heldServed.slice(0, 3).join(' | ')}`);
  if (catalogViolations.length) violations.push(`catalog empty on a live edge ${catalogViolations.length} times, e.g. ${catalogViolations.slice(0, 3).join(' | ')}`);
  await stopAll();
  await pg.stop().catch(() => {});
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
  lines.push('', `catalog checks on live edges every 200 ms: ${catalogViolations.length} empty, a held tool served ${heldServed.length} times; whole suite ${(totalMs / 1000).toFixed(0)} s`);
  console.log(`\n${lines.join('\n')}`);
}

async function adminCall(edge: EdgeHandle, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  try {
    const res = await fetch(`${edge.url}/admin/api${path}`, {
      method, headers: { ...ADMIN, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, json: await res.json().catch(() => undefined) };
  } catch {
    return { status: 0, json: undefined };
  }
}

async function createKey(edge: EdgeHandle, name: string): Promise<string> {
  const r = await adminCall(edge, 'POST', '/keys', { name });
  if (r.status !== 201) throw new Error(`creating virtual key ${name}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
  return (r.json as { key: string }).key;
}

async function approve(tool: string): Promise<number> {
  const pending = (await adminCall(edges[0]!, 'GET', '/tools?server=rp')).json as { tools: { name: string; pending?: { fingerprint: string } }[] };
  const fingerprint = pending.tools.find((t) => t.name === tool)?.pending?.fingerprint;
  return (await adminCall(edges[1]!, 'POST', `/tools/${tool}/approve`, fingerprint ? { fingerprint } : {})).status;
}

async function pinState(tool: string): Promise<string> {
  const r = (await adminCall(edges[0]!, 'GET', '/tools?server=rp')).json as { tools: { name: string; pin: string }[] };
  return r.tools.find((t) => t.name === tool)?.pin ?? 'missing';
}

async function auditCount(): Promise<number> {
  return ((await adminCall(edges[0]!, 'GET', '/audit?limit=1000')).json as { entries: unknown[] }).entries.length;
}

/**
 * The upstream changes `weather` and adds `exfiltrate`, told through a client
 * of its own, so that both registries' sessions hear list_changed; then both
 * tools are held (pinning: hold) until approved.
 */
async function rugPull(): Promise<void> {
  const client = new Client({ name: 'faults-rugpull', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(rugpullUrl)));
  await client.callTool({ name: 'rug_pull', arguments: {} });
  await client.close();
  await waitFor('rp__weather and rp__exfiltrate held', async () => {
    for (const e of edges) {
      const names = await listToolNames(e.url, ADMIN);
      if (!names.includes('rp__rug_pull') || names.includes('rp__weather') || names.includes('rp__exfiltrate')) return undefined;
    }
    return (await pinState('rp__weather')) === 'held' || undefined;
  });
}

main().catch(async (err: unknown) => {
  console.error(err);
  await stopAll();
  await pg?.stop().catch(() => {});
  process.exit(1);
});
