// `mcpgw db migrate|status|export|import`: works directly on the store that
// DATABASE_URL (Postgres) or MCPGW_DATA_DIR (the embedded store's directory)
// names, the same rule the registry follows, with no gateway running.
// Exit codes as the rest of the CLI: 0 ok, 1 the store said no, 2 usage.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Io } from './index.js';

export const DB_USAGE = `Usage: mcpgw db <command> [options]

Commands (on the store itself; no gateway needs to run):
  db status                 the store, and each migration with when it was applied
  db migrate                apply pending migrations (under the same lock the registry takes)
  db export [--out FILE]    every table as JSON lines (default: standard output);
                            keys stay sha256 hashes, user credentials stay sealed
  db import FILE            JSON lines from db export ('-': standard input) into the
                            store, migrating it first; rows already there are skipped

Options:
  --database-url URL  Postgres (default $DATABASE_URL)
  --data-dir DIR      the embedded store's directory when no Postgres is named
                      (default $MCPGW_DATA_DIR or ./data)
  --json              JSON output for scripts
`;

export async function runDb(argv: string[], io: Io): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (err) {
    io.err(`mcpgw: ${(err as Error).message}\n\n${DB_USAGE}`);
    return 2;
  }
  const [command, ...args] = positionals;
  if (values.help || !command) {
    io.out(DB_USAGE);
    return command || values.help ? 0 : 2;
  }
  const wanted: Record<string, number> = { status: 0, migrate: 0, export: 0, import: 1 };
  if (!(command in wanted)) {
    io.err(`mcpgw: unknown command 'db ${command}'\n\n${DB_USAGE}`);
    return 2;
  }
  if (args.length !== wanted[command]) {
    io.err(`mcpgw: db ${command}: ${wanted[command] ? 'expected a FILE (or -)' : `unexpected argument ${args.join(' ')}`}\n\n${DB_USAGE}`);
    return 2;
  }
  // Loaded here: the other commands never pay for the database drivers.
  const { openStore, storeTarget, exportStore, importStore, StoreUnavailableError } = await import('@mcpgw/registry/store');
  const env = { ...io.env };
  if (values['database-url']) env.DATABASE_URL = values['database-url'] as string;
  if (values['data-dir']) {
    env.MCPGW_DATA_DIR = values['data-dir'] as string;
    if (!values['database-url']) delete env.DATABASE_URL;
  }
  let store;
  try {
    store = await openStore(storeTarget(env));
  } catch (err) {
    io.err(`mcpgw: ${(err as Error).message}\n`);
    return 2;
  }
  const json = Boolean(values.json);
  try {
    switch (command) {
      case 'status':
      case 'migrate': {
        const migrations = command === 'migrate' ? await store.migrate() : await store.status();
        const pending = migrations.filter((m) => m.appliedAtMs === undefined).length;
        if (json) io.out(`${JSON.stringify({ store: store.info, migrations: migrations.map((m) => ({ ...m, appliedAt: m.appliedAtMs ? new Date(m.appliedAtMs).toISOString() : null })), pending })}\n`);
        else {
          io.out(`store: ${store.info.kind} ${store.info.location}\n`);
          for (const m of migrations) io.out(`  ${String(m.version).padStart(4)}  ${m.appliedAtMs ? new Date(m.appliedAtMs).toISOString() : 'pending'.padEnd(24)}  ${m.name}\n`);
          io.out(pending ? `${pending} pending: run \`mcpgw db migrate\` (the registry also migrates at start)\n` : 'up to date\n');
        }
        return 0;
      }
      case 'export': {
        const out = values.out ? createWriteStream(values.out as string, { mode: 0o600 }) : undefined;
        const write = async (line: string) => {
          if (!out) return io.out(`${line}\n`);
          if (!out.write(`${line}\n`)) await once(out, 'drain');
        };
        const counts = await exportStore(store, write);
        if (out) {
          out.end();
          await once(out, 'finish');
          io.err(`exported ${Object.entries(counts).map(([t, n]) => `${t} ${n}`).join(', ')} to ${values.out as string}\n`);
        }
        return 0;
      }
      case 'import': {
        await store.migrate();
        const input = args[0] === '-' ? process.stdin : createReadStream(args[0]!);
        const { inserted, skipped } = await importStore(store, createInterface({ input, crlfDelay: Infinity }));
        if (json) io.out(`${JSON.stringify({ inserted, skipped })}\n`);
        else io.out(`imported ${Object.entries(inserted).map(([t, n]) => `${t} ${n}`).join(', ') || 'nothing'}; ${skipped} row(s) already there, skipped\n`);
        return 0;
      }
    }
    return 2;
  } catch (err) {
    const e = err as Error & { code?: string };
    io.err(`mcpgw: db ${command}: ${err instanceof StoreUnavailableError ? e.message : e.code === 'ENOENT' ? `no such file: ${args[0]}` : e.message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}
