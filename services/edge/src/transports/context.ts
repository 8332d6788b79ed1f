import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { EventLog } from '@mcpgw/common/event-log';
import type { CatalogView } from '../catalog-view.js';
import type { Dispatcher, RegistryCalls, RequestContext } from '../dispatcher.js';
import type { Audit } from '../pipeline/audit.js';
import type { SlotCounter } from '../pipeline/bounds.js';
import type { ClientLimits } from '../settings.js';
import { requestIdOf, sendError } from '../pipeline/policy.js';
import type { EdgeMetrics } from '../metrics.js';
import type { SessionRecord, SessionStore } from '../sessions/session-store.js';
import type { StreamTarget } from './sse-writer.js';
import type { StreamBus } from './stream-bus.js';

/** What the transports share. */
export interface TransportDeps {
  dispatcher: Dispatcher;
  registry: RegistryCalls;
  sessions: SessionStore;
  catalog: CatalogView;
  metrics: EdgeMetrics;
  log: Logger;
  audit: Audit;
  instanceId: string;
  /** Streams this replica holds, by session id: legacy SSE streams, Streamable HTTP GET streams, 2026 listen hubs. */
  streams: Map<string, StreamTarget>;
  /** Reaches a stream held by any replica. */
  bus: StreamBus;
  /** Events of SSE response streams, for Last-Event-ID resumption. */
  events: EventLog;
  /** True when `events` is shared (Redis): the registry then stores call events itself. */
  sharedEvents: boolean;
  /** How long a resumed stream waits for the rest of its call. */
  resumeWindowMs: number;
  limits: ClientLimits;
  /** Long-lived SSE streams (legacy, GET, resume) per principal and on this edge. */
  sseStreams: SlotCounter;
  /** Calls in flight per session on this edge. */
  sessionCalls: SlotCounter;
}

/** 128 bits from the CSPRNG, URL-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export { sendError };

/** `/servers/{name}/...` routes carry the server; unknown names are 404. */
export function serverParam(req: FastifyRequest): string | undefined {
  return (req.params as { name?: string } | undefined)?.name;
}

/**
 * Finds the session or answers for it: 404 for unknown or ended sessions and
 * for sessions of another principal (the "verify the session's owner" step of
 * the policy chain: a session id is not a credential), 503 when the session
 * store is down and this replica has no cached copy.
 */
export async function loadSession(deps: TransportDeps, req: FastifyRequest, reply: FastifyReply, id: string, server: string | undefined): Promise<SessionRecord | undefined> {
  let session: SessionRecord | undefined;
  try {
    session = await deps.sessions.get(id);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message }, 'session store unavailable');
    sendError(reply, 503, { code: ErrorCode.InternalError, message: 'Session store unavailable; retry shortly' }, requestIdOf(req));
    return undefined;
  }
  if (!session || session.s !== server || session.p !== req.principal.id) {
    sendError(reply, 404, { code: ErrorCode.SessionNotFound, message: 'Session not found: it ended or never existed; initialize a new one' }, requestIdOf(req));
    return undefined;
  }
  return session;
}

/**
 * `/servers/{name}/...` routes carry a server: unknown names and names outside
 * the principal's scopes are the same 404. Returns false when it answered.
 */
export function checkServerRoute(deps: TransportDeps, req: FastifyRequest, reply: FastifyReply): boolean {
  const server = serverParam(req);
  if (server === undefined || deps.catalog.visibleServer(server, req.principal.access)) return true;
  if (deps.catalog.hasServer(server)) deps.audit.denied(req.principal, 'server', server, server);
  sendError(reply, 404, { code: ErrorCode.InvalidParams, message: `unknown server '${server}'` }, requestIdOf(req));
  return false;
}

/** The typed context of a 2025-era request on a session. */
export function sessionContext(req: FastifyRequest, session: SessionRecord, server: string | undefined): RequestContext {
  return { principal: req.principal, era: 'legacy', session, server, traceparent: traceparentOf(req), headers: req.headers };
}

export function traceparentOf(req: FastifyRequest): string | undefined {
  const t = req.headers.traceparent;
  return typeof t === 'string' ? t : undefined;
}

/**
 * Takes a long-lived stream slot for the principal, or answers 429 (this
 * principal's streams) / 503 (this edge's) and returns undefined.
 */
export function takeStreamSlot(deps: TransportDeps, req: FastifyRequest, reply: FastifyReply): (() => void) | undefined {
  const release = deps.sseStreams.acquire(req.principal.id);
  if (release) return release;
  const edgeFull = deps.sseStreams.size >= deps.limits.maxSseStreams;
  reply.header('retry-after', '5');
  sendError(reply, edgeFull ? 503 : 429, {
    code: ErrorCode.LimitExceeded,
    message: edgeFull ? `this edge holds its maximum of ${deps.limits.maxSseStreams} SSE streams (MCPGW_MAX_SSE_STREAMS); retry on another replica`
      : `too many open SSE streams for this principal (MCPGW_MAX_SSE_PER_PRINCIPAL ${deps.limits.maxSsePerPrincipal}); close some first`,
  });
  return undefined;
}

/** A slot for one more call in flight on the session, or undefined when it already runs the maximum. */
export function takeCallSlot(deps: TransportDeps, sessionId: string): (() => void) | undefined {
  return deps.sessionCalls.acquire(sessionId);
}

export function callSlotError(deps: TransportDeps) {
  return { code: ErrorCode.LimitExceeded, message: `too many calls in flight on this session (MCPGW_MAX_CALLS_PER_SESSION ${deps.limits.maxCallsPerSession}); wait for some to finish`, data: { retryAfterMs: 1000 } };
}
