import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { labelled } from '@mcpgw/common/labelled';

/** The registry's Prometheus metrics; labels carry server names from config only. */
export function createRegistryMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    upstreamUp: new Gauge({ name: 'mcpgw_upstream_up', help: '1 when the upstream is connected', labelNames: ['server'], registers: [registry] }),
    upstreamRequestDuration: new Histogram({
      name: 'mcpgw_upstream_request_duration_seconds',
      help: 'Time the upstream took to answer a request',
      labelNames: ['server', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    catalogTools: new Gauge({ name: 'mcpgw_catalog_tools', help: 'Tools each server contributes to the catalog', labelNames: ['server'], registers: [registry] }),
    catalogVersion: new Gauge({ name: 'mcpgw_catalog_version', help: 'Version of the catalog this replica serves', registers: [registry] }),
    upstreamReconnects: new Counter({ name: 'mcpgw_upstream_reconnects_total', help: 'Reconnect attempts per upstream', labelNames: ['server'], registers: [registry] }),
    toolChanges: new Counter({ name: 'mcpgw_tool_changes_total', help: 'Tool definitions that changed since they were pinned', labelNames: ['server'], registers: [registry] }),
    breakerState: new Gauge({ name: 'mcpgw_breaker_state', help: 'Circuit breaker: 0 closed, 1 open, 2 half-open', labelNames: ['server'], registers: [registry] }),
  };
  // The one every upstream request touches, by label values (see labelled()).
  const perCall = {
    upstreamRequestDuration: labelled((server, method) => metrics.upstreamRequestDuration.labels(server!, method!)),
  };
  return { ...metrics, perCall };
}

export type RegistryMetrics = ReturnType<typeof createRegistryMetrics>;
