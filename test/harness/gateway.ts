// Registry, edge and fixture upstreams as real processes, configured per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureCommand } from '../fixtures/launch.js';
import { DEMO_SERVER, ROOT, startProcess, waitFor, waitForLine, type Proc } from './processes.js';

export interface RegistryHandle {
  proc: Proc;
  grpcPort: number;
  metricsPort: number;
  url: string;
}

export interface EdgeHandle {
  proc: Proc;
  port: number;
  url: string;
}

/**
 * The registry link token every harness process gets unless a test sets its
 * own: tests run as deployed (npm start, compose and the chart all set one).
 * Pin review once passed its tests only because they ran without a token.
 */
export const LINK_TOKEN = 'test-link-token-0123456789abcdef';

const dataDirs: string[] = [];
process.on('exit', () => { for (const d of dataDirs) rmSync(d, { recursive: true, force: true }); });

/** An embedded store directory of its own, removed when the test process exits; pass it to several registries to share one store. */
export function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-data-'));
  dataDirs.push(dir);
  return dir;
}

export async function startRegistry(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<RegistryHandle> {
  // Each registry gets its own embedded store unless the test names one (DATABASE_URL or MCPGW_DATA_DIR).
  const store = env.DATABASE_URL || env.MCPGW_DATA_DIR ? {} : { MCPGW_DATA_DIR: tempDataDir() };
  const proc = startProcess(process.execPath, [join(ROOT, 'services/registry/dist/index.js')], {
    MCPGW_CONFIG: configPath, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', METRICS_PORT: '0', MCPGW_REGISTRY_TOKEN: LINK_TOKEN, ...store, ...env,
  });
  const line = await waitForLine(proc, /"msg":"registry ready"/, 'registry ready');
  const info = JSON.parse(line.input!) as { grpcPort: number; metricsPort: number };
  return { proc, grpcPort: info.grpcPort, metricsPort: info.metricsPort, url: `127.0.0.1:${info.grpcPort}` };
}

/** Starts an edge and waits until it is ready (first catalog snapshot), unless `waitReady` is false. */
export async function startEdge(registryUrl: string, env: NodeJS.ProcessEnv = {}, waitReady = true): Promise<EdgeHandle> {
  const proc = startProcess(process.execPath, [join(ROOT, 'services/edge/dist/index.js')], {
    REGISTRY_URL: registryUrl, HOST: '127.0.0.1', PORT: '0', MCPGW_REGISTRY_TOKEN: LINK_TOKEN, ...env,
  });
  const line = await waitForLine(proc, /"msg":"edge listening"/, 'edge listening');
  const port = (JSON.parse(line.input!) as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  if (waitReady) await waitFor('edge /readyz', async () => (await fetch(`${url}/readyz`)).ok || undefined);
  return { proc, port, url };
}

/** The demo MCP server over Streamable HTTP; `url` is its /mcp endpoint. */
export async function startDemoHttp(label?: string, extraArgs: string[] = []): Promise<{ proc: Proc; url: string }> {
  const proc = startProcess(process.execPath, [DEMO_SERVER, '--http', '--port', '0', ...(label ? ['--label', label] : []), ...extraArgs]);
  const m = await waitForLine(proc, /^listening (\d+)/, 'demo HTTP server');
  return { proc, url: `http://127.0.0.1:${m[1]}/mcp` };
}

/** Waits until the edge lists tools of every given server. */
export async function waitForTools(edgeUrl: string, prefixes: string[]): Promise<string[]> {
  return waitFor(`tools of ${prefixes.join(', ')}`, async () => {
    const res = await fetch(`${edgeUrl}/mcp/tools/list`);
    const { tools } = (await res.json()) as { tools: { name: string }[] };
    const names = tools.map((t) => t.name);
    return prefixes.every((p) => names.some((n) => n.startsWith(p))) ? names : undefined;
  });
}

/** A fixture upstream (test/fixtures) over SSE or Streamable HTTP, as a process the harness stops. */
export async function startFixtureServer(behaviour: string, transport: 'sse' | 'http', extra: string[] = []): Promise<{ proc: Proc; url: string }> {
  const { command, args } = fixtureCommand(behaviour, transport, ['--port', '0', ...extra]);
  const proc = startProcess(command, args);
  const m = await waitForLine(proc, /^listening (\d+)/, `fixture ${behaviour}/${transport}`);
  return { proc, url: `http://127.0.0.1:${m[1]}${transport === 'sse' ? '/sse' : '/mcp'}` };
}

/** The reference server-everything over SSE or Streamable HTTP, forced onto loopback. */
export async function startEverything(transport: 'sse' | 'http'): Promise<{ proc: Proc; url: string }> {
  const proc = startProcess(process.execPath, ['--import', join(ROOT, 'bench/lib/loopback.mjs'), EVERYTHING, transport === 'sse' ? 'sse' : 'streamableHttp'], { PORT: '0' });
  const m = await waitForLine(proc, /bench-listening (\d+)/, `server-everything ${transport}`);
  return { proc, url: `http://127.0.0.1:${m[1]}${transport === 'sse' ? '/sse' : '/mcp'}` };
}

export const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** YAML for a stdio fixture upstream. */
export function fixtureStdio(name: string, behaviour: string, extra: string[] = [], more = ''): string {
  const { command, args } = fixtureCommand(behaviour, 'stdio', extra);
  return `  ${name}:\n    command: ${JSON.stringify(command)}\n    args: ${JSON.stringify(args)}\n${more}`;
}
