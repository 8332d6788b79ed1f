// npm run images:smoke — runs the images `npm run images:build` made, as
// docker-compose.yml configures them, and checks what a user would meet:
//   Redis (the host's redis-server on a free port), the demo-http upstream and
//   the registry from mcpgw-registry, two edges from mcpgw-edge; an MCP client
//   (the SDK) lists and calls tools through edge 1 over Streamable HTTP and
//   edge 2 over legacy SSE, reaching a stdio upstream preinstalled in the
//   registry image (no npx at run time), the registry's own stdio demo and the
//   demo-http container; every container runs as uid 10001 with a read-only
//   root filesystem and only /tmp writable; the chart's probes (HTTP /healthz
//   and /readyz for the edge, grpc.health.v1 for the registry) and the images'
//   HEALTHCHECKs answer inside the containers; `podman stop` drains edge 1
//   with a slow call in flight and no failed call.
// The store: the registry runs on Postgres as compose configures it (the
//   host's PostgreSQL on a free port instead of the compose service, whose
//   image is images:compose's job); the test reads back from Postgres the
//   calls the edges shipped. A second registry container runs on the image's
//   embedded store (no DATABASE_URL): MCPGW_DATA_DIR=/data on a named volume
//   under the same read-only root, the SQLite file owned by uid 10001, 0600.
// Containers share the host's network (ports from the OS, as everywhere in
// our tests; compose's own networking is images:compose's job).
// Prints image sizes, build times, cold start to ready and the drain result.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient } from '../harness/mcp.js';
import { ROOT, freePort, stopAll } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { postgresBin, startPostgres } from '../harness/postgres.js';
import {
  EDGE_IMAGE, REGISTRY_IMAGE, RUN_ID, extraCleanups, guard, imageSize, lastBuildTimes, podman, podmanOk, run, waitForLog, type Container,
} from './podman.js';

const UID = '10001';
const report: string[] = [];
let checks = 0;
function ok(what: string): void {
  checks++;
  console.log(`ok    ${what}`);
}
function check(cond: unknown, what: string, detail = ''): void {
  if (!cond) throw new Error(`${what}${detail ? `: ${detail}` : ''}`);
  ok(what);
}
const ms = (t: number) => `${Math.round(t)} ms`;

/** The compose file's settings for our services (x-mcpgw-service and each service's environment). */
function composeService(name: string): { environment: Record<string, string> } {
  const doc = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
  const env: Record<string, string> = {};
  // Compose's ${VAR:-default}: the default, as `docker compose up` without a .env gives.
  for (const [k, v] of Object.entries(doc.services[name]?.environment ?? {})) env[k] = String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  return { environment: env };
}

/** A service's stop_grace_period in seconds (compose's default is 10 s). */
function composeGrace(name: string): number {
  const doc = parseYaml(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { stop_grace_period?: string }> };
  const v = doc.services[name]?.stop_grace_period ?? '10s';
  const m = /^(\d+)s$/.exec(v);
  if (!m) throw new Error(`docker-compose.yml: ${name}.stop_grace_period ${v} is not in seconds; update the smoke test`);
  return Number(m[1]);
}

/** What x-mcpgw-service sets: read-only root, only /tmp writable (tmpfs), no privileges, no capabilities. */
const HARDENED = [
  '--read-only', '--read-only-tmpfs=false', '--tmpfs', '/tmp:rw,nosuid,nodev',
  '--security-opt', 'no-new-privileges', '--cap-drop', 'ALL', '--network', 'host',
];
const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

