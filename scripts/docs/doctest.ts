// `npm run docs:test`: runs the blocks the guide marks runnable, against a
// gateway started the way the page says (`npm start`'s launcher with the
// page's config), and compares their output where the page shows it.
//
// Convention (docs/README.md, "Runnable examples"):
//   ```yaml gateway-config [env=NAME,...]   the config the page's gateway runs with; each NAME
//                                           gets a random value, given to the gateway and to every block
//   ```sh runnable                          a block run with bash, from the repository root
//   ```text output                          right after a runnable block: lines its stdout must
//                                           contain, in this order
// A page without a gateway-config block runs against `npm start`'s default config.
// `localhost:4000` in a block is rewritten to the port the runner picked
// (never a fixed port), and MCPGW_URL points there. Shell variables a block
// sets are seen by the page's later blocks, as in one terminal.
//
// Every process it starts is in its own process group and is killed on
// success, failure, timeout and Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { fencedBlocks, type Block } from './blocks.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BLOCK_TIMEOUT_MS = Number(process.env.DOCS_TEST_BLOCK_TIMEOUT_MS ?? 90_000);
const START_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = Number(process.env.DOCS_TEST_TIMEOUT_MS ?? 170_000);

interface Page {
  file: string;
  config?: string;
  env: string[];
  steps: { block: Block; expected?: string[] }[];
}

/** Pages (README.md and docs/*.md) with at least one runnable block. */
export function runnablePages(root = ROOT): Page[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const pages: Page[] = [];
  for (const file of files) {
    const blocks = fencedBlocks(readFileSync(join(root, file), 'utf8'));
    const configs = blocks.filter((b) => b.flags.includes('gateway-config'));
    if (configs.length > 1) throw new Error(`${file}: more than one gateway-config block`);
    const page: Page = {
      file,
      config: configs[0]?.body,
      env: (configs[0]?.flags.find((f) => f.startsWith('env=')) ?? 'env=').slice(4).split(',').filter(Boolean),
      steps: [],
    };
    blocks.forEach((block, i) => {
      if (block.flags.includes('runnable')) page.steps.push({ block });
      if (block.flags.includes('output')) {
        const prev = blocks[i - 1];
        if (block.follows === undefined || !prev?.flags.includes('runnable')) throw new Error(`${file}:${block.line}: an output block must follow a runnable block`);
        page.steps[page.steps.length - 1]!.expected = block.body.split('\n').map((l) => l.trimEnd()).filter(Boolean);
      }
    });
    if (page.steps.length) pages.push(page);
  }
  return pages;
}

const children = new Set<ChildProcess>();

/** SIGTERM the process group, SIGKILL it after `graceMs` if it is still there. */
async function killGroup(child: ChildProcess, graceMs = 8000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return void children.delete(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
  const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

function killAllNow(): void {
  for (const c of children) { try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ } }
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
    srv.on('error', reject);
  });
}

interface Gateway { port: number; proc: ChildProcess; log: string[] }

async function startGateway(configFile: string | undefined, env: NodeJS.ProcessEnv): Promise<Gateway> {
  const [port, grpc, metrics] = [await freePort(), await freePort(), await freePort()];
  const args = [join(ROOT, 'services/launcher/dist/index.js'), ...(configFile ? ['--config', configFile] : [])];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...env, PORT: String(port), HOST: '127.0.0.1', GRPC_PORT: String(grpc), METRICS_PORT: String(metrics), MCPGW_CONFIG: configFile ?? '' },
  });
  children.add(proc);
  const log: string[] = [];
  const ready = new Promise<void>((resolveReady, reject) => {
    const onData = (d: Buffer) => {
      log.push(d.toString());
      if (log.join('').includes('mcpgw is up')) resolveReady();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`the gateway exited (code ${code}) before it was up:\n${log.join('').slice(-2000)}`)));
    setTimeout(() => reject(new Error(`the gateway was not up within ${START_TIMEOUT_MS} ms:\n${log.join('').slice(-2000)}`)), START_TIMEOUT_MS).unref();
  });
  await ready;
  // Ready means the first catalog arrived: tools are listable.
  for (const end = Date.now() + 15_000; Date.now() < end;) {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
    if (res?.ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, proc, log };
}

/** Variables bash sets by itself, never carried from one block to the next. */
const SHELL_OWN = /^(BASH[A-Z_]*|FUNCNAME|PIPESTATUS|_|LINENO|RANDOM|SRANDOM|SECONDS|EPOCH[A-Z]+|OLDPWD|PWD|SHLVL|COLUMNS|LINES|HISTCMD|OPTIND|OPTARG|GROUPS|DIRSTACK|PPID|UID|EUID|SHELLOPTS|BASHOPTS|IFS|PS[0-9]|COMP[A-Z_]*|MAILCHECK|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE)$/;

