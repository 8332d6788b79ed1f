// npm run images:kube — the chart's edge and registry pods for real, with
// `podman kube play` (podman 4.3): `helm template` the chart with the images
// images:build made, then play its Deployments and ConfigMap; what podman
// cannot run is printed on NOTE lines with what checks it instead:
//   - Service, HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy,
//     StatefulSet: not run by podman kube play; .ci/check-deploy.sh checks them
//     against Kubernetes' schemas and the chart's assertions;
//   - containerPorts: podman 4.3 publishes each on the host, so they are left
//     out of the played spec (pods reach each other by pod name);
//   - the Secret: podman 4.3 stores a played Secret in a form its own
//     secretKeyRef cannot read ("not valid JSON"), so the test creates the
//     podman secret from the rendered Secret's data (the same keys and values);
//   - fieldRef status.podIP (POD_IP, which GRPC_HOST and MCPGW_ADVERTISE_ADDR
//     expand) is unsupported, and so are $(VAR) references: POD_IP, GRPC_HOST
//     and MCPGW_ADVERTISE_ADDR get 0.0.0.0 (the pod's own netns);
//   - no Services, so no headless-Service DNS: the edge's REGISTRY_URL keeps
//     dns:/// but names the registry pod;
//   - the chart's probes: podman turns httpGet into `curl -f localhost:0/...`
//     (named port unresolved, and the image has no curl) and ignores grpc
//     probes, so the test runs each probe itself inside the containers
//     (HTTP GET /healthz and /readyz; grpc.health.v1 Check);
//   - Redis: a container on the pods' network (externalRedis.url), since the
//     bundled StatefulSet does not play;
//   - the store: the chart renders only with one. The bundled postgresql
//     StatefulSet does not play either, so Postgres (postgres:17-alpine, or
//     the Debian PostgreSQL 15 stand-in standins.ts builds) runs as a container
//     on the pods' network and the chart gets it as externalDatabase.existingSecret
//     (the recommended setting): a Secret with DATABASE_URL the test creates.
// Checked: both pods run; every container as uid 10001 (runAsUser) with a
// read-only root (readOnlyRootFilesystem) and a writable /tmp (emptyDir); the
// config is the ConfigMap's; the tokens are the Secret's; probes answer; an MCP
// client inside the edge pod (the SDK the image carries) lists and calls tools
// through the edge with the chart's generated master key; both registry
// replicas run on the one Postgres (DATABASE_URL from the Secret, migrations
// applied once) and the calls are rows in its call_log; the pods stop within
// the chart's terminationGracePeriodSeconds and exit 0.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments, stringify } from 'yaml';
import { ROOT } from '../harness/processes.js';
import { EDGE_IMAGE, REGISTRY_IMAGE, TAG, adopt, extraCleanups, guard, podman, podmanOk } from './podman.js';
import { ensurePostgresImage, ensureRedisImage, POSTGRES_IMAGE, REDIS_IMAGE } from './standins.js';

let checks = 0;
function check(cond: unknown, what: string, detail = ''): void {
  if (!cond) throw new Error(`${what}${detail ? `: ${detail}` : ''}`);
  checks++;
  console.log(`ok    ${what}`);
}
type Doc = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: any };

