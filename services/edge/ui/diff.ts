// A line diff (longest common subsequence) for the pending-change view: old
// and new description or schema, one line per row, marked - / + / space.

export interface DiffLine { op: ' ' | '-' | '+'; text: string }

export function toLines(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const s = typeof v === 'string' ? v : JSON.stringify(v, null, 2);
  return s.split('\n');
}

export function lineDiff(a: string[], b: string[]): DiffLine[] {
  // Inputs are descriptions and schemas (tens to hundreds of lines); past that,
  // fall back to "all old removed, all new added" instead of an O(n*m) table.
  if (a.length * b.length > 250_000) return [...a.map((text) => ({ op: '-' as const, text })), ...b.map((text) => ({ op: '+' as const, text }))];
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: ' ', text: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ op: '-', text: a[i++]! });
    else out.push({ op: '+', text: b[j++]! });
  }
  while (i < n) out.push({ op: '-', text: a[i++]! });
  while (j < m) out.push({ op: '+', text: b[j++]! });
  return out;
}
