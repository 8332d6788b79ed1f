// Tool pinning (rug-pull protection): every tool is fingerprinted when first
// seen (sha256 over name, description, input and output schema, annotations)
// and the fingerprint is kept (in the store, with every decision's history). A
// later change is logged, counted and reported with both definitions; with
// `pinning: hold` the changed tool is withheld from the catalog (so from every
// list and call on every edge) until an admin approves the new fingerprint.
// Implemented as a decorator of the catalog store: upstreams put what they
// report, this decides what gets published.
import { createHash } from 'node:crypto';
import type { PinningMode } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogContents } from '../upstreams/upstream.js';
import type { CatalogChange, CatalogEntry, CatalogStore } from './catalog.js';

/**
 * A tool as the upstream listed it: every field a client or a model sees
 * (name, title, description, icons, schemas, annotations, `_meta`, and any
 * field a later revision adds), so none can change without a new fingerprint.
 */
export interface ToolDefinition {
  name: string;
  [field: string]: unknown;
}

export type PinState = 'trusted' | 'changed' | 'held' | 'rejected';

export interface PinRecord {
  /** Approved fingerprint and definition; absent for a new tool held before its first approval. */
  fingerprint?: string;
  definition?: ToolDefinition;
  approvedAt?: string;
  pending?: { fingerprint: string; definition: ToolDefinition; seenAt: number; rejected?: boolean };
  /** 2: `fingerprint` covers the whole definition. Absent: a record of the five-field fingerprint of earlier versions. */
  scheme?: 2;
}

export interface PinView extends PinRecord {
  server: string;
  tool: string;
  state: PinState;
}

export type Decision = { outcome: 'done'; pin: PinView } | { outcome: 'unknown_tool' } | { outcome: 'not_pending' };

/** Canonical JSON (sorted keys) so that key order never changes a fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function definitionOf(tool: unknown): ToolDefinition {
  const t = tool as Record<string, unknown>;
  return { ...t, name: String(t.name) };
}

export function fingerprint(def: ToolDefinition): string {
  return createHash('sha256').update(canonical(def)).digest('hex');
}

/**
 * The fingerprint of earlier versions, over five fields only. A pin taken by
 * them is carried over to the full fingerprint when those five still match,
 * so an upgrade does not hold every tool (the other fields were served
 * unpinned until then; from now on they are pinned).
 */
function legacyFingerprint(def: ToolDefinition): string {
  const { name, description, inputSchema, outputSchema, annotations } = def;
  return fingerprint({ name, description, inputSchema, outputSchema, annotations });
}

/** Why a pin was written: the history row the store keeps beside it. */
export interface PinEvent {
  decision: 'first_seen' | 'changed' | 'approved' | 'rejected' | 'reverted';
  fingerprint: string;
  /** Who decided; absent for what the registry recorded by itself. */
  principal?: string;
}

export interface PinBackend {
  load(server: string): Promise<Map<string, PinRecord>>;
  save(server: string, tool: string, rec: PinRecord, event?: PinEvent): Promise<void>;
}

export class MemoryPinBackend implements PinBackend {
  private readonly servers = new Map<string, Map<string, PinRecord>>();
  async load(server: string) { return new Map(this.servers.get(server)); }
  async save(server: string, tool: string, rec: PinRecord) {
    let m = this.servers.get(server);
    if (!m) this.servers.set(server, (m = new Map()));
    m.set(tool, rec);
  }
}

export interface PinningOptions {
  mode: PinningMode;
  holdNew: boolean;
  backend: PinBackend;
  log: Logger;
  onChange: (server: string) => void;
}

function stateOf(rec: PinRecord, mode: PinningMode): PinState {
  if (!rec.pending) return 'trusted';
  if (rec.pending.rejected) return 'rejected';
  return mode === 'hold' || !rec.fingerprint ? 'held' : 'changed';
}

export class PinningCatalog implements CatalogStore {
  /** What each upstream last reported, unfiltered: re-published after a decision. */
  private readonly reported = new Map<string, CatalogContents>();
  /** Pins per server, as last evaluated. */
  private readonly pins = new Map<string, Map<string, PinRecord>>();

  constructor(private readonly inner: CatalogStore, private readonly opts: PinningOptions) {
    // After Redis lost the catalog, this replica's mirror went back in as it was; a decision taken
    // meanwhile (an approval racing the flush) lives in the store: publish from the store's pins again.
    inner.onRepublish?.(() => void this.republishFromPins());
  }

  private async republishFromPins(): Promise<void> {
    for (const contents of [...this.reported.values()]) {
      try {
        await this.inner.put(await this.evaluate(contents));
      } catch (err) {
        this.opts.log.warn({ server: contents.name, err: (err as Error).message }, 're-publishing after a catalog loss failed; the next refresh retries');
      }
    }
  }

  get version(): number { return this.inner.version; }
  get mode(): PinningMode { return this.opts.mode; }
  entries(): CatalogEntry[] { return this.inner.entries(); }
  changesSince(since: number): CatalogChange[] | undefined { return this.inner.changesSince(since); }
  subscribe(listener: (change: CatalogChange) => void): () => void { return this.inner.subscribe(listener); }
  close(): Promise<void> { return this.inner.close(); }

