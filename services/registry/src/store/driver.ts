// The seam between SqlStore and a database: parameterised queries written
// once in Postgres syntax ($1, $2…), transactions, and the migration lock.
export type Row = Record<string, unknown>;

export interface Queryable {
  /** One statement with parameters; the rows it returns (use RETURNING to count changes). */
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Driver extends Queryable {
  readonly dialect: 'postgres' | 'sqlite';
  /** Where the database is, without credentials. */
  readonly location: string;
  /** Runs fn in one transaction: all of it or none. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs fn in one transaction that holds the migration lock (pg advisory lock; SQLite: BEGIN IMMEDIATE). */
  withMigrationLock<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
