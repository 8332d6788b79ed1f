// The pipeline's dispatcher: answers one typed request, whatever transport
// carried it, with a typed outcome. Lists come from the edge's catalog view as
// the principal may see it (the authorize step); calls pass the rate-limit
// step and go to the registry as one gRPC stream each; denials and calls are
// audited. Transports serialize the outcome for their wire.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CallEvent, CallContext, CallToolRequest } from '@mcpgw/proto/registry';
import { ErrorCode, progressText, requestText, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { Tracing } from '@mcpgw/common/tracing';
import type { CatalogView } from './catalog-view.js';
import { fromGrpcError } from './errors.js';
import type { JsonRpcRequest } from './jsonrpc.js';
import { ANONYMOUS, type Principal } from './identity/principal.js';
import type { Audit } from './pipeline/audit.js';
import type { Limiter } from './pipeline/limits.js';
import { fail, ok, type Outcome } from './pipeline/outcome.js';
import type { EdgeMetrics } from './metrics.js';
import { LOG_LEVELS } from './protocol.js';
import { MAPPED_PREFIX, unmapResourceUri } from './catalog/resource-uris.js';
import { CAPABILITIES } from './protocol.js';
import { LEGACY_TASKS_CAPABILITY, type LegacyTasks } from './tasks/legacy-tasks.js';
import type { RegistryLink } from './registry-client.js';

/** What the edge asks of the registry per request (a fake of it drives the in-process pipeline tests). */
export type RegistryCalls = Pick<RegistryLink, 'callTool' | 'forward' | 'respond' | 'cancel' | 'endSession' | 'listServers' | 'listPins' | 'decidePin'>;
import type { SessionRecord, SessionStore } from './sessions/session-store.js';
import type { TokenExchanger } from './oauth/token-exchange.js';

/** `_meta` key of tools/call where a client may set its own timeout (ms), up to the gateway's cap. */
export const TIMEOUT_META = 'mcpgw/timeoutMs';

export type Era = 'legacy' | 'modern';

/**
 * The typed request context every transport builds before dispatching: who
 * asks (principal), in which era, on which session and view, with which
 * trace, deadline and cancellation signal.
 */
export interface RequestContext {
  principal: Principal;
  /** `legacy`: 2025-11-25 and earlier (sessions); `modern`: 2026-07-28 (stateless). */
  era: Era;
  /** Absent for REST and modern requests. */
  session?: SessionRecord;
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
  /** Aborted when the caller gave up (REST: client disconnected). */
  signal?: AbortSignal;
  /** The caller's own timeout in ms (REST `timeout_ms`); capped. */
  timeoutMs?: number;
  /** 2026-07-28 requests: what `_meta` declared, and how the call is known to the registry. */
  modern?: ModernCall;
  /**
   * The HTTP request's headers: a `client_header` server's own credential
   * (`x-mcp-<server>-authorization`) is read from them for that server's calls only.
   */
  headers?: IncomingHttpHeaders;
  /** This tools/call may become a task (tasks extension): the registry runs it (tasks/edge-tasks.ts). */
  task?: (request: CallToolRequest) => Promise<Outcome>;
}

/** A server-to-client request of an upstream during a call (sampling, elicitation, roots). */
export interface UpstreamRequest {
  /** Gateway-wide id the registry gave it (Respond answers it). */
  id: string;
  method: string;
  paramsJson: string;
  /** Id under which it is stored in the event log (resumable calls). */
  eventId?: string;
}

/** The still-running call a modern adapter takes over when it answers the client with InputRequiredResult. */
export interface CallHandle {
  server: string;
  /** The registry context the call was opened with (Cancel and Respond use it). */
  context: CallContext;
  /**
   * Ends this request with `outcome` while the call runs on: `takeOver` gets
   * the call's stream before any further event is read from it.
   */
  hold(outcome: Outcome | Promise<Outcome>, takeOver: (stream: ClientReadableStream<CallEvent>) => void): boolean;
  /** Ends this request with `outcome` and cancels the call upstream. */
  abandon(outcome: Outcome): void;
}

export interface ModernCall {
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  /** Without it, no notifications/message reach the request's stream (2026-07-28). */
  logLevel?: string;
  /**
   * The registry session id of this principal's modern requests (a digest of
   * principal and capabilities): per_client upstream sessions, the event log
   * and the listen hub are keyed by it; no session record exists.
   */
  sessionId: string;
  /** The registry's id of this call: unique, so equal JSON-RPC ids of concurrent requests never collide. */
  callId: string;
  /** An upstream asked the client something during the call (MRTR translation). */
  onServerRequest?(req: UpstreamRequest, call: CallHandle): void;
  /** A notification of the upstream session not about this request (list_changed, resources/updated). */
  onSideNotification?(text: string): void;
}

export interface DispatcherDeps {
  catalog: CatalogView;
  registry: RegistryCalls;
  sessions: SessionStore;
  metrics: EdgeMetrics;
  log: Logger;
  limiter: Limiter;
  audit: Audit;
  callTimeoutMs: number;
  /** OpenTelemetry, when configured. */
  tracing?: Tracing;
  /** `auth_type: token_exchange` servers (issue 20): the caller's JWT exchanged at the edge (RFC 8693). */
  exchanger?: TokenExchanger;
  /** 2025-11-25 experimental tasks for 2025-era sessions (docs/tasks.md); absent: not served. */
  legacyTasks?: LegacyTasks;
}

const EMPTY = Buffer.alloc(0);

/**
 * The caller's credential for one `client_header` server: the value of the
 * header that server names, for that server's calls only; never the caller's
 * gateway credential (that header is `authorization` or `x-api-key`, refused as a name).
 */
function serverCredential(catalog: CatalogView, server: string, headers: IncomingHttpHeaders | undefined): string {
  const name = headers && catalog.credentialHeader(server);
  if (!name || name === 'authorization' || name === 'x-api-key') return '';
  const value = headers[name];
  return typeof value === 'string' ? value : '';
}

export function progressTokenOf(msg: { params?: Record<string, unknown> }): string | number | undefined {
  const meta = msg.params?._meta as Record<string, unknown> | undefined;
  const token = meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

/** REST calls and modern requests have no session record; this stands in for one in call contexts. */
const NO_SESSION: SessionRecord = { id: '', v: '', t: 'http', p: '' };

export class Dispatcher {
  constructor(private readonly deps: DispatcherDeps) {}

  /** What a 2025 session's initialize result declares: the gateway's fixed set, plus tasks when served. */
  initializeCapabilities(): Record<string, unknown> {
    return this.deps.legacyTasks ? { ...CAPABILITIES, tasks: LEGACY_TASKS_CAPABILITY } : CAPABILITIES;
  }

  /** The policy chain's authorize step for every method: the view the principal may see. */
  private viewOf(ctx: RequestContext) {
    return this.deps.catalog.view(ctx.server, ctx.principal.access);
  }

  async handle(ctx: RequestContext, msg: JsonRpcRequest): Promise<Outcome> {
    const { method } = msg;
    const view = this.viewOf(ctx);
    if (!view) return fail({ code: ErrorCode.InvalidParams, message: `unknown server '${ctx.server}'` });
    const params = msg.params ?? {};
    switch (method) {
      case 'ping': return ok('{}');
      case 'tools/list': return ok(view.toolsList);
      case 'prompts/list': return ok(view.promptsList);
      case 'resources/list': return ok(view.resourcesList);
      case 'resources/templates/list': return ok(view.resourceTemplatesList);
      case 'tools/call': {
        if (typeof params.name !== 'string') return fail(invalidParams('tools/call needs "name" (a string)'));
        // A 2025 session's task-augmented call (experimental tasks): the registry runs it as a task.
        const task = params.task;
        if (ctx.era === 'legacy' && this.deps.legacyTasks && typeof task === 'object' && task !== null && !Array.isArray(task)) {
          const run = this.deps.legacyTasks.runner(view.toolDefs.get(params.name), task as Record<string, unknown>);
          if (run) ctx = { ...ctx, task: run };
        }
        return this.callTool(ctx, msg.id, params.name, params.arguments ?? {}, params._meta as Record<string, unknown> | undefined);
      }
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/list':
      case 'tasks/cancel':
        if (ctx.era === 'legacy' && this.deps.legacyTasks) return this.deps.legacyTasks.handle(ctx.principal.id, msg, ctx.signal, this.deps.callTimeoutMs, ctx.notify);
        return fail({ code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` });
      case 'prompts/get': {
        if (typeof params.name !== 'string') return fail(invalidParams('prompts/get needs "name" (a string)'));
        const route = view.prompts.get(params.name);
        if (!route) return this.unknown(ctx, 'prompt', params.name);
        return this.forward(ctx, msg, route.server, { ...params, name: route.name }, `prompt ${params.name}`);
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        if (typeof params.uri !== 'string') return fail(invalidParams(`${method} needs "uri" (a string)`));
        const target = this.resourceTarget(ctx, params.uri);
        if (!target) return this.unknown(ctx, 'resource', params.uri);
        // A subscription by a renamed URI: the registry sends its resources/updated under that name.
        const renamed = target.uri !== params.uri && method !== 'resources/read';
        const forwarded = renamed ? { ...params, uri: target.uri, _meta: { ...(params._meta as object | undefined), 'mcpgw/clientUri': params.uri } } : { ...params, uri: target.uri };
        const outcome = await this.forward(ctx, msg, target.server, forwarded, `resource ${params.uri}`);
        // A renamed URI reads back under the name it was asked by (the contents the upstream gives carry its own).
        return target.uri !== params.uri && method === 'resources/read' ? renameContents(outcome, target.uri, params.uri) : outcome;
      }
      case 'completion/complete': {
        const ref = params.ref as { type?: unknown; name?: unknown; uri?: unknown } | undefined;
        if (ref?.type === 'ref/prompt' && typeof ref.name === 'string') {
          const route = view.prompts.get(ref.name);
          if (!route) return this.unknown(ctx, 'prompt', ref.name);
          return this.forward(ctx, msg, route.server, { ...params, ref: { ...ref, name: route.name } }, `prompt ${ref.name}`);
        }
        if (ref?.type === 'ref/resource' && typeof ref.uri === 'string') {
          const mapped = unmapResourceUri(ref.uri);
          const server = view.templates.get(ref.uri) ?? this.resourceTarget(ctx, ref.uri)?.server;
          if (!server) return this.unknown(ctx, 'resource', ref.uri);
          const raw = mapped && mapped.server === server && ctx.server === undefined ? templateOf(ref.uri, mapped.server) : ref.uri;
          return this.forward(ctx, msg, server, { ...params, ref: { ...ref, uri: raw } }, `resource ${ref.uri}`);
        }
        return fail(invalidParams('completion/complete needs "ref" of type ref/prompt (with name) or ref/resource (with uri)'));
      }
      case 'logging/setLevel': {
        if (!LOG_LEVELS.includes(params.level as never)) return fail(invalidParams(`logging/setLevel needs "level", one of ${LOG_LEVELS.join(', ')}`));
        if (ctx.session) await this.deps.sessions.update({ ...ctx.session, ll: params.level as string });
        return ok('{}');
      }
      case 'initialize':
        return fail({ code: ErrorCode.InvalidRequest, message: 'Invalid Request: the session is already initialized' });
      default:
        return fail({ code: ErrorCode.MethodNotFound, message: `Method not found: ${method}` });
    }
  }

  /**
   * A name the principal's view lacks. Answered exactly like a name that does
   * not exist (no existence leak); audited when it exists outside the scopes.
   */
  private unknown(ctx: RequestContext, kind: 'tool' | 'prompt' | 'resource', name: string): Outcome {
    if (!ctx.principal.access.all) {
      const full = this.deps.catalog.view(ctx.server);
      const exists = kind === 'tool' ? full?.tools.get(name) : kind === 'prompt' ? full?.prompts.get(name) : (full?.resources.get(name) ?? full?.templates.get(name));
      if (exists) this.deps.audit.denied(ctx.principal, kind, name, typeof exists === 'string' ? exists : exists.server);
    }
    if (kind === 'resource') {
      // 2026-07-28 retired -32002: resource-not-found is Invalid Params naming the URI.
      if (ctx.era === 'modern') return fail({ code: ErrorCode.InvalidParams, message: `Resource not found: ${name}`, data: { uri: name } });
      return fail({ code: ErrorCode.ResourceNotFound, message: `Resource not found: ${name}`, data: { uri: name } });
    }
    return fail(invalidParams(`unknown ${kind} '${name}'`, { [kind]: name }));
  }

  /** A caller's timeout, capped at the gateway's MCPGW_CALL_TIMEOUT_MS; 0 when none (or not a number). */
  private requestedTimeout(value: unknown): number {
    return typeof value === 'number' && value > 0 ? Math.min(Math.round(value), this.deps.callTimeoutMs) : 0;
  }

  /** The server a resource URI belongs to: listed URIs, else the per-server view's own server. */
  private resourceServer(ctx: RequestContext, uri: string): string | undefined {
    return this.resourceTarget(ctx, uri)?.server;
  }

  /**
   * Where a resource URI goes, and as what: a listed URI to its server as is;
   * on the aggregate, a mapped `mcpgw://<server>/…` URI (catalog/resource-uris.ts)
   * to that server as the upstream's own URI, when the caller may see the server.
   */
  private resourceTarget(ctx: RequestContext, uri: string): { server: string; uri: string } | undefined {
    const listed = this.viewOf(ctx)?.resources.get(uri);
    if (listed) return { server: listed, uri: listed === unmapResourceUri(uri)?.server && ctx.server === undefined ? unmapResourceUri(uri)!.uri : uri };
    if (ctx.server !== undefined) return { server: ctx.server, uri };
    const mapped = unmapResourceUri(uri);
    if (mapped && this.deps.catalog.visibleServer(mapped.server, ctx.principal.access)) return mapped;
    return undefined;
  }


  /** Whether answering `msg` may need a stream: its server is per_client (requests and log messages to the client). */
  mayNeedStream(ctx: RequestContext, msg: JsonRpcRequest): boolean {
    // A 2025 session's tasks/result asks the client what its task needs (legacy-tasks.ts).
    if (msg.method === 'tasks/result' && this.deps.legacyTasks && ctx.era === 'legacy') return true;
    const view = this.viewOf(ctx);
    if (!view) return false;
    const name = msg.params?.name;
    if (msg.method === 'tools/call' && typeof name === 'string') {
      const route = view.tools.get(name);
      return route !== undefined && this.asksClient(route.server);
    }
    return ctx.server !== undefined && this.asksClient(ctx.server);
  }

  /** per_client upstreams, and 2026-07-28 ones (reverse MRTR), may send the client requests during a call. */
  private asksClient(server: string): boolean {
    return this.deps.catalog.isPerClient(server) || this.deps.catalog.isModern(server);
  }

  /** The client's answer to a server-to-client request: to the registry that asked. */
  respond(ctx: RequestContext, msg: { id: JsonRpcId }): void {
    // The answer to a task's input request asked on a 2025 session's tasks/result stream: the task's tasks/update.
    if (this.deps.legacyTasks?.answers(ctx.principal.id, msg)) return;
    this.deps.registry.respond({ context: this.context(ctx, ''), id: String(msg.id), responseJson: Buffer.from(JSON.stringify(msg)) });
  }

  /** The client session ended: its per_client upstream sessions close. */
  endSession(session: SessionRecord): void {
    this.deps.registry.endSession({ context: { ...this.context({ principal: ANONYMOUS, era: 'legacy', session }, ''), principal: session.p } });
  }

  /** A client's notifications/cancelled: reaches the registry running the call. */
  cancel(ctx: RequestContext, params: Record<string, unknown> | undefined): void {
    const requestId = params?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    this.deps.registry.cancel({
      context: this.context(ctx, JSON.stringify(requestId)),
      requestId: JSON.stringify(requestId),
      reason: typeof params?.reason === 'string' ? params.reason : '',
    });
  }

  /**
   * `timeoutMs`: the caller's own timeout for this request (0: the server's `timeout_ms`).
   * `server`: the client's capabilities go along only to a per_client server (they shape its upstream session).
   */
  context(ctx: RequestContext, requestId: string, traceparent = '', token?: string | number, timeoutMs = 0, server?: string): CallContext {
    const session = ctx.session ?? NO_SESSION;
    const m = ctx.modern;
    const cc = m ? m.clientCapabilities : session.cc;
    const withCapabilities = cc && server !== undefined && this.asksClient(server);
    return {
      principal: ctx.principal.id, sessionId: m ? m.sessionId : session.id,
      // A modern call is known to the registry by its own unique id (Cancel, the event log's stream).
      requestId: m && requestId !== '' ? JSON.stringify(m.callId) : requestId,
      traceparent, timeoutMs, protocolVersion: m ? m.protocolVersion : session.v,
      progressToken: token === undefined ? '' : JSON.stringify(token), storeEvents: ctx.resumable ?? false,
      clientCapabilitiesJson: withCapabilities ? Buffer.from(JSON.stringify(cc)) : EMPTY,
      serverCredential: server !== undefined ? serverCredential(this.deps.catalog, server, ctx.headers) : '',
    };
  }

  /** token_exchange servers: puts the exchanged token into the call context; a failure is the call's outcome. */
  private async exchange(ctx: RequestContext, server: string, context: CallContext): Promise<Outcome | undefined> {
    const params = this.deps.exchanger && this.deps.catalog.tokenExchange(server);
    if (!params) return undefined;
    try {
      context.serverCredential = await this.deps.exchanger!.credential(params, server, ctx.principal, ctx.headers);
      return undefined;
    } catch (err) {
      return fail({ code: ErrorCode.Unauthorized, message: `upstream '${server}': ${(err as Error).message}`, data: { server } });
    }
  }

  /** 2026-07-28: the request's stream closed, which is its cancellation; reaches the registry running it. */
  cancelModern(ctx: RequestContext, reason: string): void {
    if (!ctx.modern) return;
    const context = this.context(ctx, 'x');
    this.deps.registry.cancel({ context, requestId: context.requestId, reason });
  }

  /** The rate-limit step of the policy chain; undefined when the call may go on. */
  private async limit(ctx: RequestContext, name: string, server: string): Promise<{ denied: Outcome } | { release: () => void }> {
    if (!this.deps.limiter.applies(ctx.principal)) return { release: noop };
    const d = await this.deps.limiter.acquire(ctx.principal, name);
    if (d.ok) return { release: d.release };
    this.deps.audit.call(ctx.principal, server, name, 'rate_limited', 0);
    return { denied: { kind: 'error', retryAfterMs: d.retryAfterMs, error: { code: ErrorCode.RateLimited, message: `Rate limited: ${d.message}; retry in ${Math.ceil(d.retryAfterMs / 1000)} s`, data: { retryAfterMs: d.retryAfterMs, scope: d.scope } } } };
  }

  /** tools/call by exposed name; shared by JSON-RPC, REST and the LLM proxy. */
  async callTool(ctx: RequestContext, id: JsonRpcId, name: string, args: unknown, meta?: Record<string, unknown>): Promise<Outcome> {
    const route = this.viewOf(ctx)?.tools.get(name);
    if (!route) return this.unknown(ctx, 'tool', name);
    if (args === null || typeof args !== 'object' || Array.isArray(args)) return fail(invalidParams('tools/call "arguments" must be an object'));
    const limited = await this.limit(ctx, name, route.server);
    if ('denied' in limited) return limited.denied;
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
      context: this.context(ctx, JSON.stringify(id), traceparent, token, timeoutMs, route.server),
      server: route.server,
      tool: route.name,
      argumentsJson: Buffer.from(JSON.stringify(args)),
      metaJson,
      wantProgress: token !== undefined && ctx.notify !== undefined,
    };
    const deadlineMs = (timeoutMs || this.deps.callTimeoutMs) + 5_000;
    let outcome: Outcome;
    const exchanged = await this.exchange(ctx, route.server, request.context);
    if (exchanged) {
      limited.release();
      return exchanged;
    }
    try {
      outcome = ctx.task
        ? await ctx.task(request)
        : await this.relay(ctx, () => this.deps.registry.callTool(request, { deadlineMs, traceparent }), route.server, token, request.context);
    } finally {
      limited.release();
    }
    const ms = performance.now() - started;
    const m = this.deps.metrics;
    const label = outcome.kind !== 'result' ? 'error' : outcome.toolError ? 'tool_error' : 'ok';
    m.perCall.toolCalls(route.server, label).inc();
    if (traced) this.deps.tracing!.end(traced.span, label === 'ok' ? undefined : label);
    this.deps.audit.call(ctx.principal, route.server, route.name, label, ms);
    // The access line: ids hashed, never arguments or results.
    if (this.deps.log.isLevelEnabled('debug')) this.deps.log.debug({ req: String(id), session: hashId(ctx.session?.id ?? ''), principal: ctx.principal.id, server: route.server, tool: route.name, outcome: label, ms: Math.round(ms * 10) / 10 }, 'tools/call');
    m.perCall.toolCallDuration(route.server).observe(ms / 1000);
    m.perCall.registryRpcDuration('CallTool').observe(ms / 1000);
    return outcome;
  }

  private async forward(ctx: RequestContext, msg: JsonRpcRequest, server: string, params: Record<string, unknown>, what: string): Promise<Outcome> {
    const limited = await this.limit(ctx, what, server);
    if ('denied' in limited) return limited.denied;
    const token = progressTokenOf(msg);
    const started = performance.now();
    const request = {
      context: this.context(ctx, JSON.stringify(msg.id), ctx.traceparent, token, 0, server),
      server,
      method: msg.method,
      paramsJson: Buffer.from(JSON.stringify(params)),
      wantProgress: token !== undefined && ctx.notify !== undefined,
    };
    const exchanged = await this.exchange(ctx, server, request.context);
    if (exchanged) {
      limited.release();
      return exchanged;
    }
    try {
      return await this.relay(ctx, () => this.deps.registry.forward(request, { deadlineMs: this.deps.callTimeoutMs + 5_000, traceparent: ctx.traceparent }), server, token, request.context);
    } finally {
      limited.release();
      this.deps.metrics.perCall.registryRpcDuration('Forward').observe((performance.now() - started) / 1000);
    }
  }

  /**
   * Re-emits progress with the client's own token, passes log messages and
   * server-to-client requests on; returns the final outcome. Calls that never
   * reached a registry are retried by the link (it knows when one accepted a
   * call), not here: a retry here could run a call twice.
   */
  private async relay(ctx: RequestContext, open: () => ClientReadableStream<CallEvent>, server: string, token: string | number | undefined, context: CallContext): Promise<Outcome> {
    const read = await this.consume(ctx, open(), token, server, context);
    if ('outcome' in read) return read.outcome;
    if (read.err) {
      this.deps.log.debug({ server, err: (read.err as Error).message }, 'registry call failed');
      return fail(fromGrpcError(read.err, server));
    }
    return fail({ code: ErrorCode.InternalError, message: `registry ended the call to '${server}' without a result`, data: { server } });
  }

  /**
   * Reads a call's stream with listeners, not an async iterator: leaving a
   * for-await early would cancel the gRPC call (the registry would then see a
   * cancellation after every call, and tell the upstream so).
   */
  private consume(ctx: RequestContext, stream: ClientReadableStream<CallEvent>, token: string | number | undefined, server: string, context: CallContext)
    : Promise<{ outcome: Outcome } | { err?: unknown; events: number }> {
    return new Promise((resolve) => {
      let events = 0;
      let settled = false;
      const onAbort = () => stream.cancel();
      ctx.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (read: { outcome: Outcome } | { err?: unknown; events: number }) => {
        if (settled) return;
        settled = true;
        ctx.signal?.removeEventListener('abort', onAbort);
        resolve(read);
      };
      const onData = (ev: CallEvent) => {
        if (settled) return;
        events++;
        const outcome = this.onEvent(ctx, ev, token, handle);
        if (outcome) settle({ outcome });
      };
      const onError = (err: unknown) => settle({ err, events });
      const onEnd = () => settle({ events });
      const handle: CallHandle = {
        server, context,
        hold: (outcome, takeOver) => {
          // The request already ended (its client went away): nothing to hold.
          if (settled) return false;
          stream.off('data', onData).off('error', onError).off('end', onEnd);
          takeOver(stream);
          settled = true;
          ctx.signal?.removeEventListener('abort', onAbort);
          Promise.resolve(outcome).then(
            (o) => resolve({ outcome: o }),
            (err: Error) => resolve({ outcome: fail({ code: ErrorCode.InternalError, message: `mcpgw: could not hold the call for its retry: ${err.message}` }) }),
          );
          return true;
        },
        abandon: (outcome) => {
          if (settled) return;
          settle({ outcome });
          stream.cancel();
          this.deps.registry.cancel({ context, requestId: context.requestId, reason: 'the client cannot answer what the upstream asked' });
        },
      };
      stream.on('data', onData);
      stream.on('error', onError);
      stream.on('end', onEnd);
    });
  }

  /** Handles one event of a call's stream; returns the outcome when it is the final one. */
  private onEvent(ctx: RequestContext, ev: CallEvent, token: string | number | undefined, handle: CallHandle): Outcome | undefined {
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
        if (ctx.modern) {
          // 2026-07-28: the request's stream carries only what is about this request.
          const kind = modernNotificationKind(text, ctx.modern.logLevel);
          if (kind === 'side') ctx.modern.onSideNotification?.(text);
          else if (kind === 'log' && ctx.notify) ctx.notify(text);
          return undefined;
        }
        if (ctx.notify && wantedLog(ctx.session, text)) ctx.notify(ev.eventId ? ev.messageJson.toString('utf8') : text, ev.eventId || undefined);
        return undefined;
      }
      case 'serverRequest': {
        const r = e.value;
        if (ctx.modern?.onServerRequest) {
          ctx.modern.onServerRequest({ id: r.id, method: r.method, paramsJson: r.paramsJson.toString('utf8'), eventId: ev.eventId || undefined }, handle);
          return undefined;
        }
        if (!ctx.notify) {
          // No stream to ask the client on: answer the upstream at once.
          const error = { code: ErrorCode.InternalError, message: 'mcpgw: this request has no stream to the client (REST, or a JSON-only client)' };
          this.deps.registry.respond({ context: this.context(ctx, ''), id: r.id, responseJson: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: r.id, error })) });
        } else {
          ctx.notify(ev.eventId ? ev.messageJson.toString('utf8') : requestText(r.id, r.method, r.paramsJson.toString('utf8')), ev.eventId || undefined);
        }
        return undefined;
      }
      case 'result': {
        const r = e.value;
        const eventId = ev.eventId || undefined;
        if (r.errorJson.length > 0) return { kind: 'upstream_error', json: r.errorJson.toString('utf8'), sessionLost: r.sessionLost, eventId };
        return { kind: 'result', json: r.resultJson.toString('utf8'), toolError: r.isError, eventId };
      }
    }
  }
}

