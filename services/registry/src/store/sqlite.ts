// The embedded store: one SQLite file in a directory (node:sqlite, built into
// Node 22: nothing to install, no server). Statements are written in
// Postgres syntax; $n becomes ?n. Every statement runs through one queue, so
// a transaction's awaits never interleave with other callers' statements.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync as DatabaseSyncType, SQLInputValue } from 'node:sqlite';
import type { Driver, Queryable, Row } from './driver.js';
import { StoreUnavailableError } from './store.js';

export const SQLITE_FILE = 'mcpgw.db';

/** node:sqlite prints an ExperimentalWarning when loaded: that one is dropped, every other warning passes. */
async function loadSqlite(): Promise<typeof import('node:sqlite')> {
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (String(text).includes('SQLite is an experimental feature')) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await import('node:sqlite');
  } finally {
    process.emitWarning = original;
  }
}

const toSqlite = (sql: string) => sql.replace(/\$(\d+)/g, '?$1');

function fromSqlite(row: Row): Row {
  for (const k of Object.keys(row)) if (row[k] instanceof Uint8Array) row[k] = Buffer.from(row[k]);
  return { ...row };
}

function wrap(err: unknown): Error {
  const e = err as Error & { errcode?: number };
  // SQLITE_BUSY (5), SQLITE_LOCKED (6), SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14): the file, not the statement.
  if (e.errcode !== undefined && [5, 6, 10, 13, 14].includes(e.errcode & 0xff)) return new StoreUnavailableError(`store unavailable: ${e.message}`, { cause: err });
  return e;
}

export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly db: DatabaseSyncType, readonly location: string) {}

  /** `dir` ':memory:' keeps everything in memory (tests); otherwise the directory is created (0700). */
  static async open(dir: string): Promise<SqliteDriver> {
    const { DatabaseSync } = await loadSqlite();
    let path = ':memory:';
    if (dir !== ':memory:') {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      path = join(dir, SQLITE_FILE);
    }
    const db = new DatabaseSync(path);
    db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;');
    if (path !== ':memory:') chmodSync(path, 0o600);
    return new SqliteDriver(db, path);
  }

  private run(sql: string, params: unknown[]): Row[] {
    if (this.closed) throw new StoreUnavailableError('store closed');
    try {
      const values = params.map((p) => (p === undefined ? null : p)) as SQLInputValue[];
      return (this.db.prepare(toSqlite(sql)).all(...values) as Row[]).map(fromSqlite);
    } catch (err) {
      throw wrap(err);
    }
  }

  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => {});
    return next;
  }

  query(sql: string, params: unknown[] = []): Promise<Row[]> {
    return this.serial(() => this.run(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.serial(() => { this.db.exec(sql); });
  }

  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction('BEGIN', fn);
  }

  withMigrationLock<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    // IMMEDIATE takes the file's write lock at once: another process migrating waits (busy_timeout).
    return this.inTransaction('BEGIN IMMEDIATE', fn);
  }

  private inTransaction<T>(begin: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const q: Queryable = {
        query: async (sql, params = []) => this.run(sql, params),
        exec: async (sql) => { try { this.db.exec(sql); } catch (err) { throw wrap(err); } },
      };
      await q.exec(begin);
      try {
        const result = await fn(q);
        await q.exec('COMMIT');
        return result;
      } catch (err) {
        try { this.db.exec('ROLLBACK'); } catch { /* no transaction left to roll back */ }
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
