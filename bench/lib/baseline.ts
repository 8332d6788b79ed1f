// mcpgw "before" for the side-by-side (issue 14): a built checkout of another
// commit (by default the main the issue was measured on), run beside this one
// in the peers section, so the gateway's CPU per call is compared with the
// older build in the same run, on the same machine, against the same upstream.
// The checkout is a detached git worktree under the bench cache, built once
// (npm ci, tsc -b) and reused.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from './peers.js';
import { ROOT, type Proc } from './procs.js';
import { startEdge, startRedis, startRegistry, waitForTools, writeConfig } from './stack.js';

/** The main of before issue 14 (its figures are quoted in the issue). */
export const DEFAULT_BASELINE = '23ca78f';

export interface Baseline {
  /** As given (--baseline). */
  ref: string;
  /** 'ok', or why there is no row for it. */
  status: string;
  sha?: string;
  /** "<short sha> <subject>". */
  version?: string;
  home?: string;
}

const git = (args: string[], cwd = ROOT) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

/** Checks out and builds `ref` once under the bench cache; a failure comes back as the status. */
export function ensureBaseline(ref: string, log: (l: string) => void): Baseline {
  let sha: string;
  try {
    sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  } catch {
    return { ref, status: `not measured: ${ref} is not a commit of this clone (a shallow clone lacks history: git fetch --unshallow)` };
  }
  const version = `${sha.slice(0, 7)} ${git(['log', '-1', '--format=%s', sha]).slice(0, 60)}`;
  const home = join(cacheDir(), `baseline-${sha.slice(0, 12)}`);
  const marker = join(home, '.mcpgw-bench-built');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === sha) return { ref, status: 'ok', sha, version, home };
  log(`baseline: building ${version} in ${home} (first use: git worktree, npm ci, tsc -b; about a minute)`);
  if (existsSync(home)) {
    spawnSync('git', ['worktree', 'remove', '--force', home], { cwd: ROOT });
    rmSync(home, { recursive: true, force: true });
  }
  spawnSync('git', ['worktree', 'prune'], { cwd: ROOT });
  const steps: [string, string[], string][] = [
    ['git', ['worktree', 'add', '--detach', home, sha], ROOT],
    ['npm', ['ci', '--no-audit', '--no-fund'], home],
    [join(home, 'node_modules/.bin/tsc'), ['-b'], home],
  ];
  for (const [cmd, args, cwd] of steps) {
    const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, PATH: `${join(home, 'node_modules/.bin')}:${process.env.PATH}` } });
    if (r.status !== 0) return { ref, status: `not measured: ${[cmd, ...args].join(' ')} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ').slice(0, 200)}` };
  }
  writeFileSync(marker, `${sha}\n`);
  return { ref, status: 'ok', sha, version, home };
}

/** The older build's registry and edge (with their own Redis) in front of `upstream`, checking `masterKey` per request. */
export async function startBaseline(b: Baseline, upstream: string, masterKey: string): Promise<{ url: string; procs: Proc[] }> {
  const redis = await startRedis();
  const config = writeConfig({ fast: upstream }, 4096);
  const registry = await startRegistry(config, { REDIS_URL: redis.url }, [], b.home!, 'registry-before');
  const edge = await startEdge(registry.url, { REDIS_URL: redis.url, MCPGW_MASTER_KEY: masterKey }, [], 'edge-before', b.home!);
  await waitForTools(edge.url, { names: ['fast__echo'] }, 30_000, { authorization: `Bearer ${masterKey}` });
  // Its Redis is not among the measured processes (nor is this build's): only edge and registry count as the gateway.
  return { url: `${edge.url}/mcp`, procs: [edge.proc, registry.proc] };
}
