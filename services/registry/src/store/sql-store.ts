// The Store over either driver: one set of statements (Postgres syntax, the
// subset SQLite shares), rows mapped to records here and nowhere else.
import type { Driver, Queryable, Row } from './driver.js';
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL, migrationSql } from './migrations.js';
import {
  StoreUnavailableError, TABLES,
  type AuditRow, type CallRow, type KeyRow, type MigrationStatus, type PinDecisionRow, type PinRow, type Store, type StoreInfo,
  type TableName, type TeamRow, type UsageRow, type UserCredentialRecord,
} from './store.js';

const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const parse = <T>(v: unknown): T | undefined => (typeof v === 'string' ? (JSON.parse(v) as T) : undefined);
const num = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const str = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));

/** Absent stays absent: records carry no `undefined` members. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function keyOf(r: Row): KeyRow {
  return compact({
    sha256: String(r.sha256), id: String(r.id), name: String(r.name), team: str(r.team),
    servers: parse<string[]>(r.servers), tools: parse<string[]>(r.tools), rpm: num(r.rpm), maxConcurrency: num(r.max_concurrency),
    expiresAtMs: num(r.expires_at_ms), admin: Number(r.admin) === 1, createdBy: str(r.created_by), createdAtMs: Number(r.created_at_ms),
    revokedAtMs: num(r.revoked_at_ms), revokedBy: str(r.revoked_by),
  });
}

function pinOf(r: Row): PinRow {
  const pendingFp = str(r.pending_fingerprint);
  return compact({
    server: String(r.server), tool: String(r.tool), fingerprint: str(r.fingerprint), definition: parse(r.definition), approvedAtMs: num(r.approved_at_ms),
    scheme: Number(r.fingerprint_scheme) === 2 ? 2 as const : undefined,
    ...(pendingFp ? { pending: { fingerprint: pendingFp, definition: parse(r.pending_definition), seenAtMs: Number(r.pending_seen_ms ?? 0), rejected: Number(r.pending_rejected) === 1 } } : {}),
  });
}

const PIN_COLUMNS = 'server, tool, fingerprint, definition, approved_at_ms, pending_fingerprint, pending_definition, pending_seen_ms, pending_rejected, fingerprint_scheme';
const pinParams = (p: PinRow) => [p.server, p.tool, p.fingerprint ?? null, json(p.definition), p.approvedAtMs ?? null,
  p.pending?.fingerprint ?? null, json(p.pending?.definition), p.pending?.seenAtMs ?? null, p.pending?.rejected ? 1 : 0, p.scheme ?? null];

/** Columns of each exported table (the auto ids are left out: import numbers rows anew). */
const EXPORT_COLUMNS: Record<TableName, string[]> = {
  teams: ['name', 'servers', 'tools', 'rpm', 'max_concurrency', 'created_by', 'created_at_ms'],
  keys: ['sha256', 'id', 'name', 'team', 'servers', 'tools', 'rpm', 'max_concurrency', 'expires_at_ms', 'admin', 'created_by', 'created_at_ms', 'revoked_at_ms', 'revoked_by'],
  pins: PIN_COLUMNS.split(', '),
  pin_decisions: ['server', 'tool', 'fingerprint', 'decision', 'principal', 'at_ms'],
  audit_log: ['at_ms', 'principal', 'action', 'target', 'detail'],
  call_log: ['at_ms', 'principal', 'key_id', 'team', 'server', 'tool', 'outcome', 'ms', 'edge'],
  usage_counters: ['day', 'key_id', 'team', 'server', 'tool', 'calls', 'errors', 'total_ms'],
  user_credentials: ['principal', 'server', 'ciphertext', 'expires_at_ms', 'updated_at_ms'],
  store_meta: ['name', 'value', 'at_ms'],
};
/** Tables with natural keys: an import skips rows already there. Log tables have none and are appended. */
const NATURAL_KEY: Partial<Record<TableName, string>> = {
  teams: '(name)', keys: '(sha256)', pins: '(server, tool)', usage_counters: '(day, key_id, team, server, tool)', user_credentials: '(principal, server)', store_meta: '(name)',
};
const EXPORT_ORDER: Record<TableName, string> = {
  teams: 'name', keys: 'created_at_ms, id', pins: 'server, tool', pin_decisions: 'id', audit_log: 'id', call_log: 'id',
  usage_counters: 'day, key_id, team, server, tool', user_credentials: 'principal, server', store_meta: 'name',
};

