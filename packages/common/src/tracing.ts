// Optional OpenTelemetry traces: on when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, exported over OTLP/HTTP. Off,
// they cost one check per call. W3C `traceparent` is propagated either way.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const propagator = new W3CTraceContextPropagator();
let provider: NodeTracerProvider | undefined;

export interface Tracing {
  /** Starts a span, child of `traceparent` when given; returns it with the traceparent to pass on. */
  start(name: string, kind: 'server' | 'client', traceparent: string | undefined, attributes: Record<string, string>): { span: Span; traceparent: string };
  end(span: Span, error?: string): void;
  shutdown(): Promise<void>;
}

export function startTracing(service: string, env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return undefined;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? service }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY ?? 1000) })],
  });
  const tracer: Tracer = provider.getTracer('mcpgw');
  return {
    start(name, kind, traceparent, attributes) {
      const parent = traceparent ? propagator.extract(ROOT_CONTEXT, { traceparent }, { get: (c, k) => c[k as keyof typeof c], keys: (c) => Object.keys(c) }) : ROOT_CONTEXT;
      const span = tracer.startSpan(name, { kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, attributes }, parent);
      const carrier: Record<string, string> = {};
      propagator.inject(trace.setSpan(parent, span), carrier, { set: (c, k, v) => { c[k] = v; } });
      return { span, traceparent: carrier.traceparent ?? traceparent ?? '' };
    },
    end(span, error) {
      if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      span.end();
    },
    shutdown: () => provider!.shutdown(),
  };
}
