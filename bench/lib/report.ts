// The markdown table and the SVG chart written beside the results JSON.
import type { BenchResults, CallRow, Comparison, PeerComparison, PeersSection } from './results.js';

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const int = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const pct = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '–');
const kib = (b: number) => (Number.isFinite(b) ? `${(b / 1024).toFixed(2)} KiB` : '–');
const mb = (b: number) => (Number.isFinite(b) ? `${(b / 1024 / 1024).toFixed(1)} MB` : '–');
const TRANSPORT: Record<CallRow['transport'], string> = { 'streamable-http': 'Streamable HTTP', 'legacy-sse': 'legacy SSE', rest: 'REST' };

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  const out: string[] = [];
  out.push(`# mcpgw benchmark, ${r.date} (${r.mode})`, '');
  out.push(`Machine: ${m.cpus} cores (${m.cpuModel}), Node ${m.node}, ${m.platform} ${m.release}, ${m.totalMemoryMB} MB RAM; commit ${m.commit}${m.dirty ? ' (with local changes)' : ''}. ` +
    `Every process (client, edge, registry, upstreams, Redis) shares these cores. ` +
    `Each figure is the median of ${s.rounds} round${s.rounds > 1 ? 's' : ''} of ${s.durationMs} ms after ${s.warmupMs} ms of warm-up; the run took ${Math.round(r.durationSeconds)} s.`, '');
  for (const n of s.notes) out.push(`- ${n}`);
  if (s.notes.length) out.push('');

  out.push('## Targets (issues 6 and 14)', '', '| target | goal | measured | |', '|---|---|---|---|');
  for (const t of r.targets) out.push(`| ${t.name} | ${t.goal} | ${t.measured} | ${t.pass ? 'met' : '**missed**'} |`);
  out.push('');

  out.push('## tools/call: gateway vs direct', '',
    'Direct: the same client calls the same upstream over Streamable HTTP. "gw / direct" cells give the gateway figure, then the direct one. ' +
    '`sdk` is the SDK\'s `Client`; `raw` is keep-alive HTTP from node:http (the throughput ceiling). CPU: edge + registry CPU time per gateway call.', '',
    '| workload | client | gateway via | c | p50 ms gw / direct | added p50 ms | p90 ms gw / direct | p99 ms gw / direct | max ms gw / direct | calls/s gw / direct | throughput ratio | CPU µs/call | errors |',
    '|---|---|---|---:|---|---:|---|---|---|---|---:|---:|---:|');
  for (const c of r.comparisons) {
    const row = r.calls.find((x) => x.workload === c.workload && x.client === c.client && x.transport === c.transport && x.concurrency === c.concurrency && x.target === 'gateway');
    const resp = row ? ` (${row.response})` : '';
    out.push(`| ${c.workload} | ${c.client} | ${TRANSPORT[c.transport]}${resp} | ${c.concurrency} | ${f3(c.gateway.p50)} / ${f3(c.direct.p50)} | ${f3(c.addedP50)} | ` +
      `${f3(c.gateway.p90)} / ${f3(c.direct.p90)} | ${f3(c.gateway.p99)} / ${f3(c.direct.p99)} | ${f2(c.gateway.max)} / ${f2(c.direct.max)} | ` +
      `${int(c.gateway.rps)} / ${int(c.direct.rps)} | ${pct(c.rpsRatio)} | ${c.gatewayCpuUsPerCall === undefined ? '–' : int(c.gatewayCpuUsPerCall)} | ${c.gateway.errors + c.direct.errors || ''} |`);
  }
  out.push('');

  out.push(`## A list of ${r.list.servers * r.list.toolsPerServer} tools from ${r.list.servers} upstreams`, '',
    'Direct: one upstream serving the same tools from pre-serialized bytes.', '',
    '| path | client | c | p50 ms | p90 ms | p99 ms | max ms | lists/s | tools | bytes |', '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const l of r.list.rows) out.push(`| ${l.path} | ${l.client} | ${l.concurrency} | ${f3(l.p50)} | ${f3(l.p90)} | ${f3(l.p99)} | ${f2(l.max)} | ${int(l.rps)} | ${l.tools} | ${int(l.bytes)} |`);
  out.push('');

  out.push('## Session setup: initialize + first tools/list', '',
    '`sdk`: `client.connect()` + `listTools()`; `raw`: initialize, notifications/initialized, tools/list. Sequential, one at a time.', '',
    '| client | path | p50 ms | p90 ms | p99 ms | max ms | gateway / direct (p50) |', '|---|---|---:|---:|---:|---:|---:|');
  for (const x of r.setup) {
    const direct = r.setup.find((d) => d.client === x.client && d.target === 'direct');
    const ratio = x.target === 'gateway' && direct ? `${(x.p50 / direct.p50).toFixed(2)}×` : '';
    out.push(`| ${x.client} | ${x.path} | ${f3(x.p50)} | ${f3(x.p90)} | ${f3(x.p99)} | ${f2(x.max)} | ${ratio} |`);
  }
  out.push('');

  out.push('## Session cost (idle sessions on one edge, Redis-backed)', '',
    'Edge figures after a forced GC (`--expose-gc`), from a baseline taken after a warm-up batch. Redis: `MEMORY USAGE` of sampled `mcpgw:session:{id}` keys, and the growth of `used_memory`.', '',
    '| transport | sessions | edge RSS | edge heap used | Redis used_memory | Redis keys |', '|---|---:|---:|---:|---:|---:|');
  for (const sc of r.sessions) {
    for (const p of [sc.baseline, ...sc.points]) {
      out.push(`| ${TRANSPORT[sc.transport]} | ${p === sc.baseline ? `baseline (${int(p.sessions)})` : int(p.sessions)} | ${mb(p.rssBytes)} | ${mb(p.heapUsedBytes)} | ${mb(p.redisUsedMemoryBytes)} | ${int(p.redisKeys)} |`);
    }
  }
  out.push('', '| transport | edge RSS / session | edge heap / session | Redis MEMORY USAGE / key | Redis used_memory / session | record bytes |', '|---|---:|---:|---:|---:|---:|');
  for (const sc of r.sessions) {
    const p = sc.perSession;
    out.push(`| ${TRANSPORT[sc.transport]} | ${kib(p.edgeRssBytes)} | ${kib(p.edgeHeapBytes)} | ${int(p.redisKeyBytes)} B | ${int(p.redisUsedBytes)} B | ${int(p.recordBytes)} B |`);
  }
  out.push('');
  if (r.peers) out.push(...peersMarkdown(r.peers));
  return out.join('\n');
}

