// The policy chain's request-level steps, as fastify hooks in front of every
// client route: Host/Origin (DNS-rebinding protection), then authenticate.
// Session ownership, authorization, limits and audit follow in the transports'
// session loading and in the dispatcher; no transport checks a credential.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';
import type { Authenticator } from '../identity/authenticate.js';
import type { Principal } from '../identity/principal.js';
import { LOOPBACK_HOSTS } from '../settings.js';
import { errorText, idOfBody } from '../jsonrpc.js';
import type { Audit } from './audit.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authenticate step on every client route. */
    principal: Principal;
  }
}

export interface HostPolicy {
  /** Host names (no port) allowed in the Host header; '*' allows any. */
  allowedHosts: string[];
  /** Origins allowed when a browser sends Origin; '*' allows any. */
  allowedOrigins: string[];
}

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** A literal IP address can never be a DNS-rebinding name (probes and scrapers use one). */
const isIpLiteral = (hostname: string) => IPV4.test(hostname) || hostname.startsWith('[');

export function sendError(reply: FastifyReply, status: number, error: JsonRpcError, id: string | number | null = null): FastifyReply {
  return reply.code(status).type('application/json').send(errorText(id, error));
}

/**
 * Host and Origin checks. `opsOnly`: the probe and metrics endpoints, which
 * also accept an IP-literal Host (kubelet and Prometheus address pods by IP).
 */
export function hostGuard(opts: HostPolicy, { opsOnly = false } = {}) {
  const anyHost = opts.allowedHosts.includes('*');
  const hosts = new Set(opts.allowedHosts.map((h) => h.toLowerCase()));
  const anyOrigin = opts.allowedOrigins.includes('*');
  const origins = new Set(opts.allowedOrigins.map((o) => o.toLowerCase()));
  const originAllowed = (origin: string): boolean => {
    if (anyOrigin || origins.has(origin.toLowerCase())) return true;
    // Loopback origins on any port are allowed while loopback hosts are.
    try {
      const u = new URL(origin);
      return LOOPBACK_HOSTS.includes(u.hostname) && hosts.has(u.hostname);
    } catch {
      return false;
    }
  };
  return async function guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const host = req.headers.host;
    const hostname = host ? hostnameOf(host) : '';
    if (!anyHost && !hosts.has(hostname) && !(opsOnly && isIpLiteral(hostname))) {
      sendError(reply, 403, { code: ErrorCode.Forbidden, message: `Forbidden: host '${host ?? ''}' is not allowed (MCPGW_ALLOWED_HOSTS)` });
      return reply;
    }
    const origin = req.headers.origin;
    if (origin && !originAllowed(origin)) {
      sendError(reply, 403, { code: ErrorCode.Forbidden, message: `Forbidden: origin '${origin}' is not allowed (MCPGW_ALLOWED_ORIGINS)` });
      return reply;
    }
  };
}

const CORS_ALLOW_HEADERS = 'authorization, content-type, accept, x-api-key, mcp-session-id, mcp-protocol-version, mcp-method, mcp-name, last-event-id, traceparent';
const CORS_EXPOSE_HEADERS = 'mcp-session-id, mcp-protocol-version, www-authenticate, retry-after';

/**
 * CORS for origins the Host/Origin guard already allowed: preflights
 * (OPTIONS) are answered 204 here, before authentication; actual responses
 * carry the allow headers. Requests without Origin are untouched.
 */
export function corsHook(opts: HostPolicy) {
  return async function cors(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const origin = req.headers.origin;
    if (!origin) return;
    reply.header('access-control-allow-origin', opts.allowedOrigins.includes('*') ? '*' : origin);
    reply.header('vary', 'Origin');
    reply.header('access-control-expose-headers', CORS_EXPOSE_HEADERS);
    if (req.method === 'OPTIONS') {
      reply.code(204).header('access-control-allow-methods', 'GET, POST, DELETE, OPTIONS').header('access-control-allow-headers', CORS_ALLOW_HEADERS)
        .header('access-control-max-age', '600').send();
      return reply;
    }
  };
}

/** The URL of the RFC 9728 metadata for this request's resource. */
export function resourceMetadataUrl(req: FastifyRequest, publicUrl?: string): string {
  const base = publicUrl ? new URL(publicUrl).origin : `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  return `${base}/.well-known/oauth-protected-resource`;
}

/** The JSON-RPC id of a parsed single-message body, so every error answers the request it refuses. */
export function requestIdOf(req: FastifyRequest): JsonRpcId | null {
  return idOfBody(req.body);
}

/** RFC 6750 §3: error_description is printable ASCII without `"` and `\` (anything else made Node refuse the header: a 500). */
const headerSafe = (text: string) => text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?').slice(0, 300);

/**
 * The authenticate step. `onRequest` checks the credential before any body
 * is read and sets `req.principal`; a refusal is answered in `preValidation`,
 * once the (bounded) body is parsed, so the 401 carries the request's id.
 */
export function authenticateHooks(auth: Authenticator, audit: Audit, publicUrl?: string) {
  const refused = new WeakMap<FastifyRequest, { reason: string; message: string; tokenPresented: boolean }>();
  return {
    async onRequest(req: FastifyRequest): Promise<void> {
      const outcome = await auth.authenticate(req.headers, req.query as Record<string, unknown> | undefined);
      if (outcome.ok) {
        req.principal = outcome.principal;
        return;
      }
      audit.authFailure(outcome.reason, req.routeOptions.url ?? 'unmatched');
      refused.set(req, outcome);
    },
    async preValidation(req: FastifyRequest, reply: FastifyReply): Promise<void> {
      const outcome = refused.get(req);
      if (!outcome) return;
      let challenge = `Bearer resource_metadata="${resourceMetadataUrl(req, publicUrl)}"`;
      if (outcome.tokenPresented) challenge += `, error="invalid_token", error_description="${headerSafe(outcome.message)}"`;
      reply.header('www-authenticate', challenge);
      sendError(reply, 401, { code: ErrorCode.Unauthorized, message: `Unauthorized: ${outcome.message}`, data: { reason: outcome.reason } }, requestIdOf(req));
      return reply;
    },
  };
}

/** Admin routes: the principal must be the master key or carry admin rights. */
export async function requireAdmin(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.principal.admin) return;
  sendError(reply, 403, { code: ErrorCode.Forbidden, message: 'Forbidden: this route needs the master key or an admin key' });
  return reply;
}