async function runBlock(body: string, env: NodeJS.ProcessEnv, stateFile: string): Promise<{ code: number | null; out: string; err: string; timedOut: boolean }> {
  // Source what earlier blocks set; run the block; save the variables it set or changed.
  const script = [
    'set -eo pipefail',
    `[ -f '${stateFile}' ] && source '${stateFile}'`,
    '__before=$(declare -p 2>/dev/null)',
    'trap \'__save\' EXIT',
    `__save() { local n; for n in $(compgen -v); do [[ $n =~ ${SHELL_OWN.source} ]] && continue; [[ $n == __* ]] && continue; local d; d=$(declare -p "$n" 2>/dev/null) || continue; [[ $d == "declare -"*r* ]] && continue; grep -qxF -- "$d" <<<"$__before" || echo "$d"; done >> '${stateFile}'; }`,
    body,
  ].join('\n');
  const child = spawn('bash', ['-c', script], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; void killGroup(child, 1000); }, BLOCK_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  children.delete(child);
  return { code, out, err, timedOut };
}

/** Each expected line must be a line of the output, in this order. */
export function missingLines(output: string, expected: string[]): string[] {
  const lines = output.split('\n').map((l) => l.trimEnd());
  let at = 0;
  const missing: string[] = [];
  for (const want of expected) {
    const i = lines.indexOf(want, at);
    if (i < 0) missing.push(want);
    else at = i + 1;
  }
  return missing;
}

async function runPage(page: Page): Promise<string[]> {
  const failures: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-doctest-'));
  const pageEnv: Record<string, string> = Object.fromEntries(page.env.map((n) => [n, randomBytes(24).toString('hex')]));
  const base: NodeJS.ProcessEnv = { ...process.env, ...pageEnv, PATH: `${join(ROOT, 'node_modules/node/bin')}:${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` };
  // The runner decides what is set; a developer's own variables must not leak in.
  for (const n of ['MCPGW_MASTER_KEY', 'MCPGW_API_KEY', 'MCPGW_URL', 'REDIS_URL', 'MCPGW_CONFIG', 'DATABASE_URL']) if (!(n in pageEnv)) delete base[n];
  // Each page's gateway has a store of its own: keys one page creates must not show up on another's.
  base.MCPGW_DATA_DIR = join(dir, 'data');
  let configFile: string | undefined;
  if (page.config !== undefined) {
    configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, page.config);
  }
  let gw: Gateway | undefined;
  try {
    gw = await startGateway(configFile, base);
    const env = { ...base, MCPGW_URL: `http://localhost:${gw.port}` };
    const stateFile = join(dir, 'state.sh');
    for (const { block, expected } of page.steps) {
      const where = `${page.file}:${block.line}`;
      const body = block.body.replace(/(localhost|127\.0\.0\.1):4000\b/g, `$1:${gw.port}`);
      const started = Date.now();
      const r = await runBlock(body, env, stateFile);
      const ms = Date.now() - started;
      const missing = expected ? missingLines(r.out, expected) : [];
      if (r.timedOut || r.code !== 0 || missing.length) {
        const why = r.timedOut ? `timed out after ${BLOCK_TIMEOUT_MS} ms` : r.code !== 0 ? `exit code ${r.code}` : `output lacks:\n    ${missing.join('\n    ')}`;
        failures.push(`${where}: ${why}\n  --- stdout\n${indent(r.out)}\n  --- stderr\n${indent(r.err)}`);
        console.log(`  FAIL ${where} (${ms} ms): ${why.split('\n')[0]}`);
        break; // later blocks of the page build on this one
      }
      console.log(`  ok   ${where} (${ms} ms${expected ? `, ${expected.length} expected lines` : ''})`);
    }
  } catch (err) {
    failures.push(`${page.file}: ${(err as Error).message}`);
    console.log(`  FAIL ${page.file}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    if (gw) await killGroup(gw.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  return failures;
}

const indent = (s: string) => s.trimEnd().split('\n').slice(-40).map((l) => `    ${l}`).join('\n');

async function main(): Promise<number> {
  const only = process.argv.slice(2);
  const pages = runnablePages().filter((p) => !only.length || only.some((o) => p.file.includes(o)));
  if (!pages.length) {
    console.error('docs:test: no runnable blocks found');
    return 1;
  }
  const failures: string[] = [];
  for (const page of pages) {
    const runnable = page.steps.length;
    console.log(`${page.file}: ${runnable} runnable block${runnable === 1 ? '' : 's'}${page.config !== undefined ? ', with the page\'s gateway-config' : ', npm start\'s default config'}`);
    failures.push(...(await runPage(page)));
  }
  if (failures.length) {
    console.error(`\ndocs:test: ${failures.length} failure(s)\n\n${failures.join('\n\n')}`);
    return 1;
  }
  console.log(`\ndocs:test: every runnable block of ${pages.map((p) => relative('.', p.file)).join(', ')} passed`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const watchdog = setTimeout(() => {
    console.error(`docs:test: the whole run took longer than ${RUN_TIMEOUT_MS} ms; stopping everything`);
    killAllNow();
    process.exit(1);
  }, RUN_TIMEOUT_MS);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAllNow(); process.exit(130); });
  process.on('exit', killAllNow);
  main().then((code) => { clearTimeout(watchdog); process.exitCode = code; }, (err) => { console.error(err); killAllNow(); process.exitCode = 1; });
}
