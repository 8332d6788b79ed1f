// Summarises a V8 .cpuprofile (node --cpu-prof): self and total time per
// function, and self time per package, with the cost per call when the
// number of calls in the profiled window is known.
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { HOPS, type Classifier, type Hop } from './hops.js';
import { ROOT } from './procs.js';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface FunctionCost {
  fn: string;
  where: string;
  package: string;
  selfMs: number;
  totalMs: number;
  selfPct: number;
  /** Self time per call in microseconds (when calls are known). */
  selfUsPerCall?: number;
  totalUsPerCall?: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  /** Sampled time that was not (idle). */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  calls?: number;
  busyUsPerCall?: number;
  top: FunctionCost[];
  byTotal: FunctionCost[];
  packages: { package: string; selfMs: number; selfPct: number; selfUsPerCall?: number }[];
  /** Busy time by hop of the call (when a classifier was given). */
  hops?: { hop: Hop; ms: number; usPerCall?: number }[];
}

/** Which package or part of the code base a script URL belongs to. */
export function packageOf(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const rel = relative(ROOT, path);
  const m = rel.match(/^(services\/[^/]+|packages\/[^/]+|proto)\//);
  return m ? m[1]! : rel;
}

function where(cf: CallFrame): string {
  if (!cf.url) return '';
  const path = cf.url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  const short = nm >= 0 ? path.slice(nm + '/node_modules/'.length) : path.startsWith(ROOT) ? relative(ROOT, path) : path;
  return `${short}:${cf.lineNumber + 1}`;
}

/**
 * `windowMs`: only samples taken this many ms after the process started count
 * (the profile starts with the process; startup and shutdown are left out).
 */
export function summarizeProfile(file: string, calls?: number, topN = 30, windowMs?: [number, number], classify?: Classifier): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const keyOf = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\0${n.callFrame.url}\0${n.callFrame.lineNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  const hopMs = new Map<Hop, number>();
  let idle = 0;
  let gc = 0;
  let all = 0;
  let at = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    at += (prof.timeDeltas[i] ?? 0) / 1000;
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000; // the delta after a sample is that sample's time
    if (windowMs && (at < windowMs[0] || at > windowMs[1])) continue;
    const node = byId.get(prof.samples[i]!);
    if (!node) continue;
    all += dt;
    const name = node.callFrame.functionName;
    if (name === '(idle)') {
      idle += dt;
      continue;
    }
    if (name === '(garbage collector)') gc += dt;
    const k = keyOf(node);
    frames.set(k, node.callFrame);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    const stack: CallFrame[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      stack.push(n.callFrame);
      const kk = keyOf(n);
      if (seen.has(kk)) continue;
      seen.add(kk);
      frames.set(kk, n.callFrame);
      total.set(kk, (total.get(kk) ?? 0) + dt);
    }
    if (classify) {
      const hop = classify(stack);
      hopMs.set(hop, (hopMs.get(hop) ?? 0) + dt);
    }
  }
  const busy = all - idle;
  const perCall = (ms: number) => (calls ? Math.round((ms * 1000 * 10) / calls) / 10 : undefined);
  const cost = (k: string): FunctionCost => {
    const cf = frames.get(k)!;
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return {
      fn: cf.functionName || '(anonymous)', where: where(cf), package: packageOf(cf.url),
      selfMs: Math.round(s * 10) / 10, totalMs: Math.round(t * 10) / 10, selfPct: Math.round((s / busy) * 1000) / 10,
      selfUsPerCall: perCall(s), totalUsPerCall: perCall(t),
    };
  };
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([k]) => cost(k));
  const byTotal = [...total.entries()]
    .filter(([k]) => !['(root)', '(program)'].includes(frames.get(k)!.functionName))
    .sort((a, b) => b[1] - a[1]).slice(0, topN).map(([k]) => cost(k));
  const pk = new Map<string, number>();
  for (const [k, s] of self) {
    const cf = frames.get(k)!;
    const p = cf.functionName.startsWith('(') ? cf.functionName : packageOf(cf.url);
    pk.set(p, (pk.get(p) ?? 0) + s);
  }
  const packages = [...pk.entries()].sort((a, b) => b[1] - a[1]).map(([p, s]) => ({
    package: p, selfMs: Math.round(s * 10) / 10, selfPct: Math.round((s / busy) * 1000) / 10, selfUsPerCall: perCall(s),
  }));
  return {
    file, wallMs: Math.round(all), busyMs: Math.round(busy), idleMs: Math.round(idle), gcMs: Math.round(gc),
    calls, busyUsPerCall: perCall(busy), top, byTotal, packages,
    hops: classify ? HOPS.filter((h) => hopMs.has(h)).map((hop) => ({ hop, ms: Math.round(hopMs.get(hop)! * 10) / 10, usPerCall: perCall(hopMs.get(hop)!) })) : undefined,
  };
}

export function profileMarkdown(title: string, s: ProfileSummary, topN = 25): string {
  const us = (v?: number) => (v === undefined ? '' : v.toFixed(1));
  const lines = [
    `### ${title}`,
    '',
    `Profile \`${relative(ROOT, s.file)}\`: ${s.wallMs} ms sampled, ${s.busyMs} ms busy (${s.gcMs} ms GC)` +
      (s.calls ? `, ${s.calls} calls: **${us(s.busyUsPerCall)} µs CPU per call**` : ''),
    '',
    '| self ms | self % | µs/call | total µs/call | function | where |',
    '|---:|---:|---:|---:|---|---|',
    ...s.top.slice(0, topN).map((f) => `| ${f.selfMs} | ${f.selfPct} | ${us(f.selfUsPerCall)} | ${us(f.totalUsPerCall)} | \`${f.fn}\` | ${f.where} |`),
    '',
    'Self time by package:',
    '',
    '| package | self ms | self % | µs/call |',
    '|---|---:|---:|---:|',
    ...s.packages.slice(0, 15).map((p) => `| ${p.package} | ${p.selfMs} | ${p.selfPct} | ${us(p.selfUsPerCall)} |`),
    '',
    'Largest total (inclusive) time:',
    '',
    '| total µs/call | total ms | function | where |',
    '|---:|---:|---|---|',
    ...s.byTotal.slice(0, topN).map((f) => `| ${us(f.totalUsPerCall)} | ${f.totalMs} | \`${f.fn}\` | ${f.where} |`),
    '',
  ];
  return lines.join('\n');
}

/**
 * The per-hop table of one gateway call from the edge's and the registry's
 * profiles: µs of CPU per call each process spent on each hop, and their sum.
 */
export function hopsMarkdown(edge?: ProfileSummary, registry?: ProfileSummary): string {
  const get = (s: ProfileSummary | undefined, hop: Hop) => s?.hops?.find((h) => h.hop === hop)?.usPerCall;
  const us = (v?: number) => (v === undefined ? '' : v.toFixed(0));
  const rows = HOPS.map((hop) => {
    const e = get(edge, hop);
    const r = get(registry, hop);
    return `| ${hop} | ${us(e)} | ${us(r)} | ${us((e ?? 0) + (r ?? 0))} |`;
  });
  return ['| hop | edge µs/call | registry µs/call | both |', '|---|---:|---:|---:|', ...rows,
    `| **sampled busy** | **${us(edge?.busyUsPerCall)}** | **${us(registry?.busyUsPerCall)}** | **${us((edge?.busyUsPerCall ?? 0) + (registry?.busyUsPerCall ?? 0))}** |`, ''].join('\n');
}
