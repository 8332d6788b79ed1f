// Call RPCs: tool calls and forwarded requests relayed to one upstream (or
// to the replica that owns a per_client session), the multiplexed Calls
// stream, Cancel and Respond (across replicas), notification watchers and
// EndSession.
import type { Peers } from '../peers.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import {
  Metadata, status,
  type ServerWritableStream, type ServiceError, type sendUnaryData,
} from '@grpc/grpc-js';
import {
  type CallContext,
  type CallEvent,
  type CallToolRequest,
  type ForwardRequest,
  type RegistryServer,
  type SessionNotification,
} from '@mcpgw/proto/registry';
import { ErrorCode, progressText, requestText, responseText, takeMeta, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { Tracing } from '@mcpgw/common/tracing';
import type { RegistryDeps } from '../server.js';
import type { ReplicaMessage } from '../replica-bus.js';
import type { CallSink } from '../upstreams/client-peer.js';
import { CallEvents } from '../call-events.js';
import { callsMux } from '../calls-mux.js';
import { UpstreamCallError } from '../upstreams/upstream.js';
import { redact } from '@mcpgw/common/redact';
import { SESSION_LOST, type Target } from '../upstreams/upstream-set.js';
import { EMPTY, errorEvent, parseObject, resultEvent } from './convert.js';
import { track, type Watches } from './watches.js';

/** How long a call waits for an upstream that is still connecting (a replica's cold start). */
const COLD_START_WAIT_MS = 5_000;

export type CallHandlers = Pick<RegistryServer, 'calls' | 'callTool' | 'forward' | 'cancel' | 'respond' | 'watchNotifications' | 'endSession'>;

export interface Calls {
  handlers: CallHandlers;
  /** What another replica broadcast: acted on when this replica holds the target. */
  onReplicaMessage(message: ReplicaMessage): void;
  /** Calls (CallTool, Forward) running now. */
  inFlight(): number;
  /** Multiplexed call streams end once their calls are done. */
  drain(): void;
  /** Hands a client's answer to the server-to-client request waiting here; false when none is. */
  respondLocal(id: string, responseJson: string): boolean;
}

/** `peers`: the other replicas, for per_client sessions another replica owns. */
export function callHandlers(deps: RegistryDeps, watches: Watches, peers: Peers): Calls {
  const { upstreams, metrics, log, instanceId } = deps;
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

  /** Another replica owns this client session's upstream session: pass the call through to it. */
  function proxyToOwner(call: ServerWritableStream<CallToolRequest | ForwardRequest, CallEvent>, rpc: 'callTool' | 'forward', address: string, server: string): void {
    const client = peers.client(address);
    const deadline = call.getDeadline();
    const options = deadline instanceof Date || typeof deadline === 'number' ? { deadline } : {};
    const md = peers.metadata(call.metadata);
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
      target = await upstreams.forSession(server, ctx?.sessionId ?? '', () => parseObject(ctx?.clientCapabilitiesJson ?? EMPTY, 'client capabilities'),
        { principal: ctx?.principal ?? '', credential: ctx?.serverCredential ?? '' });
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
    // The edge's `_meta["mcpgw/clientUri"]`: the aggregate's renamed URI a client subscribed by.
    const clientUri = takeMeta(params, 'mcpgw/clientUri');
    params = clientUri.params;
    const alias = typeof clientUri.value === 'string' ? clientUri.value : undefined;
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
        signal: abort.signal,
        timeoutMs: ctx?.timeoutMs,
        traceparent: traceparent || undefined,
        // A 2026-07-28 upstream's input requests reach the client as server-to-client requests (reverse MRTR).
        ask: (m, p, signal) => sink.request(m, p, signal),
        clientCapabilities: ctx?.clientCapabilitiesJson.length ? parseObject(ctx.clientCapabilitiesJson, 'client capabilities') : undefined,
        onProgress: wantProgress
          ? (raw) => {
            const p = raw.message ? { ...raw, message: upstream.forClient.text(raw.message) } : raw;
            emit({ event: { $case: 'progress', value: { progress: p.progress, total: p.total ?? 0, hasTotal: p.total !== undefined, message: p.message ?? '' } }, eventId: '', messageJson: EMPTY },
              tokenJson ? () => progressText(tokenJson, p) : undefined, false);
          }
          : undefined,
      });
      // A per_client session's requests and notifications to its client ride on this call's stream.
      const sink: CallSink = {
        notification: (message) => {
          // The SDK hands over the parsed notification without its "jsonrpc" member.
          const text = upstream.forClient.json({ jsonrpc: '2.0', ...message }, message.method === 'notifications/message');
          emit({ event: { $case: 'notificationJson', value: Buffer.from(text) }, eventId: '', messageJson: EMPTY }, () => text, false);
        },
        request: (reqMethod, reqParams, signal) => new Promise((resolve, reject) => {
          const id = `${instanceId}.${++serverRequestCount}`;
          const done = () => { pendingRequests.delete(id); signal.removeEventListener('abort', onAbort); };
          const onAbort = () => { done(); reject(new Error('cancelled')); };
          signal.addEventListener('abort', onAbort, { once: true });
          pendingRequests.set(id, { resolve: (r) => { done(); resolve(r); }, reject: (e) => { done(); reject(e); } });
          const paramsJson = upstream.forClient.json(reqParams ?? {}, false);
          emit({ event: { $case: 'serverRequest', value: { id, method: reqMethod, paramsJson: Buffer.from(paramsJson) } }, eventId: '', messageJson: EMPTY },
            () => requestText(id, reqMethod, paramsJson), false);
        }),
      };
      const peer = upstream.peer;
      const result = await (peer ? peer.during(sink, run) : run());
      const isError = (result as { isError?: unknown }).isError === true;
      const resultJson = upstream.forClient.json(result, isError);
      emit(resultEvent(resultJson, isError), () => responseText(ctx!.requestId, { result: resultJson }), true);
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
    callTool: (call) => handlers.callTool(call),
    forward: (call) => handlers.forward(call),
    draining: () => deps.draining === true,
  });
  const handlers: CallHandlers = {
    calls: mux.handler,

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
      track(watches, call as ServerWritableStream<unknown, unknown>, stop);
    },

    endSession(call, cb) {
      upstreams.endSession(call.request.context?.sessionId ?? '').then((closed) => cb(null, { closed }), (err: Error) => cb({ code: status.INTERNAL, details: err.message }));
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
  return { handlers, onReplicaMessage, inFlight: () => inFlight, drain: () => mux.drain(), respondLocal };
}

