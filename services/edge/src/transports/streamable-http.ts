// Streamable HTTP (spec 2025-11-25, also 2025-06-18 and 2025-03-26 clients)
// without per-session objects: each POST is classified, its session loaded
// from the store, and answered as JSON, or as SSE when progress was asked for.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import { decodeEventId, primingEventId } from '@mcpgw/common/event-log';
import { progressTokenOf, type RequestContext } from '../dispatcher.js';
import { classify, errorText, idOfBody, resultText, type JsonRpcRequest } from '../jsonrpc.js';
import { httpStatusOf, outcomeText } from '../pipeline/outcome.js';
import { initializeResult, negotiateVersion, SUPPORTED_VERSIONS } from '../protocol.js';
import { boundedCapabilities, clientInfoText, type SessionRecord } from '../sessions/session-store.js';
import { callSlotError, checkServerRoute, loadSession, newSessionId, sendError, serverParam, sessionContext, takeCallSlot, takeStreamSlot, type TransportDeps } from './context.js';
import { SseWriter } from './sse-writer.js';
import { classifyEra } from '../era/modern.js';
import { sendEraError, type ModernAdapter } from './streamable-http-2026.js';

/** The reconnect delay suggested to clients (`retry:` of the priming event). */
const RETRY_MS = 1_000;

function accepts(req: FastifyRequest): { json: boolean; sse: boolean } {
  const accept = (req.headers.accept ?? '*/*').toLowerCase();
  const any = accept.includes('*/*');
  return { json: any || accept.includes('application/json') || accept.includes('application/*'), sse: any || accept.includes('text/event-stream') || accept.includes('text/*') };
}

/**
 * Registers POST and DELETE on `paths`; returns the GET handler for a
 * session's standalone stream (GET with Mcp-Session-Id), which shares its
 * paths with the legacy SSE transport (GET without it).
 */
