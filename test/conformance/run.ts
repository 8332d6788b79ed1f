// `npm run conformance`: the official MCP conformance suite through the
// gateway as it runs in production: Redis, one registry, two edges behind a
// round-robin proxy (no affinity), and our conformance fixture upstream as a
// `session: per_client` server. Three totals, each printed:
//   1. 0.1.16's active suite (gating, as before; `--suite pending` reported too);
//   2. 0.2.0-alpha `server --requirements 2025-11-25` (gating);
//   3. 0.2.0-alpha `server --requirements 2026-07-28` (gating; CONFORMANCE_2026_REQUIRED=0
//      reports it only).
// Gating counts the scenarios the requirement set scores and, since the tasks
// extension landed (issue 22, docs/tasks.md), the suite's whole Total: the "Not
// scored" scenarios (tasks extension, pending) must pass too.
// CONFORMANCE_OUT=dir keeps each run's output and per-scenario checks there;
// CONFORMANCE_ONLY=2,3 runs only those totals; CONFORMANCE_VERBOSE=1 adds --verbose.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { startRoundRobinProxy } from './round-robin-proxy.js';

const require = createRequire(import.meta.url);
const SUITE_0_1 = require.resolve('@modelcontextprotocol/conformance/dist/index.js');
// npm alias of @modelcontextprotocol/conformance@0.2.0-alpha.N (package.json)
const SUITE_0_2 = require.resolve('conformance-next/dist/index.js');
// Gating by default since the 2026 adapter landed; CONFORMANCE_2026_REQUIRED=0 reports it only.
const REQUIRE_2026 = process.env.CONFORMANCE_2026_REQUIRED !== '0';
const OUT_DIR = process.env.CONFORMANCE_OUT;

interface Run { label: string; suite: string; args: string[]; gating: boolean }

function runSuite(suite: string, url: string, extra: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [suite, 'server', '--url', url, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    for (const s of [child.stdout, child.stderr]) s.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => resolve({ code, out }));
  });
}

/**
 * The scenarios the requirement set scores (the suite's Total also counts
 * "Not scored" ones: the tasks extension and pending scenarios).
 */
function required(out: string): { passed: number; failed: number; scenarios: number; failing: string[]; notScored: string } {
  const notScored = new Set([...out.matchAll(/^\s+[✓✗] (\S+) \((?:extension|pending)\)$/gm)].map((m) => m[1]!));
  const seen = new Map<string, [number, number]>();
  for (const m of out.matchAll(/^[✓✗⚠] (\S+): (\d+) passed, (\d+) failed/gm)) if (!notScored.has(m[1]!)) seen.set(m[1]!, [Number(m[2]), Number(m[3])]);
  const rows = [...seen.entries()];
  return {
    passed: rows.reduce((n, [, [p]]) => n + p, 0), failed: rows.reduce((n, [, [, f]]) => n + f, 0), scenarios: rows.length,
    failing: rows.filter(([, [, f]]) => f > 0).map(([name]) => name), notScored: /Not scored[^\n]*/.exec(out)?.[0] ?? '',
  };
}

const summary = (out: string) => out.split('\n').filter((l) => /^[✓✗⚠] |^Total: |pass rate|[Rr]equired|[Nn]ot scored/.test(l.trim())).join('\n');
/** The suite's own Total line: every scenario it ran, scored or not (the tasks extension included). */
function total(out: string): { passed: number; failed: number } | undefined {
  const m = /^Total: (\d+) passed, (\d+) failed/m.exec(out.split('\n').filter((l) => /^Total: /.test(l.trim())).pop()?.trim() ?? '');
  return m ? { passed: Number(m[1]), failed: Number(m[2]) } : undefined;
}
/** The tasks extension's scenarios (io.modelcontextprotocol/tasks), one line each. */
const tasksLines = (out: string) => [...out.matchAll(/^[✓✗⚠] (tasks-\S+): (\d+) passed, (\d+) failed/gm)].map((m) => `  ${m[1]}: ${m[2]} passed, ${m[3]} failed`);
/**
 * Gating: the suite failed, a scored scenario has a failed check, or (since
 * tasks landed, issue 22) any check of the suite's Total failed, not-scored
 * scenarios included.
 */
