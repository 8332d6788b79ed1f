import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { labelled } from '@mcpgw/common/labelled';

/** The edge's Prometheus metrics. Labels are bounded: routes, configured servers, outcomes. */
export function createEdgeMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const metrics = {
    registry,
    httpRequests: new Counter({ name: 'mcpgw_http_requests_total', help: 'HTTP requests by route template', labelNames: ['route', 'method', 'status'], registers: [registry] }),
    sessionsActive: new Gauge({ name: 'mcpgw_sessions_active', help: 'Sessions opened on this replica and not yet ended', labelNames: ['transport'], registers: [registry] }),
    toolCalls: new Counter({ name: 'mcpgw_tool_calls_total', help: 'tools/call requests by outcome (ok, tool_error, error)', labelNames: ['server', 'outcome'], registers: [registry] }),
    toolCallDuration: new Histogram({ name: 'mcpgw_tool_call_duration_seconds', help: 'tools/call latency seen by the edge', labelNames: ['server'], buckets: latency, registers: [registry] }),
    registryRpcDuration: new Histogram({ name: 'mcpgw_registry_rpc_duration_seconds', help: 'Edge-to-registry gRPC latency', labelNames: ['method'], buckets: latency, registers: [registry] }),
    authFailures: new Counter({ name: 'mcpgw_auth_failures_total', help: 'Requests rejected for a missing or invalid credential, by reason', labelNames: ['reason'], registers: [registry] }),
    rateLimited: new Counter({ name: 'mcpgw_rate_limited_total', help: 'Requests rejected by a rate or concurrency limit, by scope (key, team, tool)', labelNames: ['scope'], registers: [registry] }),
    rateLimitFallback: new Counter({ name: 'mcpgw_rate_limit_fallback_total', help: 'Rate-limit checks counted locally because Redis was unavailable', registers: [registry] }),
    llmRequests: new Counter({ name: 'mcpgw_llm_requests_total', help: 'OpenAI-compatible requests by configured model, endpoint and HTTP status', labelNames: ['model', 'endpoint', 'status'], registers: [registry] }),
    llmToolCalls: new Counter({ name: 'mcpgw_llm_tool_calls_total', help: 'MCP tool calls the edge ran for a model, by configured model and outcome (ok, tool_error, error, bad_arguments)', labelNames: ['model', 'outcome'], registers: [registry] }),
    denials: new Counter({ name: 'mcpgw_denials_total', help: 'Requests for a name outside the principal\'s scopes (answered like an unknown name)', labelNames: ['kind'], registers: [registry] }),
  };
  // The ones every tools/call touches, by label values (see labelled()).
  const perCall = {
    httpRequests: labelled((route, method, status) => metrics.httpRequests.labels(route!, method!, status!)),
    toolCalls: labelled((server, outcome) => metrics.toolCalls.labels(server!, outcome!)),
    toolCallDuration: labelled((server) => metrics.toolCallDuration.labels(server!)),
    registryRpcDuration: labelled((method) => metrics.registryRpcDuration.labels(method!)),
  };
  return { ...metrics, perCall };
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;
