// `npm start [-- --config FILE]`: the embedded default. Starts the registry,
// waits for it to be ready, then the edge, each as its own process (as in
// production); stops both when either exits or on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';

const { values } = parseArgs({ options: { config: { type: 'string', short: 'c' } } });
const root = fileURLToPath(new URL('../../../', import.meta.url));
const config = values.config ? resolve(values.config) : process.env.MCPGW_CONFIG;
const grpcPort = process.env.GRPC_PORT ?? '50051';
const host = process.env.HOST ?? '127.0.0.1';
const port = process.env.PORT ?? '4000';

const env = {
  ...process.env,
  ...(config ? { MCPGW_CONFIG: config } : {}),
  GRPC_HOST: process.env.GRPC_HOST ?? '127.0.0.1',
  GRPC_PORT: grpcPort,
  METRICS_HOST: process.env.METRICS_HOST ?? '127.0.0.1',
  REGISTRY_URL: process.env.REGISTRY_URL ?? `127.0.0.1:${grpcPort}`,
  // The edge–registry link secret: fresh per run unless given, passed to both processes only.
  MCPGW_REGISTRY_TOKEN: process.env.MCPGW_REGISTRY_TOKEN || randomBytes(32).toString('base64url'),
  HOST: host,
  PORT: port,
};

const children: ChildProcess[] = [];
let stopping = false;

function start(name: string, script: string, readyMessage: string): Promise<ChildProcess> {
  return new Promise((resolveReady, reject) => {
    const child = spawn(process.execPath, [resolve(root, script)], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let ready = false;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      if (!ready && line.includes(`"msg":"${readyMessage}"`)) {
        ready = true;
        resolveReady(child);
      }
    });
    child.on('exit', (code, signal) => {
      if (!ready) reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal})`));
      else if (!stopping) {
        console.error(`mcpgw: ${name} exited (code ${code}, signal ${signal}); stopping`);
        stop(1);
      }
    });
  });
}

function stop(code: number): void {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 200).unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.on('exit', r)) : null))).then(() => process.exit(code));
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

try {
  await start('registry', 'services/registry/dist/index.js', 'registry ready');
  await start('edge', 'services/edge/dist/index.js', 'edge listening');
  const shown = host === '0.0.0.0' || host === '127.0.0.1' ? 'localhost' : host;
  console.error(`\nmcpgw is up: Streamable HTTP http://${shown}:${port}/mcp · legacy SSE http://${shown}:${port}/mcp/ · REST http://${shown}:${port}/mcp/tools/list\n`);
} catch (err) {
  console.error(`mcpgw: ${(err as Error).message}`);
  stop(1);
}