/** The side-by-side table: direct, mcpgw and each peer, per client kind. */
export function peersMarkdown(p: PeersSection): string[] {
  const out: string[] = [];
  const c1 = Math.min(...p.concurrency);
  const cs = p.concurrency.filter((c) => c !== c1);
  out.push(`## Peers: mcpgw beside other MCP gateways (${p.workload}, auth on for all)`, '');
  for (const n of p.notes) out.push(`- ${n}`);
  out.push('');
  out.push('| gateway | version | auth per request | status |', '|---|---|---|---|');
  for (const g of p.gateways) out.push(`| ${g.label} | ${g.version ?? ''} | ${g.auth ?? (g.id === 'direct' ? 'none' : '')} | ${g.status} |`);
  out.push('');
  for (const client of ['sdk', 'raw'] as const) {
    out.push(`### ${client === 'sdk' ? 'SDK client (`Client`, one session per worker)' : 'raw keep-alive HTTP client'}`, '',
      `| gateway | added p50 ms, c=${c1} | p50 ms, c=${c1} | ${cs.map((c) => `calls/s, c=${c}`).join(' | ')} | gateway CPU µs/call, c=${Math.max(...p.concurrency)} | errors |`,
      `|---|---:|---:|${cs.map(() => '---:|').join('')}---:|---:|`);
    for (const g of p.gateways) {
      const x = p.comparisons.find((y) => y.gateway === g.id && y.client === client);
      if (!x) {
        out.push(`| ${g.label} | – | – | ${cs.map(() => '–').join(' | ')} | – | ${g.status} |`);
        continue;
      }
      const first = p.rows.find((rr) => rr.gateway === g.id && rr.client === client && rr.firstError)?.firstError;
      out.push(`| ${g.label} | ${g.id === 'direct' ? '' : f3(x.addedP50 ?? NaN)} | ${f3(x.p50 ?? NaN)} | ${cs.map((c) => int(x.rps[String(c)] ?? NaN)).join(' | ')} | ${x.cpuUsPerCall === undefined ? '–' : int(x.cpuUsPerCall)} | ${x.errors ? `${x.errors}${first ? ` (${first.slice(0, 80)})` : ''}` : ''} |`);
    }
    out.push('');
  }
  return out;
}

// ---- SVG for the peers section: added p50 at the lowest concurrency and calls/s at each other one, per client kind

