// Percentiles and medians. Latencies are milliseconds.

/** Percentile points kept per run for the latency-distribution chart. */
export const CHART_POINTS = [0, 10, 25, 50, 75, 90, 95, 99, 99.9, 100];

export interface LatencyStats {
  calls: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (q in 0..100). */
export function percentile(sorted: Float64Array | number[], q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (q <= 0) return sorted[0]!;
  const rank = Math.ceil((q / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1]!;
}

export function sortedCopy(samples: ArrayLike<number>): Float64Array {
  return Float64Array.from(samples).sort();
}

export function latencyStats(samples: ArrayLike<number>): LatencyStats {
  const s = sortedCopy(samples);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    calls: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : NaN,
    mean: s.length ? sum / s.length : NaN,
  };
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export function chartPoints(samples: ArrayLike<number>): [number, number][] {
  const s = sortedCopy(samples);
  return CHART_POINTS.map((q) => [q, round3(percentile(s, q))]);
}

export function round3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}

export function round1(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 10) / 10 : x;
}
