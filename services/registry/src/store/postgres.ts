// Postgres through a small `pg` pool. Connection failures and timeouts become
// StoreUnavailableError (callers fail closed); the pool reconnects by itself
// on the next query, so a database that comes back needs no operator action.
import pg from 'pg';
import type { Driver, Queryable, Row } from './driver.js';
import { StoreUnavailableError } from './store.js';

/** pg_advisory_xact_lock key for migrations: any fixed 64-bit number, "mcpgw" in ASCII. */
const MIGRATION_LOCK = 0x6d63706777;
const INT8_OID = 20;

/** SQLSTATE classes that mean "the database is not there right now", not "your statement is wrong". */
const UNAVAILABLE_STATES = /^(08|53|57P|58)/;

function translate(err: unknown): Error {
  const e = err as Error & { code?: string; severity?: string };
  // A DatabaseError carries a severity; anything else (ECONNREFUSED, timeouts, a closed pool) is the connection.
  if (!e.severity || (e.code && UNAVAILABLE_STATES.test(e.code))) return new StoreUnavailableError(`store unavailable: ${e.message}`, { cause: err });
  return e;
}

export interface PostgresOptions {
  /** Bounds every statement, so a hung database fails a request instead of holding it. */
  queryTimeoutMs?: number;
  connectTimeoutMs?: number;
  max?: number;
}

/** The DSN without its password, for logs and `db status`. */
export function redactDsn(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable)';
  }
}

export class PostgresDriver implements Driver {
  readonly dialect = 'postgres' as const;
  readonly location: string;
  private readonly pool: pg.Pool;

  constructor(url: string, opts: PostgresOptions = {}) {
    this.location = redactDsn(url);
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 5,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 3_000,
      query_timeout: opts.queryTimeoutMs ?? 5_000,
      idleTimeoutMillis: 30_000,
      // BIGINT columns hold ms timestamps and counters: numbers, not strings.
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    // An idle client whose server went away emits here; without a listener it would crash the process.
    this.pool.on('error', () => {});
  }

  async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Row[];
    } catch (err) {
      throw translate(err);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction(fn);
  }

  async withMigrationLock<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction(async (q) => {
      // Held until commit: a second registry waits here, then sees the migrations applied.
      await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      return fn(q);
    }, 120_000);
  }

  private async inTransaction<T>(fn: (q: Queryable) => Promise<T>, timeoutMs?: number): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw translate(err);
    }
    const run = async (sql: string, params: unknown[] = []) => {
      try {
        return (await client.query({ text: sql, values: params, ...(timeoutMs ? { query_timeout: timeoutMs } : {}) } as pg.QueryConfig)).rows as Row[];
      } catch (err) {
        throw translate(err);
      }
    };
    const q: Queryable = { query: run, exec: async (sql) => { await run(sql); } };
    let broken = false;
    // A checked-out client is not covered by the pool's listener: a server that ends the connection
    // (Postgres stopped, or the registry's own shutdown) would otherwise crash the process.
    const onError = () => { broken = true; };
    client.on('error', onError);
    try {
      await run('BEGIN');
      const result = await fn(q);
      await run('COMMIT');
      return result;
    } catch (err) {
      await run('ROLLBACK').catch(() => { broken = true; });
      throw err;
    } finally {
      // A client whose connection failed mid-transaction is discarded, not reused.
      client.off('error', onError);
      client.release(broken ? true : undefined);
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => {});
  }
}