const failedAny = (r: { code: number | null; out: string }) => r.code !== 0 || required(r.out).failed > 0 || (total(r.out)?.failed ?? 0) > 0;

const RUNS: Run[] = [
  { label: 'suite 0.1.16, active', suite: SUITE_0_1, args: [], gating: true },
  { label: 'suite 0.2.0-alpha, --requirements 2025-11-25', suite: SUITE_0_2, args: ['--requirements', '2025-11-25'], gating: true },
  { label: `suite 0.2.0-alpha, --requirements 2026-07-28${REQUIRE_2026 ? '' : ' (reported only: CONFORMANCE_2026_REQUIRED=0)'}`, suite: SUITE_0_2, args: ['--requirements', '2026-07-28'], gating: REQUIRE_2026 },
];

let failed = false;
const totals: string[] = [];
try {
  const redis = await startRedis();
  // Both edges seal MRTR requestState with one secret: a retry lands on either of them.
  const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `conf${Date.now()}:`, MCPGW_STATE_SECRET: randomBytes(32).toString('base64url') };
  // --shared-state: the fixture's dynamic tool/prompt is service-wide, so a per_client session's
  // test_trigger_tool_change reaches the catalog (and every listen stream) through the shared connection.
  const sharedState = join(mkdtempSync(join(tmpdir(), 'mcpgw-conf-')), 'state.json');
  const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('conformance', 'conformance', ['--shared-state', sharedState], '    session: per_client\n')}`), env);
  const edges = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
  await waitForTools(edges[0]!.url, ['conformance__']);
  const proxy = await startRoundRobinProxy(edges.map((e) => e.url));
  const url = `${proxy.url}/servers/conformance/mcp`;
  console.log(`conformance: Node ${process.version} against ${url} (2 edges, round robin, per_client upstream)`);
  if (OUT_DIR) mkdirSync(OUT_DIR, { recursive: true });

  for (const [i, run] of RUNS.entries()) {
    const only = process.env.CONFORMANCE_ONLY; // e.g. "3" to run just the 2026 set while triaging
    if (only && !only.split(',').includes(String(i + 1))) continue;
    const args = [...run.args, ...(process.env.CONFORMANCE_VERBOSE === '1' ? ['--verbose'] : [])];
    // with CONFORMANCE_OUT, the suite's own per-scenario checks (each failure's message) go to OUT/run-N/
    if (OUT_DIR) args.push('-o', join(OUT_DIR, `run-${i + 1}`));
    const result = await runSuite(run.suite, url, args);
    if (OUT_DIR) writeFileSync(join(OUT_DIR, `run-${i + 1}.txt`), result.out);
    console.log(`\n--- ${run.label} ---`);
    console.log(summary(result.out));
    const totalLine = result.out.split('\n').filter((l) => /^Total: /.test(l.trim())).pop()?.trim() ?? `no total (exit ${result.code})`;
    const req = required(result.out);
    const tasks = tasksLines(result.out);
    if (tasks.length > 0) console.log(`tasks extension (io.modelcontextprotocol/tasks), through the gateway's gateway-run tasks:\n${tasks.join('\n')}`);
    totals.push(`${run.label}: ${totalLine}; scored: ${req.passed} passed, ${req.failed} failed in ${req.scenarios} scenarios${req.failing.length ? ` (failing: ${req.failing.join(', ')})` : ''}${req.notScored ? `; ${req.notScored}` : ''}${result.code ? ` [exit ${result.code}]` : ''}`);
    if (failedAny(result)) {
      if (run.gating) failed = true;
      console.log(result.out.split('=== Failed Checks ===')[1] ?? result.out.slice(-4000));
    }
    if (i === 0) {
      const pending = await runSuite(SUITE_0_1, url, ['--suite', 'pending']);
      console.log('\n--- suite 0.1.16, pending (reported, not gating) ---');
      console.log(summary(pending.out));
    }
  }
  proxy.server.close();
} catch (err) {
  failed = true;
  console.error(`conformance: ${(err as Error).stack}`);
} finally {
  await stopAll();
}
console.log(`\n=== totals ===\n${totals.join('\n')}`);
process.exit(failed ? 1 : 0);
