// Peer gateways for `npm run bench -- --peers` (issue 14): LiteLLM's MCP
// gateway and IBM ContextForge from PyPI (each in a venv the bench creates on
// first use and reuses), and agentgateway when AGENTGATEWAY_BIN names its
// binary. Each runs on 127.0.0.1 in front of the same fast upstream as mcpgw,
// over Streamable HTTP, with its own per-request auth on (a key or a token
// checked on every call), configured as its documentation says.
//
// A peer that cannot be installed or started is returned with a status that
// says why ("not installed: …", "failed to start: …"); it is never dropped.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawHttp, RawSession } from './clients.js';
import { atStop, freePort, startProcess, stopProcess, waitFor, type Proc } from './procs.js';

export type PeerId = 'litellm' | 'contextforge' | 'agentgateway';
export const PEER_IDS: PeerId[] = ['litellm', 'contextforge', 'agentgateway'];
export const PEER_LABELS: Record<PeerId, string> = { litellm: 'LiteLLM', contextforge: 'ContextForge', agentgateway: 'agentgateway' };

export interface Peer {
  id: PeerId;
  label: string;
  /** 'ok', or why the peer is not measured ("not installed: …", "failed to start: …"). */
  status: string;
  version?: string;
  /** The MCP endpoint (Streamable HTTP). */
  url?: string;
  /** Sent on every request: the peer's key or token. */
  headers?: Record<string, string>;
  /** The fast upstream's echo tool as this peer names it. */
  tool?: string;
  /** How the peer checks each request (for the report). */
  auth?: string;
  /** Everything the peer runs, for SIGSTOP/SIGCONT and for stopping it. */
  procs: Proc[];
}

export interface PeerOptions {
  /** MCP URL of the fast upstream (Streamable HTTP). */
  upstream: string;
  /** Time allowed for one pip install, ms. */
  installTimeoutMs: number;
  /** Time allowed for one peer to start and list the upstream's tools, ms. */
  startTimeoutMs: number;
  log: (line: string) => void;
}

/** Where the venvs live: $MCPGW_BENCH_CACHE, else ~/.cache/mcpgw-bench. */
export function cacheDir(): string {
  return process.env.MCPGW_BENCH_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mcpgw-bench');
}

// ---------------------------------------------------------------- installs

interface RunResult { code: number | null; output: string; timedOut: boolean }

/** Runs a command in its own process group, output to `logFile` and kept; kills the group on timeout. */
function run(cmd: string, args: string[], timeoutMs: number, logFile: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    // Ctrl-C or the run's limit during a pip install stops pip too.
    atStop(() => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch { /* gone */ }
      }
    });
    const keep = (d: Buffer) => {
      output += d.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* gone */ }
    }, timeoutMs);
    const done = (code: number | null) => {
      clearTimeout(timer);
      try {
        writeFileSync(logFile, output);
      } catch { /* best effort */ }
      resolve({ code, output, timedOut });
    };
    child.on('error', (err) => {
      output += `\n${err.message}`;
      done(-1);
    });
    child.on('exit', (code) => done(code));
  });
}

const tail = (s: string, lines = 15) => s.trimEnd().split('\n').slice(-lines).join('\n');

/**
 * A venv under cacheDir() with `requirement` installed, made on first use and
 * reused after (a marker file records what was installed). Throws with the
 * tail of pip's output when the install fails or runs out of time.
 */
export async function ensureVenv(name: string, requirement: string, pkg: string, timeoutMs: number, log: (l: string) => void): Promise<{ dir: string; version: string }> {
  const base = cacheDir();
  mkdirSync(base, { recursive: true });
  const dir = join(base, `venv-${name}`);
  const marker = join(dir, '.mcpgw-bench-installed');
  const python = process.env.MCPGW_BENCH_PYTHON || 'python3';
  const version = async () => {
    const r = await run(join(dir, 'bin/python'), ['-m', 'pip', 'show', pkg], 60_000, join(base, `${name}-pip-show.log`));
    return /^Version:\s*(\S+)/m.exec(r.output)?.[1] ?? 'unknown';
  };
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === requirement) return { dir, version: await version() };
  const started = Date.now();
  if (!existsSync(join(dir, 'bin/python'))) {
    log(`${name}: creating ${dir} (${python} -m venv)`);
    const v = await run(python, ['-m', 'venv', dir], 120_000, join(base, `${name}-venv.log`));
    if (v.code !== 0) throw new Error(`${python} -m venv failed (exit ${v.code}): ${tail(v.output, 5)}`);
  }
  log(`${name}: pip install '${requirement}' into ${dir} (first use; up to ${Math.round(timeoutMs / 60_000)} min, log in ${join(base, `${name}-install.log`)})`);
  const left = Math.max(10_000, timeoutMs - (Date.now() - started));
  const r = await run(join(dir, 'bin/python'), ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', requirement], left, join(base, `${name}-install.log`), { PIP_NO_INPUT: '1' });
  if (r.timedOut) throw new Error(`pip install '${requirement}' took over ${Math.round(timeoutMs / 1000)} s; last output:\n${tail(r.output)}`);
  if (r.code !== 0) throw new Error(`pip install '${requirement}' failed (exit ${r.code}):\n${tail(r.output)}`);
  writeFileSync(marker, `${requirement}\n`);
  return { dir, version: await version() };
}

