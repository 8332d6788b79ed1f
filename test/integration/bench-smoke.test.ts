// The benchmark stays out of `npm test`, except this smoke run: it checks that
// the harness works end to end (processes start, every phase runs, results
// are written with the expected shape), never the timings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    // SIGTERM lets the bench stop what it started; SIGKILL if it does not.
    const timer = setTimeout(() => {
      stderr += `\n[test] bench still running after ${timeoutMs} ms; stopping it\n`;
      try { process.kill(child.pid!, 'SIGTERM'); } catch { /* gone */ }
      setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 5_000).unref();
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const isNum = (v: unknown) => typeof v === 'number';

test('bench --quick --smoke runs every phase and writes results JSON, markdown and SVG', { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'mcpgw-bench-smoke-'));
  try {
    const { code, stdout, stderr } = await runBench(['--quick', '--smoke', '--out', out], 90_000);
    assert.equal(code, 0, `bench exited with ${code}\n${stderr.slice(-4000)}`);

    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('-smoke.json'));
    assert.ok(json, `no results JSON in ${files.join(', ')}`);
    const base = json.slice(0, -'.json'.length);
    assert.ok(files.includes(`${base}.md`) && files.includes(`${base}.svg`), `markdown and SVG beside the JSON: ${files.join(', ')}`);

    const r = JSON.parse(readFileSync(join(out, json), 'utf8'));
    for (const key of ['schema', 'date', 'mode', 'machine', 'settings', 'calls', 'comparisons', 'list', 'setup', 'sessions', 'targets']) {
      assert.ok(key in r, `results have "${key}"`);
    }
    assert.equal(r.mode, 'smoke');
    assert.ok(isNum(r.machine.cpus) && typeof r.machine.node === 'string', 'machine facts recorded');

    // tools/call: direct and every gateway transport, with the figures the table needs.
    const transports = new Set(r.calls.filter((c: any) => c.target === 'gateway').map((c: any) => c.transport));
    assert.deepEqual([...transports].sort(), ['legacy-sse', 'rest', 'streamable-http']);
    assert.ok(r.calls.some((c: any) => c.target === 'direct'));
    assert.deepEqual([...new Set(r.calls.map((c: any) => c.client))].sort(), ['raw', 'sdk']);
    for (const c of r.calls) {
      for (const k of ['p50', 'p90', 'p99', 'max', 'rps', 'calls', 'errors', 'concurrency']) assert.ok(k in c, `call row has ${k}`);
      assert.ok(Array.isArray(c.dist));
    }
    assert.ok(r.calls.some((c: any) => c.target === 'gateway' && c.calls > 0), 'some gateway calls were measured');
    assert.ok(r.comparisons.length > 0);
    for (const c of r.comparisons) for (const k of ['gateway', 'direct', 'addedP50', 'rpsRatio']) assert.ok(k in c, `comparison has ${k}`);

    assert.ok(r.list.rows.some((l: any) => l.target === 'gateway') && r.list.rows.some((l: any) => l.target === 'direct'), 'list rows for gateway and direct');
    assert.ok(r.setup.some((s: any) => s.target === 'gateway') && r.setup.some((s: any) => s.target === 'direct'), 'setup rows for gateway and direct');
    assert.deepEqual(r.sessions.map((s: any) => s.transport).sort(), ['legacy-sse', 'streamable-http']);
    for (const s of r.sessions) {
      for (const k of ['edgeRssBytes', 'edgeHeapBytes', 'redisKeyBytes', 'redisUsedBytes']) assert.ok(k in s.perSession, `session cost has ${k}`);
      assert.ok(s.points.length > 0);
    }
    assert.ok(r.targets.length >= 5);
    for (const t of r.targets) for (const k of ['name', 'goal', 'measured', 'pass']) assert.ok(k in t, `target has ${k}`);

    assert.match(readFileSync(join(out, `${base}.svg`), 'utf8'), /^<svg[\s\S]*<\/svg>$/);
    assert.match(stdout, /## Targets/, 'the markdown table is printed');
    assert.match(stderr, /\[\s*\d+\/\d+ /, 'a progress display on stderr');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
