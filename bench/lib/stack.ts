// What one benchmark run starts: a private Redis, the upstreams (our fast
// fixture and server-everything, both over Streamable HTTP), the registry and
// the edge, all on 127.0.0.1 and free ports.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { atStop, freePort, ROOT, startProcess, waitFor, waitForLine, type Proc } from './procs.js';

const NODE = process.execPath;
export const FIXTURE = join(ROOT, 'test/fixtures/bench-upstream/server.ts');
export const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const LOOPBACK = pathToFileURL(join(ROOT, 'bench/lib/loopback.mjs')).href;
export const MEM_PROBE = pathToFileURL(join(ROOT, 'bench/lib/mem-probe.mjs')).href;

export interface RedisHandle { proc: Proc; url: string; client: Redis }
export interface Upstream { proc: Proc; port: number; base: string }
export interface RegistryHandle { proc: Proc; url: string }
export interface EdgeHandle { proc: Proc; url: string; port: number }

export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const proc = startProcess('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes']);
  await waitForLine(proc, /Ready to accept connections/, 'redis-server start', 15_000);
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.connect();
  atStop(() => client.disconnect());
  return { proc, url, client };
}

export async function startFixture(listServers: number, listTools: number): Promise<Upstream> {
  const proc = startProcess('bench-upstream', NODE, ['--import', 'tsx', FIXTURE, '--port', '0', '--list-servers', String(listServers), '--list-tools', String(listTools)]);
  const m = await waitForLine(proc, /^listening (\d+)/, 'fixture listening');
  const port = Number(m[1]);
  return { proc, port, base: `http://127.0.0.1:${port}` };
}

/** server-everything in its own Streamable HTTP mode (express, /mcp), forced onto 127.0.0.1. */
export async function startEverything(): Promise<Upstream> {
  const proc = startProcess('server-everything', NODE, ['--import', LOOPBACK, EVERYTHING, 'streamableHttp'], { PORT: '0' });
  const m = await waitForLine(proc, /^bench-listening (\d+)/, 'server-everything listening');
  const port = Number(m[1]);
  return { proc, port, base: `http://127.0.0.1:${port}` };
}

export function writeConfig(servers: Record<string, string>, maxConcurrency: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-bench-'));
  const file = join(dir, 'config.yaml');
  const lines = ['mcp_servers:'];
  for (const [name, url] of Object.entries(servers)) {
    lines.push(`  ${name}:`, `    url: ${url}`, '    transport: http', `    max_concurrency: ${maxConcurrency}`);
  }
  lines.push('gateway:', '  tool_separator: "__"');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** `root`: the checkout whose build runs (another one for the before/after comparison). */
export async function startRegistry(configPath: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], root = ROOT, name = 'registry'): Promise<RegistryHandle> {
  // An embedded store of its own per registry (runs never share pins or keys) unless the caller names one.
  const store = env.DATABASE_URL || env.MCPGW_DATA_DIR ? {} : { MCPGW_DATA_DIR: mkdtempSync(join(tmpdir(), 'mcpgw-bench-data-')) };
  const proc = startProcess(name, NODE, [...nodeArgs, join(root, 'services/registry/dist/index.js')], {
    MCPGW_CONFIG: configPath, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0', LOG_LEVEL: 'info', ...store, ...env,
  });
  const m = await waitForLine(proc, /"msg":"registry ready"/, 'registry ready');
  const info = JSON.parse(m.input!) as { grpcPort: number };
  return { proc, url: `127.0.0.1:${info.grpcPort}` };
}

export async function startEdge(registryUrl: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = [], name = 'edge', root = ROOT): Promise<EdgeHandle> {
  const proc = startProcess(name, NODE, [...nodeArgs, join(root, 'services/edge/dist/index.js')], {
    REGISTRY_URL: registryUrl, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env,
  });
  const m = await waitForLine(proc, /"msg":"edge listening"/, 'edge listening');
  const port = (JSON.parse(m.input!) as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${name} /readyz`, async () => (await fetch(`${url}/readyz`)).ok || undefined);
  return { proc, url, port };
}

/** Waits until the edge lists `count` tools (or every given name). */
export async function waitForTools(edgeUrl: string, want: { names?: string[]; count?: number }, timeoutMs = 30_000, headers: Record<string, string> = {}): Promise<string[]> {
  return waitFor(`tools on ${edgeUrl}`, async () => {
    const res = await fetch(`${edgeUrl}/mcp/tools/list`, { headers });
    if (!res.ok) throw new Error(`GET /mcp/tools/list: HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const { tools } = (await res.json()) as { tools: { name: string }[] };
    const names = tools.map((t) => t.name);
    if (want.count !== undefined && names.length < want.count) return undefined;
    if (want.names && !want.names.every((n) => names.includes(n))) return undefined;
    return names;
  }, timeoutMs);
}
