// RFC 9728 protected-resource metadata: where MCP clients discover which
// authorization servers issue tokens for this gateway. Every 401 points here.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GatewayConfig } from '@mcpgw/common/config';

export function registerWellKnown(app: FastifyInstance, gateway: GatewayConfig, publicUrl?: string): void {
  // With sign-in on (gateway.auth.login), the gateway's own authorization server comes first.
  const own = gateway.login && publicUrl ? [new URL(publicUrl).origin] : [];
  const servers = gateway.authorizationServers ?? [...own, ...gateway.jwt.map((j) => j.issuer)];
  const metadata = (req: FastifyRequest, path: string) => {
    const origin = publicUrl ? new URL(publicUrl).origin : `${req.protocol}://${req.headers.host ?? 'localhost'}`;
    return {
      // The resource a token's audience must name (RFC 8707): the MCP endpoint.
      resource: publicUrl ?? `${origin}${path || '/mcp'}`,
      authorization_servers: servers,
      scopes_supported: ['mcpgw:admin', 'server:<glob>', 'tool:<glob>'],
      bearer_methods_supported: ['header'],
      resource_name: 'mcpgw MCP gateway',
    };
  };
  app.get('/.well-known/oauth-protected-resource', async (req) => metadata(req, ''));
  // Path-aware form (RFC 9728 section 3.1), which MCP clients try first: /.well-known/oauth-protected-resource/mcp
  app.get('/.well-known/oauth-protected-resource/*', async (req) => metadata(req, `/${(req.params as { '*': string })['*']}`));
}
