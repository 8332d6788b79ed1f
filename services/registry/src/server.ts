// The registry's gRPC service: catalog reads and watches, and calls routed to
// one upstream. MCP payloads stay JSON bytes; upstream failures are results
// (CallResult.error_json), gRPC status is left for transport failures.
import { timingSafeEqual, createHash } from 'node:crypto';
import {
  Metadata, Server, ServerCredentials, ServerInterceptingCall, credentials, status,
  type ChannelCredentials, type ServerInterceptor, type ServerWritableStream, type ServiceError, type sendUnaryData, type ServerUnaryCall,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import {
  RegistryClient,
  RegistryService,
  ServerStatus_State,
  DecidePinResponse_Outcome,
  ToolPin_State,
  type CallContext,
  type ToolPin,
  type CallEvent,
  type CallToolRequest,
  type CatalogEvent,
  type ForwardRequest,
  type RegistryServer,
  type ServerCatalog,
  type SessionNotification,
  type WatchCatalogRequest,
} from '@mcpgw/proto/registry';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { CircuitState } from 'cockatiel';
import { ErrorCode, progressText, requestText, responseText, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { EventLog } from '@mcpgw/common/event-log';
import type { Tracing } from '@mcpgw/common/tracing';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogChange, CatalogEntry, CatalogStore } from './catalog/catalog.js';
import type { PinningCatalog, PinState, PinView } from './catalog/pinning.js';
import type { RegistryMetrics } from './metrics.js';
import type { ReplicaBus, ReplicaMessage } from './replica-bus.js';
import type { LocalNotifier } from './notifier.js';
import type { CallSink } from './upstreams/client-peer.js';
import { CallEvents } from './call-events.js';
import { callsMux } from './calls-mux.js';
import { UpstreamCallError } from './upstreams/upstream.js';
import { redact } from './upstreams/redact.js';
import { SESSION_LOST, type Target, type UpstreamSet } from './upstreams/upstream-set.js';
import { createRegistryTasks, forwardsTasks, type RegistryTasks, type TaskSettings, type TaskStore } from './tasks/index.js';

export interface RegistryDeps {
  catalog: CatalogStore;
  /** Tool pinning over the same catalog: fingerprints, pending changes, decisions. */
  pins: PinningCatalog;
  upstreams: UpstreamSet;
  metrics: RegistryMetrics;
  log: Logger;
  /** Reaches other replicas (Redis); absent with one replica. */
  replicaBus?: ReplicaBus;
  /** This replica's id, unique among replicas: part of server-to-client request ids. */
  instanceId: string;
  /** Without Redis: the notifier whose watchers are the edges' WatchNotifications streams. */
  localNotifier?: LocalNotifier;
  /** OpenTelemetry, when configured. */
  tracing?: Tracing;
  /** The shared event log (Redis), for calls the edge asks to make resumable. */
  events?: EventLog;
  /** MCPGW_REGISTRY_TOKEN: required from every caller (health checks excepted); also sent to other replicas. */
  token?: string;
  /** How this replica reaches others (per_client owners): TLS when the link uses it. */
  peerCredentials?: ChannelCredentials;
  /** Set on SIGTERM: new calls are refused (UNAVAILABLE before acceptance, so edges retry elsewhere). */
  draining?: boolean;
  /** Tasks (issue 22): where task records live (Redis; memory by default), bounds, and this replica's address for routing. */
  taskStore?: TaskStore;
  taskSettings?: Partial<TaskSettings>;
  taskAddress?: () => string | undefined;
  /** Reaches client sessions' streams (task status notifications). */
  taskNotifier?: { publish(sessionId: string, messageJson: string): void };
}

export interface RegistryImpl {
  service: RegistryServer;
  /** What another replica broadcast: acted on when this replica holds the target. */
  onReplicaMessage(message: ReplicaMessage): void;
  /** Calls (CallTool, Forward) running now. */
  inFlight(): number;
  /** Ends the long-lived watch streams, so edges resubscribe on another replica. */
  endWatches(): void;
  tasks: RegistryTasks;
}

const EMPTY = Buffer.alloc(0);
/** How long a call waits for an upstream that is still connecting (a replica's cold start). */
const COLD_START_WAIT_MS = 5_000;
/** New edges are spread over replicas: connections are recycled after this long. */
const MAX_CONNECTION_AGE_MS = 5 * 60_000;

export function toServerCatalog(e: CatalogEntry): ServerCatalog {
  return {
    name: e.name,
    hash: e.hash,
    toolsJson: e.toolsJson,
    resourcesJson: e.resourcesJson,
    resourceTemplatesJson: e.resourceTemplatesJson,
    promptsJson: e.promptsJson,
    stale: e.stale,
    description: e.description,
    serverInfoJson: e.serverInfoJson,
    perClient: e.perClient,
  };
}

function toCatalogEvent(c: CatalogChange): CatalogEvent {
  return { version: c.version, snapshot: c.snapshot, servers: c.servers.map(toServerCatalog), removedServers: c.removed };
}

function resultEvent(resultJson: string, isError: boolean): CallEvent {
  return { event: { $case: 'result', value: { resultJson: Buffer.from(resultJson), errorJson: EMPTY, isError, sessionLost: false } }, eventId: '', messageJson: EMPTY };
}

function errorEvent(error: { code: number }, json = JSON.stringify(error)): CallEvent {
  const errorJson = Buffer.from(json);
  return { event: { $case: 'result', value: { resultJson: EMPTY, errorJson, isError: false, sessionLost: error.code === SESSION_LOST } }, eventId: '', messageJson: EMPTY };
}

const PIN_STATE: Record<PinState, ToolPin_State> = {
  trusted: ToolPin_State.STATE_TRUSTED, changed: ToolPin_State.STATE_CHANGED, held: ToolPin_State.STATE_HELD, rejected: ToolPin_State.STATE_REJECTED,
};

function toToolPin(p: PinView): ToolPin {
  const json = (v: unknown) => (v === undefined ? EMPTY : Buffer.from(JSON.stringify(v)));
  return {
    server: p.server, tool: p.tool, state: PIN_STATE[p.state], fingerprint: p.fingerprint ?? '', definitionJson: json(p.definition),
    pendingFingerprint: p.pending?.fingerprint ?? '', pendingDefinitionJson: json(p.pending?.definition), pendingSeenMs: p.pending?.seenAt ?? 0,
  };
}

function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  if (bytes.length === 0) return {};
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function createRegistryService(deps: RegistryDeps): RegistryImpl {
  const { catalog, upstreams, metrics, log, instanceId } = deps;
  /** Running calls by session and client request id, for Cancel. */
  const running = new Map<string, AbortController>();
  const callKey = (ctx: CallContext | undefined, requestId: string) => `${ctx?.sessionId ?? ''}\0${requestId}`;
  /** Server-to-client requests waiting for the client's answer, by gateway-wide id. */
  const pendingRequests = new Map<string, { resolve(result: Record<string, unknown>): void; reject(err: Error): void }>();
  let serverRequestCount = 0;
  const respondLocal = (id: string, responseJson: string): boolean => {
    const pending = pendingRequests.get(id);
    if (!pending) return false;
    const response = JSON.parse(responseJson) as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
    if (response.error) pending.reject(new McpError(response.error.code, response.error.message, response.error.data));
    else pending.resolve(response.result ?? {});
    return true;
  };
  const cancelLocal = (key: string, reason: string): boolean => {
    const abort = running.get(key);
    abort?.abort(reason);
    return abort !== undefined;
  };

  let inFlight = 0;
  const watches = new Set<ServerWritableStream<unknown, unknown>>();
  /** Owner replicas of per_client sessions, by address. */
  const owners = new Map<string, RegistryClient>();

  /** Another replica owns this client session's upstream session: pass the call through to it. */
  function proxyToOwner(call: ServerWritableStream<CallToolRequest | ForwardRequest, CallEvent>, rpc: 'callTool' | 'forward', address: string, server: string): void {
    let client = owners.get(address);
    if (!client) owners.set(address, (client = new RegistryClient(address, deps.peerCredentials ?? credentials.createInsecure(), { 'grpc.keepalive_time_ms': 20_000 })));
    const deadline = call.getDeadline();
    const options = deadline instanceof Date || typeof deadline === 'number' ? { deadline } : {};
    // Our own link token, not the caller's metadata: a call that came over the multiplexed stream carries none.
    const md = call.metadata.clone();
    if (deps.token) md.set('authorization', `Bearer ${deps.token}`);
    const stream = rpc === 'callTool'
      ? client.callTool(call.request as CallToolRequest, md, options)
      : client.forward(call.request as ForwardRequest, md, options);
    stream.on('data', (ev: CallEvent) => call.write(ev));
    stream.on('end', () => call.end());
    stream.on('error', (err: ServiceError) => {
      // The owner is gone: the upstream session it held is lost with it.
      const error = err.code === status.UNAVAILABLE
        ? { code: SESSION_LOST, message: `the registry replica holding the upstream session of '${server}' is gone; initialize a new session`, data: { server, sessionLost: true } }
        : { code: ErrorCode.InternalError, message: `forwarding to the owner of '${server}' failed: ${err.details}`, data: { server } };
      call.write(errorEvent(error));
      call.end();
    });
    call.on('cancelled', () => stream.cancel());
  }

  /** Runs one upstream request and streams progress (and per_client traffic), then exactly one result. */
  async function relay(
    call: ServerWritableStream<CallToolRequest | ForwardRequest, CallEvent>,
    rpc: 'callTool' | 'forward',
    server: string,
    method: string,
    buildParams: () => Record<string, unknown>,
    wantProgress: boolean,
  ): Promise<void> {
    const ctx = call.request.context;
    // Accepted: the response headers tell the edge this call reached a registry (no blind retry from here on).
    call.sendMetadata(new Metadata());
    inFlight++;
    const fail = (error: JsonRpcError) => {
      call.write(errorEvent(error));
      call.end();
    };
    let target: Target | undefined;
    let params: Record<string, unknown>;
    try {
      params = buildParams();
      target = await upstreams.forSession(server, ctx?.sessionId ?? '', () => parseObject(ctx?.clientCapabilitiesJson ?? EMPTY, 'client capabilities'));
    } catch (err) {
      inFlight--;
      return fail(err instanceof UpstreamCallError ? err.error : { code: ErrorCode.InvalidParams, message: redact((err as Error).message), data: { server } });
    }
    if (!target) {
      inFlight--;
      return fail({ code: ErrorCode.InvalidParams, message: `unknown server '${server}'`, data: { server } });
    }
    if ('owner' in target) {
      call.on('close', () => inFlight--);
      return proxyToOwner(call, rpc, target.owner, server);
    }
    const { upstream } = target;
    // A replica that just started serves the catalog before its upstreams answer: a call waits
    // briefly for the first connect instead of failing "not connected" (rolling restarts).
    if (upstream.state === 'connecting') await upstream.whenUp(Math.min(COLD_START_WAIT_MS, ctx?.timeoutMs || COLD_START_WAIT_MS)).catch(() => {});
    // Shared upstreams hear the first subscribe and the last unsubscribe of a URI only.
    const uri = typeof params.uri === 'string' ? params.uri : undefined;
    const alias = takeClientUri(params);
    if (!upstream.peer && uri && ctx?.sessionId && (method === 'resources/subscribe' || method === 'resources/unsubscribe')) {
      const tellUpstream = method === 'resources/subscribe'
        ? upstreams.subscriptions.add(server, uri, ctx.sessionId, alias)
        : upstreams.subscriptions.remove(server, uri, ctx.sessionId);
      if (!tellUpstream) {
        call.write(resultEvent('{}', false));
        return void call.end();
      }
    }
    const abort = new AbortController();
    const key = ctx?.requestId ? callKey(ctx, ctx.requestId) : undefined;
    if (key) running.set(key, abort);
    // A call whose events are stored runs on when the edge goes away: the
    // client resumes it elsewhere. Explicit cancellation comes through Cancel.
    const store = ctx?.storeEvents && ctx.sessionId && ctx.requestId ? deps.events : undefined;
    let finished = false;
    call.on('cancelled', () => { if (!store && !finished) abort.abort('client went away'); });
    const events = new CallEvents((event) => { if (!call.cancelled) call.write(event); }, store && {
      store, sessionId: ctx!.sessionId, streamId: ctx!.requestId,
      onError: (err) => log.warn({ server, err: err.message }, 'event log append failed; the stream will not be resumable'),
    });
    const emit = events.emit.bind(events);
    const tokenJson = ctx?.progressToken || undefined;
    const started = performance.now();
    let traced: ReturnType<Tracing['start']> | undefined;
    let failure: string | undefined;
    try {
      // W3C trace context from the edge (metadata or the call context) goes on to HTTP upstreams.
      const incoming = ctx?.traceparent || String(call.metadata.get('traceparent')[0] ?? '');
      traced = deps.tracing?.start(`${method} ${server}`, 'client', incoming || undefined, { 'mcp.server': server, 'mcp.method': method });
      const traceparent = traced?.traceparent || incoming;
      const run = () => upstream.request(method, params, {
        // A 2026-07-28 upstream's input requests reach the client as server-to-client requests (reverse MRTR).
        ask: (m, p, signal) => sink.request(m, p, signal),
        clientCapabilities: ctx?.clientCapabilitiesJson.length ? parseObject(ctx.clientCapabilitiesJson, 'client capabilities') : undefined,
        signal: abort.signal,
        timeoutMs: ctx?.timeoutMs,
        traceparent: traceparent || undefined,
        onProgress: wantProgress
          ? (p) => emit({ event: { $case: 'progress', value: { progress: p.progress, total: p.total ?? 0, hasTotal: p.total !== undefined, message: p.message ?? '' } }, eventId: '', messageJson: EMPTY },
            tokenJson ? () => progressText(tokenJson, p) : undefined, false)
          : undefined,
      });
      // A per_client session's requests and notifications to its client ride on this call's stream.
      const sink: CallSink = {
        notification: (message) => {
          // The SDK hands over the parsed notification without its "jsonrpc" member.
          const text = JSON.stringify({ jsonrpc: '2.0', ...message });
          emit({ event: { $case: 'notificationJson', value: Buffer.from(text) }, eventId: '', messageJson: EMPTY }, () => text, false);
        },
        request: (reqMethod, reqParams, signal) => new Promise((resolve, reject) => {
          const id = `${instanceId}.${++serverRequestCount}`;
          const done = () => { pendingRequests.delete(id); signal.removeEventListener('abort', onAbort); };
          const onAbort = () => { done(); reject(new Error('cancelled')); };
          signal.addEventListener('abort', onAbort, { once: true });
          pendingRequests.set(id, { resolve: (r) => { done(); resolve(r); }, reject: (e) => { done(); reject(e); } });
          const paramsJson = JSON.stringify(reqParams ?? {});
          emit({ event: { $case: 'serverRequest', value: { id, method: reqMethod, paramsJson: Buffer.from(paramsJson) } }, eventId: '', messageJson: EMPTY },
            () => requestText(id, reqMethod, paramsJson), false);
        }),
      };
      const peer = upstream.peer;
      const result = await (peer ? peer.during(sink, run) : run());
      const resultJson = JSON.stringify(result);
      emit(resultEvent(resultJson, (result as { isError?: unknown }).isError === true), () => responseText(ctx!.requestId, { result: resultJson }), true);
    } catch (err) {
      const error = err instanceof UpstreamCallError ? err.error : { code: ErrorCode.InternalError, message: redact((err as Error).message), data: { server } };
      const errorJson = JSON.stringify(error);
      failure = error.message;
      emit(errorEvent(error, errorJson), () => responseText(ctx!.requestId, { error: errorJson }), true);
    } finally {
      finished = true;
      inFlight--;
      if (traced) deps.tracing!.end(traced.span, failure);
      if (key) running.delete(key);
      const seconds = (performance.now() - started) / 1000;
      metrics.perCall.upstreamRequestDuration(server, method).observe(seconds);
      if (log.isLevelEnabled('debug')) log.debug({ server, method, ms: Math.round(seconds * 1e4) / 10, aborted: abort.signal.aborted }, 'upstream request');
      await events.flushed();
      if (!call.cancelled) call.end();
    }
  }

  // The multiplexed call stream hands each frame to the same handlers as CallTool and Forward.
  const mux = callsMux({
    callTool: (call) => service.callTool(call),
    forward: (call) => service.forward(call),
    draining: () => deps.draining === true,
  });
  // Gateway-run tasks take the CallTool path; the upstream's requests are answered through Respond.
  const tasks = createRegistryTasks({
    store: deps.taskStore, settings: deps.taskSettings, instanceId, log, token: deps.token, peerCredentials: deps.peerCredentials, address: deps.taskAddress,
    callTool: (call) => service.callTool(call),
    forward: (call) => service.forward(call),
    forwardable: (server, tool) => forwardsTasks(catalog.entries().find((e) => e.name === server), tool),
    notify: (sessionId, text) => (deps.taskNotifier ?? deps.localNotifier)?.publish(sessionId, text),
    respond: (id, json) => { if (!respondLocal(id, json)) void deps.replicaBus?.publish({ kind: 'respond', id, response: json }).catch(() => undefined); },
  });
  const service: RegistryServer = {
    ...tasks.handlers,
    calls: mux.handler,

    listTools(call: ServerUnaryCall<{ servers: string[] }, unknown>, cb: sendUnaryData<never>) {
      const only = new Set(call.request.servers);
      const servers = catalog.entries().filter((e) => only.size === 0 || only.has(e.name)).map(toServerCatalog);
      cb(null, { servers, nextCursor: '', version: catalog.version } as never);
    },

    watchCatalog(call: ServerWritableStream<WatchCatalogRequest, CatalogEvent>) {
      // Subscribe before reading so no change falls between the two.
      const pending: CatalogChange[] = [];
      let live = false;
      const unsubscribe = catalog.subscribe((c) => (live ? call.write(toCatalogEvent(c)) : pending.push(c)));
      watches.add(call);
      const done = () => { unsubscribe(); watches.delete(call); };
      call.on('cancelled', done);
      call.on('close', done);
      const since = Number(call.request.sinceVersion);
      const changes = since > 0 ? catalog.changesSince(since) : undefined;
      let sentVersion: number;
      if (changes) {
        for (const c of changes) call.write(toCatalogEvent(c));
        sentVersion = changes.at(-1)?.version ?? since;
      } else {
        call.write({ version: catalog.version, snapshot: true, servers: catalog.entries().map(toServerCatalog), removedServers: [] });
        sentVersion = catalog.version;
      }
      for (const c of pending) if (c.snapshot || c.version > sentVersion) call.write(toCatalogEvent(c));
      live = true;
    },

    callTool(call: ServerWritableStream<CallToolRequest, CallEvent>) {
      const req = call.request;
      void relay(call, 'callTool', req.server, 'tools/call', () => {
        const params: Record<string, unknown> = { name: req.tool, arguments: parseObject(req.argumentsJson, 'arguments') };
        if (req.metaJson.length > 0) params._meta = parseObject(req.metaJson, '_meta');
        return params;
      }, req.wantProgress);
    },

    forward(call: ServerWritableStream<ForwardRequest, CallEvent>) {
      const req = call.request;
      void relay(call, 'forward', req.server, req.method, () => parseObject(req.paramsJson, 'params'), req.wantProgress);
    },

    cancel(call, cb) {
      const key = callKey(call.request.context, call.request.requestId);
      const reason = call.request.reason || 'cancelled by the client';
      if (cancelLocal(key, reason)) return cb(null, { found: true });
      broadcast({ kind: 'cancel', key, reason }, cb);
    },

    respond(call, cb) {
      const { id, responseJson } = call.request;
      try {
        if (respondLocal(id, responseJson.toString('utf8'))) return cb(null, { found: true });
      } catch (err) {
        return cb({ code: status.INVALID_ARGUMENT, details: `response is not JSON-RPC: ${(err as Error).message}` });
      }
      broadcast({ kind: 'respond', id, response: responseJson.toString('utf8') }, cb);
    },

    watchNotifications(call: ServerWritableStream<unknown, SessionNotification>) {
      // Only without Redis: then this registry is the only one and tells its edges directly.
      if (!deps.localNotifier) return void call.end();
      const stop = deps.localNotifier.watch((sessionId, messageJson) => call.write({ sessionId, messageJson: Buffer.from(messageJson) }));
      watches.add(call);
      const done = () => { stop(); watches.delete(call); };
      call.on('cancelled', done);
      call.on('close', done);
    },

    endSession(call, cb) {
      upstreams.endSession(call.request.context?.sessionId ?? '').then((closed) => cb(null, { closed }), (err: Error) => cb({ code: status.INTERNAL, details: err.message }));
    },

    listServers(_call, cb) {
      const state = { connecting: ServerStatus_State.STATE_CONNECTING, up: ServerStatus_State.STATE_UP, down: ServerStatus_State.STATE_DOWN } as const;
      cb(null, {
        servers: upstreams.all().map((u) => ({
          name: u.config.name,
          transport: u.config.transport,
          state: u.state === 'up' && u.breaker.state !== CircuitState.Closed ? ServerStatus_State.STATE_DEGRADED : state[u.state],
          lastLatencyMs: u.lastLatencyMs,
          toolCount: u.toolCount,
          lastError: u.lastError,
          lastSeenMs: u.lastSeenMs,
          protocolVersion: u.protocolVersion ?? '',
          sessionMode: u.config.session,
          pinChanges: deps.pins.pendingCount(u.config.name),
        })),
      });
    },

    listPins(call, cb) {
      deps.pins.list(call.request.server || undefined).then(
        (pins) => cb(null, { pins: pins.map(toToolPin), mode: deps.pins.mode }),
        (err: Error) => cb({ code: status.UNAVAILABLE, details: `pin store unavailable: ${err.message}` }),
      );
    },

    decidePin(call, cb) {
      const { server, tool, fingerprint, reject, principal } = call.request;
      deps.pins.decide(server, tool, fingerprint, reject).then((d) => {
        if (d.outcome === 'done') log.info({ audit: reject ? 'pin_rejected' : 'pin_approved', server, tool, fingerprint: d.pin.pending?.fingerprint ?? d.pin.fingerprint, principal }, 'tool pin decided');
        cb(null, d.outcome === 'done'
          ? { outcome: DecidePinResponse_Outcome.OUTCOME_DONE, pin: toToolPin(d.pin) }
          : { outcome: d.outcome === 'unknown_tool' ? DecidePinResponse_Outcome.OUTCOME_UNKNOWN_TOOL : DecidePinResponse_Outcome.OUTCOME_NOT_PENDING });
      }, (err: Error) => cb({ code: status.UNAVAILABLE, details: `pin store unavailable: ${err.message}` }));
    },
  };
  /** Hands a message to the other replicas (the one holding its target acts on it). */
  function broadcast(message: ReplicaMessage, cb: sendUnaryData<{ found: boolean }>): void {
    if (!deps.replicaBus) return cb(null, { found: false });
    deps.replicaBus.publish(message).then(() => cb(null, { found: true }), (err: Error) => cb({ code: status.UNAVAILABLE, details: `broadcast to replicas failed: ${err.message}` }));
  }

  const onReplicaMessage = (m: ReplicaMessage): void => {
    if (m.kind === 'cancel') cancelLocal(m.key, m.reason);
    else respondLocal(m.id, m.response);
  };
  /** Draining: catalog watchers move away, and multiplexed call streams end once their calls are done. */
  const endWatches = () => {
    for (const w of watches) w.end();
    watches.clear();
    mux.drain();
  };
  return { service, onReplicaMessage, inFlight: () => inFlight, endWatches, tasks };
}

/** A grpc-js server with the registry and grpc.health.v1 services; not yet bound. */
export function createGrpcServer(deps: RegistryDeps, registry = createRegistryService(deps)): { server: Server; health: HealthImplementation } {
  const server = new Server({
    interceptors: [gatekeeper(deps)],
    'grpc.max_connection_age_ms': MAX_CONNECTION_AGE_MS,
    // Long-running streams (WatchCatalog, slow tool calls) are not cut by the age limit.
    'grpc.max_connection_age_grace_ms': 2 ** 31 - 1,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(RegistryService, registry.service);
  const health = new HealthImplementation({ '': 'SERVING', 'mcpgw.registry.v1.Registry': 'SERVING' });
  health.addToServer(server);
  return { server, health };
}

export function bindGrpc(server: Server, address: string, creds: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

const HEALTH_PREFIX = '/grpc.health.v1.';

/**
 * Every call but health checks: the shared token (compared in constant time)
 * or UNAUTHENTICATED; while draining, UNAVAILABLE before the call is accepted
 * (no response headers), which the edge retries on another replica.
 */
function gatekeeper(deps: RegistryDeps): ServerInterceptor {
  const expected = deps.token ? createHash('sha256').update(`Bearer ${deps.token}`).digest() : undefined;
  const authorized = (md: Metadata): boolean => {
    if (!expected) return true;
    const given = md.get('authorization')[0];
    if (typeof given !== 'string') return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
  };
  return (method, call) => new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(md, mdNext) {
          if (method.path.startsWith(HEALTH_PREFIX)) return mdNext(md);
          if (!authorized(md)) {
            deps.log.warn({ method: method.path }, 'registry call refused: missing or wrong MCPGW_REGISTRY_TOKEN');
            return call.sendStatus({ code: status.UNAUTHENTICATED, details: 'missing or wrong registry token', metadata: new Metadata() });
          }
          if (deps.draining) return call.sendStatus({ code: status.UNAVAILABLE, details: 'registry draining', metadata: new Metadata() });
          mdNext(md);
        },
      });
    },
  });
}

/** The edge's `_meta["mcpgw/clientUri"]` (the aggregate's renamed URI a client subscribed by), taken out of the upstream's params. */
function takeClientUri(params: Record<string, unknown>): string | undefined {
  const meta = params._meta as Record<string, unknown> | undefined;
  if (!meta || !('mcpgw/clientUri' in meta)) return undefined;
  const { 'mcpgw/clientUri': alias, ...rest } = meta;
  if (Object.keys(rest).length > 0) params._meta = rest;
  else delete params._meta;
  return typeof alias === 'string' ? alias : undefined;
}
