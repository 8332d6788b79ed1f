// Streamable HTTP as MCP 2026-07-28 has it: every POST is self-contained
// (its version, capabilities and log level in `_meta`, mirrored in headers),
// there is no session, `server/discover` replaces the handshake, results say
// their `resultType` and cache hints, `subscriptions/listen` replaces the GET
// stream, and a closed response stream cancels its request. The 2025 adapter
// (streamable-http.ts) classifies each POST once (era/modern.ts classifyEra)
// and hands modern ones here; nothing here reads or writes a session record.
import { modernUrlElicitation } from '../oauth/url-elicitation.js';
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, type JsonRpcId } from '@mcpgw/common/jsonrpc';
import { progressTokenOf, type ModernCall, type RequestContext } from '../dispatcher.js';
import { acknowledgement, honoredFilter, ListenHub, type Listener } from '../era/listen.js';
import {
  cacheHints, checkModernHeaders, checkParamHeaders, decorateResult, discoverResult, errorResponseText, header, methodNotFound, MODERN_CAPABILITIES, MODERN_VERSIONS, MRTR_METHODS,
  type EraError, type ModernEra,
} from '../era/modern.js';
import { Mrtr, type ModernRequestInfo } from '../era/mrtr.js';
import type { StateSealer } from '../era/sealed-state.js';
import { classify, resultText, type JsonRpcRequest } from '../jsonrpc.js';
import { httpStatusOf, outcomeText, type Outcome } from '../pipeline/outcome.js';
import { sendError, serverParam, takeStreamSlot, traceparentOf, type TransportDeps } from './context.js';
import { SseWriter } from './sse-writer.js';
import { declaresTasks, missingTasksExtension, TASK_METHODS, TASKS_EXTENSION, type EdgeTasks } from '../tasks/edge-tasks.js';

/** Methods a 2026-07-28 client may call here (server/discover and subscriptions/listen are answered by the adapter itself). */
const MODERN_METHODS: ReadonlySet<string> = new Set([
  'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/templates/list', 'resources/read', 'completion/complete',
]);

/**
 * What the gateway declares to a per_client upstream session it opens for
 * modern requests: it can relay every kind of request (as MRTR), and checks
 * each request's own `_meta` capabilities itself (-32021 when one is missing).
 */
const UPSTREAM_CLIENT_CAPABILITIES = { sampling: {}, elicitation: {}, roots: {} };

/** How long clients may cache lists: they also hear list_changed on subscriptions/listen. */
const LIST_TTL_MS = 60_000;

export interface ModernAdapter {
  post(req: FastifyRequest, reply: FastifyReply, era: ModernEra): Promise<unknown>;
  /** GET and DELETE of a 2026-07-28 client: 405 (no GET stream, no session to delete). True when answered. */
  refuseStreamMethods(req: FastifyRequest, reply: FastifyReply): boolean;
  readonly mrtr: Mrtr;
}

export interface ModernOptions {
  sealer: StateSealer;
  /** Lifetime of an MRTR requestState, and of the call held for it. */
  holdMs: number;
  callTimeoutMs: number;
  /** The tasks extension (docs/tasks.md); absent: not advertised, tasks/* are -32601. */
  tasks?: EdgeTasks;
}

/** The registry session id of a principal's modern requests: a digest, the same on every edge, no record anywhere. */
export function modernSessionId(principalId: string): string {
  return `m.${createHash('sha256').update(`mcpgw/modern\0${principalId}`).digest('base64url').slice(0, 22)}`;
}

export function isModernStreamRequest(req: FastifyRequest): boolean {
  const v = header(req.headers, 'mcp-protocol-version')?.trim();
  return v !== undefined && MODERN_VERSIONS.includes(v);
}

export function sendEraError(reply: FastifyReply, id: JsonRpcId | null | undefined, err: EraError) {
  return reply.code(err.httpStatus).type('application/json').send(errorResponseText(id, err));
}

