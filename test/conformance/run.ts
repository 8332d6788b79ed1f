// `npm run conformance`: the official MCP conformance suite through the
// gateway as it runs in production: Redis, one registry, two edges behind a
// round-robin proxy (no affinity), and our conformance fixture upstream as a
// `session: per_client` server. Prints the suite's own summary lines; exits
// non-zero when any check of the active suite fails. `--suite pending` is run
// and reported too (its result does not fail the run).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { startRoundRobinProxy } from './round-robin-proxy.js';

const require = createRequire(import.meta.url);
const SUITE = require.resolve('@modelcontextprotocol/conformance/dist/index.js');

function runSuite(url: string, extra: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SUITE, 'server', '--url', url, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    for (const s of [child.stdout, child.stderr]) s.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const summary = (out: string) => out.split('\n').filter((l) => /^[✓✗] |^Total: /.test(l.trim())).join('\n');

let failed = false;
try {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `conf${Date.now()}:` };
  const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('conformance', 'conformance', [], '    session: per_client\n')}`), env);
  const edges = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
  await waitForTools(edges[0]!.url, ['conformance__']);
  const proxy = await startRoundRobinProxy(edges.map((e) => e.url));
  const url = `${proxy.url}/servers/conformance/mcp`;
  console.log(`conformance: suite 0.1.16 on Node ${process.version} against ${url} (2 edges, round robin, per_client upstream)`);

  const active = await runSuite(url, []);
  console.log('\n--- active suite ---');
  console.log(summary(active.out));
  if (active.code !== 0 || /Total: \d+ passed, [1-9]/.test(active.out)) {
    failed = true;
    console.log(active.out.split('=== Failed Checks ===')[1] ?? active.out.slice(-4000));
  }
  const pending = await runSuite(url, ['--suite', 'pending']);
  console.log('\n--- pending suite (reported, not gating) ---');
  console.log(summary(pending.out));
  proxy.server.close();
} catch (err) {
  failed = true;
  console.error(`conformance: ${(err as Error).stack}`);
} finally {
  await stopAll();
}
process.exit(failed ? 1 : 0);
