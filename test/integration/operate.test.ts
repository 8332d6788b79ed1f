// What the images and the chart promise, proven without a container engine:
// the services run as an unprivileged user with only a temp dir writable and
// stop cleanly on SIGTERM; a real Prometheus scrapes real series from both.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { mkdtempSync, chmodSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startDemoHttp, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { DEMO_SERVER, ROOT, freePort, startProcess, stopAll, waitFor, waitForLine, writeConfig } from '../harness/processes.js';

const has = (cmd: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describe('operating the services', () => {
  after(stopAll);

  test('registry and edge run as uid 65534 with only a temp dir writable, and exit 0 on SIGTERM', async () => {
    assert.ok(has('setpriv'), 'setpriv (util-linux) is needed for this test');
    // The unprivileged user must be able to reach the checkout (a CI clone may
    // sit in a 0700 temp dir): add search permission, nothing else, on the way down.
    for (let dir = ROOT; dir !== dirname(dir); dir = dirname(dir)) {
      const mode = statSync(dir).mode;
      if ((mode & 0o001) === 0) chmodSync(dir, (mode & 0o7777) | 0o001);
    }
    const tmp = mkdtempSync(join(tmpdir(), 'mcpgw-nobody-'));
    chmodSync(tmp, 0o777);
    const cfg = join(tmp, 'config.yaml');
    writeFileSync(cfg, `mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`);
    chmodSync(cfg, 0o644);
    const asNobody = (script: string, env: Record<string, string>) => startProcess('setpriv',
      ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, join(ROOT, script)],
      { HOME: tmp, TMPDIR: tmp, PATH: `${join(process.execPath, '..')}:/usr/bin:/bin`, ...env });
    const grpcPort = await freePort();
    // The embedded store lives in the one writable place (in the image: DATABASE_URL, or a volume).
    const registry = asNobody('services/registry/dist/index.js', { MCPGW_CONFIG: cfg, GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), METRICS_PORT: '0', MCPGW_DATA_DIR: join(tmp, 'data') });
    await waitForLine(registry, /"msg":"registry ready"/, 'registry ready as nobody');
    const port = await freePort();
    const edge = asNobody('services/edge/dist/index.js', { REGISTRY_URL: `127.0.0.1:${grpcPort}`, HOST: '127.0.0.1', PORT: String(port) });
    await waitFor('edge ready as nobody', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok || undefined);
    const call = await fetch(`http://127.0.0.1:${port}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'demo__echo', arguments: { message: 'unprivileged' } }) });
    assert.equal(((await call.json()) as { content: { text: string }[] }).content[0]!.text, 'unprivileged');
    const uid = execFileSync('ps', ['-o', 'uid=', '-p', String(edge.child.pid)], { encoding: 'utf8' }).trim();
    assert.equal(uid, '65534');
    for (const p of [edge, registry]) p.child.kill('SIGTERM');
    assert.equal(await edge.exited, 0, `edge exit code; output:\n${edge.lines.join('\n')}`);
    assert.equal(await registry.exited, 0, `registry exit code; output:\n${registry.lines.join('\n')}`);
  });

  test('a real Prometheus scrapes mcpgw series from the edge and the registry', async (t) => {
    if (!has('prometheus')) {
      if (process.env.CI) assert.fail('prometheus is not installed (.ci/run installs it)');
      t.skip('prometheus not installed');
      return;
    }
    const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`));
    const edge = await startEdge(registry.url);
    await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'demo__echo', arguments: { message: 'x' } }) });
    const dir = mkdtempSync(join(tmpdir(), 'mcpgw-prom-'));
    writeFileSync(join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: edge\n    static_configs: [{ targets: ['127.0.0.1:${edge.port}'] }]\n  - job_name: registry\n    static_configs: [{ targets: ['127.0.0.1:${registry.metricsPort}'] }]\n`);
    const promPort = await freePort();
    startProcess('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`]);
    const query = async (q: string) => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      return body.data.result;
    };
    const up = await waitFor('mcpgw_upstream_up{server="demo"} == 1 in Prometheus', async () => {
      const r = await query('mcpgw_upstream_up{server="demo"}');
      return r.length > 0 && r[0]!.value[1] === '1' ? r : undefined;
    }, 60_000);
    assert.equal(up[0]!.metric.job, 'registry');
    const calls = await waitFor('mcpgw_tool_calls_total in Prometheus', async () => {
      const r = await query('mcpgw_tool_calls_total{server="demo",outcome="ok"}');
      return r.length > 0 ? r : undefined;
    }, 60_000);
    assert.equal(calls[0]!.metric.job, 'edge');
  });
});

