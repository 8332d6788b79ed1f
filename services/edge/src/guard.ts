// Checks every MCP request must pass before any work: DNS-rebinding
// protection (Host and Origin allowlists) and, when configured, the master key.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import { errorText } from './jsonrpc.js';
import type { EdgeMetrics } from './metrics.js';

export interface GuardOptions {
  /** Host names (no port) allowed in the Host header; '*' allows any. */
  allowedHosts: string[];
  /** Origins allowed when a browser sends Origin; '*' allows any. */
  allowedOrigins: string[];
  masterKey?: string;
}

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createGuard(opts: GuardOptions, metrics: EdgeMetrics) {
  const anyHost = opts.allowedHosts.includes('*');
  const hosts = new Set(opts.allowedHosts.map((h) => h.toLowerCase()));
  const anyOrigin = opts.allowedOrigins.includes('*');
  const origins = new Set(opts.allowedOrigins.map((o) => o.toLowerCase()));
  const keyDigest = opts.masterKey ? digest(opts.masterKey) : undefined;

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
    if (!anyHost && (!host || !hosts.has(hostnameOf(host)))) {
      reply.code(403).type('application/json').send(errorText(null, { code: ErrorCode.InvalidRequest, message: `Forbidden: host '${host ?? ''}' is not allowed (MCPGW_ALLOWED_HOSTS)` }));
      return reply;
    }
    const origin = req.headers.origin;
    if (origin && !originAllowed(origin)) {
      reply.code(403).type('application/json').send(errorText(null, { code: ErrorCode.InvalidRequest, message: `Forbidden: origin '${origin}' is not allowed (MCPGW_ALLOWED_ORIGINS)` }));
      return reply;
    }
    if (keyDigest) {
      const auth = req.headers.authorization;
      const presented = auth?.startsWith('Bearer ') ? auth.slice(7) : (req.headers['x-api-key'] as string | undefined);
      if (!presented || !timingSafeEqual(digest(presented), keyDigest)) {
        metrics.authFailures.inc();
        reply.code(401).header('www-authenticate', 'Bearer realm="mcpgw"').type('application/json')
          .send(errorText(null, { code: ErrorCode.InvalidRequest, message: 'Unauthorized: send the gateway key as "Authorization: Bearer <key>"' }));
        return reply;
      }
    }
  };
}
