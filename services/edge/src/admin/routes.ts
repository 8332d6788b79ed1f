// The admin API (`/admin/api/*`): master key or an admin-scoped key. JSON in
// and out, validated with zod; every change is audited (key id and name,
// never the key). Keys and teams live here; servers, tools and pins, recent
// calls, config and live figures are added beside them.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { TeamConfig } from '@mcpgw/common/config';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { KeyRecord, KeyStore } from '../identity/keys.js';
import type { Audit } from '../pipeline/audit.js';
import { requireAdmin } from '../pipeline/policy.js';

export interface AdminDeps {
  keys: KeyStore;
  teams: TeamConfig[];
  audit: Audit;
}

const newKeySchema = z.strictObject({
  name: z.string().min(1).max(200),
  team: z.string().min(1).optional(),
  servers: z.array(z.string().min(1)).max(200).optional(),
  tools: z.array(z.string().min(1)).max(500).optional(),
  rpm: z.number().int().positive().optional(),
  max_concurrency: z.number().int().positive().optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
  admin: z.boolean().optional(),
});

function apiError(reply: FastifyReply, status: number, message: string, data?: Record<string, unknown>): FastifyReply {
  const code = status === 404 ? ErrorCode.InvalidParams : status === 403 ? ErrorCode.Forbidden : ErrorCode.InvalidRequest;
  return reply.code(status).send({ error: { code, message, ...(data ? { data } : {}) } });
}

/** The API's shape of a key: snake_case like the request, never the key itself. */
export function keyView(r: KeyRecord) {
  return {
    id: r.id, name: r.name, team: r.team ?? null, servers: r.servers ?? null, tools: r.tools ?? null,
    rpm: r.rpm ?? null, max_concurrency: r.maxConcurrency ?? null, expires_at: r.expiresAt ?? null,
    created_at: r.createdAt || null, admin: r.admin, declared: r.declared ?? false,
  };
}

export function registerAdmin(app: FastifyInstance, deps: AdminDeps): void {
  const teams = new Map(deps.teams.map((t) => [t.name, t]));
  app.register(async (admin) => {
    admin.addHook('onRequest', requireAdmin);

    admin.get('/admin/api/keys', async () => ({ keys: (await deps.keys.list()).map(keyView) }));

    admin.post('/admin/api/keys', async (req, reply) => {
      const parsed = newKeySchema.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const field = issue.path.join('.') || 'body';
        return apiError(reply, 400, `invalid "${field}": ${issue.message}`, { field });
      }
      const b = parsed.data;
      if (b.team !== undefined && !teams.has(b.team)) return apiError(reply, 400, `invalid "team": unknown team '${b.team}' (gateway.teams)`, { field: 'team' });
      if (b.expires_at && Date.parse(b.expires_at) <= Date.now()) return apiError(reply, 400, 'invalid "expires_at": it is in the past', { field: 'expires_at' });
      const { key, record } = await deps.keys.create({
        name: b.name, team: b.team, servers: b.servers, tools: b.tools, rpm: b.rpm, maxConcurrency: b.max_concurrency, expiresAt: b.expires_at, admin: b.admin ?? false,
      });
      deps.audit.admin(req.principal, 'key_created', { id: record.id, name: record.name, team: record.team, admin: record.admin });
      return reply.code(201).send({ ...keyView(record), key });
    });

    admin.delete('/admin/api/keys/:id', async (req, reply) => {
      const { id } = req.params as { id: string };
      if (deps.keys.isDeclared(id)) return apiError(reply, 409, `key '${id}' is declared in the config (gateway.keys); remove it there`);
      if (!(await deps.keys.revoke(id))) return apiError(reply, 404, `unknown key '${id}'`);
      deps.audit.admin(req.principal, 'key_revoked', { id });
      return { id, revoked: true };
    });

    admin.get('/admin/api/teams', async () => ({
      teams: deps.teams.map((t) => ({ name: t.name, servers: t.servers ?? null, tools: t.tools ?? null, rpm: t.rpm ?? null, max_concurrency: t.maxConcurrency ?? null })),
    }));
  });
}