// ---------------------------------------------------------------- helpers

/** Lists the peer's tools with the raw client and returns the name of the fast upstream's echo. */
async function findEcho(url: string, headers: Record<string, string>, sessionless: boolean, timeoutMs: number): Promise<string> {
  const http = new RawHttp(2);
  try {
    return await waitFor(`echo tool at ${url}`, async () => {
      const s = await RawSession.open(http, url, undefined, headers, sessionless).catch(() => undefined);
      if (!s) return undefined;
      try {
        const names = await s.toolNames().catch(() => [] as string[]);
        return names.find((n) => n === 'echo' || (/(^|[-_.])echo$/.test(n) && !n.includes('everything')));
      } finally {
        await s.close();
      }
    }, timeoutMs);
  } finally {
    http.close();
  }
}

/** `p`, or a rejection with the process's last output as soon as it exits. */
function orExit<T>(proc: Proc, p: Promise<T>): Promise<T> {
  return Promise.race([p, proc.exited.then((code): never => {
    throw new Error(`${proc.name} exited (code ${code}); last output:\n${proc.lines.slice(-20).join('\n')}`);
  })]);
}

/** Waits for an HTTP GET to answer 2xx (or for the process to exit: an error). */
function waitHttp(what: string, url: string, proc: Proc, timeoutMs: number): Promise<boolean> {
  return orExit(proc, waitFor(what, async () => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
    const res = await fetch(url).catch(() => undefined);
    return res?.ok ? true : undefined;
  }, timeoutMs));
}

const secret = (prefix: string) => `${prefix}${randomBytes(24).toString('hex')}`;

// ---------------------------------------------------------------- LiteLLM

/**
 * LiteLLM proxy (`litellm[proxy]`): `mcp_servers` in config.yaml pointing at
 * the upstream over Streamable HTTP (`transport: http`), a master key in
 * `general_settings`, no database (the master key needs none); MCP at `/mcp`,
 * the key in `x-litellm-api-key: Bearer <key>` (LiteLLM's MCP configuration
 * reference); tools are named `<server>-<tool>`.
 */
async function startLitellm(o: PeerOptions, venv: string): Promise<Omit<Peer, 'id' | 'label' | 'status' | 'version'>> {
  const port = await freePort();
  const key = secret('sk-bench-');
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-bench-litellm-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'model_list: []',
    'mcp_servers:',
    '  fast:',
    `    url: "${o.upstream}"`,
    '    transport: "http"',
    'general_settings:',
    `  master_key: "${key}"`,
    'litellm_settings:',
    '  telemetry: false',
    '',
  ].join('\n'));
  const proc = startProcess('litellm', join(venv, 'bin/litellm'), ['--config', config, '--port', String(port), '--host', '127.0.0.1', '--num_workers', '1'], {
    // The model cost map ships in the package; without this LiteLLM fetches it from the network at import.
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
    LITELLM_LOG: 'ERROR',
    LOG_LEVEL: 'ERROR',
    DISABLE_SCHEMA_UPDATE: 'True',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHttp('LiteLLM /health/liveliness', `${base}/health/liveliness`, proc, o.startTimeoutMs);
    const url = `${base}/mcp`;
    const headers = { 'x-litellm-api-key': `Bearer ${key}` };
    const tool = await findEcho(url, headers, true, 30_000);
    return { url, headers, tool, auth: 'master key, `x-litellm-api-key: Bearer …`, checked per request', procs: [proc] };
  } catch (err) {
    await stopProcess(proc, 2_000);
    throw err;
  }
}

// ---------------------------------------------------------------- ContextForge