const noop = () => {};

const LEVEL_RANK = new Map<string, number>(LOG_LEVELS.map((l, i) => [l, i]));

/** notifications/message below the session's logging/setLevel are dropped; others pass. */
function wantedLog(session: SessionRecord | undefined, text: string): boolean {
  if (!session?.ll || !text.includes('"notifications/message"')) return true;
  const level = (JSON.parse(text) as { params?: { level?: string } }).params?.level ?? 'info';
  return (LEVEL_RANK.get(level) ?? 0) >= (LEVEL_RANK.get(session.ll) ?? 0);
}

const SIDE_NOTIFICATIONS = /"notifications\/(tools\/list_changed|prompts\/list_changed|resources\/list_changed|resources\/updated)"/;

/**
 * A notification on a modern call's stream: a log message at or above the
 * request's `logLevel` (none without it), a notification for the principal's
 * listen streams, or nothing to pass on.
 */
export function modernNotificationKind(text: string, logLevel: string | undefined): 'log' | 'side' | 'drop' {
  if (text.includes('"notifications/message"')) {
    if (!logLevel) return 'drop';
    const level = (JSON.parse(text) as { params?: { level?: string } }).params?.level ?? 'info';
    return (LEVEL_RANK.get(level) ?? 0) >= (LEVEL_RANK.get(logLevel) ?? 0) ? 'log' : 'drop';
  }
  return SIDE_NOTIFICATIONS.test(text) ? 'side' : 'drop';
}

