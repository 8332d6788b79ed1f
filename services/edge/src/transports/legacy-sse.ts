// The legacy HTTP+SSE transport (2024-11-05): GET opens the stream and is told
// where to POST (`event: endpoint`, a relative URL), and every response goes
// back on the stream as `event: message`. This is what LiteLLM users'
// `sse_client("http://host:4000/mcp/")` speaks.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import { classify, errorText, resultText } from '../jsonrpc.js';
import { outcomeText } from '../pipeline/outcome.js';
import { initializeResult, negotiateVersion } from '../protocol.js';
import { boundedCapabilities, clientInfoText, type SessionRecord } from '../sessions/session-store.js';
import { callSlotError, checkServerRoute, loadSession, newSessionId, sendError, serverParam, sessionContext, takeCallSlot, takeStreamSlot, type TransportDeps } from './context.js';
import { requestIdOf } from '../pipeline/policy.js';
import { SseWriter } from './sse-writer.js';
import type { StreamGetHandler } from './streamable-http.js';
import type { ModernAdapter } from './streamable-http-2026.js';

/** Legacy sessions start at the transport's own protocol version until initialize says otherwise. */
const LEGACY_VERSION = '2024-11-05';

/**
 * The POST URL relative to the GET URL, so it survives path prefixes added
 * by proxies: `/mcp/` -> `message?...`, `/mcp` -> `mcp/message?...`,
 * `/sse` -> `message?...` (i.e. `/message`).
 */
export function endpointFor(path: string, sessionId: string): string {
  const clean = path.split('?')[0]!;
  const last = clean.slice(clean.lastIndexOf('/') + 1);
  const dir = clean.endsWith('/') || last === 'sse' ? '' : `${last}/`;
  return `${dir}message?sessionId=${sessionId}`;
}

export function registerLegacySse(app: FastifyInstance, deps: TransportDeps, paths: { get: string[]; post: string[] }, streamGet: StreamGetHandler, modern: ModernAdapter): void {
  const { dispatcher, sessions, metrics, streams } = deps;

  const open = async (req: FastifyRequest, reply: FastifyReply) => {
    if (modern.refuseStreamMethods(req, reply)) return reply;
    const sid = req.headers['mcp-session-id'];
    if (typeof sid === 'string' && sid !== '') return streamGet(req, reply, sid);
    if (!checkServerRoute(deps, req, reply)) return reply;
    const server = serverParam(req);
    const session: SessionRecord = { id: newSessionId(), v: LEGACY_VERSION, t: 'sse', p: req.principal.id, e: deps.instanceId, s: server };
    const release = takeStreamSlot(deps, req, reply);
    if (!release) return reply;
    try {
      await sessions.create(session);
    } catch (err) {
      release();
      deps.log.warn({ err: (err as Error).message }, 'session store unavailable');
      return sendError(reply, 503, { code: ErrorCode.InternalError, message: 'Session store unavailable; retry shortly' });
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw, req.principal);
    streams.set(session.id, sse);
    metrics.sessionsActive.inc({ transport: 'sse' });
    sse.event('endpoint', endpointFor(req.url, session.id));
    // Legacy SSE cannot resume: a lost stream ends its session.
    sse.onClose(() => {
      release();
      streams.delete(session.id);
      metrics.sessionsActive.dec({ transport: 'sse' });
      sessions.delete(session.id).catch(() => {});
      dispatcher.endSession(session);
    });
  };

  const message = async (req: FastifyRequest, reply: FastifyReply) => {
    const sid = (req.query as { sessionId?: string }).sessionId;
    if (!sid) return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Bad Request: the sessionId query parameter is required' });
    const server = serverParam(req);
    const session = await loadSession(deps, req, reply, sid, server);
    if (!session) return reply;
    if (!streams.has(sid) && session.e === deps.instanceId) {
      return sendError(reply, 404, { code: ErrorCode.InvalidRequest, message: 'Session stream is closed; open a new SSE stream' }, requestIdOf(req));
    }
    // The stream may be held by another replica: answers travel over the stream bus.
    const send = (text: string) => {
      deps.bus.deliver(session.e, sid, text).then((delivered) => {
        if (!delivered) deps.log.debug({ session: sid.slice(0, 6) }, 'legacy SSE stream gone; answer dropped');
      }, (err: Error) => deps.log.warn({ err: err.message }, 'stream bus delivery failed'));
    };
    if (Array.isArray(req.body)) return sendError(reply, 400, { code: ErrorCode.InvalidRequest, message: 'Invalid Request: JSON-RPC batches are not supported' });
    const c = classify(req.body);
    if (c.kind === 'invalid') {
      send(errorText(c.id, c.error));
      return sendError(reply, 400, c.error, c.id);
    }
    reply.code(202).send('Accepted');
    const base = sessionContext(req, session, server);
    if (c.kind === 'response') {
      dispatcher.respond(base, c.msg);
      return;
    }
    if (c.kind === 'notification') {
      if (c.msg.method === 'notifications/cancelled') dispatcher.cancel(base, c.msg.params);
      return;
    }
    const msg = c.msg;
    if (msg.method === 'initialize') {
      const params = msg.params ?? {};
      const version = negotiateVersion(params.protocolVersion);
      const capabilities = boundedCapabilities(params.capabilities);
      if ('error' in capabilities) return send(errorText(msg.id, { code: ErrorCode.InvalidParams, message: capabilities.error }));
      await sessions.update({ ...session, v: version, cc: capabilities.ok, ci: clientInfoText(params.clientInfo) })
        .catch((err: Error) => deps.log.warn({ err: err.message }, 'session update failed'));
      send(resultText(msg.id, initializeResult(version, undefined, server ? deps.catalog.upstreamInfo(server) : undefined, deps.dispatcher.initializeCapabilities())));
      return;
    }
    const releaseCall = takeCallSlot(deps, session.id);
    if (!releaseCall) return send(errorText(msg.id, callSlotError(deps)));
    try {
      send(outcomeText(msg.id, await dispatcher.handle({ ...base, notify: send }, msg)));
    } finally {
      releaseCall();
    }
  };

  for (const path of paths.get) app.get(path, open);
  for (const path of paths.post) app.post(path, message);
}
