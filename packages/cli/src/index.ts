// mcpgw: the admin API from a terminal. Exit codes: 0 ok, 1 the API (or the
// network) said no, 2 the command line is wrong.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AdminClient, ApiError } from './client.js';
import { dash, list, ms, table } from './format.js';
import { runDb } from './db.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** Sleeps between polls of `calls --tail`; resolves false to stop (tests). */
  sleep?: (ms: number) => Promise<boolean>;
}

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

const GLOBAL: Options = {
  url: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

interface Command {
  usage: string;
  options: Options;
  positionals: number;
  run(ctx: Ctx, values: Record<string, string | boolean | undefined>, args: string[]): Promise<void>;
}

interface Ctx { api: AdminClient; io: Io; json: boolean }

const USAGE = `Usage: mcpgw <command> [options]

Commands:
  keys create --name N --team T [--servers a,b] [--tools x,y] [--rpm N]
              [--max-concurrency N] [--expires-at ISO] [--admin]
                                   create a virtual key (printed once)
  keys list                        list keys (never the key itself)
  keys revoke <id>                 revoke a key
  servers                          upstream servers: state, era, session mode, tools, latency
  tools [--server S]               tools with their pin state
  pins [--pending]                 pin state; --pending: only changes awaiting approval, with diffs
  approve <tool> [--fingerprint F] accept a tool's pending fingerprint
  reject <tool>                    reject a tool's pending change
  calls [--tail] [--limit N]       recent calls and denials; --tail keeps polling for new ones
  audit [--limit N]                admin actions from the store (keys, pin decisions), newest first
  usage [--since YYYY-MM-DD]       calls, errors and time per day, key, team, server and tool
  config                           the effective config, secrets redacted (JSON)
  db status|migrate|export|import  the store itself (no gateway needed): see \`mcpgw db --help\`

Options:
  --url URL     the gateway (default $MCPGW_URL or http://localhost:4000)
  --key KEY     master key or admin key (default $MCPGW_MASTER_KEY)
  --json        JSON output for scripts
  -h, --help    this help
`;

interface KeyRecord { id: string; name: string; team: string; servers?: string[]; tools?: string[]; rpm?: number; max_concurrency?: number;
  expires_at?: string; created_at?: string; revoked?: boolean; admin?: boolean; key?: string }
interface ToolRecord { name: string; server: string; tool: string; description?: string; fingerprint: string; pin: string;
  pending?: { fingerprint: string; seenAt?: string; diff?: Record<string, { old: unknown; new: unknown } | undefined> } }
interface CallRecord { at: string; server: string; tool: string; principal: string; outcome: string; ms: number }
interface AuditRecord { at: string; principal: string; action: string; target: string; detail: Record<string, unknown> }
interface UsageRecord { day: string; key_id: string | null; team: string | null; server: string; tool: string; calls: number; errors: number; total_ms: number }

const positiveInt = (name: string, v: unknown): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got '${String(v)}'`);
  return n;
};
const globs = (v: unknown): string[] | undefined => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);

const COMMANDS: Record<string, Command> = {
  'keys create': {
    usage: 'keys create --name N --team T [--servers a,b] [--tools x,y] [--rpm N] [--max-concurrency N] [--expires-at ISO] [--admin]',
    positionals: 0,
    options: {
      name: { type: 'string' }, team: { type: 'string' }, servers: { type: 'string' }, tools: { type: 'string' },
      rpm: { type: 'string' }, 'max-concurrency': { type: 'string' }, 'expires-at': { type: 'string' }, admin: { type: 'boolean' },
    },
    async run({ api, io, json }, v) {
      if (!v.name) throw new UsageError('--name is required');
      if (!v.team) throw new UsageError('--team is required');
      const body: Record<string, unknown> = { name: v.name, team: v.team };
      if (v.servers !== undefined) body.servers = globs(v.servers);
      if (v.tools !== undefined) body.tools = globs(v.tools);
      if (v.rpm !== undefined) body.rpm = positiveInt('rpm', v.rpm);
      if (v['max-concurrency'] !== undefined) body.max_concurrency = positiveInt('max-concurrency', v['max-concurrency']);
      if (v['expires-at'] !== undefined) {
        const t = Date.parse(String(v['expires-at']));
        if (Number.isNaN(t)) throw new UsageError(`--expires-at must be an ISO 8601 date, got '${String(v['expires-at'])}'`);
        body.expires_at = new Date(t).toISOString();
      }
      if (v.admin) body.admin = true;
      const created = await api.request<KeyRecord>('POST', '/keys', body);
      if (json) return io.out(JSON.stringify(created, null, 2) + '\n');
      // The key alone on stdout (KEY=$(mcpgw keys create ...)); the rest on stderr.
      io.err(`Created key ${created.id} '${created.name}' (team ${created.team}). Store it now: it is not shown again.\n`);
      io.out(`${created.key}\n`);
    },
  },
  'keys list': {
    usage: 'keys list', positionals: 0, options: {},
    async run({ api, io, json }) {
      const { keys } = await api.request<{ keys: KeyRecord[] }>('GET', '/keys');
      if (json) return io.out(JSON.stringify(keys, null, 2) + '\n');
      io.out(table(['id', 'name', 'team', 'servers', 'tools', 'rpm', 'conc', 'expires', 'status'], keys.map((k) => [
        k.id, k.name, k.team, list(k.servers), list(k.tools), dash(k.rpm), dash(k.max_concurrency), dash(k.expires_at),
        k.revoked ? 'revoked' : k.admin ? 'active (admin)' : 'active',
      ])));
    },
  },
  'keys revoke': {
    usage: 'keys revoke <id>', positionals: 1, options: {},
    async run({ api, io, json }, _v, [id]) {
      const out = await api.request<{ id: string; revoked: boolean }>('DELETE', `/keys/${encodeURIComponent(id!)}`);
      io.out(json ? JSON.stringify(out, null, 2) + '\n' : `Revoked key ${out.id}.\n`);
    },
  },
  servers: {
    usage: 'servers', positionals: 0, options: {},
    async run({ api, io, json }) {
      const { servers } = await api.request<{ servers: { name: string; transport: string; state: string; tools: number; era?: string; session?: string; lastLatencyMs?: number; pinChanges?: number; lastError?: string }[] }>('GET', '/servers');
      if (json) return io.out(JSON.stringify(servers, null, 2) + '\n');
      io.out(table(['name', 'state', 'transport', 'era', 'session', 'tools', 'latency', 'pin changes', 'last error'], servers.map((s) => [
        s.name, s.state, s.transport, dash(s.era), dash(s.session), String(s.tools), ms(s.lastLatencyMs), dash(s.pinChanges), dash(s.lastError),
      ])));
    },
  },
  tools: {
    usage: 'tools [--server S]', positionals: 0, options: { server: { type: 'string' } },
    async run({ api, io, json }, v) {
      const q = typeof v.server === 'string' ? `?server=${encodeURIComponent(v.server)}` : '';
      const { tools } = await api.request<{ tools: ToolRecord[] }>('GET', `/tools${q}`);
      if (json) return io.out(JSON.stringify(tools, null, 2) + '\n');
      io.out(table(['name', 'server', 'pin', 'description'], tools.map((t) => [t.name, t.server, t.pin + (t.pending ? ' (pending)' : ''), dash(t.description)])));
    },
  },
  pins: {
    usage: 'pins [--pending]', positionals: 0, options: { pending: { type: 'boolean' } },
    async run({ api, io, json }, v) {
      let { tools } = await api.request<{ tools: ToolRecord[] }>('GET', '/tools');
      if (v.pending) tools = tools.filter((t) => t.pending);
      if (json) return io.out(JSON.stringify(tools.map(({ name, server, tool, fingerprint, pin, pending }) => ({ name, server, tool, fingerprint, pin, pending })), null, 2) + '\n');
      if (!v.pending) {
        io.out(table(['name', 'server', 'pin', 'fingerprint', 'pending fingerprint'], tools.map((t) => [t.name, t.server, t.pin, t.fingerprint.slice(0, 16), t.pending ? t.pending.fingerprint.slice(0, 16) : '-'])));
        return;
      }
      if (!tools.length) return io.out('No changes are pending.\n');
      for (const t of tools) {
        io.out(`${t.name}  (server ${t.server}, ${t.pin}, seen ${dash(t.pending!.seenAt)})\n  approve: mcpgw approve ${t.name} --fingerprint ${t.pending!.fingerprint}\n`);
        for (const [field, d] of Object.entries(t.pending!.diff ?? {})) {
          if (!d) continue;
          io.out(`  ${field}:\n`);
          for (const l of text(d.old)) io.out(`    - ${l}\n`);
          for (const l of text(d.new)) io.out(`    + ${l}\n`);
        }
        io.out('\n');
      }
    },
  },
  approve: {
    usage: 'approve <tool> [--fingerprint F]', positionals: 1, options: { fingerprint: { type: 'string' } },
    async run({ api, io, json }, v, [name]) {
      const body = typeof v.fingerprint === 'string' ? { fingerprint: v.fingerprint } : {};
      const out = await api.request<{ name: string; fingerprint: string; pin: string }>('POST', `/tools/${encodeURIComponent(name!)}/approve`, body);
      io.out(json ? JSON.stringify(out, null, 2) + '\n' : `Approved ${out.name}: fingerprint ${out.fingerprint} is now ${out.pin}.\n`);
    },
  },
  reject: {
    usage: 'reject <tool>', positionals: 1, options: {},
    async run({ api, io, json }, _v, [name]) {
      const out = await api.request<unknown>('POST', `/tools/${encodeURIComponent(name!)}/reject`, {});
      io.out(json ? JSON.stringify(out ?? {}, null, 2) + '\n' : `Rejected the pending change of ${name}.\n`);
    },
  },
  audit: {
    usage: 'audit [--limit N]', positionals: 0, options: { limit: { type: 'string' } },
    async run({ api, io, json }, v) {
      const limit = positiveInt('limit', v.limit) ?? 50;
      const { entries } = await api.request<{ entries: AuditRecord[] }>('GET', `/audit?limit=${limit}`);
      if (json) return io.out(JSON.stringify(entries, null, 2) + '\n');
      io.out(table(['at', 'principal', 'action', 'target'], entries.map((e) => [e.at, e.principal, e.action, e.target])));
    },
  },
  usage: {
    usage: 'usage [--since YYYY-MM-DD]', positionals: 0, options: { since: { type: 'string' } },
    async run({ api, io, json }, v) {
      const since = typeof v.since === 'string' ? v.since : '';
      if (since && !/^\d{4}-\d{2}-\d{2}$/.test(since)) throw new UsageError(`--since must be a day as YYYY-MM-DD, got '${since}'`);
      const { usage } = await api.request<{ usage: UsageRecord[] }>('GET', `/usage${since ? `?since=${since}` : ''}`);
      if (json) return io.out(JSON.stringify(usage, null, 2) + '\n');
      io.out(table(['day', 'key', 'team', 'server', 'tool', 'calls', 'errors', 'avg'],
        usage.map((u) => [u.day, dash(u.key_id), dash(u.team), u.server, u.tool, String(u.calls), String(u.errors), ms(u.calls ? u.total_ms / u.calls : undefined)])));
    },
  },
  config: {
    usage: 'config', positionals: 0, options: {},
    async run({ api, io }) {
      io.out(JSON.stringify(await api.request<unknown>('GET', '/config'), null, 2) + '\n');
    },
  },
  calls: {
    usage: 'calls [--tail] [--limit N] [--interval MS]', positionals: 0,
    options: { tail: { type: 'boolean' }, limit: { type: 'string' }, interval: { type: 'string' } },
    async run({ api, io, json }, v) {
      const limit = positiveInt('limit', v.limit) ?? 100;
      const interval = positiveInt('interval', v.interval) ?? 2_000;
      const fetchCalls = async () => (await api.request<{ calls: CallRecord[] }>('GET', `/calls?limit=${limit}`)).calls
        .slice().sort((a, b) => a.at.localeCompare(b.at));
      const line = (c: CallRecord) => (json ? JSON.stringify(c) : [c.at, c.server, c.tool, c.principal, c.outcome, ms(c.ms)].join('  ')) + '\n';
      let calls = await fetchCalls();
      if (!v.tail) {
        if (json) return io.out(JSON.stringify(calls, null, 2) + '\n');
        io.out(table(['at', 'server', 'tool', 'principal', 'outcome', 'ms'], calls.map((c) => [c.at, c.server, c.tool, c.principal, c.outcome, ms(c.ms)])));
        return;
      }
      // Tail: print what is there, then only calls newer than the newest seen
      // (several calls may share a timestamp, so those are remembered by identity).
      const id = (c: CallRecord) => `${c.at}\0${c.server}\0${c.tool}\0${c.principal}\0${c.outcome}\0${c.ms}`;
      let newest = '';
      let atNewest = new Set<string>();
      const sleep = io.sleep ?? ((t: number) => new Promise<boolean>((r) => setTimeout(() => r(true), t)));
      for (;;) {
        for (const c of calls) {
          if (c.at < newest || (c.at === newest && atNewest.has(id(c)))) continue;
          if (c.at > newest) {
            newest = c.at;
            atNewest = new Set();
          }
          atNewest.add(id(c));
          io.out(line(c));
        }
        if (!(await sleep(interval))) return;
        calls = await fetchCalls();
      }
    },
  },
};

function text(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  return (typeof v === 'string' ? v : JSON.stringify(v, null, 2)).split('\n');
}

export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  // A first, lenient pass with every command's options finds the command words
  // (so `--key K servers` is not read as command 'K'); the strict pass follows.
  const all: Options = Object.assign({}, GLOBAL, ...Object.values(COMMANDS).map((c) => c.options));
  const words = parseArgs({ args: argv, options: all, allowPositionals: true, strict: false }).positionals;
  if (words[0] === 'db') return runDb(argv.filter((a, i) => i !== argv.indexOf('db')), io);
  const name = words[0] === 'keys' ? `keys ${words[1] ?? ''}` : words[0] ?? '';
  const cmd = COMMANDS[name];
  if (!cmd) {
    if (argv.includes('--help') || argv.includes('-h') || argv.length === 0) {
      io.out(USAGE);
      return argv.length === 0 ? 2 : 0;
    }
    io.err(`mcpgw: unknown command '${name.trim() || argv.join(' ')}'\n\n${USAGE}`);
    return 2;
  }
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { ...GLOBAL, ...cmd.options }, allowPositionals: true, strict: true }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (err) {
    io.err(`mcpgw: ${(err as Error).message}\nusage: mcpgw ${cmd.usage}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`usage: mcpgw ${cmd.usage}\n`);
    return 0;
  }
  const args = positionals.slice(name.startsWith('keys ') ? 2 : 1);
  if (args.length !== cmd.positionals) {
    io.err(`mcpgw: ${cmd.positionals ? `expected ${cmd.positionals} argument(s)` : 'unexpected argument'}${args.length ? ` (got ${args.join(' ')})` : ''}\nusage: mcpgw ${cmd.usage}\n`);
    return 2;
  }
  const url = (values.url as string | undefined) ?? io.env.MCPGW_URL ?? 'http://localhost:4000';
  try {
    new URL(url);
  } catch {
    io.err(`mcpgw: not a URL: '${url}'\n`);
    return 2;
  }
  const api = new AdminClient({ url, key: (values.key as string | undefined) ?? io.env.MCPGW_MASTER_KEY });
  try {
    await cmd.run({ api, io, json: Boolean(values.json) }, values, args);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`mcpgw: ${err.message}\nusage: mcpgw ${cmd.usage}\n`);
      return 2;
    }
    if (err instanceof ApiError) {
      io.err(`mcpgw: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function defaultIo(): Io {
  return { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s), env: process.env };
}
