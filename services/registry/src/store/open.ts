// Picks the store from the environment: DATABASE_URL=postgres://… selects
// Postgres; otherwise the embedded SQLite file in MCPGW_DATA_DIR (default
// ./data, ':memory:' for throwaway tests). Used by the registry and by
// `mcpgw db …`, so both always name the same store.
import { resolve } from 'node:path';
import { PostgresDriver } from './postgres.js';
import { SqliteDriver } from './sqlite.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './store.js';

export const DEFAULT_DATA_DIR = 'data';

export interface StoreTarget {
  kind: 'postgres' | 'sqlite';
  /** A postgres:// DSN, or the embedded store's directory (or ':memory:'). */
  where: string;
}

export function storeTarget(env: NodeJS.ProcessEnv): StoreTarget {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//i.test(url)) throw new Error('DATABASE_URL must be a postgres:// or postgresql:// URL (unset it for the embedded store in MCPGW_DATA_DIR)');
    return { kind: 'postgres', where: url };
  }
  const dir = env.MCPGW_DATA_DIR?.trim() || DEFAULT_DATA_DIR;
  return { kind: 'sqlite', where: dir === ':memory:' ? dir : resolve(dir) };
}

/** Opens (does not migrate) the store the target names. */
export async function openStore(target: StoreTarget): Promise<Store> {
  const driver = target.kind === 'postgres' ? new PostgresDriver(target.where) : await SqliteDriver.open(target.where);
  return new SqlStore(driver);
}