function insertAudit(q: Queryable, a: AuditRow): Promise<Row[]> {
  return q.query('INSERT INTO audit_log (at_ms, principal, action, target, detail) VALUES ($1, $2, $3, $4, $5)', [a.atMs, a.principal, a.action, a.target, JSON.stringify(a.detail)]);
}

export class SqlStore implements Store {
  readonly info: StoreInfo;

  constructor(private readonly db: Driver) {
    this.info = { kind: db.dialect, location: db.location };
  }

  async migrate(): Promise<MigrationStatus[]> {
    await this.db.withMigrationLock(async (q) => {
      // Inside the lock: two first starts would otherwise race on creating it.
      await q.exec(SCHEMA_MIGRATIONS_DDL);
      const applied = new Set((await q.query('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await q.exec(migrationSql(m, this.db.dialect));
        await q.query('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
      }
    });
    return this.status();
  }

  async status(): Promise<MigrationStatus[]> {
    let rows: Row[] = [];
    try {
      rows = await this.db.query('SELECT version, name, applied_at_ms FROM schema_migrations ORDER BY version');
    } catch (err) {
      // A database never migrated has no schema_migrations yet: everything is pending.
      if (err instanceof StoreUnavailableError) throw err;
    }
    const applied = new Map(rows.map((r) => [Number(r.version), r]));
    const known = MIGRATIONS.map((m) => ({ version: m.version, name: m.name, appliedAtMs: num(applied.get(m.version)?.applied_at_ms) }));
    // A newer registry migrated this database: say so instead of hiding it.
    for (const [v, r] of applied) if (!MIGRATIONS.some((m) => m.version === v)) known.push({ version: v, name: `${String(r.name)} (unknown to this version)`, appliedAtMs: num(r.applied_at_ms) });
    return known;
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1 AS ok');
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // Keys

  async getKey(sha256: string): Promise<KeyRow | undefined> {
    const [r] = await this.db.query('SELECT * FROM keys WHERE sha256 = $1', [sha256]);
    return r ? keyOf(r) : undefined;
  }

  async insertKey(k: KeyRow, audit?: AuditRow): Promise<boolean> {
    return this.db.tx(async (q) => {
      const rows = await q.query(
        `INSERT INTO keys (sha256, id, name, team, servers, tools, rpm, max_concurrency, expires_at_ms, admin, created_by, created_at_ms, revoked_at_ms, revoked_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING RETURNING id`,
        [k.sha256, k.id, k.name, k.team ?? null, json(k.servers), json(k.tools), k.rpm ?? null, k.maxConcurrency ?? null, k.expiresAtMs ?? null,
          k.admin ? 1 : 0, k.createdBy ?? null, k.createdAtMs, k.revokedAtMs ?? null, k.revokedBy ?? null],
      );
      if (rows.length === 1 && audit) await insertAudit(q, audit);
      return rows.length === 1;
    });
  }

  async revokeKey(id: string, by: string, atMs: number, audit?: AuditRow): Promise<string | undefined> {
    return this.db.tx(async (q) => {
      const [r] = await q.query('UPDATE keys SET revoked_at_ms = $2, revoked_by = $3 WHERE id = $1 AND revoked_at_ms IS NULL RETURNING sha256', [id, atMs, by]);
      if (r && audit) await insertAudit(q, audit);
      return r ? String(r.sha256) : undefined;
    });
  }

  async listKeys(): Promise<KeyRow[]> {
    return (await this.db.query('SELECT * FROM keys ORDER BY id')).map(keyOf);
  }

  // Teams

  async putTeam(t: TeamRow): Promise<void> {
    await this.db.query(
      `INSERT INTO teams (name, servers, tools, rpm, max_concurrency, created_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (name) DO UPDATE SET servers = excluded.servers, tools = excluded.tools, rpm = excluded.rpm, max_concurrency = excluded.max_concurrency`,
      [t.name, json(t.servers), json(t.tools), t.rpm ?? null, t.maxConcurrency ?? null, t.createdBy ?? null, t.createdAtMs],
    );
  }

  async deleteTeam(name: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM teams WHERE name = $1 RETURNING name', [name])).length > 0;
  }

  async listTeams(): Promise<TeamRow[]> {
    return (await this.db.query('SELECT * FROM teams ORDER BY name')).map((r) => compact({
      name: String(r.name), servers: parse<string[]>(r.servers), tools: parse<string[]>(r.tools), rpm: num(r.rpm), maxConcurrency: num(r.max_concurrency),
      createdBy: str(r.created_by), createdAtMs: Number(r.created_at_ms),
    }));
  }

  // Pins

  async loadPins(server: string): Promise<PinRow[]> {
    return (await this.db.query(`SELECT ${PIN_COLUMNS} FROM pins WHERE server = $1 ORDER BY tool`, [server])).map(pinOf);
  }

  async pinnedServers(): Promise<string[]> {
    return (await this.db.query('SELECT DISTINCT server FROM pins ORDER BY server')).map((r) => String(r.server));
  }

  async savePin(p: PinRow, decision?: PinDecisionRow, audit?: AuditRow): Promise<void> {
    const write = async (q: Queryable) => {
      await q.query(
        `INSERT INTO pins (${PIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (server, tool) DO UPDATE SET fingerprint = excluded.fingerprint, definition = excluded.definition, approved_at_ms = excluded.approved_at_ms,
           pending_fingerprint = excluded.pending_fingerprint, pending_definition = excluded.pending_definition, pending_seen_ms = excluded.pending_seen_ms,
           pending_rejected = excluded.pending_rejected, fingerprint_scheme = excluded.fingerprint_scheme`,
        pinParams(p),
      );
      if (decision) {
        await q.query('INSERT INTO pin_decisions (server, tool, fingerprint, decision, principal, at_ms) VALUES ($1, $2, $3, $4, $5, $6)',
          [decision.server, decision.tool, decision.fingerprint, decision.decision, decision.principal, decision.atMs]);
      }
      if (audit) await insertAudit(q, audit);
    };
    // The pin, its history row and its audit row together or not at all.
    if (decision || audit) await this.db.tx(write);
    else await write(this.db);
  }

  async insertPinIfAbsent(p: PinRow): Promise<boolean> {
    return (await this.db.query(`INSERT INTO pins (${PIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING tool`, pinParams(p))).length > 0;
  }

  async listPinDecisions(server?: string, tool?: string, limit = 1000): Promise<PinDecisionRow[]> {
    const rows = await this.db.query(
      `SELECT server, tool, fingerprint, decision, principal, at_ms FROM pin_decisions
       WHERE ($1 = '' OR server = $1) AND ($2 = '' OR tool = $2) ORDER BY id DESC LIMIT $3`,
      [server ?? '', tool ?? '', limit],
    );
    return rows.map((r) => ({ server: String(r.server), tool: String(r.tool), fingerprint: String(r.fingerprint), decision: String(r.decision) as PinDecisionRow['decision'], principal: String(r.principal), atMs: Number(r.at_ms) }));
  }

  // Audit, calls, usage

  async appendAudit(a: AuditRow): Promise<void> {
    await insertAudit(this.db, a);
  }

  async listAudit(limit: number): Promise<AuditRow[]> {
    return (await this.db.query('SELECT at_ms, principal, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1', [limit]))
      .map((r) => ({ atMs: Number(r.at_ms), principal: String(r.principal), action: String(r.action), target: String(r.target), detail: parse<Record<string, unknown>>(r.detail) ?? {} }));
  }

  async appendCalls(rows: CallRow[], keep: number): Promise<void> {
    if (rows.length === 0) return;
    await this.db.tx(async (q) => {
      for (const c of rows) {
        await q.query('INSERT INTO call_log (at_ms, principal, key_id, team, server, tool, outcome, ms, edge) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [c.atMs, c.principal, c.keyId ?? null, c.team ?? null, c.server, c.tool, c.outcome, c.ms, c.edge ?? null]);
      }
      // Bounded: everything older than the newest `keep` rows goes.
      await q.query('DELETE FROM call_log WHERE id <= (SELECT id FROM call_log ORDER BY id DESC LIMIT 1 OFFSET $1)', [keep]);
    });
  }

  async listCalls(limit: number, sinceMs = 0): Promise<CallRow[]> {
    const rows = await this.db.query('SELECT * FROM call_log WHERE at_ms >= $1 ORDER BY id DESC LIMIT $2', [sinceMs, limit]);
    return rows.map((r) => ({
      atMs: Number(r.at_ms), principal: String(r.principal), keyId: str(r.key_id), team: str(r.team), server: String(r.server), tool: String(r.tool),
      outcome: String(r.outcome), ms: Number(r.ms), edge: str(r.edge),
    }));
  }

  async addUsage(rows: UsageRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.tx(async (q) => {
      for (const u of rows) {
        await q.query(
          `INSERT INTO usage_counters (day, key_id, team, server, tool, calls, errors, total_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (day, key_id, team, server, tool) DO UPDATE SET calls = usage_counters.calls + excluded.calls,
             errors = usage_counters.errors + excluded.errors, total_ms = usage_counters.total_ms + excluded.total_ms`,
          [u.day, u.keyId, u.team, u.server, u.tool, u.calls, u.errors, u.totalMs],
        );
      }
    });
  }

  async listUsage(sinceDay = ''): Promise<UsageRow[]> {
    const rows = await this.db.query('SELECT * FROM usage_counters WHERE day >= $1 ORDER BY day, key_id, team, server, tool', [sinceDay]);
    return rows.map((r) => ({
      day: String(r.day), keyId: String(r.key_id), team: String(r.team), server: String(r.server), tool: String(r.tool),
      calls: Number(r.calls), errors: Number(r.errors), totalMs: Number(r.total_ms),
    }));
  }

  // Per-user upstream credentials

  async getUserCredential(principal: string, server: string): Promise<UserCredentialRecord | undefined> {
    const [r] = await this.db.query('SELECT * FROM user_credentials WHERE principal = $1 AND server = $2', [principal, server]);
    return r ? { principal: String(r.principal), server: String(r.server), ciphertext: Buffer.from(r.ciphertext as Uint8Array), expiresAtMs: num(r.expires_at_ms) ?? null, updatedAtMs: Number(r.updated_at_ms) } : undefined;
  }

  async putUserCredential(rec: UserCredentialRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO user_credentials (principal, server, ciphertext, expires_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (principal, server) DO UPDATE SET ciphertext = excluded.ciphertext, expires_at_ms = excluded.expires_at_ms, updated_at_ms = excluded.updated_at_ms`,
      [rec.principal, rec.server, rec.ciphertext, rec.expiresAtMs, rec.updatedAtMs],
    );
  }

  async deleteUserCredential(principal: string, server: string): Promise<boolean> {
    return (await this.db.query('DELETE FROM user_credentials WHERE principal = $1 AND server = $2 RETURNING server', [principal, server])).length > 0;
  }

  async deleteUserCredentials(principal: string): Promise<number> {
    return (await this.db.query('DELETE FROM user_credentials WHERE principal = $1 RETURNING server', [principal])).length;
  }

  async listUserCredentials(principal: string): Promise<Array<Omit<UserCredentialRecord, 'ciphertext'>>> {
    return (await this.db.query('SELECT principal, server, expires_at_ms, updated_at_ms FROM user_credentials WHERE principal = $1 ORDER BY server', [principal]))
      .map((r) => ({ principal: String(r.principal), server: String(r.server), expiresAtMs: num(r.expires_at_ms) ?? null, updatedAtMs: Number(r.updated_at_ms) }));
  }

  // Markers, export and import

  async markOnce(name: string, atMs: number): Promise<boolean> {
    return (await this.db.query('INSERT INTO store_meta (name, value, at_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING name', [name, 'done', atMs])).length > 0;
  }

  async marker(name: string): Promise<number | undefined> {
    const [r] = await this.db.query('SELECT at_ms FROM store_meta WHERE name = $1', [name]);
    return r ? Number(r.at_ms) : undefined;
  }

  async *exportRows(table: TableName): AsyncIterable<Record<string, unknown>> {
    if (!TABLES.includes(table)) throw new Error(`unknown table '${table}'`);
    const cols = EXPORT_COLUMNS[table];
    // Pages, so a long call log never sits in memory at once.
    const page = 1000;
    for (let offset = 0; ; offset += page) {
      const rows = await this.db.query(`SELECT ${cols.join(', ')} FROM ${table} ORDER BY ${EXPORT_ORDER[table]} LIMIT $1 OFFSET $2`, [page, offset]);
      for (const r of rows) {
        const out: Record<string, unknown> = {};
        for (const c of cols) out[c] = Buffer.isBuffer(r[c]) ? { base64: (r[c] as Buffer).toString('base64') } : (r[c] ?? null);
        yield out;
      }
      if (rows.length < page) return;
    }
  }

  async importRow(table: TableName, row: Record<string, unknown>): Promise<boolean> {
    if (!TABLES.includes(table)) throw new Error(`unknown table '${table}'`);
    const cols = EXPORT_COLUMNS[table];
    const values = cols.map((c) => {
      const v = row[c];
      if (v && typeof v === 'object' && 'base64' in v) return Buffer.from(String((v as { base64: unknown }).base64), 'base64');
      return v ?? null;
    });
    const conflict = NATURAL_KEY[table] ? `ON CONFLICT ${NATURAL_KEY[table]} DO NOTHING` : '';
    const sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) ${conflict} RETURNING 1 AS inserted`;
    return (await this.db.query(sql, values)).length > 0;
  }
}
