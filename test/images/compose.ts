// npm run images:compose — docker-compose.yml for real, with podman-compose.
// Our services (redis, demo-http, registry, edge) start from the compose file
// as it is, but for what a shared CI machine needs, each printed below:
//   - Prometheus and Grafana are skipped (third-party images; no registry here),
//     said on a NOTE line, never silently;
//   - the edge publishes on 127.0.0.1 with a port the engine picks, not 4000;
//   - ${VAR:-} becomes ${VAR} (podman-compose 1.0 does not interpolate it);
//   - build: sections are dropped (images:build made the images), relative
//     volume paths are made absolute (the copy lives in a temp dir);
//   - redis:7.4-alpine is pulled, or else a local stand-in (Debian's
//     redis-server) is built under that name;
//   - postgres:17-alpine likewise: pulled, or a local stand-in (Debian
//     bookworm's PostgreSQL 15, initialized like the official image from
//     POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB), said on a NOTE line.
// Then: the edge answers /readyz through the published port; an MCP client
// (with a master key) lists and calls tools, including remote__echo on demo-http, which the
// registry reaches by its compose service name (compose networking and DNS);
// our containers run as uid 10001 with a read-only root; the registry keeps its
// records in the postgres service (a key minted through the admin API is a row
// there and still works after Redis and the edge restart; the calls are in
// call_log); `podman-compose stop` with each service's stop_grace_period stops
// them and they exit 0.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT } from '../harness/processes.js';
import { EDGE_IMAGE, REGISTRY_IMAGE, RUN_ID, TAG, adopt, extraCleanups, guard, podman, podmanOk } from './podman.js';
import { ensurePostgresImage, ensureRedisImage, POSTGRES_IMAGE, REDIS_IMAGE } from './standins.js';

const OURS = ['redis', 'postgres', 'demo-http', 'registry', 'edge'];
const THIRD_PARTY = ['prometheus', 'grafana'];
let checks = 0;
function check(cond: unknown, what: string, detail = ''): void {
  if (!cond) throw new Error(`${what}${detail ? `: ${detail}` : ''}`);
  checks++;
  console.log(`ok    ${what}`);
}

