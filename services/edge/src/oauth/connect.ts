// The connect pages of `auth_type: oauth2_user` servers (issue 20). A URL
// elicitation links GET /connect/<server>?ticket=…; the registry opens the
// ticket and answers with the upstream's authorization URL; the upstream's
// authorization server sends the browser back to GET /connect/callback, whose
// code the registry exchanges and keeps (sealed). The browser never sees a
// token; the edge never holds one. Signed-in principals list and remove their
// connections at /connections.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LoginFederation } from './federation.js';
import type { ConnectSignIn } from './routes.js';
import type { OAuthState } from './state.js';
import type { RegistryLink } from '../registry-client.js';
import { requireAdmin } from '../pipeline/policy.js';

export type ConnectLink = Pick<RegistryLink, 'connectStart' | 'connectFinish' | 'listConnections' | 'disconnect'>;

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    .header('x-frame-options', 'DENY').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer')
    .send(`<!doctype html><html><head><meta charset="utf-8"><title>mcpgw: ${html(title)}</title></head><body><h1>${html(title)}</h1><p>${html(text)}</p></body></html>`);
}

/** The browser pages (no gateway credential: the sealed ticket and state carry who and what). */
/**
 * `signIn`: with the gateway's own sign-in on, a link made for a signed-in
 * user (`user:<sub>`) asks the browser to sign in as that user first, so a
 * link passed to someone else cannot connect their account to its owner
 * (the URL elicitation spec's phishing defence). Links of keys and external
 * JWTs have no browser identity to check: the sealed, short-lived ticket is
 * the proof.
 */
export function registerConnectPages(app: FastifyInstance, link: ConnectLink, publicUrl: string, signIn?: { state: OAuthState; login: LoginFederation }): void {
  const callback = `${new URL(publicUrl).origin}/connect/callback`;
  app.get('/connect/callback', async (req, reply) => {
    const q = req.query as Record<string, string | undefined>;
    if (!q.state || q.state.length > 4096) return page(reply, 400, 'Not connected', 'This answer does not belong to a connect the gateway started.');
    const r = await link.connectFinish({ state: q.state, code: (q.code ?? '').slice(0, 4096), error: (q.error ?? '').slice(0, 200), redirectUri: callback }).catch((err: Error) => ({ error: `the gateway could not finish: ${err.message}`, server: '' }));
    if (r.error) return page(reply, 400, 'Not connected', r.error);
    return page(reply, 200, `Connected ${r.server}`, `Your ${r.server} account is connected to the gateway. Return to your MCP client and retry the call.`);
  });
  app.get('/connect/:server', async (req, reply) => {
    const ticket = (req.query as Record<string, string | undefined>).ticket;
    if (!ticket || ticket.length > 4096) return page(reply, 400, 'Invalid link', 'This connect link has no ticket; retry the call in your MCP client for a new one.');
    const r = await link.connectStart({ ticket, redirectUri: callback, principal: '', server: '' }).catch((err: Error) => ({ error: `the gateway could not start: ${err.message}`, authorizationUrl: '', server: '', principal: '' }));
    if (r.error) return page(reply, 400, 'Cannot connect', r.error);
    if (r.server !== (req.params as { server: string }).server) return page(reply, 400, 'Invalid link', 'This link is for another server.');
    if (signIn && r.principal.startsWith('user:')) {
      const id = randomBytes(24).toString('base64url');
      const start = await signIn.login.start(id).catch(() => undefined);
      if (!start) return page(reply, 502, 'Cannot connect', 'The sign-in provider cannot be reached.');
      const pending: ConnectSignIn = { principal: r.principal, next: r.authorizationUrl, login: { verifier: start.verifier, nonce: start.nonce } };
      await signIn.state.put('connect', id, pending, 600);
      return reply.redirect(start.url, 302);
    }
    return reply.redirect(r.authorizationUrl, 302);
  });
}

/** Authenticated: a principal's own connections, and the admin's view of anyone's. */
export function registerConnections(app: FastifyInstance, link: ConnectLink): void {
  const list = async (principal: string) => (await link.listConnections(principal)).connections
    .map((c) => ({ server: c.server, expires_at: c.expiresAtMs ? new Date(Number(c.expiresAtMs)).toISOString() : null, updated_at: new Date(Number(c.updatedAtMs)).toISOString() }));
  app.get('/connections', async (req) => ({ principal: req.principal.id, connections: await list(req.principal.id) }));
  // A connect link ahead of any call (the first user of a server whose tools nobody could list yet, or a new account).
  app.post('/connections/:server', async (req, reply) => {
    const r = await link.connectStart({ ticket: '', redirectUri: '', principal: req.principal.id, server: (req.params as { server: string }).server });
    if (r.error) return reply.code(400).send({ error: r.error });
    return { url: r.connectUrl };
  });
  app.delete('/connections/:server', async (req) => ({ removed: (await link.disconnect({ principal: req.principal.id, server: (req.params as { server: string }).server })).removed }));
  app.get('/admin/api/connections', { preHandler: requireAdmin }, async (req) => {
    const principal = String((req.query as Record<string, unknown>).principal ?? '');
    return { principal, connections: principal ? await list(principal) : [] };
  });
  app.delete('/admin/api/connections', { preHandler: requireAdmin }, async (req) => {
    const q = req.query as Record<string, unknown>;
    return { removed: (await link.disconnect({ principal: String(q.principal ?? ''), server: String(q.server ?? '') })).removed };
  });
}
