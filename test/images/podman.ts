// podman from TypeScript for the image tests: run containers, read their logs,
// exec in them, and remove every container this process started however it
// ends (success, failure, timeout, SIGINT/SIGTERM).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ROOT } from '../harness/processes.js';

// The ulimits and OCI runtime this machine kind needs (deploy/images/containers.conf).
process.env.CONTAINERS_CONF ??= join(ROOT, 'deploy/images/containers.conf');

export const RUN_ID = `mcpgw-smoke-${process.pid}-${randomBytes(3).toString('hex')}`;
export const TAG = process.env.MCPGW_IMAGE_TAG ?? 'local';
export const REGISTRY_IMAGE = `localhost/mcpgw-registry:${TAG}`;
export const EDGE_IMAGE = `localhost/mcpgw-edge:${TAG}`;
export const CACHE = process.env.MCPGW_IMAGES_CACHE ?? join(homedir(), '.cache/mcpgw-images');

export interface Result { code: number; stdout: string; stderr: string }

/** Runs podman; never throws on a non-zero exit (callers judge the result). */
export function podman(args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

export async function podmanOk(args: string[], timeoutMs?: number): Promise<string> {
  const r = await podman(args, timeoutMs);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

const started = new Set<string>();

export interface Container {
  name: string;
  /** When `podman run` was invoked (cold start is measured from here). */
  startedAt: number;
  logs(): Promise<string>;
  exec(cmd: string[], opts?: { user?: string }): Promise<Result>;
}

/** `podman run -d` with a name of this run; the container is removed in cleanup(). */
export async function run(label: string, runArgs: string[], image: string, cmd: string[] = []): Promise<Container> {
  const name = `${RUN_ID}-${label}`;
  started.add(name);
  const startedAt = performance.now();
  await podmanOk(['run', '-d', '--name', name, '--label', `org.mcpgw.smoke=${RUN_ID}`, ...runArgs, image, ...cmd]);
  return {
    name,
    startedAt,
    logs: async () => {
      const r = await podman(['logs', name]);
      return r.stdout + r.stderr;
    },
    exec: (c, opts) => podman(['exec', ...(opts?.user ? ['--user', opts.user] : []), name, ...c]),
  };
}

/** Marks a container someone else (podman-compose, kube play) started as ours to remove. */
export function adopt(name: string): void {
  started.add(name);
}

/** Resolves with the first log line matching `pattern`; fails with the log when the container exits first or time runs out. */
export async function waitForLog(c: Container, pattern: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await c.logs();
    for (const line of text.split('\n')) {
      const m = line.match(pattern);
      if (m) return m;
    }
    const state = (await podman(['inspect', '--format', '{{.State.Status}}', c.name])).stdout.trim();
    if (state === 'exited' || state === 'stopped') throw new Error(`${what}: container ${c.name} exited first. Log:\n${text}`);
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms. Log:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const extraCleanups: (() => Promise<void> | void)[] = [];
let cleaning: Promise<void> | undefined;

/** Removes every container this process started (force, no grace), then runs the extra cleanups. Idempotent. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (started.size > 0) {
      // -v: the anonymous volumes of image VOLUMEs (the registry's /data) go too.
      const r = await podman(['rm', '-f', '-v', '-t', '0', '--ignore', ...started], 60_000);
      // Only what is gone leaves the list; the exit hook retries the rest.
      if (r.code === 0) started.clear();
    }
    for (const f of extraCleanups.reverse()) {
      try {
        await f();
      } catch (err) {
        console.error(`cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

/** Synchronous last resort for process exit paths where promises no longer run. */
function cleanupSync(): void {
  if (started.size > 0) spawnSync('podman', ['rm', '-f', '-v', '-t', '0', '--ignore', ...started], { stdio: 'ignore', timeout: 60_000 });
}

/**
 * Runs main() under an overall deadline; SIGINT/SIGTERM, a thrown error and
 * the deadline all remove the containers before the process exits.
 */
export function guard(main: () => Promise<void>, deadlineMs: number): void {
  const fail = async (why: string, code: number) => {
    console.error(why);
    await cleanup();
    process.exit(code);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void fail(`images smoke: ${sig}; removing containers`, 130));
  process.on('exit', cleanupSync);
  const timer = setTimeout(() => void fail(`images smoke: overall deadline of ${deadlineMs / 1000}s passed; removing containers`, 1), deadlineMs);
  main().then(
    async () => {
      clearTimeout(timer);
      await cleanup();
      process.exit(0);
    },
    (err: Error) => {
      clearTimeout(timer);
      void fail(`images smoke FAILED: ${err.stack ?? err.message}`, 1);
    },
  );
}

export async function imageSize(image: string): Promise<number> {
  return Number((await podmanOk(['image', 'inspect', '--format', '{{.Size}}', image])).trim());
}

/** Build times images:build recorded (deploy/images/build.sh writes them). */
export function lastBuildTimes(): string[] {
  const f = join(CACHE, 'last-build.txt');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : [];
}
