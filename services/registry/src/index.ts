// Registry process: reads the config, connects the upstreams, serves gRPC on
// GRPC_PORT and Prometheus metrics on METRICS_PORT.
import { createServer as createHttpServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { ConfigError, loadConfigFile, type Config } from '@mcpgw/common/config';
import { createLogger } from '@mcpgw/common/logger';
import { startTracing } from '@mcpgw/common/tracing';
import { connectRedis, DEFAULT_PREFIX } from '@mcpgw/common/redis';
import { MemoryCatalog, type CatalogStore } from './catalog/catalog.js';
import { RedisCatalog } from './catalog/redis-catalog.js';
import { PinningCatalog } from './catalog/pinning.js';
import { StorePinBackend } from './catalog/store-pins.js';
import { openStore, storeTarget, StoreUnavailableError, type Store } from './store/index.js';
import { copyRedisRecords } from './store-upgrade.js';
import { createRegistryMetrics } from './metrics.js';
import { bindGrpc, createGrpcServer, createRegistryService, type RegistryDeps } from './server.js';
import { openReplicaBus } from './replica-bus.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { RedisEventLog } from '@mcpgw/common/event-log';
import { RedisSessionLeases } from './upstreams/session-leases.js';
import { LocalNotifier, RedisNotifier } from './notifier.js';
import { UpstreamSet } from './upstreams/upstream-set.js';
import { watchConfig } from '@mcpgw/common/config-watch';
import { credentials, ServerCredentials } from '@grpc/grpc-js';
import { registrySettings } from './settings.js';
import { userAuthOptions } from './upstreams/user-auth/setup.js';
import { RedisTaskStore } from './tasks/index.js';

const log = createLogger('registry');
const env = process.env;
const configPath = env.MCPGW_CONFIG || fileURLToPath(new URL('../config/example.yaml', import.meta.url));

let config: Config;
try {
  config = loadConfigFile(configPath);
} catch (err) {
  if (err instanceof ConfigError) {
    // One plain line a person can act on, then a non-zero exit.
    console.error(`mcpgw registry: config error: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
for (const w of config.warnings) log.warn(w);

const settings = registrySettings(env);
const metrics = createRegistryMetrics();

// The system of record. Migrations run under a lock before anything reads it;
// a store that is not reachable yet is waited for (a registry that started
// first in a deployment must not give up on its database).
let store: Store;
try {
  store = await openStore(storeTarget(env));
} catch (err) {
  console.error(`mcpgw registry: store: ${(err as Error).message}`);
  process.exit(2);
}
for (let attempt = 1; ; attempt++) {
  try {
    const applied = await store.migrate();
    log.info({ store: store.info.kind, location: store.info.location, schema: applied.at(-1)?.version }, 'store ready');
    break;
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    log.warn({ attempt, err: err.message }, 'store unavailable at start; retrying');
    await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * attempt)));
  }
}
const redisUrl = env.REDIS_URL;
const prefix = env.MCPGW_REDIS_PREFIX ?? DEFAULT_PREFIX;
const redisClients: Redis[] = [];
let catalog: CatalogStore;
if (redisUrl) {
  const [redis, sub] = await Promise.all([connectRedis(redisUrl, log, 'registry'), connectRedis(redisUrl, log, 'registry-sub')]);
  redisClients.push(redis, sub);
  catalog = await RedisCatalog.open(redis, sub, prefix, log);
  // Upgrade in place: keys and pins of earlier versions lived only in Redis.
  await copyRedisRecords(redis, store, prefix, config.servers.map((s) => s.name), log)
    .catch((err: Error) => log.warn({ err: err.message }, 'copying Redis-only keys and pins into the store failed; retried at the next start'));
} else {
  catalog = new MemoryCatalog();
}
// Tool pinning decides what of each upstream's report is published.
const pinned = new PinningCatalog(catalog, {
  mode: config.gateway.pinning,
  holdNew: config.gateway.holdNew,
  backend: new StorePinBackend(store),
  log,
  onChange: (server) => metrics.toolChanges.inc({ server }),
});
catalog = pinned;
metrics.catalogVersion.set(catalog.version);
catalog.subscribe((c) => metrics.catalogVersion.set(c.version));

const instanceId = `${hostname()}-${randomBytes(4).toString('hex')}`;
const leases = redisClients.length > 0 ? new RedisSessionLeases(redisClients[0]!, prefix, instanceId) : undefined;
const localNotifier = redisClients.length > 0 ? undefined : new LocalNotifier();
const notifier = localNotifier ?? new RedisNotifier(redisClients[0]!, prefix);
let userAuth;
try {
  userAuth = userAuthOptions(env, config, store);
} catch (err) {
  console.error(`mcpgw registry: config error: ${(err as Error).message}`);
  process.exit(2);
}
const upstreams = new UpstreamSet(catalog, log, metrics, notifier, leases, userAuth);
// Servers the shared catalog still lists but this config no longer has.
const configured = new Set(config.servers.map((s) => s.name));
for (const e of catalog.entries()) {
  if (!configured.has(e.name)) await catalog.remove(e.name).catch(() => {});
}
await upstreams.apply(config.servers);
const stopWatching = watchConfig(configPath, log, async (next) => {
  const diff = await upstreams.apply(next.servers);
  log.info(diff, 'config reloaded');
});

const tracing = startTracing('mcpgw-registry');
const deps: RegistryDeps = {
  catalog, pins: pinned, upstreams, metrics, log, instanceId, localNotifier, tracing, token: settings.token, store, callLogRows: settings.callLogRows,
  taskStore: redisClients.length > 0 ? new RedisTaskStore(redisClients[0]!, prefix) : undefined,
  taskSettings: settings.tasks, taskAddress: () => leases?.address || undefined, taskNotifier: notifier,
  // Replicas reach each other as edges reach them: with the CA and this replica's certificate when TLS is on.
  peerCredentials: settings.tls?.ca ? credentials.createSsl(settings.tls.ca, settings.tls.key, settings.tls.cert) : undefined,
};
const registryService = createRegistryService(deps);
if (redisClients.length > 0) {
  const [redis, sub] = redisClients as [Redis, Redis];
  deps.replicaBus = await openReplicaBus(redis, sub, prefix, log, registryService.onReplicaMessage);
  deps.events = new RedisEventLog(redis, prefix, Number(env.MCPGW_SESSION_TTL_SECONDS ?? 3600) * 1000);
}
const { server: grpcServer, health } = createGrpcServer(deps, registryService);
const grpcHost = env.GRPC_HOST ?? '0.0.0.0';
const serverCredentials = settings.tls
  ? ServerCredentials.createSsl(settings.tls.ca ?? null, [{ private_key: settings.tls.key, cert_chain: settings.tls.cert }], Boolean(settings.tls.ca))
  : ServerCredentials.createInsecure();
const grpcPort = await bindGrpc(grpcServer, `${grpcHost}:${env.GRPC_PORT ?? '50051'}`, serverCredentials);
if (!settings.token && !['127.0.0.1', 'localhost', '::1'].includes(grpcHost)) {
  log.warn({ grpcHost }, 'NO REGISTRY TOKEN: MCPGW_REGISTRY_TOKEN is unset and gRPC listens beyond loopback; anyone who reaches the port can call every tool');
}
// Where other replicas reach this one (per_client forwarding); the chart sets it to the pod IP.
if (leases) leases.address = env.MCPGW_ADVERTISE_ADDR ?? `${grpcHost === '0.0.0.0' ? hostname() : grpcHost}:${grpcPort}`;

const metricsServer = createHttpServer((req, res) => {
  if (req.url === '/metrics') {
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  } else if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => metricsServer.listen(Number(env.METRICS_PORT ?? 9464), env.METRICS_HOST ?? grpcHost, resolve));
const metricsAddr = metricsServer.address();
log.info({ grpcPort, metricsPort: typeof metricsAddr === 'object' ? metricsAddr?.port : undefined, servers: [...configured], redis: Boolean(redisUrl), store: store.info.kind, auth: Boolean(settings.token), tls: Boolean(settings.tls) }, 'registry ready');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal, inFlight: registryService.inFlight() }, 'registry draining');
  const force = setTimeout(() => process.exit(1), settings.drainDelayMs + settings.drainTimeoutMs + 5_000);
  force.unref();
  stopWatching();
  // Drain: refuse new calls (edges retry them elsewhere), report NOT_SERVING,
  // move catalog watchers away, then close the listener and GOAWAY the
  // connections while in-flight calls finish; cut what is left after the timeout.
  deps.draining = true;
  health.setStatus('', 'NOT_SERVING');
  health.setStatus('mcpgw.registry.v1.Registry', 'NOT_SERVING');
  registryService.endWatches();
  await new Promise((r) => setTimeout(r, settings.drainDelayMs));
  const cut = setTimeout(() => {
    log.warn({ inFlight: registryService.inFlight() }, 'drain timeout; cutting the calls still running');
    grpcServer.forceShutdown();
  }, settings.drainTimeoutMs);
  await new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
  clearTimeout(cut);
  log.info('registry drained');
  await registryService.tasks.runner.close();
  await upstreams.stop();
  await catalog.close();
  await deps.events?.close();
  await store.close();
  await tracing?.shutdown().catch(() => {});
  metricsServer.close();
  await Promise.all(redisClients.map((r) => r.quit().catch(() => r.disconnect())));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