function hashId(id: string): string {
  return id ? createHash('sha256').update(id).digest('hex').slice(0, 12) : '';
}

function invalidParams(message: string, data?: Record<string, unknown>): JsonRpcError {
  return { code: ErrorCode.InvalidParams, message: `Invalid params: ${message}`, ...(data ? { data } : {}) };
}

/** The upstream's own template of a mapped template URI (literal parts decoded, expressions kept). */
function templateOf(mappedTemplate: string, server: string): string {
  const body = mappedTemplate.slice(`${MAPPED_PREFIX}${server}/`.length);
  return body.split(/(\{[^}]*\})/).map((p) => (p.startsWith('{') && p.endsWith('}') ? p : decodeURIComponent(p))).join('');
}

/** resources/read contents whose `uri` is the upstream's own, renamed to the aggregate's name the client asked by. */
function renameContents(outcome: Outcome, upstreamUri: string, asked: string): Outcome {
  if (outcome.kind !== 'result' || !outcome.json.includes(JSON.stringify(upstreamUri).slice(1, -1))) return outcome;
  const result = JSON.parse(outcome.json) as { contents?: { uri?: unknown }[] };
  if (!Array.isArray(result.contents)) return outcome;
  for (const c of result.contents) if (c && c.uri === upstreamUri) c.uri = asked;
  return { ...outcome, json: JSON.stringify(result) };
}
