// Issue 18: `npm test` once left 22 gateway and fixture processes running after
// a timeout. Whatever ends a test file (the runner's timeout, SIGTERM, SIGKILL),
// the processes it started, and their children, must be gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, waitFor } from '../harness/processes.js';

const LEAKY = join(ROOT, 'test/harness/selftest/leaky.ts');

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Runs `args` with node, returns the pids the leaky test printed and a handle on the run. */
function run(args: string[]) {
  // Without NODE_TEST_CONTEXT: a nested runner would report in its binary child format, not TAP.
  const { NODE_TEST_CONTEXT: _nested, ...env } = process.env;
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const pids = waitFor('the leaky test to print its pids', () => {
    const m = /started (\d+) (\d+)/.exec(out);
    return m ? [Number(m[1]), Number(m[2])] : undefined;
  }, 60_000);
  return { child, exited, pids, output: () => out };
}

async function assertGone(pids: number[], how: string): Promise<void> {
  await waitFor(`processes ${pids.join(', ')} gone after ${how}`, () => (pids.some(alive) ? undefined : true), 15_000);
}

test('a test file whose test failed or timed out without stopping its processes leaves none behind', async () => {
  const r = run(['--import', 'tsx', '--test', '--test-timeout=3000', LEAKY]);
  const pids = await r.pids;
  assert.ok(pids.every(alive), 'both were running');
  await r.exited;
  await assertGone(pids, 'the timeout');
});

test('a test file killed with SIGTERM leaves no process behind', async () => {
  const r = run(['--import', 'tsx', LEAKY]);
  const pids = await r.pids;
  r.child.kill('SIGTERM');
  await r.exited;
  await assertGone(pids, 'SIGTERM');
});

test('a test file killed with SIGKILL leaves no process behind (the reaper)', async () => {
  const r = run(['--import', 'tsx', LEAKY]);
  const pids = await r.pids;
  r.child.kill('SIGKILL');
  await r.exited;
  await assertGone(pids, 'SIGKILL');
});
