// The admin API (`/admin/api/*`): master key or an admin-scoped key. JSON in
// and out, validated with zod; every change is audited (key id and name,
// never the key). Keys and teams live here; servers, tools and pins, recent
// calls, config and live figures are added beside them.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { z } from 'zod';
import type { GatewayConfig, TeamConfig } from '@mcpgw/common/config';
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import { exposedName } from '@mcpgw/common/naming';
import { DecidePinResponse_Outcome, ToolPin_State, type ToolPin } from '@mcpgw/proto/registry';
import type { CatalogView } from '../catalog-view.js';
import type { RegistryCalls } from '../dispatcher.js';
import { fromGrpcError } from '../errors.js';
import { serverStatusView } from '../routes/server-status.js';
import type { KeyRecord, KeyStore } from '../identity/keys.js';
import type { Activity, Audit, CallOutcome } from '../pipeline/audit.js';
import type { RecordCalls } from '../pipeline/call-log.js';
import type { CallRecord } from '@mcpgw/proto/registry';
import { requireAdmin } from '../pipeline/policy.js';
import { redactUrl } from '../settings.js';

export interface AdminDeps {
  keys: KeyStore;
  teams: TeamConfig[];
  audit: Audit;
  registry: RegistryCalls;
  /** The registry's store (call log, audit, pin history, usage); absent: this edge's recent calls only. */
  records?: RecordCalls;
  catalog: CatalogView;
  gateway: GatewayConfig;
  /** The edge's effective settings, secrets already redacted. */
  settings: Record<string, unknown>;
  /** A revoked key's own upstream tokens go too (issue 20). */
  onKeyRevoked?: (principalId: string) => void;
}

const PIN_STATE: Record<number, string> = {
  [ToolPin_State.STATE_TRUSTED]: 'trusted', [ToolPin_State.STATE_CHANGED]: 'changed', [ToolPin_State.STATE_HELD]: 'held', [ToolPin_State.STATE_REJECTED]: 'rejected',
};

const parseJson = (b: Buffer): Record<string, unknown> | undefined => (b.length ? (JSON.parse(b.toString('utf8')) as Record<string, unknown>) : undefined);

/** A pin as the API shows it: exposed name, state, and a field-by-field diff of a pending change. */
function pinView(p: ToolPin, separator: string) {
  const approved = parseJson(p.definitionJson);
  const pending = parseJson(p.pendingDefinitionJson);
  const diff: Record<string, { old: unknown; new: unknown }> = {};
  if (pending) {
    for (const field of ['description', 'inputSchema', 'outputSchema', 'annotations']) {
      if (JSON.stringify(approved?.[field]) !== JSON.stringify(pending[field])) diff[field] = { old: approved?.[field] ?? null, new: pending[field] ?? null };
    }
  }
  return {
    name: exposedName(p.server, p.tool, separator), server: p.server, tool: p.tool,
    description: (pending ?? approved)?.description ?? '', fingerprint: p.fingerprint || null, pin: PIN_STATE[p.state] ?? 'unknown',
    ...(pending ? { pending: { fingerprint: p.pendingFingerprint, seenAt: new Date(Number(p.pendingSeenMs)).toISOString(), diff } } : {}),
  };
}

/** p-th percentile (0..1) of sorted values. */
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0);

export const REDACTED = '[redacted]';

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

/**
 * The team an admin principal is confined to: an admin key (or token) of one
 * team manages keys of that team only. The master key, and admins of no
 * team, manage all.
 */
function adminTeamOf(req: FastifyRequest): string | undefined {
  const p = req.principal;
  return p.kind === 'master' || p.kind === 'anonymous' ? undefined : p.team;
}

/**
 * Keys live in the registry's store: when it (or the registry) cannot answer,
 * a write is refused whole (503, nothing was written) and a read says so.
 */
function storeFailure(reply: FastifyReply, err: unknown, what: string): FastifyReply {
  if ((err as { code?: number }).code === GrpcStatus.UNAVAILABLE) {
    return reply.code(503).header('retry-after', '5').send({ error: {
      code: ErrorCode.RegistryUnavailable, message: `the key store is unavailable (the registry or its database): ${what}; retry shortly`, data: { reason: 'store_unavailable' },
    } });
  }
  return reply.code(502).send({ error: fromGrpcError(err, 'registry') });
}