async function main(): Promise<void> {
  for (const image of [REGISTRY_IMAGE, EDGE_IMAGE]) {
    if ((await podman(['image', 'exists', image])).code !== 0) throw new Error(`${image} is missing: run npm run images:build first`);
  }
  const sizes = await Promise.all([REGISTRY_IMAGE, EDGE_IMAGE].map(async (i) => `${i} ${(await imageSize(i) / 1e6).toFixed(0)} MB`));

  // --- Redis and the config compose mounts ----------------------------------
  const redis = await startRedis();
  extraCleanups.push(stopAll);
  // compose's DATABASE_URL names its postgres service; on the host network the
  // same kind of server is the host's PostgreSQL (test/harness/postgres.ts).
  const pg = await startPostgres();
  extraCleanups.push(() => pg.stop());
  const psql = (sql: string) => execFileSync(join(postgresBin()!, 'psql'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'postgres', '-tAc', sql], { encoding: 'utf8' }).trim();
  console.log(`postgres: the host's PostgreSQL (${psql('show server_version')}) on 127.0.0.1:${pg.port} as the registry's DATABASE_URL (compose's postgres service runs in images:compose)`);
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-images-'));
  extraCleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const [demoPort, grpcPort, metricsPort, edgePorts] = [await freePort(), await freePort(), await freePort(), [await freePort(), await freePort()]];
  // deploy/config.yaml unchanged but for the demo-http address: no compose DNS on the host network.
  const config = readFileSync(join(ROOT, 'deploy/config.yaml'), 'utf8').replace('http://demo-http:3001/mcp', `http://127.0.0.1:${demoPort}/mcp`);
  if (!config.includes(`127.0.0.1:${demoPort}`)) throw new Error('deploy/config.yaml no longer names http://demo-http:3001/mcp; update the smoke test');
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, config, { mode: 0o644 });
  const mountConfig = ['-v', `${configFile}:/etc/mcpgw/config.yaml:ro,Z`];

  // --- containers -------------------------------------------------------------
  const cold: string[] = [];
  const demo = await run('demo-http', [...HARDENED, '--entrypoint', '["/usr/bin/tini","--","node","packages/demo-server/dist/index.js"]'], REGISTRY_IMAGE,
    ['--http', '--host', '127.0.0.1', '--port', String(demoPort)]);
  await waitForLog(demo, /^listening (\d+)/, 'demo-http listening');
  cold.push(`demo-http ${ms(performance.now() - demo.startedAt)} (listening)`);

  const composeRegEnv = composeService('registry').environment;
  check(/^postgres:\/\/[^@]+@postgres:5432\/mcpgw$/.test(composeRegEnv.DATABASE_URL ?? ''), 'compose: the registry\'s DATABASE_URL names the postgres service (replaced by the host\'s PostgreSQL here)', composeRegEnv.DATABASE_URL);
  const regEnv = { ...composeRegEnv, DATABASE_URL: pg.url, REDIS_URL: redis.url, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), METRICS_PORT: String(metricsPort) };
  const registry = await run('registry', [...HARDENED, ...mountConfig, ...envArgs(regEnv)], REGISTRY_IMAGE);
  const storeLine = await waitForLog(registry, /.*"msg":"store ready".*/, 'registry store ready');
  check(/"store":"postgres"/.test(storeLine[0]), 'registry: store ready on Postgres (DATABASE_URL)', storeLine[0]);
  await waitForLog(registry, /"msg":"registry ready"/, 'registry ready');
  const regReady = await waitForGrpcServing(registry, grpcPort);
  cold.push(`registry ${ms(regReady - registry.startedAt)} (grpc.health.v1 SERVING)`);

  const edges: { c: Container; url: string }[] = [];
  for (const [i, port] of edgePorts.entries()) {
    const env = { ...composeService('edge').environment, HOST: '127.0.0.1', PORT: String(port), REGISTRY_URL: `127.0.0.1:${grpcPort}`, REDIS_URL: redis.url };
    const c = await run(`edge${i + 1}`, [...HARDENED, ...mountConfig, ...envArgs(env)], EDGE_IMAGE);
    const url = `http://127.0.0.1:${port}`;
    await waitForLog(c, /"msg":"edge listening"/, `edge${i + 1} listening`);
    const t = await waitReady(`${url}/readyz`);
    cold.push(`edge${i + 1} ${ms(t - c.startedAt)} (/readyz 200)`);
    edges.push({ c, url });
  }
  report.push(`cold start to ready: ${cold.join(', ')}`);

  // --- the containers' own settings -----------------------------------------
  for (const c of [demo, registry, ...edges.map((e) => e.c)]) {
    const id = await c.exec(['id', '-u']);
    check(id.stdout.trim() === UID, `${c.name}: runs as uid ${UID}`, id.stdout + id.stderr);
    const root = await c.exec(['sh', '-c', 'touch /probe-root 2>&1']);
    check(root.code !== 0 && /Read-only file system/i.test(root.stdout + root.stderr), `${c.name}: / is read-only`, root.stdout + root.stderr);
    const app = await c.exec(['sh', '-c', 'touch /app/probe 2>&1 || exit 1']);
    check(app.code !== 0, `${c.name}: /app is not writable`);
    const others = await c.exec(['sh', '-c', 'for d in /run /var/tmp /etc /opt; do touch $d/probe 2>/dev/null && echo $d; done; true']);
    check(others.stdout.trim() === '', `${c.name}: /run, /var/tmp, /etc, /opt not writable`, `writable: ${others.stdout.trim()}`);
    const tmp = await c.exec(['sh', '-c', 'echo x > /tmp/probe && cat /tmp/probe && rm /tmp/probe']);
    check(tmp.code === 0 && tmp.stdout.trim() === 'x', `${c.name}: /tmp is writable`, tmp.stderr);
    const pid1 = await c.exec(['cat', '/proc/1/cmdline']);
    check(pid1.stdout.split('\0')[0] === '/usr/bin/tini', `${c.name}: tini is PID 1`, pid1.stdout);
  }
  const dataDir = await registry.exec(['sh', '-c', 'ls -A /data']);
  check(dataDir.code === 0 && dataDir.stdout.trim() === '', 'registry on Postgres: nothing written to /data (the embedded store is not used)', dataDir.stdout + dataDir.stderr);
  const ro = (await podmanOk(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', registry.name])).trim();
  check(ro === 'true', 'podman inspect: ReadonlyRootfs');

  // --- preinstalled stdio upstream ------------------------------------------
  const which = await registry.exec(['sh', '-c', 'command -v mcp-server-everything']);
  check(which.stdout.trim() === '/opt/mcp-upstreams/bin/mcp-server-everything', 'registry image: mcp-server-everything preinstalled under /opt/mcp-upstreams', which.stdout + which.stderr);
  const procs = await registry.exec(['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " " ; echo']);
  check(/mcp-server-everything/.test(procs.stdout) && !/\bnpx\b|npm exec/.test(procs.stdout), 'registry: everything runs from the image, no npx/npm exec process', procs.stdout);
  const npmCache = await registry.exec(['sh', '-c', 'test -e /tmp/.npm && echo present || echo absent']);
  check(npmCache.stdout.trim() === 'absent', 'registry: no npm cache written at run time (nothing fetched)');

  // --- probes: the chart's (HTTP for the edge, gRPC health for the registry) and the images' HEALTHCHECKs
  for (const [i, e] of edges.entries()) {
    const port = edgePorts[i]!;
    for (const path of ['/healthz', '/readyz']) {
      const r = await e.c.exec(['node', '-e', `fetch('http://127.0.0.1:${port}${path}').then(r=>{console.log(r.status);process.exit(r.ok?0:1)},e=>{console.error(e.message);process.exit(1)})`]);
      check(r.code === 0, `edge${i + 1}: chart probe httpGet ${path} answers 200 inside the container`, r.stdout + r.stderr);
    }
    await healthcheck(e.c);
  }
  const g = await grpcHealth(registry, grpcPort);
  check(g.code === 0 && g.stdout.trim() === 'SERVING', 'registry: chart probe grpc.health.v1 Check answers SERVING inside the container', g.stdout + g.stderr);
  await healthcheck(registry);

  // --- the console's static files made it into the edge image ----------------
  for (const path of ['/ui/', '/ui/app.js']) {
    const r = await fetch(`${edges[0]!.url}${path}`);
    check(r.status === 200, `edge image: the console's ${path} is served (${r.status})`);
  }

  // --- MCP through the edges -------------------------------------------------
  const http = await connectClient(`${edges[0]!.url}/mcp`, 'http');
  const sse = await connectClient(`${edges[1]!.url}/sse`, 'sse');
  try {
    for (const [label, client] of [['Streamable HTTP via edge1', http], ['legacy SSE via edge2', sse]] as const) {
      const names = await waitTools(client, ['demo__', 'everything__', 'remote__']);
      check(names.length > 10, `${label}: tools/list lists demo, everything and remote (${names.length} tools)`);
      await callText(client, 'everything__echo', { message: `hi ${label}` }, `hi ${label}`, `${label}: everything__echo (stdio upstream preinstalled in the registry image)`);
      await callText(client, 'demo__add', { a: 2, b: 3 }, '5', `${label}: demo__add (stdio demo spawned by the registry)`);
      await callText(client, 'remote__echo', { message: 'over http' }, 'over http', `${label}: remote__echo (the demo-http container over Streamable HTTP)`);
    }

    // --- the store: the calls the edges shipped are rows in Postgres ---------
    // (each edge sends its calls to the registry once a second; the registry writes them)
    const CALLED = `'everything__echo', 'demo__add', 'remote__echo'`;
    let rows = 0;
    for (const t = Date.now(); Date.now() - t < 15_000; await new Promise((r) => setTimeout(r, 250))) {
      rows = Number(psql(`select count(*) from call_log where server || '__' || tool in (${CALLED}) or tool in (${CALLED})`));
      if (rows >= 6) break;
    }
    check(rows >= 6, `store: the 6 calls made are in Postgres' call_log (${rows} rows; edges → registry RecordCalls → store)`);
    const migrations = psql('select count(*) from schema_migrations');
    report.push(`store: Postgres ${psql('show server_version')}, ${migrations} migrations applied by the registry container, ${rows} calls logged`);

    // --- drain: podman stop edge1 with a slow call in flight ----------------
    const stopGrace = composeGrace('edge');
    let progress = 0;
    let progressAtStop = -1;
    const slow = http.callTool({ name: 'demo__countdown', arguments: { n: 5, delay_ms: 800 } }, undefined, {
      timeout: 60_000, onprogress: () => { progress++; },
    }).then((r) => ({ ok: true as const, r }), (err: Error) => ({ ok: false as const, err }));
    const t0 = Date.now();
    while (progress < 1 && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
    if (progress < 1) throw new Error('drain: the slow call reported no progress before the stop');
    progressAtStop = progress;
    const stopStart = performance.now();
    const stop = await podman(['stop', '-t', String(stopGrace), edges[0]!.c.name], 120_000);
    const stopMs = performance.now() - stopStart;
    const outcome = await slow;
    const exit = (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', edges[0]!.c.name])).trim();
    const log = await edges[0]!.c.logs();
    check(stop.code === 0, 'drain: podman stop edge1 succeeded', stop.stderr);
    check(/"msg":"edge shutting down"/.test(log) && /"signal":"SIGTERM"/.test(log), 'drain: edge1 saw SIGTERM (through tini) and shut down', log.slice(-2000));
    check(exit === '0', `drain: edge1 exited 0 (not killed after the ${stopGrace}s grace period)`, `exit code ${exit}`);
    check(stopMs < stopGrace * 1000, `drain: stop took ${ms(stopMs)}, within the ${stopGrace}s grace period`);
    const text = outcome.ok ? contentText(outcome.r) : '';
    check(outcome.ok && !outcome.r.isError && text === 'liftoff', 'drain: the call in flight during the stop completed', outcome.ok ? text : outcome.err.message);
    report.push(`drain: podman stop edge1 took ${ms(stopMs)} with demo__countdown(n=5, 800 ms) in flight (progress ${progressAtStop}/5 at stop, ${progress} at the end); the call completed${outcome.ok ? '' : ' NOT'}, 0 failed calls, exit code ${exit}`);

    // The other edge still serves after edge1 left (shared Redis, same registry).
    await callText(sse, 'demo__echo', { message: 'still here' }, 'still here', 'after the drain: edge2 still answers');
  } finally {
    await Promise.allSettled([http.close(), sse.close()]);
  }

  // Registry drain as well: SIGTERM reaches node through tini, the process drains and exits 0
  // within compose's stop_grace_period for the registry (40 s: 0.5 s + the 30 s drain timeout + closing).
  const regGrace = String(composeGrace('registry'));
  const regStop = performance.now();
  await podman(['stop', '-t', regGrace, registry.name], 120_000);
  const regExit = (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', registry.name])).trim();
  const regLog = await registry.logs();
  check(regExit === '0' && /"msg":"registry drained"/.test(regLog), `registry: podman stop -t ${regGrace} (compose's stop_grace_period) drains and exits 0 (${ms(performance.now() - regStop)})`, `exit ${regExit}\n${regLog.slice(-1500)}`);

  // --- the image's embedded store: no DATABASE_URL, MCPGW_DATA_DIR=/data ------
  const img = JSON.parse(await podmanOk(['image', 'inspect', '--format', '{{json .Config}}', REGISTRY_IMAGE])) as { Env?: string[]; Volumes?: Record<string, unknown> };
  check((img.Env ?? []).includes('MCPGW_DATA_DIR=/data') && Object.keys(img.Volumes ?? {}).includes('/data'), 'registry image: ENV MCPGW_DATA_DIR=/data and VOLUME /data', JSON.stringify(img));
  const volume = `${RUN_ID}-data`;
  extraCleanups.push(async () => { await podman(['volume', 'rm', '-f', volume]); });
  const embEnv = { ...regEnv, GRPC_PORT: String(await freePort()), METRICS_PORT: String(await freePort()) };
  delete (embEnv as Record<string, string>).DATABASE_URL;
  const embedded = await run('registry-embedded', [...HARDENED, ...mountConfig, '-v', `${volume}:/data`, ...envArgs(embEnv)], REGISTRY_IMAGE);
  const embLine = await waitForLog(embedded, /.*"msg":"store ready".*/, 'embedded registry store ready');
  check(/"store":"sqlite"/.test(embLine[0]) && /"location":"\/data\/mcpgw\.db"/.test(embLine[0]), 'registry without DATABASE_URL: embedded store ready in /data/mcpgw.db under a read-only root', embLine[0]);
  await waitForLog(embedded, /"msg":"registry ready"/, 'embedded registry ready');
  const files = await embedded.exec(['stat', '-c', '%n %u %a', '/data', '/data/mcpgw.db']);
  check(files.code === 0 && files.stdout.trim() === '/data 10001 700\n/data/mcpgw.db 10001 600', 'embedded store: /data (0700) and mcpgw.db (0600) owned by uid 10001 on a named volume', files.stdout + files.stderr);
  await podman(['stop', '-t', regGrace, embedded.name], 120_000);
  const embExit = (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', embedded.name])).trim();
  check(embExit === '0', 'embedded store registry: podman stop drains and exits 0', `exit ${embExit}\n${(await embedded.logs()).slice(-1500)}`);
  // What a `docker run -v mcpgw-data:/data` keeps: the file outlives the container.
  const kept = await podman(['run', '--rm', '-v', `${volume}:/data:ro`, '--entrypoint', 'ls', REGISTRY_IMAGE, '/data']);
  check(kept.code === 0 && kept.stdout.includes('mcpgw.db'), 'embedded store: mcpgw.db is on the volume after the container is gone', kept.stdout + kept.stderr);

  console.log(`\nimages smoke: ${checks} checks passed (run ${RUN_ID})`);
  console.log(`image sizes: ${sizes.join(', ')}`);
  const builds = lastBuildTimes();
  if (builds.length > 0) console.log(`last images:build:\n  ${builds.join('\n  ')}`);
  for (const line of report) console.log(line);
}

async function waitReady(url: string, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return performance.now();
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${url} not 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The kubelet's grpc probe is a grpc.health.v1.Health/Check for service ""
 * on the gRPC port; the same call from inside the container, with the
 * image's own @grpc/grpc-js and grpc-health-check.
 */
function grpcHealth(c: Container, port: number) {
  const script = `const grpc=require('@grpc/grpc-js');const {service}=require('grpc-health-check');
const Health=grpc.makeGenericClientConstructor(service,'Health');
const c=new Health('127.0.0.1:${port}',grpc.credentials.createInsecure());
c.check({service:''},{deadline:Date.now()+3000},(e,r)=>{if(e){console.error(e.message);process.exit(1)}
const s=typeof r.status==='number'?['UNKNOWN','SERVING','NOT_SERVING','SERVICE_UNKNOWN'][r.status]:r.status;console.log(s);process.exit(s==='SERVING'?0:1)})`;
  return c.exec(['node', '-e', script]);
}

async function waitForGrpcServing(c: Container, port: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await grpcHealth(c, port)).code === 0) return performance.now();
    if (Date.now() > deadline) throw new Error('registry: grpc health not SERVING within 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The image's Dockerfile HEALTHCHECK, run by podman as the engine would. */
async function healthcheck(c: Container): Promise<void> {
  const r = await podman(['healthcheck', 'run', c.name]);
  check(r.code === 0, `${c.name}: the image's HEALTHCHECK passes (podman healthcheck run)`, r.stdout + r.stderr);
}

async function waitTools(client: Client, prefixes: string[]): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const names = (await client.listTools()).tools.map((t) => t.name);
    if (prefixes.every((p) => names.some((n) => n.startsWith(p)))) return names;
    if (Date.now() > deadline) throw new Error(`tools of ${prefixes.join(', ')} not listed within 60 s; got ${names.join(', ')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function contentText(r: unknown): string {
  const content = (r as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

async function callText(client: Client, name: string, args: Record<string, unknown>, expect: string, what: string): Promise<void> {
  const r = await client.callTool({ name, arguments: args });
  const text = contentText(r);
  check(!r.isError && text.includes(expect), what, JSON.stringify(r).slice(0, 500));
}

guard(main, Number(process.env.MCPGW_IMAGES_SMOKE_DEADLINE_MS ?? 8 * 60_000));