async function main(): Promise<void> {
  for (const image of [REGISTRY_IMAGE, EDGE_IMAGE]) {
    if ((await podman(['image', 'exists', image])).code !== 0) throw new Error(`${image} is missing: run npm run images:build first`);
  }
  console.log(`redis image ${REDIS_IMAGE}: ${await ensureRedisImage()}`);
  const pgImage = await ensurePostgresImage();
  console.log(`postgres image ${POSTGRES_IMAGE}: ${pgImage.how}${pgImage.standin ? ` (${pgImage.standin})` : ''}`);
  const helm = execFileSync('bash', [join(ROOT, '.ci/install-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;

  // A release name of this run keeps pod, secret and network names apart from other runs.
  const release = `k${randomBytes(3).toString('hex')}`;
  const net = `${release}-net`;
  const redisHost = `${release}-redis`;
  const pgHost = `${release}-postgres`;
  const pgPassword = randomBytes(12).toString('hex');
  const databaseUrl = `postgres://mcpgw:${pgPassword}@${pgHost}:5432/mcpgw`;
  const dbSecret = `${release}-database`;
  const rendered = execFileSync(helm, ['template', release, join(ROOT, 'helm/mcpgw'), '--namespace', 'mcp',
    '--set', `edge.image.repository=${EDGE_IMAGE.split(':')[0]}`, '--set', `edge.image.tag=${TAG}`, '--set', 'edge.image.pullPolicy=Never',
    '--set', `registry.image.repository=${REGISTRY_IMAGE.split(':')[0]}`, '--set', `registry.image.tag=${TAG}`, '--set', 'registry.image.pullPolicy=Never',
    '--set', `externalRedis.url=redis://${redisHost}:6379`,
    '--set', `externalDatabase.existingSecret=${dbSecret}`, '--set', 'externalDatabase.existingSecretKey=DATABASE_URL'], { encoding: 'utf8' });
  console.log(`NOTE: store: externalDatabase.existingSecret=${dbSecret} (DATABASE_URL of a Postgres container on the pods' network: ${POSTGRES_IMAGE}${pgImage.standin ? `, a local stand-in: ${pgImage.standin}` : ''}); the chart's bundled postgresql StatefulSet is not run: podman kube play 4.3 plays no StatefulSet (.ci/check-deploy.sh validates it)`);
  const docs = parseAllDocuments(rendered).map((d) => d.toJS() as Doc).filter(Boolean);
  const byKind = (k: string) => docs.filter((d) => d.kind === k);
  const skipped = [...new Set(docs.map((d) => d.kind).filter((k) => !['ConfigMap', 'Deployment', 'Secret'].includes(k)))];
  console.log(`NOTE: not run by podman kube play: ${skipped.join(', ')} (.ci/check-deploy.sh validates them against Kubernetes' schemas)`);

  const deployments = byKind('Deployment');
  const edgeDep = deployments.find((d) => d.metadata.name.endsWith('-edge'));
  const regDep = deployments.find((d) => d.metadata.name.endsWith('-registry'));
  if (!edgeDep || !regDep) throw new Error('the chart rendered no edge or registry Deployment');
  const edgePod = `${edgeDep.metadata.name}-pod-0`;
  const regPod = `${regDep.metadata.name}-pod-0`;
  // podman names a Deployment's pods NAME-pod-0 … NAME-pod-(replicas-1).
  const pods = [edgeDep, regDep].flatMap((d) => Array.from({ length: d.spec.replicas ?? 1 }, (_, i) => `${d.metadata.name}-pod-${i}`));
  const container = (dep: Doc) => dep.spec.template.spec.containers[0] as { name: string; env: { name: string; value?: string; valueFrom?: any }[]; ports: { name: string; containerPort: number }[] };
  const setEnv = (dep: Doc, name: string, value: string, why: string) => {
    const e = container(dep).env.find((x) => x.name === name);
    if (!e) throw new Error(`${dep.metadata.name}: no env ${name} to replace`);
    console.log(`NOTE: ${dep.metadata.name}: ${name}=${value} instead of ${JSON.stringify(e.value ?? e.valueFrom)}: ${why}`);
    delete e.valueFrom;
    e.value = value;
  };
  setEnv(regDep, 'POD_IP', '0.0.0.0', 'podman does not support fieldRef status.podIP; the pod has its own network namespace');
  const grpcPortEarly = container(regDep).ports.find((p) => p.name === 'grpc')!.containerPort;
  setEnv(regDep, 'GRPC_HOST', '0.0.0.0', 'podman 4.3 does not expand $(POD_IP) references in env values');
  setEnv(regDep, 'MCPGW_ADVERTISE_ADDR', `0.0.0.0:${grpcPortEarly}`, 'the same; a single-pod registry forwards to no peer here');
  const edgePort = container(edgeDep).ports.find((p) => p.name === 'http')!.containerPort;
  const grpcPort = container(regDep).ports.find((p) => p.name === 'grpc')!.containerPort;
  setEnv(edgeDep, 'REGISTRY_URL', `dns:///${regPod}:${grpcPort}`, 'podman has no Services; the registry pod\'s name resolves on the pods\' network');
  for (const dep of [edgeDep, regDep]) {
    const c = container(dep);
    console.log(`NOTE: ${dep.metadata.name}: ports ${c.ports.map((p) => `${p.name}:${p.containerPort}`).join(', ')} left out of the played spec: podman kube play 4.3 publishes every containerPort on the host (fixed ports collide on a shared machine, and between replicas); pods reach each other by pod name`);
    delete (c as { ports?: unknown }).ports;
  }

  // --- secrets, network, Redis, play ----------------------------------------------
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-kube-'));
  const file = join(dir, 'play.yaml');
  writeFileSync(file, [...byKind('ConfigMap'), edgeDep, regDep].map((d) => stringify(d)).join('---\n'));
  const secrets = byKind('Secret');
  extraCleanups.push(async () => {
    await podman(['kube', 'down', file], 120_000);
    await podman(['pod', 'rm', '-f', '-t', '0', '--ignore', ...pods], 120_000);
    for (const s of secrets) await podman(['secret', 'rm', s.metadata.name]);
    await podman(['secret', 'rm', dbSecret]);
    // kube play keeps a volume per ConfigMap; kube down (4.3) leaves it.
    for (const c of byKind('ConfigMap')) await podman(['volume', 'rm', '-f', c.metadata.name]);
    await podman(['network', 'rm', '-f', net]);
    rmSync(dir, { recursive: true, force: true });
  });
  for (const s of secrets) {
    const f = join(dir, `${s.metadata.name}.json`);
    writeFileSync(f, JSON.stringify(s.data ?? {}), { mode: 0o600 });
    await podman(['secret', 'rm', s.metadata.name]);
    await podmanOk(['secret', 'create', s.metadata.name, f]);
  }
  console.log(`NOTE: Secret ${secrets.map((s) => s.metadata.name).join(', ')} created with podman secret create from the rendered data (podman 4.3 cannot read a played Secret through secretKeyRef)`);
  // The user's database Secret (externalDatabase.existingSecret), as kubectl create secret would make it.
  const dbSecretFile = join(dir, `${dbSecret}.json`);
  writeFileSync(dbSecretFile, JSON.stringify({ DATABASE_URL: Buffer.from(databaseUrl).toString('base64') }), { mode: 0o600 });
  await podman(['secret', 'rm', dbSecret]);
  await podmanOk(['secret', 'create', dbSecret, dbSecretFile]);
  await podmanOk(['network', 'create', net]);
  adopt(redisHost);
  await podmanOk(['run', '-d', '--name', redisHost, '--network', net, '--network-alias', redisHost, REDIS_IMAGE, 'redis-server', '--save', '', '--appendonly', 'no']);
  adopt(pgHost);
  await podmanOk(['run', '-d', '--name', pgHost, '--network', net, '--network-alias', pgHost,
    '-e', 'POSTGRES_DB=mcpgw', '-e', 'POSTGRES_USER=mcpgw', '-e', `POSTGRES_PASSWORD=${pgPassword}`, POSTGRES_IMAGE]);
  const psql = async (sql: string) => {
    const r = await podman(['exec', pgHost, 'psql', '-U', 'mcpgw', '-d', 'mcpgw', '-tAc', sql]);
    if (r.code !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
    return r.stdout.trim();
  };
  for (const t = Date.now(); (await podman(['exec', pgHost, 'pg_isready', '-U', 'mcpgw', '-d', 'mcpgw'])).code !== 0; await new Promise((r) => setTimeout(r, 250))) {
    if (Date.now() - t > 60_000) throw new Error(`postgres not ready within 60 s:\n${(await podman(['logs', pgHost])).stderr}`);
  }

  const t0 = performance.now();
  const play = await podman(['kube', 'play', '--network', net, file], 180_000);
  // podman tries to register the healthchecks it made from the probes with systemd, which this machine lacks: noise, not a failure.
  check(play.code === 0, `podman kube play: pods ${pods.join(', ')} started`, play.stderr + play.stdout);
  const running = (await podmanOk(['pod', 'ps', '--format', '{{.Name}} {{.Status}}'])).split('\n').filter((l) => pods.includes(l.split(' ')[0]!));
  check(running.length === pods.length && running.every((l) => l.endsWith('Running')), `podman pod ps: ${running.length} pods running (edge replicas ${edgeDep.spec.replicas ?? '1 (HPA owns them)'}, registry replicas ${regDep.spec.replicas})`, running.join('; '));
  const edgeC = `${edgePod}-${container(edgeDep).name}`;
  const regC = `${regPod}-${container(regDep).name}`;

  const exec = (c: string, cmd: string[]) => podman(['exec', c, ...cmd]);
  const grpcCheck = `const grpc=require('@grpc/grpc-js');const {service}=require('grpc-health-check');
const H=grpc.makeGenericClientConstructor(service,'Health');new H('127.0.0.1:${grpcPort}',grpc.credentials.createInsecure())
.check({service:''},{deadline:Date.now()+3000},(e,r)=>{if(e){console.error(e.message);process.exit(1)}const s=typeof r.status==='number'?['UNKNOWN','SERVING','NOT_SERVING'][r.status]:r.status;console.log(s);process.exit(s==='SERVING'?0:1)})`;
  const httpCheck = (path: string) => `fetch('http://127.0.0.1:${edgePort}${path}').then(r=>{console.log(r.status);process.exit(r.ok?0:1)},e=>{console.error(e.message);process.exit(1)})`;
  const until = async (what: string, fn: () => Promise<boolean>) => {
    const deadline = Date.now() + 120_000;
    while (!(await fn())) {
      if (Date.now() > deadline) {
        const logs = await Promise.all([edgeC, regC].map(async (c) => `--- ${c}\n${(await podman(['logs', '--tail', '20', c])).stdout}${(await podman(['logs', '--tail', '20', c])).stderr}`));
        throw new Error(`${what} not within 120 s\n${logs.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return performance.now();
  };
  const regReady = await until('registry grpc health SERVING', async () => (await exec(regC, ['node', '-e', grpcCheck])).code === 0);
  const edgeReady = await until('edge /readyz 200', async () => (await exec(edgeC, ['node', '-e', httpCheck('/readyz')])).code === 0);
  check(true, `chart probes: registry grpc.health.v1 SERVING ${Math.round(regReady - t0)} ms, edge /readyz 200 ${Math.round(edgeReady - t0)} ms after kube play`);
  const live = await exec(edgeC, ['node', '-e', httpCheck('/healthz')]);
  check(live.code === 0, 'chart probe: edge httpGet /healthz (startup, liveness) answers 200 inside the pod');
  const hc = (await podmanOk(['inspect', '--format', '{{json .Config.Healthcheck}}', edgeC])).trim();
  console.log(`NOTE: podman's healthcheck made from the edge's liveness probe is ${hc}: not runnable (no curl in the image; named port read as 0), so the probes are run above instead`);

  // --- the pod specs' settings -------------------------------------------------------
  const cm = byKind('ConfigMap')[0]!;
  const secretData = Object.fromEntries(Object.entries(secrets[0]!.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  for (const c of [edgeC, regC]) {
    const id = await exec(c, ['id', '-u']);
    check(id.stdout.trim() === '10001', `${c}: runs as uid 10001 (runAsUser)`, id.stdout + id.stderr);
    const root = await exec(c, ['sh', '-c', 'touch /probe 2>/dev/null && echo writable || echo read-only']);
    check(root.stdout.trim() === 'read-only', `${c}: / is read-only (readOnlyRootFilesystem)`);
    const tmp = await exec(c, ['sh', '-c', 'echo x > /tmp/probe && rm /tmp/probe && echo ok']);
    check(tmp.stdout.trim() === 'ok', `${c}: /tmp (emptyDir) is writable`);
    const conf = await exec(c, ['cat', '/etc/mcpgw/config.yaml']);
    check(conf.stdout === cm.data!['config.yaml'], `${c}: /etc/mcpgw/config.yaml is the ConfigMap's`);
    const token = await exec(c, ['printenv', 'MCPGW_REGISTRY_TOKEN']);
    check(token.stdout.trim() === secretData.MCPGW_REGISTRY_TOKEN && token.stdout.trim().length > 0, `${c}: MCPGW_REGISTRY_TOKEN comes from the Secret (secretKeyRef)`);
  }

  // --- MCP inside the edge pod, with the chart's master key ---------------------------
  const mcpScript = `
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
const c = new Client({ name: 'mcpgw-images-kube', version: '1.0.0' });
const url = new URL('http://127.0.0.1:${edgePort}/mcp');
await c.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: 'Bearer ' + process.env.MCPGW_MASTER_KEY } } }));
let names = [];
for (let i = 0; i < 120; i++) {
  names = (await c.listTools()).tools.map((t) => t.name);
  if (names.some((n) => n.startsWith('everything__')) && names.some((n) => n.startsWith('demo__'))) break;
  await new Promise((r) => setTimeout(r, 500));
}
const r = await c.callTool({ name: 'everything__echo', arguments: { message: 'from the pod' } });
const d = await c.callTool({ name: 'demo__add', arguments: { a: 1, b: 2 } });
console.log(JSON.stringify({ tools: names.length, echo: r.content[0].text, add: d.content[0].text }));
await c.close();
const anon = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
console.log(JSON.stringify({ anonymous: anon.status }));`;
  const mcp = await podman(['exec', '-w', '/app', edgeC, 'node', '--input-type=module', '-e', mcpScript], 180_000);
  const lines = mcp.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const res = lines[0] ?? {};
  check(mcp.code === 0 && Number(res.tools) > 10 && String(res.echo).includes('from the pod') && res.add === '3',
    `MCP inside the edge pod (the image's SDK, the Secret's master key): ${String(res.tools)} tools, everything__echo and demo__add answer`, mcp.stdout + mcp.stderr);
  check(lines[1]?.anonymous === 401, `the edge pod refuses a call without the master key (${String(lines[1]?.anonymous)})`);

  // --- the store: every registry replica on the one Postgres ---------------------------
  const regCs = pods.filter((p) => p.startsWith(regDep.metadata.name)).map((p) => `${p}-${container(regDep).name}`);
  for (const c of regCs) {
    const url = await exec(c, ['printenv', 'DATABASE_URL']);
    check(url.stdout.trim() === databaseUrl, `${c}: DATABASE_URL comes from externalDatabase.existingSecret (secretKeyRef)`);
    const log = (await podman(['logs', c])).stdout + (await podman(['logs', c])).stderr;
    const line = log.split('\n').find((l) => l.includes('"msg":"store ready"')) ?? '';
    check(/"store":"postgres"/.test(line), `${c}: store ready on Postgres`, line || log.slice(-1500));
  }
  const edgeDb = await exec(edgeC, ['printenv', 'DATABASE_URL']);
  check(edgeDb.code !== 0 && edgeDb.stdout.trim() === '', `${edgeC}: no DATABASE_URL (only the registry talks to the store)`);
  const migrations = await psql('select count(*) from schema_migrations');
  check(Number(migrations) > 0 && (await psql('select count(distinct version) from schema_migrations')) === migrations, `store: ${regCs.length} registries, one schema: ${migrations} migrations applied once`);
  let calls = 0;
  for (const t = Date.now(); Date.now() - t < 15_000 && calls < 2; await new Promise((r) => setTimeout(r, 250))) calls = Number(await psql('select count(*) from call_log'));
  check(calls >= 2, `store: the pod's calls are rows in Postgres' call_log (${calls})`);

  // --- stop: the pods' containers get SIGTERM and exit 0 --------------------------------
  // Every pod at once, as `helm uninstall` (or a node drain) meets them, each
  // container with its pod's terminationGracePeriodSeconds (the registry's
  // covers its drain: 0.5 s + drainTimeoutSeconds + closing, which the chart
  // checks). `podman stop` per container, then `podman pod stop` for the
  // infra containers: podman 4.3's `pod stop` takes a pod's network down about
  // a second after SIGTERM while its containers are still draining (measured:
  // name lookups fail with EAI_AGAIN), so an edge's FINs are lost and a
  // registry waits on a dead connection until its drain timeout, then cannot
  // reach Redis. A kubelet keeps the sandbox until the containers have exited.
  const graceOf = (dep: Doc) => String(dep.spec.template.spec.terminationGracePeriodSeconds ?? 30);
  const regDrain = Number(container(regDep).env.find((e) => e.name === 'MCPGW_DRAIN_TIMEOUT_MS')?.value ?? 30_000);
  check(regDrain / 1000 + 5 <= Number(graceOf(regDep)), `chart: registry drain ${regDrain} ms + 5 s fits terminationGracePeriodSeconds ${graceOf(regDep)}`);
  console.log(`NOTE: containers stopped with podman stop -t <terminationGracePeriodSeconds>, then the pods: podman 4.3's pod stop takes the pod network down while containers still drain (a kubelet does not)`);
  const t1 = performance.now();
  const timed = async (c: string, grace: string) => {
    const t = performance.now();
    const r = await podman(['stop', '-t', grace, c], 120_000);
    return { c, ms: Math.round(performance.now() - t), err: r.code === 0 ? '' : r.stderr };
  };
  const stopped = await Promise.all([timed(edgeC, graceOf(edgeDep)), ...regCs.map((c) => timed(c, graceOf(regDep)))]);
  const stopMs = Math.round(performance.now() - t1);
  const stop = await podman(['pod', 'stop', '-t', '10', ...pods], 120_000);
  const preStop = edgeDep.spec.template.spec.containers[0].lifecycle?.preStop?.exec?.command as string[] | undefined;
  if (preStop) console.log(`NOTE: the edge's preStop hook (${preStop.join(' ')}) is not run by podman kube play 4.3: SIGTERM comes at once (checked in Kubernetes only)`);
  const codes = await Promise.all([edgeC, ...regCs].map(async (c) => [c, (await podmanOk(['inspect', '--format', '{{.State.ExitCode}}', c])).trim()] as const));
  for (const [c, code] of codes) {
    const tail = code === '0' ? '' : (await podman(['logs', '--tail', '40', c])).stdout;
    const ms = stopped.find((x) => x.c === c)!.ms;
    check(code === '0', `${c}: exited 0 on SIGTERM, all pods stopping at once (${ms} ms)`, `exit code ${code} after ${ms} ms (all: ${codes.map((x) => x.join(' ')).join(', ')}); ${stopped.map((x) => x.err).join('')}${stop.stderr}\n${tail}`);
  }
  console.log(`\nimages kube: ${checks} checks passed (release ${release}); containers stopped in ${stopMs} ms`);
}

guard(main, Number(process.env.MCPGW_IMAGES_KUBE_DEADLINE_MS ?? 8 * 60_000));
