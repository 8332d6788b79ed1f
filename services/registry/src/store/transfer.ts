// Export and import as JSON lines: one {"table": …, "row": {…}} per line,
// tables in dependency order. Keys stay sha256 hashes and user credentials
// stay sealed: an export holds no usable secret.
import { TABLES, type Store, type TableName } from './store.js';

export const EXPORT_FORMAT = 'mcpgw-store/1';

export async function exportStore(store: Store, write: (line: string) => void | Promise<void>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  await write(JSON.stringify({ format: EXPORT_FORMAT, exportedAt: new Date().toISOString(), from: store.info.kind }));
  for (const table of TABLES) {
    counts[table] = 0;
    for await (const row of store.exportRows(table)) {
      await write(JSON.stringify({ table, row }));
      counts[table]++;
    }
  }
  return counts;
}

/** Rows whose natural key exists already are skipped (an import can be repeated); counts of inserted rows. */
export async function importStore(store: Store, lines: AsyncIterable<string> | Iterable<string>): Promise<{ inserted: Record<string, number>; skipped: number }> {
  const inserted: Record<string, number> = {};
  let skipped = 0;
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = raw.trim();
    if (!line) continue;
    let parsed: { format?: unknown; table?: unknown; row?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      throw new Error(`line ${n}: not JSON`);
    }
    if (parsed.format !== undefined) {
      if (parsed.format !== EXPORT_FORMAT) throw new Error(`line ${n}: unknown format '${String(parsed.format)}' (expected ${EXPORT_FORMAT})`);
      continue;
    }
    if (!TABLES.includes(parsed.table as TableName) || !parsed.row || typeof parsed.row !== 'object') throw new Error(`line ${n}: expected {"table": one of ${TABLES.join('|')}, "row": {…}}`);
    const table = parsed.table as TableName;
    if (await store.importRow(table, parsed.row as Record<string, unknown>)) inserted[table] = (inserted[table] ?? 0) + 1;
    else skipped++;
  }
  return { inserted, skipped };
}
