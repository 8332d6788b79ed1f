// Plain-text tables for people; scripts use --json instead.

export function table(headers: string[], rows: string[][], maxWidth = 60): string {
  const clip = (s: string) => {
    const one = s.replace(/\s+/g, ' ');
    return one.length > maxWidth ? `${one.slice(0, maxWidth - 1)}…` : one;
  };
  const cells = rows.map((r) => r.map(clip));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

export const dash = (v: unknown): string => (v === undefined || v === null || v === '' ? '-' : String(v));
export const list = (v: unknown): string => (Array.isArray(v) && v.length ? v.join(',') : '-');
export const ms = (v: unknown): string => (typeof v === 'number' ? `${Math.round(v)}ms` : '-');
