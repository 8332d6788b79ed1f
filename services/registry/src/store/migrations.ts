// Versioned migrations, one set for both databases. Written in the SQL that
// Postgres and SQLite share; the two spots where they differ are
// placeholders: {{id}} (an auto-increment key) and {{bytes}} (binary).
// Append only: an applied migration is never edited, a change is a new one.
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'system of record: keys, teams, pins, history, audit, calls, usage, user credentials',
    sql: `
CREATE TABLE keys (
  sha256 TEXT PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  team TEXT,
  servers TEXT,
  tools TEXT,
  rpm INTEGER,
  max_concurrency INTEGER,
  expires_at_ms BIGINT,
  admin INTEGER NOT NULL DEFAULT 0,
  created_by TEXT,
  created_at_ms BIGINT NOT NULL,
  revoked_at_ms BIGINT,
  revoked_by TEXT
);
CREATE TABLE teams (
  name TEXT PRIMARY KEY,
  servers TEXT,
  tools TEXT,
  rpm INTEGER,
  max_concurrency INTEGER,
  created_by TEXT,
  created_at_ms BIGINT NOT NULL
);
CREATE TABLE pins (
  server TEXT NOT NULL,
  tool TEXT NOT NULL,
  fingerprint TEXT,
  definition TEXT,
  approved_at_ms BIGINT,
  pending_fingerprint TEXT,
  pending_definition TEXT,
  pending_seen_ms BIGINT,
  pending_rejected INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (server, tool)
);
CREATE TABLE pin_decisions (
  id {{id}},
  server TEXT NOT NULL,
  tool TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  decision TEXT NOT NULL,
  principal TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX pin_decisions_tool ON pin_decisions (server, tool, at_ms);
CREATE TABLE audit_log (
  id {{id}},
  at_ms BIGINT NOT NULL,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE TABLE call_log (
  id {{id}},
  at_ms BIGINT NOT NULL,
  principal TEXT NOT NULL,
  key_id TEXT,
  team TEXT,
  server TEXT NOT NULL,
  tool TEXT NOT NULL,
  outcome TEXT NOT NULL,
  ms DOUBLE PRECISION NOT NULL,
  edge TEXT
);
CREATE INDEX call_log_at ON call_log (at_ms);
CREATE TABLE usage_counters (
  day TEXT NOT NULL,
  key_id TEXT NOT NULL,
  team TEXT NOT NULL,
  server TEXT NOT NULL,
  tool TEXT NOT NULL,
  calls BIGINT NOT NULL DEFAULT 0,
  errors BIGINT NOT NULL DEFAULT 0,
  total_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  PRIMARY KEY (day, key_id, team, server, tool)
);
CREATE TABLE user_credentials (
  principal TEXT NOT NULL,
  server TEXT NOT NULL,
  ciphertext {{bytes}} NOT NULL,
  expires_at_ms BIGINT,
  updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (principal, server)
);
CREATE TABLE store_meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  at_ms BIGINT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'pins: the fingerprint scheme (2: the whole tool definition; NULL: the five-field fingerprint of earlier versions)',
    sql: `ALTER TABLE pins ADD COLUMN fingerprint_scheme INTEGER;`,
  },
];

/** The migration's SQL for one database. */
export function migrationSql(m: Migration, dialect: 'postgres' | 'sqlite'): string {
  const sub = dialect === 'postgres'
    ? { id: 'BIGSERIAL PRIMARY KEY', bytes: 'BYTEA' }
    : { id: 'INTEGER PRIMARY KEY AUTOINCREMENT', bytes: 'BLOB' };
  return m.sql.replaceAll('{{id}}', sub.id).replaceAll('{{bytes}}', sub.bytes);
}

/** Created outside the versioned set: it records the set. */
export const SCHEMA_MIGRATIONS_DDL = 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)';