/** The API's shape of a key: snake_case like the request, never the key itself. */
export function keyView(r: KeyRecord) {
  return {
    id: r.id, name: r.name, team: r.team ?? null, servers: r.servers ?? null, tools: r.tools ?? null,
    rpm: r.rpm ?? null, max_concurrency: r.maxConcurrency ?? null, expires_at: r.expiresAt ?? null,
    created_at: r.createdAt || null, created_by: r.createdBy ?? null, admin: r.admin, declared: r.declared ?? false, revoked: r.revokedAt !== undefined, revoked_at: r.revokedAt ?? null,
  };
}

/** A stored call in the API's shape (the same as this edge's own ring, plus where it came from). */
const activityOf = (c: CallRecord): Activity & { edge: string; key_id: string | null; team: string | null } => ({
  at: new Date(Number(c.atMs)).toISOString(), server: c.server, tool: c.tool, principal: c.principal, outcome: c.outcome as CallOutcome, ms: c.ms,
  edge: c.edge, key_id: c.keyId || null, team: c.team || null,
});

export function registerAdmin(app: FastifyInstance, deps: AdminDeps): void {
  const teams = new Map(deps.teams.map((t) => [t.name, t]));
  /**
   * Recent calls of the whole gateway from the store, with this edge's
   * unsent ones first (read your own calls at once); this edge's ring when
   * the store cannot answer.
   */
  const recentCalls = async (limit: number, sinceMs = 0): Promise<{ calls: Activity[]; source: 'store' | 'edge' }> => {
    if (deps.records) {
      try {
        const stored = (await deps.records.listCalls(limit, sinceMs)).calls;
        const unsent = deps.audit.shipper?.unsent().filter((c) => Number(c.atMs) >= sinceMs) ?? [];
        return { calls: [...unsent, ...stored].slice(0, limit).map(activityOf), source: 'store' };
      } catch { /* the edge's own ring below */ }
    }
    return { calls: deps.audit.recent(limit).filter((c) => Date.parse(c.at) >= sinceMs), source: 'edge' };
  };
  app.register(async (admin) => {
    // After the authenticate step has answered any refusal (preValidation, registered by the parent first).
    admin.addHook('preValidation', requireAdmin);

    admin.get('/admin/api/keys', async (req, reply) => {
      const team = adminTeamOf(req);
      try {
        return { keys: (await deps.keys.list()).filter((k) => team === undefined || k.team === team).map(keyView) };
      } catch (err) {
        return storeFailure(reply, err, 'keys cannot be listed');
      }
    });

    admin.post('/admin/api/keys', async (req, reply) => {
      const parsed = newKeySchema.safeParse(req.body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const field = issue.path.join('.') || 'body';
        return apiError(reply, 400, `invalid "${field}": ${issue.message}`, { field });
      }
      const b = parsed.data;
      // An admin of one team mints keys of that team only (a key of no team would reach every server).
      const ownTeam = adminTeamOf(req);
      if (ownTeam !== undefined) {
        if (b.team !== undefined && b.team !== ownTeam) return apiError(reply, 403, `invalid "team": an admin of team '${ownTeam}' creates keys of that team only`, { field: 'team' });
        b.team = ownTeam;
      }
      if (b.team !== undefined && !teams.has(b.team)) return apiError(reply, 400, `invalid "team": unknown team '${b.team}' (gateway.teams)`, { field: 'team' });
      if (b.expires_at && Date.parse(b.expires_at) <= Date.now()) return apiError(reply, 400, 'invalid "expires_at": it is in the past', { field: 'expires_at' });
      let created: Awaited<ReturnType<KeyStore['create']>>;
      try {
        created = await deps.keys.create({
          name: b.name, team: b.team, servers: b.servers, tools: b.tools, rpm: b.rpm, maxConcurrency: b.max_concurrency, expiresAt: b.expires_at, admin: b.admin ?? false,
          createdBy: req.principal.id,
        });
      } catch (err) {
        return storeFailure(reply, err, 'no key was created');
      }
      const { key, record } = created;
      deps.audit.admin(req.principal, 'key_created', { id: record.id, name: record.name, team: record.team, admin: record.admin });
      return reply.code(201).send({ ...keyView(record), key });
    });

    admin.delete('/admin/api/keys/:id', async (req, reply) => {
      const { id } = req.params as { id: string };
      if (deps.keys.isDeclared(id)) return apiError(reply, 409, `key '${id}' is declared in the config (gateway.keys); remove it there`);
      let revoked: boolean;
      try {
        const ownTeam = adminTeamOf(req);
        if (ownTeam !== undefined && !(await deps.keys.list()).some((k) => k.id === id && k.team === ownTeam)) return apiError(reply, 404, `unknown key '${id}'`);
        revoked = await deps.keys.revoke(id, req.principal.id);
      } catch (err) {
        return storeFailure(reply, err, 'the key was not revoked');
      }
      if (!revoked) return apiError(reply, 404, `unknown key '${id}'`);
      deps.audit.admin(req.principal, 'key_revoked', { id });
      deps.onKeyRevoked?.(`key:${id}`);
      return { id, revoked: true };
    });

    admin.get('/admin/api/teams', async () => ({
      teams: deps.teams.map((t) => ({ name: t.name, servers: t.servers ?? null, tools: t.tools ?? null, rpm: t.rpm ?? null, max_concurrency: t.maxConcurrency ?? null })),
    }));

    admin.get('/admin/api/servers', async (_req, reply) => {
      try {
        return { servers: (await deps.registry.listServers()).servers.map(serverStatusView) };
      } catch (err) {
        return reply.code(502).send({ error: fromGrpcError(err, 'registry') });
      }
    });

    admin.get('/admin/api/tools', async (req, reply) => {
      const { server } = req.query as { server?: string };
      try {
        const { pins, mode } = await deps.registry.listPins(server ?? '');
        const pinned = new Map(pins.map((p) => [`${p.server}\0${p.tool}`, pinView(p, deps.gateway.toolSeparator)]));
        // Tools the catalog serves, with their pin (none when pinning is off), then withheld ones.
        const view = deps.catalog.view();
        const tools: ReturnType<typeof pinView>[] = [];
        for (const [name, route] of view?.tools ?? []) {
          if (server && route.server !== server) continue;
          const p = pinned.get(`${route.server}\0${route.name}`);
          pinned.delete(`${route.server}\0${route.name}`);
          tools.push(p ?? { name, server: route.server, tool: route.name, description: '', fingerprint: null, pin: 'unpinned' });
        }
        tools.push(...pinned.values());
        return { mode, tools: tools.sort((a, b) => a.name.localeCompare(b.name)) };
      } catch (err) {
        return reply.code(502).send({ error: fromGrpcError(err, 'registry') });
      }
    });

    const decide = (reject: boolean) => async (req: FastifyRequest, reply: FastifyReply) => {
      const { name } = req.params as { name: string };
      const body = (req.body ?? {}) as { fingerprint?: unknown };
      if (body.fingerprint !== undefined && (typeof body.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(body.fingerprint))) {
        return apiError(reply, 400, 'invalid "fingerprint": a sha256 in hex', { field: 'fingerprint' });
      }
      try {
        // Held tools are not in the catalog: find the tool by its exposed name among the pins.
        const { pins } = await deps.registry.listPins('');
        const pin = pins.find((p) => exposedName(p.server, p.tool, deps.gateway.toolSeparator) === name);
        if (!pin) return apiError(reply, 404, `unknown tool '${name}'`);
        const r = await deps.registry.decidePin({ server: pin.server, tool: pin.tool, fingerprint: (body.fingerprint as string | undefined) ?? '', reject, principal: req.principal.id });
        if (r.outcome === DecidePinResponse_Outcome.OUTCOME_UNKNOWN_TOOL) return apiError(reply, 404, `unknown tool '${name}'`);
        if (r.outcome !== DecidePinResponse_Outcome.OUTCOME_DONE || !r.pin) return apiError(reply, 409, `no pending change${body.fingerprint ? ` with fingerprint ${body.fingerprint}` : ''} for '${name}'`);
        deps.audit.admin(req.principal, reject ? 'pin_rejected' : 'pin_approved', { server: pin.server, tool: pin.tool, fingerprint: pin.pendingFingerprint });
        return pinView(r.pin, deps.gateway.toolSeparator);
      } catch (err) {
        return reply.code(502).send({ error: fromGrpcError(err, 'registry') });
      }
    };
    admin.post('/admin/api/tools/:name/approve', decide(false));
    admin.post('/admin/api/tools/:name/reject', decide(true));

    admin.get('/admin/api/calls', async (req, reply) => {
      const limit = Number((req.query as { limit?: string }).limit ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return apiError(reply, 400, 'invalid "limit": an integer from 1 to 1000', { field: 'limit' });
      return recentCalls(limit);
    });

    admin.get('/admin/api/audit', async (req, reply) => {
      const limit = Number((req.query as { limit?: string }).limit ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return apiError(reply, 400, 'invalid "limit": an integer from 1 to 1000', { field: 'limit' });
      if (!deps.records) return { entries: [] };
      try {
        const { entries } = await deps.records.listAudit(limit);
        return { entries: entries.map((e) => ({ at: new Date(Number(e.atMs)).toISOString(), principal: e.principal, action: e.action, target: e.target, detail: parseJson(e.detailJson) ?? {} })) };
      } catch (err) {
        return storeFailure(reply, err, 'the audit log cannot be read');
      }
    });

    admin.get('/admin/api/usage', async (req, reply) => {
      const since = (req.query as { since?: string }).since ?? '';
      if (since && !/^\d{4}-\d{2}-\d{2}$/.test(since)) return apiError(reply, 400, 'invalid "since": a day as YYYY-MM-DD', { field: 'since' });
      if (!deps.records) return { usage: [] };
      try {
        const { counters } = await deps.records.listUsage(since);
        return { usage: counters.map((u) => ({ day: u.day, key_id: u.keyId || null, team: u.team || null, server: u.server, tool: u.tool, calls: Number(u.calls), errors: Number(u.errors), total_ms: u.totalMs })) };
      } catch (err) {
        return storeFailure(reply, err, 'usage cannot be read');
      }
    });

    admin.get('/admin/api/tools/:name/history', async (req, reply) => {
      const { name } = req.params as { name: string };
      if (!deps.records) return { decisions: [] };
      try {
        const { pins } = await deps.registry.listPins('');
        const pin = pins.find((p) => exposedName(p.server, p.tool, deps.gateway.toolSeparator) === name);
        if (!pin) return apiError(reply, 404, `unknown tool '${name}'`);
        const { decisions } = await deps.records.listPinHistory({ server: pin.server, tool: pin.tool, limit: 200 });
        return { name, decisions: decisions.map((d) => ({ at: new Date(Number(d.atMs)).toISOString(), fingerprint: d.fingerprint, decision: d.decision, principal: d.principal || null })) };
      } catch (err) {
        return storeFailure(reply, err, 'the pin history cannot be read');
      }
    });

    admin.get('/admin/api/config', async () => ({
      gateway: {
        tool_separator: deps.gateway.toolSeparator, pinning: deps.gateway.pinning, hold_new: deps.gateway.holdNew, log_arguments: deps.gateway.logArguments,
        teams: deps.gateway.teams, keys: deps.gateway.keys.map((k) => ({ ...k, sha256: REDACTED })),
        auth: { jwt: deps.gateway.jwt.map((j) => ({ ...j, jwksUrl: redactUrl(j.jwksUrl) })), resource: deps.gateway.resource ?? null }, tool_limits: deps.gateway.toolLimits, max_body_bytes: deps.gateway.maxBodyBytes,
      },
      edge: deps.settings,
    }));

    // Live figures per server over the last minute of the gateway's calls (this edge's when the store cannot answer).
    admin.get('/admin/api/stats', async () => {
      const since = Date.now() - 60_000;
      const byServer = new Map<string, { ms: number[]; errors: number }>();
      const { calls, source } = await recentCalls(10_000, since);
      for (const c of calls) {
        if (Date.parse(c.at) < since || !c.server || c.outcome === 'denied') continue;
        let s = byServer.get(c.server);
        if (!s) byServer.set(c.server, (s = { ms: [], errors: 0 }));
        s.ms.push(c.ms);
        if (c.outcome === 'error' || c.outcome === 'rate_limited') s.errors++;
      }
      return {
        windowSeconds: 60,
        source,
        servers: [...byServer].sort(([a], [b]) => a.localeCompare(b)).map(([name, s]) => {
          const sorted = s.ms.sort((x, y) => x - y);
          return { name, calls: sorted.length, callsPerSec: Math.round((sorted.length / 60) * 100) / 100, errorRatio: Math.round((s.errors / sorted.length) * 1000) / 1000, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99) };
        }),
      };
    });
  });
}