describe('logs and traces', () => {
  after(stopAll);

  test('traceparent reaches the HTTP upstream; the upstream credential never appears in any log', async () => {
    const secret = 'sk-test-5ecr3t-value-0123456789';
    const upstream = await startDemoHttp('traced', ['--require-token', secret]);
    const cfg = writeConfig(`mcp_servers:\n  traced:\n    url: ${upstream.url}\n    auth_type: bearer_token\n    auth_value: os.environ/TRACED_TOKEN\n`);
    const registry = await startRegistry(cfg, { TRACED_TOKEN: secret, LOG_LEVEL: 'debug' });
    const edge = await startEdge(registry.url, { LOG_LEVEL: 'debug', MCPGW_CONFIG: cfg });
    await waitForTools(edge.url, ['traced__']);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await fetch(`${edge.url}/mcp/tools/call`, {
      method: 'POST', headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ name: 'traced__echo', arguments: { message: 'traced' } }),
    });
    assert.equal(res.status, 200);
    await waitFor('the traceparent at the upstream', () => upstream.proc.lines.some((l) => l === `traceparent ${traceparent}`) || undefined);
    await waitFor('the access line', () => edge.proc.lines.some((l) => l.includes('"msg":"tools/call"') && l.includes('"outcome":"ok"')) || undefined);
    const leaked = [...registry.proc.lines, ...edge.proc.lines].filter((l) => l.includes(secret));
    assert.deepEqual(leaked, [], 'log lines containing the secret');
  });
});

describe('OpenTelemetry export (optional)', () => {
  after(stopAll);

  test('with OTEL_EXPORTER_OTLP_ENDPOINT both services export spans of the caller\'s trace', async () => {
    // A local OTLP/HTTP receiver: what a collector would get.
    const batches: any[] = [];
    const receiver = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        if (req.url === '/v1/traces') batches.push(JSON.parse(body));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as { port: number }).port}`, OTEL_BSP_SCHEDULE_DELAY: '100' };
    try {
      const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), otel);
      const edge = await startEdge(registry.url, otel);
      await waitForTools(edge.url, ['demo__']);
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const res = await fetch(`${edge.url}/mcp/tools/call`, {
        method: 'POST', headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        body: JSON.stringify({ name: 'demo__echo', arguments: { message: 'traced' } }),
      });
      assert.equal(res.status, 200);
      const spans = () => batches.flatMap((b) => b.resourceSpans.flatMap((rs: any) => {
        const service = rs.resource.attributes.find((a: any) => a.key === 'service.name')?.value.stringValue;
        return rs.scopeSpans.flatMap((ss: any) => ss.spans.map((sp: any) => ({ service, name: sp.name, traceId: sp.traceId })));
      }));
      const ours = await waitFor('spans from the edge and the registry', () => {
        const s = spans().filter((x) => x.traceId === traceId);
        return s.some((x) => x.service === 'mcpgw-edge') && s.some((x) => x.service === 'mcpgw-registry') ? s : undefined;
      }, 15_000);
      assert.ok(ours.some((x) => x.name === 'tools/call demo'));
      assert.ok(ours.some((x) => x.name === 'tools/call demo' && x.service === 'mcpgw-registry'));
    } finally {
      receiver.close();
    }
  });
});
