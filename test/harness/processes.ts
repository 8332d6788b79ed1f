// Starts what a test needs as real processes, each in its own process group,
// and stops them all (the whole group) in teardown. Ports come from the OS.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEMO_SERVER = join(ROOT, 'packages/demo-server/dist/index.js');

export interface Proc {
  child: ChildProcess;
  /** Every line the process printed (stdout and stderr). */
  lines: string[];
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

const running = new Set<Proc>();

/**
 * Nothing a test starts may outlive it. `stopAll` in `after` covers the usual
 * end; a test file that exits, or is interrupted, kills its groups on the way
 * out; and a reaper process (test/harness/reaper.cjs) kills what is left when
 * the test file is gone in a way no hook sees (the runner's SIGKILL).
 */
let reaper: ChildProcess | undefined;
function tellReaper(line: string): void {
  if (!reaper) {
    reaper = spawn(process.execPath, [join(ROOT, 'test/harness/reaper.cjs')], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    reaper.unref();
    (reaper.stdin as unknown as { unref(): void }).unref();
    reaper.stdin!.on('error', () => { /* the reaper died first: nothing to tell */ });
  }
  reaper.stdin!.write(`${line}\n`);
}

/** Every process group started and not yet stopped: a group outlives its leader (a registry's stdio upstreams). */
const groups = new Set<number>();

function killAllNow(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch { /* already gone */ }
  }
}
process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.kill(process.pid, signal);
  });
}

export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  for (const s of [child.stdout!, child.stderr!]) createInterface({ input: s }).on('line', (l) => lines.push(l));
  // A test file whose tests are over (or timed out) must exit even if it forgot to stop what it started:
  // its exit hook then kills the groups. So the process does not hold the file open; a test that waits
  // for it to exit does (`exited` holds a timer until then).
  child.unref();
  for (const s of [child.stdout!, child.stderr!]) (s as unknown as { unref(): void }).unref();
  const exitCode = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const proc: Proc = {
    child,
    lines,
    get exited() {
      if (child.exitCode !== null || child.signalCode !== null) return exitCode;
      const hold = setInterval(() => {}, 60_000);
      return exitCode.finally(() => clearInterval(hold));
    },
    kill(signal = 'SIGKILL') {
      try {
        process.kill(-child.pid!, signal);
      } catch { /* already gone */ }
    },
  };
  running.add(proc);
  if (child.pid) {
    groups.add(child.pid);
    tellReaper(`+${child.pid}`);
  }
  void exitCode.then(() => running.delete(proc));
  return proc;
}

/** Kills every process a test started, whole process groups, and waits for them. */
export async function stopAll(): Promise<void> {
  const procs = [...running];
  killAllNow();
  await Promise.all(procs.map((p) => p.exited));
  for (const pgid of groups) tellReaper(`-${pgid}`);
  groups.clear();
}

/** Resolves with the first line matching `pattern`; fails with what was awaited and the output so far. */
export async function waitForLine(proc: Proc, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  for (;;) {
    for (; seen < proc.lines.length; seen++) {
      const m = proc.lines[seen]!.match(pattern);
      if (m) return m;
    }
    if (proc.child.exitCode !== null) throw new Error(`${what}: process exited (code ${proc.child.exitCode}) first. Output:\n${proc.lines.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms. Output:\n${proc.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-test-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, yaml);
  return file;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
