import { createHash } from 'node:crypto';
// Answers one JSON-RPC request of a session, whatever transport carried it.
// Lists come from the edge's catalog view; calls go to the registry as one
// gRPC stream each. Returns the whole JSON-RPC response as text.
import { status as GrpcStatus, type ClientReadableStream } from '@grpc/grpc-js';
import type { CallEvent, CallContext } from '@mcpgw/proto/registry';
import { ErrorCode, progressText, requestText, responseText, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { Tracing } from '@mcpgw/common/tracing';
import type { CatalogView } from './catalog-view.js';
import { fromGrpcError } from './errors.js';
import { errorText, resultText, type JsonRpcRequest } from './jsonrpc.js';
import type { EdgeMetrics } from './metrics.js';
import { LOG_LEVELS } from './protocol.js';
import type { RegistryLink } from './registry-client.js';
import type { SessionRecord, SessionStore } from './sessions/session-store.js';

/** `_meta` key of tools/call where a client may set its own timeout (ms), up to the gateway's cap. */
export const TIMEOUT_META = 'mcpgw/timeoutMs';

export interface RequestContext {
  session: SessionRecord;
  /** Per-server view (/servers/{name}/...) or undefined for the aggregate. */
  server?: string;
  traceparent?: string;
  /**
   * Sends a notification on this request's stream (progress); absent when the
   * reply is plain JSON. `eventId` is set when the registry already stored it.
   */
  notify?: (json: string, eventId?: string) => void;
  /** Ask the registry to store this call's events in the shared log (a resumable SSE stream). */
  resumable?: boolean;
  /** Set by the dispatcher: the stored event id of the final response, when the registry stored it. */
  finalEventId?: string;
  /** Set by the dispatcher: the session's per_client upstream session is gone; the client must re-initialize (404). */
  sessionLost?: boolean;
  /** Aborted when the caller gave up (REST: client disconnected). */
  signal?: AbortSignal;
  /** The caller's own timeout in ms (REST `timeout_ms`); capped. */
  timeoutMs?: number;
}

export interface DispatcherDeps {
  catalog: CatalogView;
  registry: RegistryLink;
  sessions: SessionStore;
  metrics: EdgeMetrics;
  log: Logger;
  callTimeoutMs: number;
  /** OpenTelemetry, when configured. */
  tracing?: Tracing;
}

const EMPTY = Buffer.alloc(0);

/** A call's outcome: the JSON text of `result`, or an error (as an object or as upstream JSON text). */
export type Answer = { result: string } | { error: JsonRpcError | string };

export function answerText(id: JsonRpcId, a: Answer): string {
  if ('result' in a) return resultText(id, a.result);
  return typeof a.error === 'string' ? responseText(JSON.stringify(id), { error: a.error }) : errorText(id, a.error);
}

export function progressTokenOf(msg: { params?: Record<string, unknown> }): string | number | undefined {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  const token = meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

export class Dispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  async handle(ctx: RequestContext, msg: JsonRpcRequest): Promise<string> {
    const { id, method } = msg;
    const view = this.deps.catalog.view(ctx.server);
    if (!view) return errorText(id, { code: ErrorCode.InvalidParams, message: `unknown server '${ctx.server}'` });
    const params = msg.params ?? {};
    switch (method) {
      case 'ping': return resultText(id, '{}');
      case 'tools/list': return resultText(id, view.toolsList);
      case 'prompts/list': return resultText(id, view.promptsList);
      case 'resources/list': return resultText(id, view.resourcesList);
      case 'resources/templates/list': return resultText(id, view.resourceTemplatesList);
      case 'tools/call': {
        if (typeof params.name !== 'string') return errorText(id, invalidParams('tools/call needs "name" (a string)'));
        return answerText(id, await this.callTool(ctx, id, params.name, params.arguments ?? {}, params._meta as Record<string, unknown> | undefined));
      }
      case 'prompts/get': {
        if (typeof params.name !== 'string') return errorText(id, invalidParams('prompts/get needs "name" (a string)'));
        const route = view.prompts.get(params.name);
        if (!route) return errorText(id, invalidParams(`unknown prompt '${params.name}'`, { prompt: params.name }));
        return answerText(id, await this.forward(ctx, msg, route.server, { ...params, name: route.name }));
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        if (typeof params.uri !== 'string') return errorText(id, invalidParams(`${method} needs "uri" (a string)`));
        const server = this.resourceServer(ctx, params.uri);
        if (!server) return errorText(id, { code: -32002, message: `Resource not found: ${params.uri}`, data: { uri: params.uri } });
        return answerText(id, await this.forward(ctx, msg, server, params));
      }
      case 'completion/complete': {
        const ref = params.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
        if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
          const route = view.prompts.get(ref.name);
          if (!route) return errorText(id, invalidParams(`unknown prompt '${ref.name}'`, { prompt: ref.name }));
          return answerText(id, await this.forward(ctx, msg, route.server, { ...params, ref: { ...ref, name: route.name } }));
        }
        if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
          const server = view.templates.get(ref.uri) ?? this.resourceServer(ctx, ref.uri);
          if (!server) return errorText(id, invalidParams(`unknown resource template '${ref.uri}'`, { uri: ref.uri }));
          return answerText(id, await this.forward(ctx, msg, server, params));
        }
        return errorText(id, invalidParams('completion/complete needs "ref" of type ref/prompt (with name) or ref/resource (with uri)'));
      }
      case 'logging/setLevel': {
        if (!LOG_LEVELS.includes(params.level as never)) return errorText(id, invalidParams(`logging/setLevel needs "level", one of ${LOG_LEVELS.join(', ')}`));
        await this.deps.sessions.update({ ...ctx.session, ll: params.level as string });
        return resultText(id, '{}');
      }
      case 'initialize':
        return errorText(id, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: the session is already initialized' });
      default:
        return errorText(id, { code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` });
    }
  }

  /** A caller's timeout, capped at the gateway's MCPGW_CALL_TIMEOUT_MS; 0 when none (or not a number). */
  private requestedTimeout(value: unknown): number {
    return typeof value === 'number' && value > 0 ? Math.min(Math.round(value), this.deps.callTimeoutMs) : 0;
  }

  /** The server a resource URI belongs to: listed URIs, else the per-server view's own server. */
  private resourceServer(ctx: RequestContext, uri: string): string | undefined {
    return this.deps.catalog.view(ctx.server)?.resources.get(uri) ?? ctx.server;
  }

  /** Whether answering `msg` may need a stream: its server is per_client (requests and log messages to the client). */
  mayNeedStream(ctx: RequestContext, msg: JsonRpcRequest): boolean {
    const view = this.deps.catalog.view(ctx.server);
    if (!view) return false;
    const name = msg.params?.name;
    if (msg.method === 'tools/call' && typeof name === 'string') {
      const route = view.tools.get(name);
      return route !== undefined && this.deps.catalog.isPerClient(route.server);
    }
    return ctx.server !== undefined && this.deps.catalog.isPerClient(ctx.server);
  }

  /** The client's answer to a server-to-client request: to the registry that asked. */
  respond(session: SessionRecord, msg: { id: JsonRpcId }): void {
    this.deps.registry.respond({ context: this.context(session, ''), id: String(msg.id), responseJson: Buffer.from(JSON.stringify(msg)) });
  }

  /** The client session ended: its per_client upstream sessions close. */
  endSession(session: SessionRecord): void {
    this.deps.registry.endSession({ context: this.context(session, '') });
  }

  /** A client's notifications/cancelled: reaches the registry running the call. */
  cancel(session: SessionRecord, params: Record<string, unknown> | undefined): void {
    const requestId = params?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    this.deps.registry.cancel({
      context: this.context(session, JSON.stringify(requestId)),
      requestId: JSON.stringify(requestId),
      reason: typeof params?.reason === 'string' ? params.reason : '',
    });
  }

  /**
   * `timeoutMs`: the caller's own timeout for this request (0: the server's `timeout_ms`).
   * `server`: the client's capabilities go along only to a per_client server (they shape its upstream session).
   */
  private context(session: SessionRecord, requestId: string, traceparent = '', token?: string | number, resumable = false, timeoutMs = 0, server?: string): CallContext {
    const withCapabilities = session.cc && server !== undefined && this.deps.catalog.isPerClient(server);
    return {
      principal: session.p, sessionId: session.id, requestId, traceparent, timeoutMs, protocolVersion: session.v,
      progressToken: token === undefined ? '' : JSON.stringify(token), storeEvents: resumable,
      clientCapabilitiesJson: withCapabilities ? Buffer.from(JSON.stringify(session.cc)) : EMPTY,
    };
  }

  /** tools/call by exposed name; shared by JSON-RPC and REST. */
  async callTool(ctx: RequestContext, id: JsonRpcId, name: string, args: unknown, meta?: Record<string, unknown>): Promise<Answer> {
    const view = this.deps.catalog.view(ctx.server);
    const route = view?.tools.get(name);
    if (!route) return { error: invalidParams(`unknown tool '${name}'`, { tool: name }) };
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return { error: invalidParams('tools/call "arguments" must be an object') };
    const token = progressTokenOf({ params: { _meta: meta } });
    let metaJson = EMPTY;
    if (meta) {
      const { progressToken: _dropped, [TIMEOUT_META]: _timeout, ...rest } = meta;
      if (Object.keys(rest).length > 0) metaJson = Buffer.from(JSON.stringify(rest));
    }
    const started = performance.now();
    const timeoutMs = this.requestedTimeout(meta?.[TIMEOUT_META] ?? ctx.timeoutMs);
    const traced = this.deps.tracing?.start(`tools/call ${route.server}`, 'server', ctx.traceparent, { 'mcp.server': route.server, 'mcp.tool': route.name });
    const traceparent = traced?.traceparent || ctx.traceparent;
    const request = {
      context: this.context(ctx.session, JSON.stringify(id), traceparent, token, ctx.resumable, timeoutMs, route.server),
      server: route.server,
      tool: route.name,
      argumentsJson: Buffer.from(JSON.stringify(args)),
      metaJson,
      wantProgress: token !== undefined && ctx.notify !== undefined,
    };
    const deadlineMs = (timeoutMs || this.deps.callTimeoutMs) + 5_000;
    const answer = await this.relay(ctx, () => this.deps.registry.callTool(request, { deadlineMs, traceparent }), route.server, token);
    const seconds = (performance.now() - started) / 1000;
    const m = this.deps.metrics;
    // A cheap check on the bytes: a tool failure is reported by the upstream as isError.
    const outcome = 'error' in answer ? 'error' : answer.result.includes('"isError":true') ? 'tool_error' : 'ok';
    m.toolCalls.inc({ server: route.server, outcome });
    if (traced) this.deps.tracing!.end(traced.span, outcome === 'ok' ? undefined : outcome);
    // The access line: ids hashed, never arguments or results.
    if (this.deps.log.isLevelEnabled('debug')) this.deps.log.debug({ req: String(id), session: hashId(ctx.session.id), server: route.server, tool: route.name, outcome, ms: Math.round(seconds * 1e4) / 10 }, 'tools/call');
    m.toolCallDuration.observe({ server: route.server }, seconds);
    m.registryRpcDuration.observe({ method: 'CallTool' }, seconds);
    return answer;
  }

  private async forward(ctx: RequestContext, msg: JsonRpcRequest, server: string, params: Record<string, unknown>): Promise<Answer> {
    const token = progressTokenOf(msg);
    const started = performance.now();
    const request = {
      context: this.context(ctx.session, JSON.stringify(msg.id), ctx.traceparent, token, ctx.resumable, 0, server),
      server,
      method: msg.method,
      paramsJson: Buffer.from(JSON.stringify(params)),
      wantProgress: token !== undefined && ctx.notify !== undefined,
    };
    const answer = await this.relay(ctx, () => this.deps.registry.forward(request, { deadlineMs: this.deps.callTimeoutMs + 5_000, traceparent: ctx.traceparent }), server, token);
    this.deps.metrics.registryRpcDuration.observe({ method: 'Forward' }, (performance.now() - started) / 1000);
    return answer;
  }

  /**
   * Re-emits progress with the client's own token, passes log messages and
   * server-to-client requests on; returns the final result or error. A stream
   * that fails UNAVAILABLE before any event never reached an upstream: it is
   * retried once (on the next registry target).
   */
  private async relay(ctx: RequestContext, open: () => ClientReadableStream<CallEvent>, server: string, token: string | number | undefined): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.consume(ctx, open(), token);
      if ('answer' in outcome) return outcome.answer;
      const { err, events } = outcome;
      if (attempt === 0 && events === 0 && (err as { code?: number }).code === GrpcStatus.UNAVAILABLE && !ctx.signal?.aborted) continue;
      if (err) {
        this.deps.log.debug({ server, err: (err as Error).message }, 'registry call failed');
        return { error: fromGrpcError(err, server) };
      }
      return { error: { code: ErrorCode.InternalError, message: `registry ended the call to '${server}' without a result`, data: { server } } };
    }
  }

  /**
   * Reads a call's stream with listeners, not an async iterator: leaving a
   * for-await early would cancel the gRPC call (the registry would then see a
   * cancellation after every call, and tell the upstream so).
   */
  private consume(ctx: RequestContext, stream: ClientReadableStream<CallEvent>, token: string | number | undefined)
    : Promise<{ answer: Answer } | { err?: unknown; events: number }> {
    return new Promise((resolve) => {
      let events = 0;
      let settled = false;
      const onAbort = () => stream.cancel();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (outcome: { answer: Answer } | { err?: unknown; events: number }) => {
        if (settled) return;
        settled = true;
        ctx.signal?.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      stream.on('data', (ev: CallEvent) => {
        events++;
        const answer = this.onEvent(ctx, ev, token);
        if (answer) settle({ answer });
      });
      stream.on('error', (err) => settle({ err, events }));
      stream.on('end', () => settle({ events }));
    });
  }

  /** Handles one event of a call's stream; returns the answer when it is the final one. */
  private onEvent(ctx: RequestContext, ev: CallEvent, token: string | number | undefined): Answer | undefined {
    const e = ev.event;
    if (!e) return undefined;
    switch (e.$case) {
      case 'progress': {
        if (token === undefined || !ctx.notify) return undefined;
        const p = e.value;
        if (ev.eventId) ctx.notify(ev.messageJson.toString('utf8'), ev.eventId);
        else ctx.notify(progressText(JSON.stringify(token), { progress: p.progress, total: p.hasTotal ? p.total : undefined, message: p.message }));
        return undefined;
      }
      case 'notificationJson': {
        const text = e.value.toString('utf8');
        if (ctx.notify && wantedLog(ctx.session, text)) ctx.notify(ev.eventId ? ev.messageJson.toString('utf8') : text, ev.eventId || undefined);
        return undefined;
      }
      case 'serverRequest': {
        const r = e.value;
        if (!ctx.notify) {
          // No stream to ask the client on: answer the upstream at once.
          const error = { code: ErrorCode.InternalError, message: 'mcpgw: this request has no stream to the client (REST, or a JSON-only client)' };
          this.deps.registry.respond({ context: this.context(ctx.session, ''), id: r.id, responseJson: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: r.id, error })) });
        } else {
          ctx.notify(ev.eventId ? ev.messageJson.toString('utf8') : requestText(r.id, r.method, r.paramsJson.toString('utf8')), ev.eventId || undefined);
        }
        return undefined;
      }
      case 'result': {
        const r = e.value;
        if (ev.eventId) ctx.finalEventId = ev.eventId;
        if (r.errorJson.length > 0 && r.errorJson.includes('"sessionLost":true')) ctx.sessionLost = true;
        return r.errorJson.length > 0 ? { error: r.errorJson.toString('utf8') } : { result: r.resultJson.toString('utf8') };
      }
    }
  }
}

const LEVEL_RANK = new Map<string, number>(LOG_LEVELS.map((l, i) => [l, i]));

/** notifications/message below the session's logging/setLevel are dropped; others pass. */
function wantedLog(session: SessionRecord, text: string): boolean {
  if (!session.ll || !text.includes('"notifications/message"')) return true;
  const level = (JSON.parse(text) as { params?: { level?: string } }).params?.level ?? 'info';
  return (LEVEL_RANK.get(level) ?? 0) >= (LEVEL_RANK.get(session.ll) ?? 0);
}

function hashId(id: string): string {
  return id ? createHash('sha256').update(id).digest('hex').slice(0, 12) : '';
}

function invalidParams(message: string, data?: Record<string, unknown>): JsonRpcError {
  return { code: ErrorCode.InvalidParams, message: `Invalid params: ${message}`, ...(data ? { data } : {}) };
}
