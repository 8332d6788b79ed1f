// `npm run bench -- --peers` without its peers: a peer that cannot be
// installed is reported with the reason (never silently dropped), and the
// section still measures direct and mcpgw, with the edge checking a key on
// every call. No network: the venv's Python is /bin/false and agentgateway's
// binary does not exist. The real peers are validated by hand (bench/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runBench(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
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

test('bench --smoke --peers reports peers it cannot install and still measures direct and mcpgw with auth on', { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'mcpgw-bench-peers-'));
  const cache = mkdtempSync(join(tmpdir(), 'mcpgw-bench-cache-'));
  try {
    const { code, stdout, stderr } = await runBench(
      ['--smoke', '--peers', '--only', 'peers', '--peer-names', 'litellm,agentgateway', '--baseline', 'none', '--out', out],
      { MCPGW_BENCH_CACHE: cache, MCPGW_BENCH_PYTHON: '/bin/false', AGENTGATEWAY_BIN: join(cache, 'no-such-agentgateway') },
      90_000,
    );
    assert.equal(code, 0, `bench exited with ${code}\n${stderr.slice(-4000)}`);
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('-smoke.json'));
    assert.ok(json, `no results JSON in ${files.join(', ')}`);
    const base = json.slice(0, -'.json'.length);
    assert.ok(files.includes(`${base}-peers.svg`), `a peers SVG beside the JSON: ${files.join(', ')}`);
    assert.match(readFileSync(join(out, `${base}-peers.svg`), 'utf8'), /^<svg[\s\S]*<\/svg>$/);

    const r = JSON.parse(readFileSync(join(out, json), 'utf8'));
    assert.ok(r.peers, 'results have a peers section');
    const byId = new Map(r.peers.gateways.map((g: any) => [g.id, g]));
    assert.deepEqual([...byId.keys()], ['direct', 'mcpgw', 'litellm', 'agentgateway']);
    assert.match((byId.get('litellm') as any).status, /^not installed: .*venv failed/);
    assert.match((byId.get('agentgateway') as any).status, /^not installed: AGENTGATEWAY_BIN=.* does not exist/);
    assert.equal((byId.get('mcpgw') as any).status, 'ok');

    // direct and mcpgw measured with both clients at every peer concurrency, without errors (so the key was accepted).
    for (const gw of ['direct', 'mcpgw']) {
      for (const client of ['sdk', 'raw']) {
        for (const c of r.peers.concurrency) {
          const row = r.peers.rows.find((x: any) => x.gateway === gw && x.client === client && x.concurrency === c);
          assert.ok(row, `a row for ${gw} ${client} c=${c}`);
          assert.ok(row.calls > 0, `${gw} ${client} c=${c} measured calls`);
          assert.equal(row.errors, 0, `${gw} ${client} c=${c}: ${row.firstError}`);
        }
      }
    }
    assert.ok(!r.peers.rows.some((x: any) => x.gateway === 'litellm' || x.gateway === 'agentgateway'), 'no rows for peers that did not install');
    const mcpgw = r.peers.comparisons.find((x: any) => x.gateway === 'mcpgw' && x.client === 'raw');
    assert.ok(typeof mcpgw.addedP50 === 'number', 'added p50 for mcpgw');
    assert.ok(r.settings.notes.some((n: string) => /master key/.test(n)), 'the notes say the edge checks a key');

    // The markdown names each peer and why it is missing.
    assert.match(stdout, /## Peers/);
    assert.match(stdout, /\| LiteLLM \|[^\n]*not installed/);
    assert.match(stdout, /\| agentgateway \|[^\n]*not installed/);
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  }
});
