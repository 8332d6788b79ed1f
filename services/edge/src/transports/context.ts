import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import type { EventLog } from '@mcpgw/common/event-log';
import type { CatalogView } from '../catalog-view.js';
import type { Dispatcher } from '../dispatcher.js';
import type { RegistryLink } from '../registry-client.js';
import { errorText } from '../jsonrpc.js';
import type { EdgeMetrics } from '../metrics.js';
import type { SessionRecord, SessionStore } from '../sessions/session-store.js';
import type { SseWriter } from './sse-writer.js';
import type { StreamBus } from './stream-bus.js';

/** What the transports share. */
export interface TransportDeps {
  dispatcher: Dispatcher;
  registry: RegistryLink;
  sessions: SessionStore;
  catalog: CatalogView;
  metrics: EdgeMetrics;
  log: Logger;
  instanceId: string;
  /** Streams this replica holds, by session id: legacy SSE streams and Streamable HTTP GET streams. */
  streams: Map<string, SseWriter>;
  /** Reaches a stream held by any replica. */
  bus: StreamBus;
  /** Events of SSE response streams, for Last-Event-ID resumption. */
  events: EventLog;
  /** True when `events` is shared (Redis): the registry then stores call events itself. */
  sharedEvents: boolean;
  /** How long a resumed stream waits for the rest of its call. */
  resumeWindowMs: number;
}

/** The SDK's code for an unknown session. */
export const SESSION_NOT_FOUND = -32001;

/** 128 bits from the CSPRNG, URL-safe. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export function sendError(reply: FastifyReply, httpStatus: number, error: JsonRpcError, id: string | number | null = null): FastifyReply {
  return reply.code(httpStatus).type('application/json').send(errorText(id, error));
}

/** `/servers/{name}/...` routes carry the server; unknown names are 404. */
export function serverParam(req: FastifyRequest): string | undefined {
  return (req.params as { name?: string } | undefined)?.name;
}

/**
 * Finds the session or answers for it: 404 for unknown or ended sessions, 503
 * when the session store is down and this replica has no cached copy.
 */
export async function loadSession(deps: TransportDeps, reply: FastifyReply, id: string, server: string | undefined): Promise<SessionRecord | undefined> {
  let session: SessionRecord | undefined;
  try {
    session = await deps.sessions.get(id);
  } catch (err) {
    deps.log.warn({ err: (err as Error).message }, 'session store unavailable');
    sendError(reply, 503, { code: ErrorCode.InternalError, message: 'Session store unavailable; retry shortly' });
    return undefined;
  }
  if (!session || session.s !== server) {
    sendError(reply, 404, { code: SESSION_NOT_FOUND, message: 'Session not found: it ended or never existed; initialize a new one' });
    return undefined;
  }
  return session;
}