export function createModernAdapter(deps: TransportDeps, opts: ModernOptions): ModernAdapter {
  const { dispatcher, catalog } = deps;
  const mrtr = new Mrtr({ sealer: opts.sealer, events: deps.events, registry: deps.registry, log: deps.log, holdMs: opts.holdMs, followMs: opts.callTimeoutMs });
  /** Sorted tools lists by their unsorted text (a handful of views and scope sets; rebuilt after catalog changes). */
  const sortedTools = new Map<string, string>();
  catalog.onChange(() => sortedTools.clear());

  const sortedToolsList = (text: string): string => {
    let s = sortedTools.get(text);
    if (s === undefined) {
      const list = JSON.parse(text) as { tools: { name?: string }[] };
      list.tools.sort((a, b) => (String(a.name) < String(b.name) ? -1 : String(a.name) > String(b.name) ? 1 : 0));
      s = JSON.stringify(list);
      if (sortedTools.size > 256) sortedTools.clear();
      sortedTools.set(text, s);
    }
    return s;
  };

  /** Honest cache hints: anything filtered by the principal's scopes, or answered by a per_client upstream, is private. */
  const hintsFor = (req: FastifyRequest, msg: JsonRpcRequest) => {
    const server = serverParam(req);
    let perClient = false;
    if (msg.method === 'resources/read') {
      const uri = msg.params?.uri;
      const owner = typeof uri === 'string' ? catalog.view(server, req.principal.access)?.resources.get(uri) ?? server : server;
      perClient = owner !== undefined && catalog.isPerClient(owner);
    }
    return cacheHints({ variesByPrincipal: !req.principal.access.all || perClient, ttlMs: msg.method === 'resources/read' ? 0 : LIST_TTL_MS });
  };

  /** The outcome as the 2026 wire has it: resultType, cache hints, sorted tools, -32602 for a missing resource. */
  const serialize = (req: FastifyRequest, msg: JsonRpcRequest, outcome: Outcome): { text: string; status: number } => {
    if (outcome.kind === 'result') {
      const json = msg.method === 'tools/list' ? sortedToolsList(outcome.json) : outcome.json;
      return { text: resultText(msg.id, decorateResult(msg.method, json, hintsFor(req, msg))), status: 200 };
    }
    if (outcome.kind === 'upstream_error') {
      const error = JSON.parse(outcome.json) as { code?: number; message?: string; data?: unknown };
      if (error.code === ErrorCode.ResourceNotFound) {
        // -32002 is gone in 2026-07-28: resource-not-found is Invalid Params naming the URI.
        const uri = msg.params?.uri;
        return { text: outcomeText(msg.id, { kind: 'error', error: { code: ErrorCode.InvalidParams, message: error.message ?? 'Resource not found', data: { ...(error.data as object | undefined), uri } } }), status: 200 };
      }
      return { text: outcomeText(msg.id, outcome), status: outcome.sessionLost ? 502 : 200 };
    }
    const code = outcome.error.code;
    const status = code === ErrorCode.MethodNotFound ? 404
      : code === ErrorCode.MissingRequiredClientCapability || code === ErrorCode.HeaderMismatch || code === ErrorCode.UnsupportedProtocolVersion ? 400
        : httpStatusOf(outcome);
    return { text: outcomeText(msg.id, outcome), status };
  };

  /** A retry is authorized like the original: a tool or prompt the principal can no longer see is unknown to it. */
  const notVisible = (req: FastifyRequest, msg: JsonRpcRequest) => {
    const name = msg.params?.name;
    const view = catalog.view(serverParam(req), req.principal.access);
    const kind = msg.method === 'tools/call' ? 'tool' : msg.method === 'prompts/get' ? 'prompt' : undefined;
    if (!kind) return undefined;
    const known = typeof name === 'string' && (kind === 'tool' ? view?.tools.has(name) : view?.prompts.has(name));
    return known ? undefined : { code: ErrorCode.InvalidParams, message: `Invalid params: unknown ${kind} '${String(name)}'`, data: { [kind]: name } };
  };

  const tasks = opts.tasks;
  const discovered = JSON.stringify(discoverResult(tasks ? { capabilities: { ...MODERN_CAPABILITIES, extensions: { [TASKS_EXTENSION]: {} } } } : {}));

  const post = async (req: FastifyRequest, reply: FastifyReply, era: ModernEra) => {
    const c = classify(req.body);
    if (c.kind === 'invalid') return sendError(reply, 400, c.error, c.id);
    // No client notifications are defined on HTTP in 2026-07-28: accepted and ignored.
    if (c.kind === 'notification') return reply.code(202).send();
    if (c.kind === 'response') {
      return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: a 2026-07-28 client sends no responses; answer input requests in the retry\'s params.inputResponses' }, c.msg.id);
    }
    const msg = c.msg;
    const bad = checkModernHeaders(req.headers, msg);
    if (bad) return sendEraError(reply, msg.id, bad);
    if (msg.method === 'server/discover') {
      // A per-server view says who the upstream is (its serverInfo and instructions); the aggregate is the gateway.
      const upstream = serverParam(req) !== undefined ? catalog.upstreamInfo(serverParam(req)!) : undefined;
      if (upstream) {
        const caps = tasks ? { ...MODERN_CAPABILITIES, extensions: { [TASKS_EXTENSION]: {} } } : MODERN_CAPABILITIES;
        return reply.type('application/json').send(resultText(msg.id, JSON.stringify(discoverResult({ capabilities: caps, serverInfo: upstream.serverInfo, instructions: upstream.instructions }))));
      }
      return reply.type('application/json').send(resultText(msg.id, discovered));
    }
    if (msg.method === 'subscriptions/listen') return listen(req, reply, msg, era);
    const isTaskMethod = tasks !== undefined && TASK_METHODS.has(msg.method);
    if (!MODERN_METHODS.has(msg.method) && !isTaskMethod) return sendEraError(reply, msg.id, methodNotFound(msg.method));
    // The task surface is gated on the extension in this request's own capabilities (SEP-2663).
    if (isTaskMethod && !declaresTasks(era.clientCapabilities)) return sendEraError(reply, msg.id, missingTasksExtension(msg.method));
    let toolDef: Record<string, unknown> | undefined;
    if (msg.method === 'tools/call' && typeof msg.params?.name === 'string') {
      const def = catalog.view(serverParam(req), req.principal.access)?.toolDefs.get(msg.params.name);
      toolDef = def;
      const badParam = def ? checkParamHeaders(req.headers, def.inputSchema, msg.params.arguments) : undefined;
      if (badParam) return sendEraError(reply, msg.id, badParam);
      const gated = def ? tasks?.gate(def, era.clientCapabilities) : undefined;
      if (gated) return sendEraError(reply, msg.id, gated);
    }

    const principal = req.principal;
    const server = serverParam(req);
    const sessionId = modernSessionId(principal.id);
    const callId = randomBytes(12).toString('base64url');
    const abort = new AbortController();
    const token = progressTokenOf(msg);
    const accept = (req.headers.accept ?? '*/*').toLowerCase();
    const acceptsSse = accept.includes('text/event-stream') || accept.includes('*/*');
    const acceptsJson = accept.includes('application/json') || accept.includes('*/*');
    const stream = acceptsSse && (!acceptsJson || token !== undefined || era.logLevel !== undefined);

    const onSide = (text: string) => void deps.bus.broadcast(sessionId, text).catch(() => undefined);
    const info: ModernRequestInfo = {
      principal: principal.id, msg, capabilities: era.clientCapabilities, logLevel: era.logLevel, progressToken: token, signal: abort.signal, onSide,
    };
    const modern: ModernCall = {
      protocolVersion: era.protocolVersion, clientCapabilities: UPSTREAM_CLIENT_CAPABILITIES, logLevel: era.logLevel, sessionId, callId,
      onServerRequest: mrtr.tap(info, sessionId, callId), onSideNotification: onSide,
    };
    const params = { ...(msg.params ?? {}) };
    const isRetry = MRTR_METHODS.has(msg.method) && params.requestState !== undefined;
    delete params.inputResponses;
    delete params.requestState;
    const forwarded: JsonRpcRequest = { ...msg, params };
    const ctx: RequestContext = { principal, era: 'modern', server, traceparent: traceparentOf(req), signal: abort.signal, modern, headers: req.headers };
    const taskInfo = { principal: principal.id, msg, capabilities: era.clientCapabilities };
    if (toolDef && tasks) ctx.task = tasks.runner(taskInfo, toolDef);
    // Only per_client upstreams can ask the client anything: only their calls are stored for a retry on another edge.
    ctx.resumable = deps.sharedEvents && dispatcher.mayNeedStream(ctx, forwarded);

    // 2026-07-28: the client closing the request's stream (or connection) cancels the request.
    let answered = false;
    reply.raw.on('close', () => {
      if (answered || reply.raw.writableFinished) return;
      abort.abort();
      dispatcher.cancelModern(ctx, 'the client closed the request\'s stream');
    });

    let sse: SseWriter | undefined;
    if (stream) {
      reply.hijack();
      sse = new SseWriter(reply.raw, principal);
      ctx.notify = (json) => { sse!.event('message', json); };
      info.notify = ctx.notify;
    }

    let outcome: Outcome;
    const hidden = isRetry ? notVisible(req, msg) : undefined;
    if (hidden) {
      outcome = { kind: 'error', error: hidden };
    } else if (isRetry) {
      const opened = mrtr.openState(info);
      outcome = 'error' in opened ? { kind: 'error', error: opened.error }
        : opened.state.task !== undefined && tasks ? await tasks.resume(taskInfo, opened.state) : await mrtr.resume(info, opened.state);
      if ('error' in opened && !sse) {
        answered = true;
        return reply.code(400).type('application/json').send(outcomeText(msg.id, outcome));
      }
    } else if (isTaskMethod) {
      outcome = await tasks!.handle(principal.id, msg);
    } else {
      // A per-user server's "connect your account first" (-32042) becomes a URL-mode input request (issue 20).
      outcome = modernUrlElicitation(await dispatcher.handle(ctx, forwarded), msg.method, era.clientCapabilities);
    }
    answered = true;
    const out = serialize(req, msg, outcome);
    if (!sse) {
      if (out.status === 429 && outcome.kind === 'error') reply.header('retry-after', Math.ceil((outcome.retryAfterMs ?? 1000) / 1000));
      return reply.code(out.status).type('application/json').send(out.text);
    }
    sse.event('message', out.text);
    sse.end();
  };

  /** subscriptions/listen: acknowledged, then what the filter asked for, until the client goes or the edge stops. */
  const listen = async (req: FastifyRequest, reply: FastifyReply, msg: JsonRpcRequest, era: ModernEra) => {
    const principal = req.principal;
    const server = serverParam(req);
    const view = catalog.view(server, principal.access);
    const honored = honoredFilter(msg.params?.notifications, (uri) => view?.resources.has(uri) === true || server !== undefined);
    const release = takeStreamSlot(deps, req, reply);
    if (!release) return reply;
    const sessionId = modernSessionId(principal.id);
    reply.hijack();
    const sse = new SseWriter(reply.raw, principal);
    const existing = deps.streams.get(sessionId);
    const listenHub = existing instanceof ListenHub ? existing : new ListenHub(principal);
    if (existing !== listenHub) deps.streams.set(sessionId, listenHub);
    const listener: Listener = { id: msg.id, filter: honored, sse };
    listenHub.listeners.add(listener);

    const subscription = (method: 'resources/subscribe' | 'resources/unsubscribe', uri: string) => {
      const modern: ModernCall = { protocolVersion: era.protocolVersion, clientCapabilities: UPSTREAM_CLIENT_CAPABILITIES, sessionId, callId: randomBytes(12).toString('base64url') };
      const ctx: RequestContext = { principal, era: 'modern', server, traceparent: traceparentOf(req), modern };
      return dispatcher.handle(ctx, { jsonrpc: '2.0', id: `listen-${method}`, method, params: { uri } }).catch(() => undefined);
    };
    // Subscribed through the principal's modern session (the registry's resources/updated for it reaches this
    // hub on any edge) before the acknowledgement, which names only the URIs whose subscription took.
    if (honored.resourceSubscriptions) {
      const uris = honored.resourceSubscriptions;
      const outcomes = await Promise.all(uris.map((uri) => subscription('resources/subscribe', uri)));
      const taken = uris.filter((_, i) => outcomes[i]?.kind === 'result');
      if (taken.length > 0) honored.resourceSubscriptions = taken;
      else delete honored.resourceSubscriptions;
    }
    sse.event('message', acknowledgement(msg.id, honored));

    sse.onClose(() => {
      release();
      listenHub.listeners.delete(listener);
      if (listenHub.listeners.size === 0 && deps.streams.get(sessionId) === listenHub) deps.streams.delete(sessionId);
      const still = new Set([...listenHub.listeners].flatMap((l) => l.filter.resourceSubscriptions ?? []));
      for (const uri of honored.resourceSubscriptions ?? []) if (!still.has(uri)) void subscription('resources/unsubscribe', uri);
    });
  };

  const refuseStreamMethods = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (!isModernStreamRequest(req)) return false;
    reply.code(405).header('allow', 'POST').type('application/json').send(errorResponseText(null, {
      httpStatus: 405, code: ErrorCode.InvalidRequest,
      message: `Method Not Allowed: protocol 2026-07-28 has no ${req.method} on the MCP endpoint (use subscriptions/listen for notifications; there is no session to delete)`,
    }));
    return true;
  };

  return { post, refuseStreamMethods, mrtr };
}

