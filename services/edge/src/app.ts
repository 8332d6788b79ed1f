// buildApp(opts) assembles the edge and never listens (index.ts does).
import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { EventLog } from '@mcpgw/common/event-log';
import type { Tracing } from '@mcpgw/common/tracing';
import type { GatewayConfig } from '@mcpgw/common/config';
import { registerAdmin } from './admin/routes.js';
import type { CatalogView } from './catalog-view.js';
import { Dispatcher, type RegistryCalls } from './dispatcher.js';
import type { Authenticator } from './identity/authenticate.js';
import type { KeyStore } from './identity/keys.js';
import type { Principal } from './identity/principal.js';
import { errorText, notificationText } from './jsonrpc.js';
import { Audit } from './pipeline/audit.js';
import type { Limiter } from './pipeline/limits.js';
import { BoundError, registerJsonParser, SlotCounter } from './pipeline/bounds.js';
import { authenticateHooks, corsHook, hostGuard, type HostPolicy } from './pipeline/policy.js';
import type { ClientLimits } from './settings.js';
import { registerWellKnown } from './routes/well-known.js';
import { registerLlm } from './llm/routes.js';
import type { Providers } from './llm/provider.js';
import type { EdgeMetrics } from './metrics.js';
import { registerRest } from './routes/rest.js';
import { registerUi } from './routes/ui.js';
import type { SessionStore } from './sessions/session-store.js';
import type { TransportDeps } from './transports/context.js';
import { registerLegacySse } from './transports/legacy-sse.js';
import type { StreamTarget } from './transports/sse-writer.js';
import type { StreamBus } from './transports/stream-bus.js';
import { registerStreamableHttp } from './transports/streamable-http.js';
import { createModernAdapter } from './transports/streamable-http-2026.js';
import { createStateSealer, DEFAULT_STATE_TTL_MS } from './era/sealed-state.js';
import { registerOAuth, type OAuthDeps } from './oauth/routes.js';
import { registerConnectPages, registerConnections, type ConnectLink } from './oauth/connect.js';
import { TokenExchanger } from './oauth/token-exchange.js';
import { CallShipper, type RecordCalls } from './pipeline/call-log.js';
import { EdgeTasks, type TaskLink, type TaskMode } from './tasks/edge-tasks.js';
import { LegacyTasks } from './tasks/legacy-tasks.js';

export interface EdgeOptions {
  catalog: CatalogView;
  registry: RegistryCalls;
  /** The registry's store for the call log, audit and usage views; absent: this edge's own recent calls only. */
  records?: RecordCalls;
  sessions: SessionStore;
  metrics: EdgeMetrics;
  log: Logger;
  hosts: HostPolicy;
  authenticator: Authenticator;
  keys: KeyStore;
  limiter: Limiter;
  /** The `gateway` block of the config: teams, JWT issuers, resource metadata. */
  gateway: GatewayConfig;
  /** The effective settings with secrets redacted (admin API). */
  redactedSettings?: Record<string, unknown>;
  /** The gateway's public URL, when known (RFC 9728 `resource`). */
  publicUrl?: string;
  instanceId: string;
  /** Streams this replica holds, shared with the stream bus. */
  streams: Map<string, StreamTarget>;
  bus: StreamBus;
  /** Events of SSE response streams; `sharedEvents` when they live in Redis. */
  events: EventLog;
  sharedEvents: boolean;
  maxBodyBytes: number;
  limits: ClientLimits;
  /** Idle TTL of sessions (the store's; the sessions gauge follows it). */
  sessionTtlMs: number;
  callTimeoutMs: number;
  tracing?: Tracing;
  /** Seals MRTR requestState (MCPGW_STATE_SECRET); random per process when absent (one edge only). */
  stateSecret?: string;
  /** How long an MRTR requestState, and the call held for it, lives (default 5 min). */
  mrtrHoldMs?: number;
  /** Tasks (docs/tasks.md); served when the registry link has the task RPCs. */
  tasks?: { mode: TaskMode; windowMs: number };
  /** OpenAI-compatible /v1 endpoints over the config's `model_list`; absent: not served. */
  llm?: { providers: Providers; maxSteps: number };
  /** `gateway.auth.login`: the gateway's own authorization server (issue 20); absent: not served. */
  oauth?: Pick<OAuthDeps, 'state' | 'tokens' | 'login' | 'clients'>;
  /** Users' own upstream accounts (oauth2_user): the /connect pages and /connections (issue 20). */
  connect?: ConnectLink;
}

