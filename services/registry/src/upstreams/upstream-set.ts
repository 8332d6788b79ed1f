import type { ServerConfig } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogStore } from '../catalog/catalog.js';
import type { RegistryMetrics } from '../metrics.js';
import { Upstream } from './upstream.js';

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

  start(configs: ServerConfig[]): void {
    for (const cfg of configs) {
      const upstream = new Upstream(cfg, this.log, (contents) => {
        this.metrics.catalogTools.set({ server: cfg.name }, contents.tools.length);
        this.catalog.put(contents).catch((err: Error) => this.log.warn({ server: cfg.name, err: err.message }, 'catalog write failed'));
      }, (u) => {
        this.metrics.upstreamUp.set({ server: cfg.name }, u.state === 'up' ? 1 : 0);
        if (u.state === 'connecting') this.metrics.upstreamReconnects.inc({ server: cfg.name });
      });
      this.metrics.upstreamUp.set({ server: cfg.name }, 0);
      this.byName.set(cfg.name, upstream);
      upstream.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((u) => u.stop()));
    this.byName.clear();
  }
}
