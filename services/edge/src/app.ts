// buildApp(opts) assembles the edge and never listens (index.ts does).
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { EventLog } from '@mcpgw/common/event-log';
import type { Tracing } from '@mcpgw/common/tracing';
import type { CatalogView } from './catalog-view.js';
import { Dispatcher } from './dispatcher.js';
import { createGuard, type GuardOptions } from './guard.js';
import { errorText, notificationText } from './jsonrpc.js';
import type { EdgeMetrics } from './metrics.js';
import type { RegistryLink } from './registry-client.js';
import { registerRest } from './routes/rest.js';
import { registerUi } from './routes/ui.js';
import type { SessionStore } from './sessions/session-store.js';
import type { TransportDeps } from './transports/context.js';
import { registerLegacySse } from './transports/legacy-sse.js';
import type { SseWriter } from './transports/sse-writer.js';
import type { StreamBus } from './transports/stream-bus.js';
import { registerStreamableHttp } from './transports/streamable-http.js';

export interface EdgeOptions {
  catalog: CatalogView;
  registry: RegistryLink;
  sessions: SessionStore;
  metrics: EdgeMetrics;
  log: Logger;
  guard: GuardOptions;
  instanceId: string;
  /** Streams this replica holds, shared with the stream bus. */
  streams: Map<string, SseWriter>;
  bus: StreamBus;
  /** Events of SSE response streams; `sharedEvents` when they live in Redis. */
  events: EventLog;
  sharedEvents: boolean;
  maxBodyBytes: number;
  callTimeoutMs: number;
  tracing?: Tracing;
}

const MCP_PREFIXES = ['/mcp', '/mcp/', '/servers/:name/mcp'];

export function buildApp(opts: EdgeOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.log as FastifyBaseLogger,
    // Per-request access lines would cost on the hot path; they are `debug` events of our own.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // Long SSE streams must not be cut by the server's own timeouts.
    requestTimeout: 0,
    return503OnClosing: true,
  });
  // MCP and REST bodies are JSON only; anything else is 415, not a string body.
  app.removeContentTypeParser('text/plain');
  const { metrics } = opts;
  const { streams } = opts;
  const dispatcher = new Dispatcher({ catalog: opts.catalog, registry: opts.registry, sessions: opts.sessions, metrics, log: opts.log, callTimeoutMs: opts.callTimeoutMs, tracing: opts.tracing });
  const deps: TransportDeps = { dispatcher, registry: opts.registry, sessions: opts.sessions, catalog: opts.catalog, metrics, log: opts.log, instanceId: opts.instanceId, streams, bus: opts.bus,
    events: opts.events, sharedEvents: opts.sharedEvents, resumeWindowMs: opts.callTimeoutMs + 5_000 };

  // Every failure fastify itself detects (bad JSON, wrong content type, body
  // too large) is still answered as JSON-RPC, with the HTTP status the spec expects.
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = err.statusCode ?? 500;
    let code: number = ErrorCode.InternalError;
    let message = status >= 500 ? 'Internal error' : err.message;
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      code = ErrorCode.ParseError;
      message = `Parse error: ${err.message}`;
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = ErrorCode.InvalidRequest;
      message = `Request body larger than ${opts.maxBodyBytes} bytes`;
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      code = ErrorCode.InvalidRequest;
      message = 'Unsupported Media Type: send Content-Type: application/json';
    } else if (status < 500) {
      code = ErrorCode.InvalidRequest;
    }
    if (status >= 500) opts.log.error({ err }, 'unhandled error');
    reply.code(status).type('application/json').send(errorText(null, { code, message }));
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.inc({ route: req.routeOptions.url ?? 'unmatched', method: req.method, status: reply.statusCode });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!opts.catalog.ready) return reply.code(503).send({ status: 'waiting for the first catalog snapshot from the registry' });
    return { status: 'ready', catalogVersion: opts.catalog.version, servers: opts.catalog.serverNames().length };
  });
  registerUi(app, {});
  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  // list_changed goes once to every stream this replica holds when the catalog changes.
  opts.catalog.onChange((changed) => {
    for (const list of changed) {
      const text = notificationText(`notifications/${list}/list_changed`, {});
      for (const s of streams.values()) s.event('message', text);
    }
  });

  app.register(async (mcp) => {
    mcp.addHook('onRequest', createGuard(opts.guard, metrics));
    const streamGet = registerStreamableHttp(mcp, deps, MCP_PREFIXES);
    registerLegacySse(mcp, deps, {
      get: [...MCP_PREFIXES, '/sse', '/servers/:name/sse'],
      post: ['/mcp/message', '/message', '/servers/:name/message', '/servers/:name/mcp/message'],
    }, streamGet);
    registerRest(mcp, deps, ['/mcp', '/mcp-rest']);
  });

  app.addHook('onClose', async () => {
    for (const s of streams.values()) s.endWithRetry(1_000);
    await opts.events.close();
  });
  return app;
}
