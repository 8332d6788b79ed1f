// A throwaway Postgres cluster for tests: initdb into a temp directory and a
// postgres server on a free port, run as an unprivileged user (postgres
// refuses root; as root we drop to nobody with setpriv). The server runs in
// its own process group like every harness process, so stopAll() ends it on
// failure too; stop() ends it and removes the directory.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, waitForLine, type Proc } from './processes.js';

const PG_BIN_CANDIDATES = ['/usr/lib/postgresql'];

/** The directory holding initdb and postgres (Debian puts them under /usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string | undefined {
  if (process.env.MCPGW_PG_BIN) return process.env.MCPGW_PG_BIN;
  for (const base of PG_BIN_CANDIDATES) {
    if (!existsSync(base)) continue;
    const majors = readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
    for (const m of majors) if (existsSync(join(base, m, 'bin/initdb'))) return join(base, m, 'bin');
  }
  return undefined;
}

export interface PostgresHandle {
  url: string;
  port: number;
  dir: string;
  proc: Proc;
  /** kill -9 the server (a crash); start() brings it back on the same port and data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

/** Runs a postgres binary as an unprivileged user when we are root. */
function asUser(bin: string, args: string[]): { cmd: string; args: string[] } {
  if (process.getuid?.() !== 0) return { cmd: bin, args };
  return { cmd: 'setpriv', args: ['--reuid=nobody', '--regid=nogroup', '--clear-groups', bin, ...args] };
}

export async function startPostgres(): Promise<PostgresHandle> {
  const bin = postgresBin();
  if (!bin) throw new Error('Postgres binaries not found: apt-get install postgresql (or set MCPGW_PG_BIN to the directory with initdb and postgres)');
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-pg-'));
  chmodSync(dir, 0o700);
  if (process.getuid?.() === 0) chownSync(dir, 65534, 65534);
  const data = join(dir, 'data');
  const init = asUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  execFileSync(init.cmd, init.args, { stdio: 'ignore' });
  const port = await freePort();
  let proc: Proc;
  const start = async () => {
    // Tests need speed, not durability against an OS crash: fsync off (commits still survive a kill -9). Sockets in the temp dir, TCP on loopback only.
    const run = asUser(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
      '-c', 'full_page_writes=off', '-c', 'max_connections=50']);
    proc = startProcess(run.cmd, run.args);
    await waitForLine(proc, /database system is ready to accept connections/, 'postgres start');
    handle.proc = proc;
  };
  const handle: PostgresHandle = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    proc: undefined as unknown as Proc,
    async kill() {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    start,
    async stop() {
      proc.kill('SIGKILL');
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await start();
  return handle;
}

/** A fresh database in the cluster, so tests sharing a server do not share tables. */
export async function createDatabase(pg: PostgresHandle, name: string): Promise<string> {
  const bin = postgresBin()!;
  execFileSync(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-c', `CREATE DATABASE ${name}`], { stdio: 'ignore' });
  return `postgres://postgres@127.0.0.1:${pg.port}/${name}`;
}