  async remove(name: string): Promise<void> {
    this.reported.delete(name);
    await this.inner.remove(name);
  }

  async put(contents: CatalogContents): Promise<void> {
    if (this.opts.mode === 'off') return this.inner.put(contents);
    this.reported.set(contents.name, contents);
    await this.inner.put(await this.evaluate(contents));
  }

  /** Records first sightings and changes; returns the contents with withheld tools removed. */
  private async evaluate(contents: CatalogContents): Promise<CatalogContents> {
    const server = contents.name;
    const { backend, log, mode, holdNew } = this.opts;
    const pins = await backend.load(server);
    const knownServer = pins.size > 0;
    const visible: unknown[] = [];
    const withheld: string[] = [];
    for (const tool of contents.tools) {
      const def = definitionOf(tool);
      const fp = fingerprint(def);
      let rec = pins.get(def.name);
      if (rec && rec.scheme !== 2 && !rec.pending && rec.fingerprint && rec.fingerprint !== fp && rec.fingerprint === legacyFingerprint(def)) {
        rec = { fingerprint: fp, definition: def, approvedAt: rec.approvedAt, scheme: 2 };
        pins.set(def.name, rec);
        await backend.save(server, def.name, rec);
        log.info({ server, tool: def.name, fingerprint: fp }, 'pin carried over to the full-definition fingerprint');
      }
      if (!rec) {
        rec = holdNew && knownServer
          ? { pending: { fingerprint: fp, definition: def, seenAt: Date.now() }, scheme: 2 }
          : { fingerprint: fp, definition: def, approvedAt: new Date().toISOString(), scheme: 2 };
        if (rec.pending) log.warn({ server, tool: def.name, fingerprint: fp }, 'new tool of a known server held until approved (hold_new)');
        pins.set(def.name, rec);
        await backend.save(server, def.name, rec, { decision: rec.pending ? 'changed' : 'first_seen', fingerprint: fp });
      } else if (rec.fingerprint === fp) {
        if (rec.pending) {
          // The upstream reverted to the approved definition.
          rec = { fingerprint: rec.fingerprint, definition: rec.definition, approvedAt: rec.approvedAt, scheme: rec.scheme };
          pins.set(def.name, rec);
          await backend.save(server, def.name, rec, { decision: 'reverted', fingerprint: fp });
        }
      } else if (rec.pending?.fingerprint !== fp) {
        rec = { ...rec, pending: { fingerprint: fp, definition: def, seenAt: Date.now() } };
        pins.set(def.name, rec);
        await backend.save(server, def.name, rec, { decision: 'changed', fingerprint: fp });
        log.warn({ server, tool: def.name, approved: rec.fingerprint, seen: fp, mode }, 'tool definition changed since it was trusted');
        this.opts.onChange(server);
      }
      const state = stateOf(rec, mode);
      if (state === 'held' || state === 'rejected') withheld.push(def.name);
      else visible.push(tool);
    }
    this.pins.set(server, pins);
    if (withheld.length === 0) return contents;
    // The hash moves with what is published, so an approval is a catalog change.
    return { ...contents, tools: visible, hash: `${contents.hash}:${createHash('sha256').update(withheld.sort().join('\0')).digest('hex').slice(0, 12)}` };
  }

  /** Pins of one server (or all), with their state. */
  async list(server?: string): Promise<PinView[]> {
    const names = server ? [server] : [...this.reported.keys()];
    const out: PinView[] = [];
    for (const s of names.sort()) {
      const pins = this.opts.mode === 'off' ? new Map<string, PinRecord>() : await this.opts.backend.load(s);
      for (const [tool, rec] of [...pins].sort(([a], [b]) => a.localeCompare(b))) out.push({ server: s, tool, state: stateOf(rec, this.opts.mode), ...rec });
    }
    return out;
  }

  pendingCount(server: string): number {
    let n = 0;
    for (const rec of this.pins.get(server)?.values() ?? []) if (rec.pending && !rec.pending.rejected) n++;
    return n;
  }

  /** Approves (or rejects) the pending definition of a tool, then re-publishes the server. */
  async decide(server: string, tool: string, expected: string, reject: boolean, principal = ''): Promise<Decision> {
    const pins = await this.opts.backend.load(server);
    const rec = pins.get(tool);
    if (!rec) return { outcome: 'unknown_tool' };
    if (!rec.pending || (expected && rec.pending.fingerprint !== expected) || (reject && rec.pending.rejected)) return { outcome: 'not_pending' };
    const next: PinRecord = reject
      ? { ...rec, pending: { ...rec.pending, rejected: true } }
      : { fingerprint: rec.pending.fingerprint, definition: rec.pending.definition, approvedAt: new Date().toISOString(), scheme: 2 };
    await this.opts.backend.save(server, tool, next, { decision: reject ? 'rejected' : 'approved', fingerprint: rec.pending.fingerprint, principal });
    const reported = this.reported.get(server);
    if (reported) await this.inner.put(await this.evaluate(reported));
    return { outcome: 'done', pin: { server, tool, state: stateOf(next, this.opts.mode), ...next } };
  }
}