/**
 * ContextForge (`mcp-contextforge-gateway`), as its docs describe: HOST/PORT,
 * JWT_SECRET_KEY, AUTH_REQUIRED=true, SQLite in a temp dir, no Redis (cache in
 * the database, its default); the fast upstream registered as a gateway
 * (POST /gateways, transport STREAMABLEHTTP), a virtual server with its tools
 * (POST /servers), calls on `/servers/<id>/mcp` with a JWT made by
 * `python -m mcpgateway.utils.create_jwt_token`. Its rate limiter (100
 * requests/minute per client on MCP by default) is turned off, as it is for
 * mcpgw here; SSRF protection stays on with loopback allowed (the upstream is
 * on 127.0.0.1).
 */
async function startContextForge(o: PeerOptions, venv: string): Promise<Omit<Peer, 'id' | 'label' | 'status' | 'version'>> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-bench-contextforge-'));
  const jwtSecret = secret('jwt-');
  const env: NodeJS.ProcessEnv = {
    HOST: '127.0.0.1',
    PORT: String(port),
    JWT_SECRET_KEY: jwtSecret,
    AUTH_ENCRYPTION_SECRET: secret('enc-'),
    AUTH_REQUIRED: 'true',
    MCP_CLIENT_AUTH_ENABLED: 'true',
    DATABASE_URL: `sqlite:///${join(dir, 'mcp.db')}`,
    PLATFORM_ADMIN_EMAIL: 'admin@example.com',
    PLATFORM_ADMIN_PASSWORD: secret('Pw-1!'),
    BASIC_AUTH_PASSWORD: secret('Pw-2!'),
    MCPGATEWAY_UI_ENABLED: 'false',
    MCPGATEWAY_ADMIN_API_ENABLED: 'false',
    SSRF_ALLOW_LOCALHOST: 'true',
    RATE_LIMITING_ENABLED: 'false',
    LOG_LEVEL: 'ERROR',
  };
  const proc = startProcess('contextforge', join(venv, 'bin/mcpgateway'), ['--host', '127.0.0.1', '--port', String(port)], env);
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHttp('ContextForge /health', `${base}/health`, proc, o.startTimeoutMs);
    const tok = await run(join(venv, 'bin/python'), ['-m', 'mcpgateway.utils.create_jwt_token', '--username', 'admin@example.com', '--admin', '--exp', String(24 * 60), '--secret', jwtSecret], 60_000, join(dir, 'token.log'), env);
    const token = tok.output.split('\n').map((l) => l.trim()).find((l) => /^ey[\w-]+\.[\w-]+\.[\w-]+$/.test(l));
    if (!token) throw new Error(`create_jwt_token gave no token (exit ${tok.code}): ${tail(tok.output, 5)}`);
    const auth = { authorization: `Bearer ${token}` };
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      if (!res.ok) throw new Error(`ContextForge ${method} ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
      return JSON.parse(text) as unknown;
    };
    const gw = await api('POST', '/gateways', { name: 'fast', url: o.upstream, transport: 'STREAMABLEHTTP' }) as { id: string };
    const tools = await waitFor('ContextForge tools of the fast gateway', async () => {
      const all = await api('GET', '/tools') as { id: string; name: string; gatewayId?: string }[];
      const mine = all.filter((t) => t.gatewayId === gw.id);
      return mine.length > 0 ? mine : undefined;
    }, 30_000);
    const server = await api('POST', '/servers', { server: { name: 'bench', description: 'mcpgw bench', associated_tools: tools.map((t) => t.id) } }) as { id: string };
    const url = `${base}/servers/${server.id}/mcp`;
    const tool = await findEcho(url, auth, true, 30_000);
    return { url, headers: auth, tool, auth: 'JWT (HS256, made by its CLI), `Authorization: Bearer …`, verified per request', procs: [proc] };
  } catch (err) {
    await stopProcess(proc, 2_000);
    throw err;
  }
}

// ---------------------------------------------------------------- agentgateway

/**
 * agentgateway (binary from AGENTGATEWAY_BIN; not in any package registry):
 * a static config with one bind, an MCP backend whose target is the fast
 * upstream over Streamable HTTP (`mcp.host`), and the `apiKey` policy in
 * strict mode with the key stored as a SHA-256 digest (its hashed-key
 * example); clients send `Authorization: Bearer <key>`. The admin, stats and
 * readiness listeners are moved to free loopback ports.
 */
async function startAgentgateway(o: PeerOptions, bin: string): Promise<Omit<Peer, 'id' | 'label' | 'status' | 'version'>> {
  const [port, admin, stats, ready] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const key = secret('agw-');
  const digest = createHash('sha256').update(key).digest('hex');
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-bench-agentgateway-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'config:',
    `  adminAddr: "127.0.0.1:${admin}"`,
    `  statsAddr: "127.0.0.1:${stats}"`,
    `  readinessAddr: "127.0.0.1:${ready}"`,
    'binds:',
    `- port: ${port}`,
    '  listeners:',
    '  - routes:',
    '    - policies:',
    '        apiKey:',
    '          mode: strict',
    '          keys:',
    `          - keyHash: "sha256:${digest}"`,
    '      backends:',
    '      - mcp:',
    '          targets:',
    '          - name: fast',
    '            mcp:',
    `              host: "${o.upstream}"`,
    '',
  ].join('\n'));
  const proc = startProcess('agentgateway', bin, ['-f', config], { RUST_LOG: 'error' });
  try {
    const url = `http://127.0.0.1:${port}/mcp`;
    const headers = { authorization: `Bearer ${key}` };
    const tool = await orExit(proc, waitFor('agentgateway lists the echo tool', async () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return false;
      return findEcho(url, headers, true, 1_000).catch(() => undefined);
    }, o.startTimeoutMs));
    if (typeof tool !== 'string') throw new Error('agentgateway exited');
    return { url, headers, tool, auth: 'API key (SHA-256 digest in config), `Authorization: Bearer …`, checked per request', procs: [proc] };
  } catch (err) {
    await stopProcess(proc, 2_000);
    throw err;
  }
}

