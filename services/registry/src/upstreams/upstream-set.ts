import { isDeepStrictEqual } from 'node:util';
import type { ServerConfig } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogStore } from '../catalog/catalog.js';
import type { RegistryMetrics } from '../metrics.js';
import { Upstream } from './upstream.js';

const BREAKER_VALUE = { closed: 0, open: 1, half_open: 2 } as const;

/** Every configured upstream, feeding its contents into the catalog. */
export class UpstreamSet {
  private readonly byName = new Map<string, Upstream>();

  constructor(private readonly catalog: CatalogStore, private readonly log: Logger, private readonly metrics: RegistryMetrics) {}

  get(name: string): Upstream | undefined {
    return this.byName.get(name);
  }

  all(): Upstream[] {
    return [...this.byName.values()];
  }

  /**
   * Makes the running set match `configs`: starts new servers, stops removed
   * ones (and drops them from the catalog), restarts changed ones. Unchanged
   * servers keep their connections and in-flight calls.
   */
  async apply(configs: ServerConfig[]): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const next = new Map(configs.map((c) => [c.name, c]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    for (const [name, upstream] of this.byName) {
      const cfg = next.get(name);
      if (!cfg) removed.push(name);
      else if (!isDeepStrictEqual(cfg, upstream.config)) changed.push(name);
    }
    for (const name of next.keys()) if (!this.byName.has(name)) added.push(name);

    await Promise.all([...removed, ...changed].map(async (name) => {
      const upstream = this.byName.get(name)!;
      this.byName.delete(name);
      await upstream.stop();
    }));
    for (const name of removed) {
      await this.catalog.remove(name).catch((err: Error) => this.log.warn({ server: name, err: err.message }, 'catalog remove failed'));
      for (const g of [this.metrics.upstreamUp, this.metrics.catalogTools, this.metrics.breakerState]) g.remove({ server: name });
    }
    for (const name of [...changed, ...added]) this.startOne(next.get(name)!);
    return { added, removed, changed };
  }

  private startOne(cfg: ServerConfig): void {
    const { metrics } = this;
    const upstream = new Upstream(cfg, this.log, {
      contents: (contents) => {
        if (this.byName.get(cfg.name) !== upstream) return; // replaced meanwhile
        metrics.catalogTools.set({ server: cfg.name }, contents.tools.length);
        this.catalog.put(contents).catch((err: Error) => this.log.warn({ server: cfg.name, err: err.message }, 'catalog write failed'));
      },
      state: (u) => {
        metrics.upstreamUp.set({ server: cfg.name }, u.state === 'up' ? 1 : 0);
        if (u.state === 'connecting') metrics.upstreamReconnects.inc({ server: cfg.name });
      },
      breaker: (_u, s) => {
        metrics.breakerState.set({ server: cfg.name }, BREAKER_VALUE[s]);
        this.log.warn({ server: cfg.name, breaker: s }, 'circuit breaker changed');
      },
    });
    metrics.upstreamUp.set({ server: cfg.name }, 0);
    metrics.breakerState.set({ server: cfg.name }, 0);
    this.byName.set(cfg.name, upstream);
    upstream.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((u) => u.stop()));
    this.byName.clear();
  }
}
