// What the console's Calls, stats and audit views read: the bounded call log
// and usage counters the edges feed, the audit log of admin actions and the
// history of pin decisions, all in the store.
import type { RegistryServer } from '@mcpgw/proto/registry';
import type { CallRow, UsageRow } from '../store/index.js';
import type { RegistryDeps } from '../server.js';
import { answer } from './store-errors.js';

export type RecordHandlers = Pick<RegistryServer, 'listAudit' | 'listPinHistory' | 'recordCalls' | 'listCalls' | 'listUsage'>;

/** The call log keeps this many rows unless MCPGW_CALL_LOG_ROWS says otherwise. */
export const DEFAULT_CALL_LOG_ROWS = 100_000;
const MAX_BATCH = 5_000;
const MAX_LIST = 10_000;

const clampLimit = (n: number, fallback: number) => Math.min(MAX_LIST, n > 0 ? n : fallback);
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Sums a batch of calls per day, key, team, server and tool: one upsert per group. */
export function usageOf(calls: CallRow[]): UsageRow[] {
  const groups = new Map<string, UsageRow>();
  for (const c of calls) {
    if (c.outcome === 'denied') continue;
    const row = { day: day(c.atMs), keyId: c.keyId ?? '', team: c.team ?? '', server: c.server, tool: c.tool };
    const k = `${row.day}\0${row.keyId}\0${row.team}\0${row.server}\0${row.tool}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ...row, calls: 0, errors: 0, totalMs: 0 }));
    g.calls++;
    if (c.outcome !== 'ok') g.errors++;
    g.totalMs += c.ms;
  }
  return [...groups.values()];
}

export function recordHandlers(deps: RegistryDeps): RecordHandlers {
  const { store, log } = deps;
  const keep = deps.callLogRows ?? DEFAULT_CALL_LOG_ROWS;
  return {
    listAudit(call, cb) {
      answer(cb, log, 'audit list', store.listAudit(clampLimit(call.request.limit, 100)).then((rows) => ({
        entries: rows.map((a) => ({ atMs: a.atMs, principal: a.principal, action: a.action, target: a.target, detailJson: Buffer.from(JSON.stringify(a.detail)) })),
      })));
    },

    listPinHistory(call, cb) {
      const { server, tool, limit } = call.request;
      answer(cb, log, 'pin history', store.listPinDecisions(server, tool, clampLimit(limit, 100)).then((rows) => ({ decisions: rows })));
    },

    recordCalls(call, cb) {
      const rows: CallRow[] = call.request.calls.slice(0, MAX_BATCH).map((c) => ({
        atMs: Number(c.atMs), principal: c.principal, keyId: c.keyId || undefined, team: c.team || undefined, server: c.server, tool: c.tool,
        outcome: c.outcome, ms: c.ms, edge: c.edge || undefined,
      }));
      answer(cb, log, 'call log append', Promise.all([store.appendCalls(rows, keep), store.addUsage(usageOf(rows))]).then(() => ({})));
    },

    listCalls(call, cb) {
      answer(cb, log, 'call list', store.listCalls(clampLimit(call.request.limit, 100), Number(call.request.sinceMs)).then((rows) => ({
        calls: rows.map((c) => ({ ...c, keyId: c.keyId ?? '', team: c.team ?? '', edge: c.edge ?? '' })),
      })));
    },

    listUsage(call, cb) {
      answer(cb, log, 'usage list', store.listUsage(call.request.sinceDay).then((rows) => ({ counters: rows })));
    },
  };
}