function compose(args: string[], timeoutMs = 300_000): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile('podman-compose', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: process.env }, (err, stdout, stderr) => {
      res({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

async function main(): Promise<void> {
  for (const image of [REGISTRY_IMAGE, EDGE_IMAGE]) {
    if ((await podman(['image', 'exists', image])).code !== 0) throw new Error(`${image} is missing: run npm run images:build first`);
  }
  console.log(`redis image ${REDIS_IMAGE}: ${await ensureRedisImage()}`);
  const pgImage = await ensurePostgresImage();
  console.log(`postgres image ${POSTGRES_IMAGE}: ${pgImage.how}`);
  if (pgImage.standin) console.log(`NOTE: compose service "postgres" runs a local stand-in under the name ${POSTGRES_IMAGE}: ${pgImage.standin}, initialized like the official image from POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB (no container registry can give the official image here)`);

  // --- the compose file, adapted as the header says ---------------------------
  // podman-compose 1.0 leaves ${VAR:-} (an empty default) uninterpolated, so
  // the edge would get the literal text as its master key; ${VAR} means the same.
  const source = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
  const emptyDefaults = [...new Set(source.match(/\$\{[A-Z_]+:-\}/g) ?? [])];
  if (emptyDefaults.length > 0) console.log(`NOTE: ${emptyDefaults.join(', ')} written as \${NAME}: podman-compose 1.0 does not interpolate an empty :- default`);
  const doc = parseYaml(source.replace(/\$\{([A-Z_]+):-\}/g, '${$1}'), { merge: true }) as {
    services: Record<string, Record<string, unknown>>;
  };
  for (const name of THIRD_PARTY) {
    if (doc.services[name]) {
      console.log(`NOTE: skipping compose service "${name}" (${String(doc.services[name]!.image)}): a third-party image no registry can give us here; its config is checked offline by .ci/check-deploy.sh`);
      delete doc.services[name];
    }
  }
  const unknown = Object.keys(doc.services).filter((s) => !OURS.includes(s));
  if (unknown.length > 0) throw new Error(`docker-compose.yml has services this test does not know: ${unknown.join(', ')}; add them to OURS or THIRD_PARTY`);
  for (const [name, svc] of Object.entries(doc.services)) {
    delete svc.build;
    if (typeof svc.image === 'string' && svc.image.startsWith('mcpgw-')) svc.image = `localhost/${svc.image.replace(/:local$/, `:${TAG}`)}`;
    if (Array.isArray(svc.volumes)) svc.volumes = svc.volumes.map((v: string) => (v.startsWith('./') ? resolve(ROOT, v.split(':')[0]!) + v.slice(v.indexOf(':')) : v));
    if (name === 'edge') {
      check(JSON.stringify(svc.ports) === '["4000:4000"]', 'compose: edge publishes 4000:4000 (replaced by 127.0.0.1::4000 here)', JSON.stringify(svc.ports));
      svc.ports = ['127.0.0.1::4000'];
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-compose-'));
  const file = join(dir, 'docker-compose.yml');
  // JSON is YAML too, and PyYAML (YAML 1.1, podman-compose) would read a
  // re-serialized bare `no` as false: --appendonly False.
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const project = RUN_ID.replace(/[^a-z0-9]/g, '');
  const base = ['-p', project, '-f', file];
  extraCleanups.push(async () => {
    await compose([...base, 'down', '-v', '-t', '0'], 120_000);
    await podman(['network', 'rm', '-f', `${project}_default`]);
    await podman(['volume', 'rm', '-f', `${project}_postgres-data`]);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const s of OURS) adopt(`${project}_${s}_1`);

  // --- up -----------------------------------------------------------------------
  // With a master key, as anything beyond a laptop runs.
  const masterKey = `sk-compose-${RUN_ID}`;
  process.env.MCPGW_MASTER_KEY = masterKey;
  const t0 = performance.now();
  const up = await compose([...base, 'up', '-d', ...OURS]);
  const grace = (s: string) => Number(String(doc.services[s]!.stop_grace_period ?? '10s').replace(/s$/, ''));
  const podmanRuns = up.out.split('\n').filter((l) => l.startsWith('podman run') || l.startsWith('podman create'));
  console.log(`podman-compose up ran:\n  ${podmanRuns.join('\n  ')}`);
  check(up.code === 0, `podman-compose up -d ${OURS.join(' ')}`, up.out.slice(-3000));
  const edgeName = `${project}_edge_1`;
  const port = (await podmanOk(['port', edgeName, '4000/tcp'])).trim().split(':').pop();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      const logs = await Promise.all(OURS.map(async (s) => `--- ${s}\n${(await podman(['logs', '--tail', '30', `${project}_${s}_1`])).stderr}`));
      throw new Error(`edge ${url}/readyz not 200 within 120 s\n${logs.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const upMs = performance.now() - t0;
  check(true, `compose: edge ready on ${url} ${Math.round(upMs)} ms after podman-compose up`);

  // --- our containers' settings ---------------------------------------------
  for (const s of ['demo-http', 'registry', 'edge']) {
    const name = `${project}_${s}_1`;
    const id = await podman(['exec', name, 'id', '-u']);
    check(id.stdout.trim() === '10001', `compose ${s}: runs as uid 10001`, id.stdout + id.stderr);
    const w = await podman(['exec', name, 'sh', '-c', 'touch /probe 2>/dev/null && echo writable || echo read-only']);
    check(w.stdout.trim() === 'read-only', `compose ${s}: / is read-only`);
    const extra = await podman(['exec', name, 'sh', '-c', 'for d in /run /var/tmp; do touch $d/probe 2>/dev/null && echo $d; done; true']);
    if (extra.stdout.trim()) console.log(`NOTE: compose ${s}: ${extra.stdout.trim().split('\n').join(' and ')} writable too: podman's --read-only mounts tmpfs there (--read-only-tmpfs defaults to true; podman-compose 1.0 cannot turn it off); Docker's read_only does not`);
  }

  // --- MCP through the published port -----------------------------------------
  const anon = await fetch(`${url}/mcp/tools/list`);
  check(anon.status === 401, `compose: the edge refuses a call without the master key (${anon.status})`);
  const client = new Client({ name: 'mcpgw-images-compose', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${masterKey}` } } }));
  try {
    let names: string[] = [];
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      names = (await client.listTools()).tools.map((t) => t.name);
      if (['demo__', 'everything__', 'remote__'].every((p) => names.some((n) => n.startsWith(p)))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    check(['demo__', 'everything__', 'remote__'].every((p) => names.some((n) => n.startsWith(p))), `compose: tools/list through the edge lists demo, everything and remote (${names.length} tools)`, names.join(', '));
    for (const [tool, args, want] of [
      ['remote__echo', { message: 'via demo-http' }, 'via demo-http'],
      ['everything__echo', { message: 'preinstalled' }, 'preinstalled'],
      ['demo__add', { a: 20, b: 22 }, '42'],
    ] as const) {
      // A container's first connection to another can time out while podman's network settles on a loaded
      // machine: one retry, said out loud, so a lasting failure still fails the check.
      const call = () => client.callTool({ name: tool, arguments: args });
      const r = await call().catch(async (err: unknown) => {
        console.log(`NOTE: ${tool} failed once (${(err as Error).message.slice(0, 160)}); retrying once`);
        return call();
      });
      const text = ((r.content ?? []) as { text?: string }[]).map((c) => c.text).join('');
      check(!r.isError && text.includes(want), `compose: ${tool} answers through the edge`, JSON.stringify(r).slice(0, 300));
    }
  } finally {
    await client.close().catch(() => {});
  }

  // --- the store: the postgres service is the registry's system of record -------
  const pgC = `${project}_postgres_1`;
  const psql = async (sql: string) => {
    const r = await podman(['exec', pgC, 'psql', '-U', 'mcpgw', '-d', 'mcpgw', '-tAc', sql]);
    if (r.code !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const regLog = (await podman(['logs', `${project}_registry_1`])).stderr + (await podman(['logs', `${project}_registry_1`])).stdout;
  const storeLine = regLog.split('\n').find((l) => l.includes('"msg":"store ready"')) ?? '';
  check(/"store":"postgres"/.test(storeLine), 'compose registry: store ready on the postgres service (DATABASE_URL)', storeLine || regLog.slice(-1500));
  let calls = 0;
  for (const t = Date.now(); Date.now() - t < 15_000 && calls < 3; await new Promise((r) => setTimeout(r, 250))) calls = Number(await psql('select count(*) from call_log'));
  check(calls >= 3, `compose: the calls are rows in postgres' call_log (${calls})`);
  const minted = await fetch(`${url}/admin/api/keys`, { method: 'POST', headers: { authorization: `Bearer ${masterKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: `compose-${RUN_ID}` }) });
  const created = (await minted.json()) as { id?: string; key?: string };
  check(minted.status === 201 && typeof created.key === 'string', `compose: POST /admin/api/keys mints a key (${minted.status})`, JSON.stringify(created));
  check(await psql(`select count(*) from keys where id = '${created.id!.replace(/'/g, '')}' and revoked_at_ms is null`) === '1', 'compose: the minted key is a row in postgres');
  check(await psql(`select count(*) from keys where keys::text like '%${created.key!.replace(/[^A-Za-z0-9_-]/g, '')}%'`) === '0', 'compose: the key itself is nowhere in that row (only its sha256)');
  // Redis holds no record: restart it (no persistence: it comes back empty) and
  // the edge (its key cache goes), and the key still works, read from postgres.
  const t2 = performance.now();
  await podmanOk(['restart', '-t', '10', `${project}_redis_1`]);
  await podmanOk(['restart', '-t', String(grace('edge')), edgeName]);
  const url2 = `http://127.0.0.1:${(await podmanOk(['port', edgeName, '4000/tcp'])).trim().split(':').pop()}`;
  for (const t = Date.now(); !(await fetch(`${url2}/readyz`).then((r) => r.ok, () => false)); await new Promise((r) => setTimeout(r, 250))) {
    if (Date.now() - t > 60_000) throw new Error(`edge not ready within 60 s after its restart:\n${(await podman(['logs', '--tail', '30', edgeName])).stderr}`);
  }
  const dbsize = (await podmanOk(['exec', `${project}_redis_1`, 'redis-cli', 'dbsize'])).trim();
  const withKey = new Client({ name: 'mcpgw-images-compose-key', version: '1.0.0' });
  await withKey.connect(new StreamableHTTPClientTransport(new URL(`${url2}/mcp`), { requestInit: { headers: { authorization: `Bearer ${created.key}` } } }));
  try {
    let r: Awaited<ReturnType<Client['callTool']>> | undefined;
    for (const t = Date.now(); Date.now() - t < 30_000; await new Promise((res) => setTimeout(res, 500))) {
      r = await withKey.callTool({ name: 'demo__add', arguments: { a: 1, b: 1 } }).catch(() => undefined);
      if (r && !r.isError) break;
    }
    const text = ((r?.content ?? []) as { text?: string }[]).map((c) => c.text).join('');
    check(r && !r.isError && text.includes('2'), `compose: after Redis restarted without its data (dbsize ${dbsize} once the edge was back) and the edge restarted (key cache gone), the admin-minted key still calls demo__add (${Math.round(performance.now() - t2)} ms)`, JSON.stringify(r).slice(0, 300));
  } finally {
    await withKey.close().catch(() => {});
  }

  // --- down -----------------------------------------------------------------------
  const t1 = performance.now();
  // podman-compose 1.0 ignores stop_grace_period, so each service's is passed here (edge 30 s, registry 40 s).
  for (const s of ['edge', 'registry', 'demo-http']) {
    const t = performance.now();
    const down = await compose([...base, 'stop', '-t', String(grace(s)), s]);
    check(down.code === 0, `podman-compose stop -t ${grace(s)} ${s} (stop_grace_period) in ${Math.round(performance.now() - t)} ms`, down.out.slice(-2000));
  }
  const stopMs = Math.round(performance.now() - t1);
  for (const s of ['edge', 'registry']) {
    const code = (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', `${project}_${s}_1`])).trim();
    check(code === '0', `compose ${s}: exited 0 on SIGTERM`, `exit code ${code}`);
  }
  console.log(`\nimages compose: ${checks} checks passed (project ${project}); compose up to edge ready ${Math.round(upMs)} ms; stop of edge, registry, demo-http ${stopMs} ms`);
}

guard(main, Number(process.env.MCPGW_IMAGES_COMPOSE_DEADLINE_MS ?? 8 * 60_000));