async function binVersion(bin: string): Promise<string> {
  const r = await run(bin, ['--version'], 10_000, join(tmpdir(), 'mcpgw-bench-agentgateway-version.log'));
  return r.output.trim().split('\n')[0]?.slice(0, 80) || 'unknown';
}

// ---------------------------------------------------------------- all peers

const PYPI: Record<'litellm' | 'contextforge', { requirement: string; pkg: string }> = {
  litellm: { requirement: process.env.MCPGW_BENCH_LITELLM || 'litellm[proxy]', pkg: 'litellm' },
  contextforge: { requirement: process.env.MCPGW_BENCH_CONTEXTFORGE || 'mcp-contextforge-gateway', pkg: 'mcp-contextforge-gateway' },
};

/** Installs (first use) what each peer needs; returns each peer's install status and version. */
export async function installPeers(ids: PeerId[], o: Pick<PeerOptions, 'installTimeoutMs' | 'log'>): Promise<Map<PeerId, { status: string; version?: string; home?: string }>> {
  const out = new Map<PeerId, { status: string; version?: string; home?: string }>();
  // Sequential: two pip installs at once would fight over 2 cores for no gain in a cached run.
  for (const id of ids) {
    if (id === 'agentgateway') {
      const bin = process.env.AGENTGATEWAY_BIN;
      if (!bin) out.set(id, { status: 'not installed: AGENTGATEWAY_BIN is not set (agentgateway is in no package registry; give its binary)' });
      else if (!existsSync(bin)) out.set(id, { status: `not installed: AGENTGATEWAY_BIN=${bin} does not exist` });
      else out.set(id, { status: 'ok', version: await binVersion(bin), home: bin });
      continue;
    }
    try {
      const v = await ensureVenv(id, PYPI[id].requirement, PYPI[id].pkg, o.installTimeoutMs, o.log);
      out.set(id, { status: 'ok', version: v.version, home: v.dir });
    } catch (err) {
      const msg = (err as Error).message;
      o.log(`${id}: ${msg}`);
      out.set(id, { status: `not installed: ${msg.split('\n')[0]}` });
    }
  }
  return out;
}

/** Starts one installed peer; a failure comes back as its status. */
export async function startPeer(id: PeerId, installed: { status: string; version?: string; home?: string }, o: PeerOptions): Promise<Peer> {
  const peer: Peer = { id, label: PEER_LABELS[id], status: installed.status, version: installed.version, procs: [] };
  if (installed.status !== 'ok' || !installed.home) return peer;
  try {
    const started = id === 'litellm' ? await startLitellm(o, installed.home)
      : id === 'contextforge' ? await startContextForge(o, installed.home)
      : await startAgentgateway(o, installed.home);
    Object.assign(peer, started);
    if (!peer.tool) throw new Error('its tools/list has no echo tool of the fast upstream');
  } catch (err) {
    const msg = (err as Error).message;
    o.log(`${id}: failed to start: ${msg}`);
    peer.status = `failed to start: ${msg.split('\n')[0]!.slice(0, 200)}`;
    for (const p of peer.procs) await stopProcess(p, 2_000);
    peer.procs = [];
  }
  return peer;
}

/** SIGSTOP / SIGCONT to whole process groups (each process the bench starts leads its own). */
export function signalGroups(procs: Proc[], sig: 'SIGSTOP' | 'SIGCONT'): void {
  for (const p of procs) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
    try {
      process.kill(-p.pid, sig);
    } catch { /* gone */ }
  }
}
