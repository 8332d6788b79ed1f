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
//     redis-server) is built under that name.
// Then: the edge answers /readyz through the published port; an MCP client
// (with a master key) lists and calls tools, including remote__echo on demo-http, which the
// registry reaches by its compose service name (compose networking and DNS);
// our containers run as uid 10001 with a read-only root; `podman-compose down`
// stops them and they exit 0.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ROOT } from '../harness/processes.js';
import { EDGE_IMAGE, REGISTRY_IMAGE, RUN_ID, TAG, adopt, extraCleanups, guard, podman, podmanOk } from './podman.js';
import { ensureRedisImage, REDIS_IMAGE } from './standins.js';

const OURS = ['redis', 'demo-http', 'registry', 'edge'];
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
    await compose([...base, 'down', '-t', '0'], 120_000);
    await podman(['network', 'rm', '-f', `${project}_default`]);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const s of OURS) adopt(`${project}_${s}_1`);

  // --- up -----------------------------------------------------------------------
  // With a master key, as anything beyond a laptop runs.
  const masterKey = `sk-compose-${RUN_ID}`;
  process.env.MCPGW_MASTER_KEY = masterKey;
  const t0 = performance.now();
  const up = await compose([...base, 'up', '-d', ...OURS]);
  const podmanRuns = up.out.split('\n').filter((l) => l.startsWith('podman run') || l.startsWith('podman create'));
  console.log(`podman-compose up ran:\n  ${podmanRuns.join('\n  ')}`);
  check(up.code === 0, 'podman-compose up -d redis demo-http registry edge', up.out.slice(-3000));
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
      const r = await client.callTool({ name: tool, arguments: args });
      const text = ((r.content ?? []) as { text?: string }[]).map((c) => c.text).join('');
      check(!r.isError && text.includes(want), `compose: ${tool} answers through the edge`, JSON.stringify(r).slice(0, 300));
    }
  } finally {
    await client.close().catch(() => {});
  }

  // --- down -----------------------------------------------------------------------
  const t1 = performance.now();
  // compose's stop_grace_period is 30s; podman-compose 1.0 ignores it, so say it here.
  const down = await compose([...base, 'stop', '-t', '30', 'edge', 'registry', 'demo-http']);
  check(down.code === 0, `podman-compose stop (our services) in ${Math.round(performance.now() - t1)} ms`, down.out.slice(-2000));
  for (const s of ['edge', 'registry']) {
    const code = (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', `${project}_${s}_1`])).trim();
    check(code === '0', `compose ${s}: exited 0 on SIGTERM`, `exit code ${code}`);
  }
  console.log(`\nimages compose: ${checks} checks passed (project ${project}); compose up to edge ready ${Math.round(upMs)} ms`);
}

guard(main, Number(process.env.MCPGW_IMAGES_COMPOSE_DEADLINE_MS ?? 8 * 60_000));
