// Processes the benchmark starts: each in its own process group, bound to
// 127.0.0.1, killed (the whole group) at the end. Output is drained and only
// the last lines are kept (some upstreams log every request).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEEP_LINES = 400;

export interface Proc {
  name: string;
  /** Date.now() when it was spawned. */
  startedAt: number;
  child: ChildProcess;
  pid: number;
  /** The last lines printed (stdout and stderr). */
  lines: string[];
  /** Called with every line, for waiting on a pattern. */
  onLine?: (line: string) => void;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<Proc>();

export function startProcess(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  const proc: Proc = {
    name,
    startedAt: Date.now(),
    child,
    pid: child.pid!,
    lines: [],
    exited,
    kill(signal = 'SIGKILL') {
      try {
        process.kill(-child.pid!, signal);
      } catch { /* already gone */ }
    },
  };
  for (const s of [child.stdout!, child.stderr!]) {
    createInterface({ input: s }).on('line', (l) => {
      proc.lines.push(l);
      if (proc.lines.length > KEEP_LINES) proc.lines.splice(0, proc.lines.length - KEEP_LINES);
      proc.onLine?.(l);
    });
  }
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** Resolves with the first line (already printed or to come) matching `pattern`. */
export function waitForLine(proc: Proc, pattern: RegExp, what: string, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  for (const l of proc.lines) {
    const m = l.match(pattern);
    if (m) return Promise.resolve(m);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`not seen within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      proc.onLine = undefined;
      reject(new Error(`${proc.name}: ${what}: ${why}. Last output:\n${proc.lines.slice(-30).join('\n')}`));
    };
    proc.onLine = (l) => {
      const m = l.match(pattern);
      if (m) {
        clearTimeout(timer);
        proc.onLine = undefined;
        resolve(m);
      }
    };
    void proc.exited.then((code) => fail(`process exited (code ${code}) first`));
  });
}

/** SIGTERM (graceful: lets --cpu-prof write its profile), then SIGKILL after `graceMs`. */
export async function stopProcess(proc: Proc, graceMs = 5_000): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch { /* gone */ }
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
  proc.kill('SIGKILL'); // anything left in its group
}

const cleanups: (() => void)[] = [];
/** Registers something to close before processes are killed (e.g. a Redis client, so it does not reconnect). */
export function atStop(fn: () => void): void {
  cleanups.push(fn);
}

/** Kills every process the benchmark started, whole process groups. */
export async function stopAll(): Promise<void> {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch { /* best effort */ }
  }
  const procs = [...running];
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}

export function runningCount(): number {
  return running.size;
}

// Shared with the test harness: free ports from the OS and polling with a deadline.
export { freePort, waitFor } from '../../test/harness/processes.js';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Milliseconds per clock tick of /proc's CPU counters. */
export const TICK_MS = 1000 / CLK_TCK;

/** CPU time (user + system, ms) a process has used so far; 0 when unknown. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Resident set size in bytes; 0 when unknown. */
export function rssBytes(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Soft and hard limits on open files, as this process and its children inherit them. */
export function fileLimits(): { soft: number; hard: number } {
  const read = (flag: string) => {
    try {
      const v = execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
      return v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v);
    } catch {
      return 1024;
    }
  };
  return { soft: read('-Sn'), hard: read('-Hn') };
}
