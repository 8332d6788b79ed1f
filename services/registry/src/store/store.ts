// The system of record: what people decided (admin-created keys, teams, pin
// decisions, per-user upstream credentials) and what must outlive a Redis
// flush (audit log, call log, usage counters). One interface; SqlStore
// implements it over Postgres or the embedded SQLite file (drivers in
// postgres.ts and sqlite.ts). Nothing outside store/ touches SQL.

/** A virtual key as stored: the sha256 of the key, never the key. Times in ms since the epoch. */
export interface KeyRow {
  sha256: string;
  id: string;
  name: string;
  team?: string;
  servers?: string[];
  tools?: string[];
  rpm?: number;
  maxConcurrency?: number;
  expiresAtMs?: number;
  admin: boolean;
  createdBy?: string;
  createdAtMs: number;
  revokedAtMs?: number;
  revokedBy?: string;
}

export interface TeamRow {
  name: string;
  servers?: string[];
  tools?: string[];
  rpm?: number;
  maxConcurrency?: number;
  createdBy?: string;
  createdAtMs: number;
}

/** One tool's pin: the approved fingerprint and definition, and a pending change if any. */
export interface PinRow {
  server: string;
  tool: string;
  fingerprint?: string;
  definition?: unknown;
  approvedAtMs?: number;
  pending?: { fingerprint: string; definition: unknown; seenAtMs: number; rejected: boolean };
  /** 2: `fingerprint` covers the whole definition; absent: the five-field fingerprint of earlier versions. */
  scheme?: 2;
}

export type PinDecisionKind = 'first_seen' | 'changed' | 'approved' | 'rejected' | 'reverted';

/** History: every sighting and decision of a tool's fingerprint. */
export interface PinDecisionRow {
  server: string;
  tool: string;
  fingerprint: string;
  decision: PinDecisionKind;
  /** Who decided (principal id); empty for what the registry recorded by itself. */
  principal: string;
  atMs: number;
}

/** An admin action (key created, revoked, pin approved…): principal and target, never a secret. */
export interface AuditRow {
  atMs: number;
  principal: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
}

/** One call or denial an edge answered. */
export interface CallRow {
  atMs: number;
  principal: string;
  keyId?: string;
  team?: string;
  server: string;
  tool: string;
  outcome: string;
  ms: number;
  edge?: string;
}

/** Counters per day, key, team, server and tool. */
export interface UsageRow {
  day: string;
  keyId: string;
  team: string;
  server: string;
  tool: string;
  calls: number;
  errors: number;
  totalMs: number;
}

/** Per-user upstream credentials (issue 20): sealed by the caller, the store never sees plaintext. */
export interface UserCredentialRecord { principal: string; server: string; ciphertext: Buffer; expiresAtMs: number | null; updatedAtMs: number }

export interface MigrationStatus {
  version: number;
  name: string;
  appliedAtMs?: number;
}

export interface StoreInfo {
  kind: 'postgres' | 'sqlite';
  /** Where it is, credentials removed. */
  location: string;
}

/** The store cannot be reached (or answered with an error): callers fail closed. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

export interface Store {
  readonly info: StoreInfo;
  /** Applies pending migrations under a lock (two processes starting together do not race). */
  migrate(): Promise<MigrationStatus[]>;
  /** Every known migration, with when it was applied (absent: pending). */
  status(): Promise<MigrationStatus[]>;
  /** A cheap round trip: readiness and reconnect checks. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getKey(sha256: string): Promise<KeyRow | undefined>;
  /** Inserts a key (and its audit row, in the same transaction); false when its sha256 or id exists already (nothing is overwritten). */
  insertKey(row: KeyRow, audit?: AuditRow): Promise<boolean>;
  /** Marks a key revoked (with its audit row, in one transaction); its sha256 when it was active, else undefined. */
  revokeKey(id: string, by: string, atMs: number, audit?: AuditRow): Promise<string | undefined>;
  listKeys(): Promise<KeyRow[]>;

  putTeam(row: TeamRow): Promise<void>;
  deleteTeam(name: string): Promise<boolean>;
  listTeams(): Promise<TeamRow[]>;

  loadPins(server: string): Promise<PinRow[]>;
  /** Every pinned server name (for republishing and export). */
  pinnedServers(): Promise<string[]>;
  /** Writes a pin and, in the same transaction, its history row and audit row when given. */
  savePin(row: PinRow, decision?: PinDecisionRow, audit?: AuditRow): Promise<void>;
  /** Inserts a pin only if the tool has none (upgrade copy): false when one exists. */
  insertPinIfAbsent(row: PinRow): Promise<boolean>;
  listPinDecisions(server?: string, tool?: string, limit?: number): Promise<PinDecisionRow[]>;

  appendAudit(row: AuditRow): Promise<void>;
  /** Newest first. */
  listAudit(limit: number): Promise<AuditRow[]>;

  /** Appends calls and prunes the log to its newest `keep` rows. */
  appendCalls(rows: CallRow[], keep: number): Promise<void>;
  /** Newest first. */
  listCalls(limit: number, sinceMs?: number): Promise<CallRow[]>;
  addUsage(rows: UsageRow[]): Promise<void>;
  listUsage(sinceDay?: string): Promise<UsageRow[]>;

  getUserCredential(principal: string, server: string): Promise<UserCredentialRecord | undefined>;
  putUserCredential(rec: UserCredentialRecord): Promise<void>;
  deleteUserCredential(principal: string, server: string): Promise<boolean>;
  deleteUserCredentials(principal: string): Promise<number>;
  listUserCredentials(principal: string): Promise<Array<Omit<UserCredentialRecord, 'ciphertext'>>>;

  /** A one-time marker (e.g. "Redis records copied in"): true when it was set by this call. */
  markOnce(name: string, atMs: number): Promise<boolean>;
  /** When a marker was set, if it was. */
  marker(name: string): Promise<number | undefined>;
  /** Raw rows of one table, for export; and their insertion, for import (conflicts are skipped). */
  exportRows(table: TableName): AsyncIterable<Record<string, unknown>>;
  importRow(table: TableName, row: Record<string, unknown>): Promise<boolean>;
}

/** Tables that export/import carry, in dependency order. */
export const TABLES = ['teams', 'keys', 'pins', 'pin_decisions', 'audit_log', 'call_log', 'usage_counters', 'user_credentials', 'store_meta'] as const;
export type TableName = (typeof TABLES)[number];
