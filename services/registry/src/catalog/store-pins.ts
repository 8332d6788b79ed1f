// Pins in the system of record: fingerprints and every decision survive a
// Redis flush, and all registries sharing the store see the same pins. A
// store that cannot be reached fails the load, so nothing changed is ever
// published on a guess: held tools stay held.
import type { PinRow, Store } from '../store/index.js';
import type { PinBackend, PinEvent, PinRecord, ToolDefinition } from './pinning.js';

export function toPinRecord(row: PinRow): PinRecord {
  const rec: PinRecord = {};
  if (row.fingerprint) rec.fingerprint = row.fingerprint;
  if (row.definition !== undefined) rec.definition = row.definition as ToolDefinition;
  if (row.approvedAtMs !== undefined) rec.approvedAt = new Date(row.approvedAtMs).toISOString();
  if (row.scheme === 2) rec.scheme = 2;
  if (row.pending) {
    rec.pending = { fingerprint: row.pending.fingerprint, definition: row.pending.definition as ToolDefinition, seenAt: row.pending.seenAtMs };
    if (row.pending.rejected) rec.pending.rejected = true;
  }
  return rec;
}

export function toPinRow(server: string, tool: string, rec: PinRecord): PinRow {
  return {
    server, tool, fingerprint: rec.fingerprint, definition: rec.definition,
    approvedAtMs: rec.approvedAt ? Date.parse(rec.approvedAt) : undefined,
    scheme: rec.scheme,
    pending: rec.pending && { fingerprint: rec.pending.fingerprint, definition: rec.pending.definition, seenAtMs: rec.pending.seenAt, rejected: rec.pending.rejected === true },
  };
}

export class StorePinBackend implements PinBackend {
  constructor(private readonly store: Store) {}

  async load(server: string): Promise<Map<string, PinRecord>> {
    return new Map((await this.store.loadPins(server)).map((row) => [row.tool, toPinRecord(row)]));
  }

  async save(server: string, tool: string, rec: PinRecord, event?: PinEvent): Promise<void> {
    const atMs = Date.now();
    const decision = event && { server, tool, fingerprint: event.fingerprint, decision: event.decision, principal: event.principal ?? '', atMs };
    const audit = event?.principal ? { atMs, principal: event.principal, action: `pin_${event.decision}`, target: `${server}/${tool}`, detail: { server, tool, fingerprint: event.fingerprint } } : undefined;
    await this.store.savePin(toPinRow(server, tool, rec), decision, audit);
  }
}