const PEER_COLORS = ['#333333', '#1f77b4', '#d62728', '#9467bd', '#2ca02c', '#8c564b'];

export function svgPeers(r: BenchResults): string {
  const p = r.peers!;
  const c1 = Math.min(...p.concurrency);
  const cs = p.concurrency.filter((c) => c !== c1);
  const gws = p.gateways;
  const panels: { title: string; client: 'sdk' | 'raw'; value: (x: PeerComparison) => number; unit: string; skipDirect: boolean }[] = [];
  for (const client of ['sdk', 'raw'] as const) {
    panels.push({ title: `added p50 at c=${c1}, ${client} client (ms, lower is better)`, client, value: (x) => x.addedP50 ?? NaN, unit: 'ms', skipDirect: true });
    for (const c of cs) panels.push({ title: `calls/s at c=${c}, ${client} client (higher is better)`, client, value: (x) => x.rps[String(c)] ?? NaN, unit: '/s', skipDirect: false });
  }
  const W = 360;
  const barH = 18;
  const gap = 6;
  const labelW = 150;
  const panelH = 30 + gws.length * (barH + gap);
  const cols = 1 + cs.length;
  const width = 20 + cols * (W + labelW + 30);
  const height = 50 + 2 * (panelH + 20);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push('<rect width="100%" height="100%" fill="white"/>');
  parts.push(`<text x="20" y="22" font-size="14" font-weight="bold">${esc(`MCP gateways in front of the same upstream, ${p.workload}, auth on for all; ${r.date} (${r.mode}), ${r.machine.cpus} cores`)}</text>`);
  panels.forEach((panel, i) => {
    const col = i % cols;
    const row = Math.floor(i / cols);
    const x0 = 20 + col * (W + labelW + 30);
    const y0 = 45 + row * (panelH + 20);
    parts.push(`<text x="${x0}" y="${y0 + 12}" font-weight="bold">${esc(panel.title)}</text>`);
    const vals = gws.map((g) => {
      const x = p.comparisons.find((y) => y.gateway === g.id && y.client === panel.client);
      return x && !(panel.skipDirect && g.id === 'direct') ? panel.value(x) : NaN;
    });
    const max = Math.max(1e-9, ...vals.filter((v) => Number.isFinite(v)));
    gws.forEach((g, gi) => {
      const y = y0 + 22 + gi * (barH + gap);
      parts.push(`<text x="${x0 + labelW - 6}" y="${y + barH - 5}" text-anchor="end">${esc(g.label)}</text>`);
      const v = vals[gi]!;
      if (!Number.isFinite(v)) {
        const why = g.status !== 'ok' ? g.status : panel.skipDirect && g.id === 'direct' ? 'baseline' : 'no data';
        parts.push(`<text x="${x0 + labelW + 4}" y="${y + barH - 5}" fill="#999">${esc(why.length > 48 ? `${why.slice(0, 47)}…` : why)}</text>`);
        return;
      }
      const w = Math.max(1, (Math.max(0, v) / max) * (W - 70));
      parts.push(`<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${PEER_COLORS[gi % PEER_COLORS.length]}"/>`);
      parts.push(`<text x="${(x0 + labelW + w + 4).toFixed(1)}" y="${y + barH - 5}">${esc(panel.unit === 'ms' ? `${v.toFixed(2)} ms` : `${Math.round(v).toLocaleString('en-US')}/s`)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

// ---- SVG: latency percentile curves (x: percentile on a log(1/(1-p)) axis, y: ms on a log axis)

const COLORS: Record<string, string> = { direct: '#333333', 'streamable-http': '#1f77b4', 'legacy-sse': '#ff7f0e', rest: '#2ca02c' };
const LABELS: Record<string, string> = { direct: 'direct', 'streamable-http': 'gateway, Streamable HTTP', 'legacy-sse': 'gateway, legacy SSE', rest: 'gateway, REST' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function svgChart(r: BenchResults): string {
  const workloads = [...new Set(r.calls.map((c) => c.workload))].filter((w) => !w.includes('1KiB'));
  const columns: { workload: string; client: 'sdk' | 'raw' }[] = [];
  for (const w of workloads) for (const client of ['sdk', 'raw'] as const) if (r.calls.some((c) => c.workload === w && c.client === client)) columns.push({ workload: w, client });
  const concs = r.settings.concurrency;
  const W = 300;
  const H = 200;
  const padL = 50;
  const padT = 40;
  const gapX = 30;
  const gapY = 45;
  const legendH = 30;
  const width = padL + columns.length * (W + gapX);
  const height = padT + legendH + concs.length * (H + gapY) + 20;
  const xMax = 3; // p99.9
  const xOf = (q: number) => (q >= 99.9 ? xMax : -Math.log10(1 - q / 100)) / xMax;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="${padL}" y="20" font-size="14" font-weight="bold">${esc(`mcpgw tools/call latency by percentile (ms, log scale), ${r.date} (${r.mode}), ${r.machine.cpus} cores`)}</text>`);
  let lx = padL;
  for (const k of Object.keys(COLORS)) {
    parts.push(`<line x1="${lx}" y1="${padT}" x2="${lx + 20}" y2="${padT}" stroke="${COLORS[k]}" stroke-width="2"/><text x="${lx + 25}" y="${padT + 4}">${esc(LABELS[k]!)}</text>`);
    lx += 180;
  }
  concs.forEach((conc, ri) => {
    columns.forEach((col, ci) => {
      const x0 = padL + ci * (W + gapX);
      const y0 = padT + legendH + ri * (H + gapY);
      const rows = r.calls.filter((c) => c.workload === col.workload && c.client === col.client && c.concurrency === conc);
      const vals = rows.flatMap((c) => c.dist.filter(([q]) => q <= 99.9).map(([, v]) => v)).filter((v) => v > 0);
      parts.push(`<text x="${x0}" y="${y0 - 8}" font-weight="bold">${esc(`${col.workload}, ${col.client} client, c=${conc}`)}</text>`);
      parts.push(`<rect x="${x0}" y="${y0}" width="${W}" height="${H}" fill="none" stroke="#999"/>`);
      if (vals.length === 0) return;
      const lo = Math.log10(Math.min(...vals)) - 0.05;
      const hi = Math.log10(Math.max(...vals)) + 0.05;
      const yOf = (v: number) => y0 + H - ((Math.log10(Math.max(v, 1e-3)) - lo) / Math.max(hi - lo, 1e-6)) * H;
      for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
        for (const mult of [1, 2, 5]) {
          const v = mult * 10 ** e;
          const lv = Math.log10(v);
          if (lv < lo || lv > hi) continue;
          const y = yOf(v);
          parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + W}" y2="${y.toFixed(1)}" stroke="#eee"/><text x="${x0 - 4}" y="${(y + 3).toFixed(1)}" text-anchor="end" fill="#666">${v < 1 ? v.toFixed(Math.max(0, -e)) : v}</text>`);
        }
      }
      for (const q of [50, 90, 99, 99.9]) {
        const x = x0 + xOf(q) * W;
        parts.push(`<line x1="${x.toFixed(1)}" y1="${y0}" x2="${x.toFixed(1)}" y2="${y0 + H}" stroke="#eee"/><text x="${x.toFixed(1)}" y="${y0 + H + 12}" text-anchor="middle" fill="#666">p${q}</text>`);
      }
      for (const row of rows) {
        const key = row.target === 'direct' ? 'direct' : row.transport;
        const pts = row.dist.filter(([q]) => q <= 99.9).map(([q, v]) => `${(x0 + xOf(q) * W).toFixed(1)},${yOf(v).toFixed(1)}`);
        parts.push(`<polyline fill="none" stroke="${COLORS[key]}" stroke-width="1.8" points="${pts.join(' ')}"/>`);
      }
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function comparisonFor(rows: CallRow[], workload: string, client: 'sdk' | 'raw', concurrency: number): Comparison[] {
  const direct = rows.find((r) => r.workload === workload && r.client === client && r.concurrency === concurrency && r.target === 'direct');
  if (!direct) return [];
  return rows.filter((r) => r.workload === workload && r.client === client && r.concurrency === concurrency && r.target === 'gateway').map((g) => {
    const pick = (x: CallRow) => ({ p50: x.p50, p90: x.p90, p99: x.p99, max: x.max, rps: x.rps, errors: x.errors });
    const cpu = (g.cpuUsPerCall.edge ?? NaN) + (g.cpuUsPerCall.registry ?? NaN);
    return {
      workload, client, transport: g.transport, concurrency,
      gateway: pick(g), direct: pick(direct),
      addedP50: g.p50 - direct.p50,
      p50Ratio: g.p50 / direct.p50,
      rpsRatio: g.rps / direct.rps,
      gatewayCpuUsPerCall: Number.isFinite(cpu) ? Math.round(cpu) : undefined,
    };
  });
}
