// The catalog: each upstream's lists, as JSON bytes ready for the wire, and a
// version that moves only when some server's contents change. Watchers get
// deltas from a bounded change log, or a snapshot when they missed too much.
import type { CatalogContents } from '../upstreams/upstream.js';

export interface CatalogEntry {
  name: string;
  hash: string;
  toolsJson: Buffer;
  resourcesJson: Buffer;
  resourceTemplatesJson: Buffer;
  promptsJson: Buffer;
  description: string;
  serverInfoJson: Buffer;
  /** Loaded from the shared cache; this replica's upstream has not confirmed it yet. */
  stale: boolean;
  toolCount: number;
  perClient: boolean;
  credentialHeader: string;
  tokenExchange: string;
}

export interface CatalogChange {
  version: number;
  snapshot: boolean;
  servers: CatalogEntry[];
  removed: string[];
}

export interface CatalogStore {
  readonly version: number;
  entries(): CatalogEntry[];
  /** Records what a live upstream reported. */
  put(contents: CatalogContents): Promise<void>;
  remove(name: string): Promise<void>;
  /** Changes after `since` in order, or undefined when the watcher needs a snapshot. */
  changesSince(since: number): CatalogChange[] | undefined;
  subscribe(listener: (change: CatalogChange) => void): () => void;
  close(): Promise<void>;
  /**
   * Called after the shared catalog was found lost (a Redis flush) and this
   * replica wrote back its mirror: what the mirror held may predate a decision
   * in the store, so the pinning layer re-evaluates and publishes again.
   */
  onRepublish?(listener: () => void): void;
}

export function toEntry(c: CatalogContents, stale = false): CatalogEntry {
  return {
    name: c.name,
    hash: c.hash,
    toolsJson: Buffer.from(JSON.stringify(c.tools)),
    resourcesJson: Buffer.from(JSON.stringify(c.resources)),
    resourceTemplatesJson: Buffer.from(JSON.stringify(c.resourceTemplates)),
    promptsJson: Buffer.from(JSON.stringify(c.prompts)),
    description: c.description,
    serverInfoJson: Buffer.from(JSON.stringify(c.serverInfo ?? {})),
    stale,
    toolCount: c.tools.length,
    perClient: c.perClient,
    credentialHeader: c.credentialHeader,
    tokenExchange: c.tokenExchange,
  };
}

const CHANGE_LOG_SIZE = 256;

/** Entries, version, change log and listeners: what every store keeps in memory. */
export class CatalogMirror {
  protected readonly byName = new Map<string, CatalogEntry>();
  protected changes: CatalogChange[] = [];
  private readonly listeners = new Set<(c: CatalogChange) => void>();
  version = 0;

  entries(): CatalogEntry[] {
    return [...this.byName.values()];
  }

  changesSince(since: number): CatalogChange[] | undefined {
    if (since === this.version) return [];
    if (since > this.version) return undefined; // from another version space (e.g. a Redis flush)
    const first = this.changes[0];
    if (!first || first.version > since + 1) return undefined;
    return this.changes.filter((c) => c.version > since);
  }

  subscribe(listener: (change: CatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies one versioned change (a delta, or a snapshot that replaces everything). */
  protected apply(change: CatalogChange): void {
    if (change.snapshot) {
      this.byName.clear();
      this.changes = [];
    } else {
      this.changes.push(change);
      if (this.changes.length > CHANGE_LOG_SIZE) this.changes.shift();
    }
    for (const e of change.servers) this.byName.set(e.name, e);
    for (const name of change.removed) this.byName.delete(name);
    this.version = change.version;
    for (const l of this.listeners) l(change);
  }
}

/** Single-replica store for running without Redis. */
export class MemoryCatalog extends CatalogMirror implements CatalogStore {
  async put(contents: CatalogContents): Promise<void> {
    if (this.byName.get(contents.name)?.hash === contents.hash) return;
    this.apply({ version: this.version + 1, snapshot: false, servers: [toEntry(contents)], removed: [] });
  }

  async remove(name: string): Promise<void> {
    if (!this.byName.has(name)) return;
    this.apply({ version: this.version + 1, snapshot: false, servers: [], removed: [name] });
  }

  async close(): Promise<void> {}
}