const MCP_PREFIXES = ['/mcp', '/mcp/', '/servers/:name/mcp'];

export function buildApp(opts: EdgeOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.log as FastifyBaseLogger,
    // Per-request access lines would cost on the hot path; they are `debug` events of our own.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.maxBodyBytes,
    // The whole request (headers and body) must arrive in time: a client that
    // trickles a body is cut off. Responses (SSE streams) are not limited by it.
    requestTimeout: opts.limits.requestTimeoutMs,
    // Node checks these timeouts every connectionsCheckingInterval (default 30 s): check often enough to honour them.
    http: { headersTimeout: opts.limits.headersTimeoutMs, connectionsCheckingInterval: Math.min(5_000, Math.ceil(opts.limits.requestTimeoutMs / 4)) },
    return503OnClosing: true,
  });
  // No child logger per request (fastify's default binds a reqId into a new pino child on every
  // request, measurable on the hot path): our own log lines carry the ids that matter.
  app.setChildLoggerFactory((logger) => logger);
  // MCP and REST bodies are JSON only; anything else is 415, not a string body.
  app.removeContentTypeParser('text/plain');
  registerJsonParser(app, opts.limits);
  // Set by the authenticate hook; declared up front so every request object has the same shape.
  app.decorateRequest('principal', null as unknown as Principal);
  const { metrics } = opts;
  const { streams } = opts;
  const audit = new Audit(opts.log, metrics, opts.records ? new CallShipper(opts.records, opts.log, opts.instanceId) : undefined);
  // Tasks (docs/tasks.md) when the registry link has the task RPCs (the in-process tests' fakes may not).
  const taskLink = opts.registry as RegistryCalls & Partial<TaskLink>;
  const taskMode = opts.tasks?.mode ?? 'declared';
  const tasksOn = taskLink.startTask !== undefined && taskMode !== 'off';
  const legacyTasks = tasksOn ? new LegacyTasks({ link: taskLink as TaskLink, mode: taskMode }) : undefined;
  const dispatcher = new Dispatcher({ catalog: opts.catalog, registry: opts.registry, sessions: opts.sessions, metrics, log: opts.log, limiter: opts.limiter, audit, callTimeoutMs: opts.callTimeoutMs, tracing: opts.tracing,
    exchanger: new TokenExchanger(opts.gateway.login), legacyTasks });
  const deps: TransportDeps = { dispatcher, registry: opts.registry, sessions: opts.sessions, catalog: opts.catalog, metrics, log: opts.log, audit, instanceId: opts.instanceId, streams, bus: opts.bus,
    events: opts.events, sharedEvents: opts.sharedEvents, resumeWindowMs: opts.callTimeoutMs + 5_000, limits: opts.limits,
    sseStreams: new SlotCounter(opts.limits.maxSsePerPrincipal, opts.limits.maxSseStreams), sessionCalls: new SlotCounter(opts.limits.maxCallsPerSession) };

  // Every failure fastify itself detects (bad JSON, wrong content type, body
  // too large) is still answered as JSON-RPC, with the HTTP status the spec expects.
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err instanceof BoundError) return reply.code(err.statusCode).type('application/json').send(errorText(err.id, err.error));
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

  app.addHook('onResponse', (req, reply, done) => {
    metrics.perCall.httpRequests(req.routeOptions.url ?? 'unmatched', req.method, String(reply.statusCode)).inc();
    done();
  });

  // Probes and metrics: Host/Origin checked too (DNS rebinding), IP-literal hosts allowed for kubelet and Prometheus.
  app.register(async (ops) => {
    ops.addHook('onRequest', hostGuard(opts.hosts, { opsOnly: true }));
    ops.get('/healthz', async () => ({ status: 'ok' }));
    ops.get('/readyz', async (_req, reply) => {
      if (!opts.catalog.ready) return reply.code(503).send({ status: 'waiting for the first catalog snapshot from the registry' });
      return { status: 'ready', catalogVersion: opts.catalog.version, servers: opts.catalog.serverNames().length };
    });
    ops.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  });

  // A revoked key's open streams end at once (its next request gets 401).
  opts.keys.onRevoked((keyId) => {
    for (const s of streams.values()) if (s.ownerId === `key:${keyId}`) s.end();
  });

  // list_changed goes once to every stream this replica holds, for the lists that changed as its principal sees them.
  opts.catalog.onChange((change) => {
    for (const s of streams.values()) {
      for (const list of change.changedFor(s.access)) s.event('message', notificationText(`notifications/${list}/list_changed`, {}));
    }
  });

  app.register(async (open) => {
    open.addHook('onRequest', hostGuard(opts.hosts));
    registerWellKnown(open, opts.gateway, opts.publicUrl);
    if (opts.connect && opts.publicUrl) registerConnectPages(open, opts.connect, opts.publicUrl, opts.oauth && { state: opts.oauth.state, login: opts.oauth.login });
    // The console: static files under a strict CSP; the data behind it is the admin API's.
    registerUi(open, {});
  });

  // The authorization server: Host checked; any Origin (browser-based MCP clients call the token
  // endpoint cross-origin; the consent form is protected by its own CSRF token and cookie).
  if (opts.oauth) {
    const oauth = opts.oauth;
    app.register(async (as) => {
      as.addHook('onRequest', hostGuard({ allowedHosts: opts.hosts.allowedHosts, allowedOrigins: ['*'] }));
      as.addHook('onRequest', corsHook({ allowedHosts: opts.hosts.allowedHosts, allowedOrigins: ['*'] }));
      registerOAuth(as, { ...oauth, catalog: opts.catalog, gateway: opts.gateway, audit, log: opts.log });
    });
  }

  // Every client route: Host/Origin, then authenticate (the policy chain's request-level steps).
  // CORS preflights of allowed origins are answered before authentication (browsers send no credential on them).
  app.register(async (mcp) => {
    mcp.addHook('onRequest', hostGuard(opts.hosts));
    mcp.addHook('onRequest', corsHook(opts.hosts));
    const authenticate = authenticateHooks(opts.authenticator, audit, opts.publicUrl);
    mcp.addHook('onRequest', authenticate.onRequest);
    mcp.addHook('preValidation', authenticate.preValidation);
    registerAdmin(mcp, { keys: opts.keys, teams: opts.gateway.teams, audit, registry: opts.registry, records: opts.records, catalog: opts.catalog, gateway: opts.gateway, settings: opts.redactedSettings ?? {},
      onKeyRevoked: opts.connect && ((principal) => void opts.connect!.disconnect({ principal, server: '' }).catch((err: Error) => opts.log.warn({ principal, err: err.message }, 'dropping the revoked key\'s upstream tokens failed'))) });
    // CORS preflights without an allowed Origin (the cors hook answers the others).
    mcp.route({ method: 'OPTIONS', url: '*', handler: async (_req, reply) => reply.code(204).header('allow', 'GET, POST, DELETE, OPTIONS').send() });
    const sealer = createStateSealer([opts.stateSecret ?? randomBytes(32)]);
    const holdMs = opts.mrtrHoldMs ?? DEFAULT_STATE_TTL_MS;
    const tasks = tasksOn
      ? new EdgeTasks({ link: taskLink as TaskLink, sealer, log: opts.log, mode: taskMode, windowMs: opts.tasks?.windowMs ?? 250, holdMs })
      : undefined;
    const modern = createModernAdapter(deps, { sealer, holdMs, callTimeoutMs: opts.callTimeoutMs, tasks });
    const streamGet = registerStreamableHttp(mcp, deps, MCP_PREFIXES, opts.sessionTtlMs, modern);
    registerLegacySse(mcp, deps, {
      get: [...MCP_PREFIXES, '/sse', '/servers/:name/sse'],
      post: ['/mcp/message', '/message', '/servers/:name/message', '/servers/:name/mcp/message'],
    }, streamGet, modern);
    registerRest(mcp, deps, ['/mcp', '/mcp-rest']);
    if (opts.connect) registerConnections(mcp, opts.connect);
    if (opts.llm) registerLlm(mcp, { ...opts.llm, dispatcher, catalog: opts.catalog, limiter: opts.limiter, metrics, log: opts.log });
  });

  // Standing streams get their retry hint before the server closes: fastify's
  // server.close() waits for every open connection, and onClose runs only
  // after it, so ending them there left SIGTERM waiting for the force-exit.
  // Calls in flight keep their own POST streams and finish meanwhile.
  app.addHook('preClose', async () => {
    for (const s of streams.values()) s.endWithRetry(1_000);
  });
  app.addHook('onClose', async () => {
    await opts.events.close();
    await opts.llm?.providers.close();
    await audit.shipper?.close();
  });
  return app;
}
