// A closed-loop load generator: `concurrency` workers each run one call after
// another. Calls that start during the warm-up are not recorded; the CPU time
// of every process of interest is read at the start and end of the measured
// window, so each run also says where the cores went.
import { readFileSync } from 'node:fs';
import { cpuMs, TICK_MS } from './procs.js';
import { latencyStats, type LatencyStats } from './stats.js';

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** One call by worker `w` (0 <= w < concurrency); throws on a failed call. */
  call: (w: number) => Promise<void>;
  /** Processes whose CPU time is read (name -> pid); the benchmark itself is `client`. */
  pids?: Record<string, number>;
}

export interface LoadResult extends LatencyStats {
  errors: number;
  firstError?: string;
  /** Completed calls per second in the measured window. */
  rps: number;
  seconds: number;
  /**
   * CPU milliseconds per process over the measured window, plus `other`
   * (everything else on the machine) and `steal` (taken by the hypervisor).
   */
  cpuMs: Record<string, number>;
  samples: Float64Array;
}

/** Busy and steal time (ms, all cores) of the whole machine, from /proc/stat. */
function machineCpu(): { busy: number; steal: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return { busy: (f[0]! + f[1]! + f[2]! + f[5]! + f[6]!) * TICK_MS, steal: (f[7] ?? 0) * TICK_MS };
  } catch {
    return { busy: NaN, steal: NaN };
  }
}

function readCpu(pids: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = cpuMs(pid);
  const u = process.cpuUsage();
  out.client = (u.user + u.system) / 1000;
  const m = machineCpu();
  out.machine = m.busy;
  out.steal = m.steal;
  return out;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const pids = opts.pids ?? {};
  const start = performance.now();
  const from = start + opts.warmupMs;
  const end = from + opts.durationMs;
  let samples = new Float64Array(4096);
  let n = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastDone = from;
  let cpuStart: Record<string, number> | undefined;
  let cpuStartAt = from;
  const cpuTimer = setTimeout(() => {
    cpuStart = readCpu(pids);
    cpuStartAt = performance.now();
  }, opts.warmupMs);

  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= end) return;
      try {
        await opts.call(w);
      } catch (err) {
        if (t0 >= from) {
          errors++;
          firstError ??= (err as Error).message ?? String(err);
        }
        // A failing target must not turn the loop into a busy spin.
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const t1 = performance.now();
      if (t0 >= from) {
        if (n === samples.length) {
          const grown = new Float64Array(samples.length * 2);
          grown.set(samples);
          samples = grown;
        }
        samples[n++] = t1 - t0;
        if (t1 > lastDone) lastDone = t1;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, w) => worker(w)));
  clearTimeout(cpuTimer);
  const cpuEnd = readCpu(pids);
  const cpuEndAt = performance.now();
  const cpu: Record<string, number> = {};
  if (cpuStart) {
    // Scale to the measured window (the end reading comes a little after the last call).
    const scale = Math.min(1, (lastDone - cpuStartAt) / Math.max(1, cpuEndAt - cpuStartAt));
    for (const k of Object.keys(cpuEnd)) cpu[k] = (cpuEnd[k]! - cpuStart[k]!) * scale;
    // What the rest of the machine used meanwhile (other work on a shared box skews every figure).
    let ours = 0;
    for (const k of Object.keys(cpu)) if (k !== 'machine' && k !== 'steal') ours += cpu[k]!;
    cpu.other = Math.max(0, cpu.machine! - ours);
    delete cpu.machine;
  }
  const used = samples.subarray(0, n);
  const seconds = Math.max(1e-3, (lastDone - from) / 1000);
  return { ...latencyStats(used), errors, firstError, rps: n / seconds, seconds, cpuMs: cpu, samples: used.slice() };
}