export function registerStreamableHttp(app: FastifyInstance, deps: TransportDeps, paths: string[], sessionTtlMs: number, modern: ModernAdapter): StreamGetHandler {
  const { dispatcher, sessions, metrics } = deps;
  // mcpgw_sessions_active{transport="http"}: sessions created here, until
  // DELETE or until this edge has not seen them for the idle TTL (the store
  // expires them silently, so the gauge must too).
  const lastSeen = new Map<string, number>();
  const sweep = setInterval(() => {
    const cutoff = Date.now() - sessionTtlMs;
    for (const [id, at] of lastSeen) if (at < cutoff) lastSeen.delete(id);
    metrics.sessionsActive.set({ transport: 'http' }, lastSeen.size);
  }, Math.min(sessionTtlMs, 30_000));
  sweep.unref();
  app.addHook('onClose', async () => clearInterval(sweep));

  const post = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!checkServerRoute(deps, req, reply)) return reply;
    const server = serverParam(req);
    const acc = accepts(req);
    if (!acc.json && !acc.sse) return sendError(reply, 406, { code: ErrorCode.InvalidRequest, message: 'Not Acceptable: Accept must allow application/json or text/event-stream' });
    if (Array.isArray(req.body)) return batch(req, reply, req.body, server);
    // The era, decided once: 2026-07-28 requests are stateless and go to their own adapter.
    const era = classifyEra(req.headers, req.body);
    if ('error' in era) return sendEraError(reply, idOfBody(req.body), era.error);
    if (era.era === 'modern') return modern.post(req, reply, era);
    const c = classify(req.body);
    if (c.kind === 'invalid') return sendError(reply, 400, c.error, c.id);

    const sid = req.headers['mcp-session-id'];
    if (c.kind === 'request' && c.msg.method === 'initialize') {
      if (typeof sid === 'string') return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: initialize must not carry Mcp-Session-Id' }, c.msg.id);
      const params = c.msg.params ?? {};
      const version = negotiateVersion(params.protocolVersion);
      const capabilities = boundedCapabilities(params.capabilities);
      if ('error' in capabilities) return sendError(reply, 400, { code: ErrorCode.InvalidParams, message: capabilities.error }, c.msg.id);
      const session: SessionRecord = {
        id: newSessionId(), v: version, t: 'http', p: req.principal.id,
        cc: capabilities.ok,
        ci: clientInfoText(params.clientInfo),
        s: server,
      };
      try {
        await sessions.create(session);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'session store unavailable');
        return sendError(reply, 503, { code: ErrorCode.InternalError, message: 'Session store unavailable; retry shortly' }, c.msg.id);
      }
      lastSeen.set(session.id, Date.now());
      metrics.sessionsActive.set({ transport: 'http' }, lastSeen.size);
      return reply.header('mcp-session-id', session.id).type('application/json').send(resultText(c.msg.id, initializeResult(version, undefined, server ? deps.catalog.upstreamInfo(server) : undefined, deps.dispatcher.initializeCapabilities())));
    }

    if (typeof sid !== 'string' || sid === '') {
      return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Bad Request: Mcp-Session-Id header is required (initialize first)' }, c.kind === 'request' ? c.msg.id : null);
    }
    const session = await loadSession(deps, req, reply, sid, server);
    if (!session) return reply;
    if (lastSeen.has(sid)) lastSeen.set(sid, Date.now());
    const pv = req.headers['mcp-protocol-version'];
    if (typeof pv === 'string' && !SUPPORTED_VERSIONS.includes(pv)) {
      return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: `Bad Request: unsupported MCP-Protocol-Version '${pv}' (supported: ${SUPPORTED_VERSIONS.join(', ')})` });
    }
    const base = sessionContext(req, session, server);
    if (c.kind === 'notification') {
      if (c.msg.method === 'notifications/cancelled') dispatcher.cancel(base, c.msg.params);
      return reply.code(202).send();
    }
    if (c.kind === 'response') {
      dispatcher.respond(base, c.msg);
      return reply.code(202).send();
    }

    const msg = c.msg;
    const releaseCall = takeCallSlot(deps, session.id);
    if (!releaseCall) return reply.code(429).header('retry-after', '1').type('application/json').send(errorText(msg.id, callSlotError(deps)));
    try {
      return await answer(reply, msg, base, session, acc);
    } finally {
      releaseCall();
    }
  };

  /** Answers one request of a session: as JSON, or as an SSE stream when progress or server-to-client traffic may come. */
  const answer = async (reply: FastifyReply, msg: JsonRpcRequest, base: RequestContext, session: SessionRecord, acc: { json: boolean; sse: boolean }) => {
    // SSE only when it buys something (progress) or the client accepts nothing else.
    const stream = acc.sse && (!acc.json || progressTokenOf(msg) !== undefined || dispatcher.mayNeedStream(base, msg));
    if (!stream) {
      const outcome = await dispatcher.handle(base, msg);
      const status = httpStatusOf(outcome);
      if (status === 404) await sessions.delete(session.id).catch(() => false);
      if (status === 429 && outcome.kind === 'error') reply.header('retry-after', Math.ceil((outcome.retryAfterMs ?? 1000) / 1000));
      return reply.code(status).type('application/json').send(outcomeText(msg.id, outcome));
    }
    const streamId = JSON.stringify(msg.id);
    // Resumable (2025-11-25 clients handle the priming event's empty data).
    const resumable = session.v >= '2025-11-25';
    // The stream opens with the first event, so an answer that must be an HTTP
    // status (a lost session: 404) can still be one.
    let sse: SseWriter | undefined;
    const open = (): SseWriter => {
      if (sse) return sse;
      reply.hijack();
      sse = new SseWriter(reply.raw, base.principal);
      if (resumable) sse.prime(primingEventId(streamId), RETRY_MS);
      return sse;
    };
    // Events go out in order; each is stored first (unless the registry stored it), so a
    // client that lost the stream can resume it with Last-Event-ID on any replica.
    let chain: Promise<void> = Promise.resolve();
    const emit = (text: string, eventId: string | undefined, final: boolean) => {
      const writer = open();
      chain = chain.then(async () => {
        let id = eventId;
        if (!id && resumable) id = await deps.events.append(session.id, streamId, text, final).catch(() => undefined);
        writer.event('message', text, id);
      });
    };
    const ctx: RequestContext = { ...base, resumable: resumable && deps.sharedEvents, notify: (json, id) => emit(json, id, false) };
    const outcome = await dispatcher.handle(ctx, msg);
    const text = outcomeText(msg.id, outcome);
    const status = httpStatusOf(outcome);
    if (status === 404) {
      await sessions.delete(session.id).catch(() => false);
      if (!sse) return reply.code(404).type('application/json').send(text);
    }
    // Still no stream opened: a limit refusal can be a plain 429 with Retry-After.
    if (status === 429 && !sse && outcome.kind === 'error') {
      return reply.code(429).header('retry-after', Math.ceil((outcome.retryAfterMs ?? 1000) / 1000)).type('application/json').send(text);
    }
    emit(text, outcome.eventId, true);
    await chain;
    sse!.end();
  };

  /** GET with Last-Event-ID: replays what the stream missed, then follows it to its final response. */
  const resume = async (req: FastifyRequest, reply: FastifyReply, sid: string, lastEventId: string) => {
    const server = serverParam(req);
    const session = await loadSession(deps, req, reply, sid, server);
    if (!session) return reply;
    const at = decodeEventId(lastEventId);
    if (!at) return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Bad Request: Last-Event-ID is not an event id of this gateway' });
    const release = takeStreamSlot(deps, req, reply);
    if (!release) return reply;
    reply.hijack();
    const sse = new SseWriter(reply.raw, req.principal);
    sse.onClose(release);
    const deadline = Date.now() + deps.resumeWindowMs;
    let cursor = lastEventId;
    try {
      while (!sse.closed && Date.now() < deadline) {
        const events = await deps.events.readAfter(sid, cursor, 1_000);
        for (const e of events) {
          cursor = e.id;
          if (e.streamId !== at.streamId) continue;
          sse.event('message', e.text, e.id);
          if (e.final) return;
        }
      }
    } catch (err) {
      deps.log.warn({ err: (err as Error).message }, 'resume failed');
    } finally {
      sse.end();
    }
  };

  /** JSON-RPC batches: part of protocol 2025-03-26 only (removed in 2025-06-18). */
  const batch = async (req: FastifyRequest, reply: FastifyReply, items: unknown[], server: string | undefined) => {
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string' || sid === '') {
      return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: a batch cannot initialize a session; send initialize alone' });
    }
    const session = await loadSession(deps, req, reply, sid, server);
    if (!session) return reply;
    if (session.v !== '2025-03-26') {
      return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: `Invalid Request: JSON-RPC batches are not part of protocol ${session.v}; send one message per request` });
    }
    if (items.length === 0) return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: empty batch' });
    if (items.length > deps.limits.maxBatchItems) {
      return sendError(reply, 400, { code: ErrorCode.LimitExceeded, message: `Invalid Request: a batch may hold at most ${deps.limits.maxBatchItems} messages (MCPGW_MAX_BATCH_ITEMS); this one has ${items.length}` });
    }
    const base = sessionContext(req, session, server);
    const answers = await Promise.all(items.map(async (item) => {
      const c = classify(item);
      if (c.kind === 'invalid') return errorText(c.id, c.error);
      if (c.kind === 'notification' && c.msg.method === 'notifications/cancelled') dispatcher.cancel(base, c.msg.params);
      if (c.kind === 'response') dispatcher.respond(base, c.msg);
      if (c.kind !== 'request') return undefined;
      return outcomeText(c.msg.id, await dispatcher.handle(base, c.msg));
    }));
    const texts = answers.filter((a): a is string => a !== undefined);
    if (texts.length === 0) return reply.code(202).send();
    return reply.type('application/json').send(`[${texts.join(',')}]`);
  };

  const getStream = async (req: FastifyRequest, reply: FastifyReply, sid: string) => {
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '') return resume(req, reply, sid, lastEventId);
    const server = serverParam(req);
    if (!accepts(req).sse) return sendError(reply, 406, { code: ErrorCode.InvalidRequest, message: 'Not Acceptable: GET needs Accept: text/event-stream' });
    const session = await loadSession(deps, req, reply, sid, server);
    if (!session) return reply;
    if (deps.streams.has(sid)) return sendError(reply, 409, { code: ErrorCode.InvalidRequest, message: 'Conflict: this session already has a GET stream open' });
    const release = takeStreamSlot(deps, req, reply);
    if (!release) return reply;
    reply.hijack();
    const sse = new SseWriter(reply.raw, req.principal);
    deps.streams.set(sid, sse);
    sse.onClose(() => {
      release();
      if (deps.streams.get(sid) === sse) deps.streams.delete(sid);
    });
  };

  const del = async (req: FastifyRequest, reply: FastifyReply) => {
    if (modern.refuseStreamMethods(req, reply)) return reply;
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string' || sid === '') return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Bad Request: Mcp-Session-Id header is required' });
    const session = await loadSession(deps, req, reply, sid, serverParam(req));
    if (!session) return reply;
    await sessions.delete(sid).catch(() => false);
    dispatcher.endSession(session);
    deps.streams.get(sid)?.end();
    lastSeen.delete(sid);
    metrics.sessionsActive.set({ transport: 'http' }, lastSeen.size);
    return reply.code(200).send();
  };

  for (const path of paths) {
    app.post(path, post);
    app.delete(path, del);
  }
  return getStream;
}

export type StreamGetHandler = (req: FastifyRequest, reply: FastifyReply, sid: string) => Promise<unknown>;
