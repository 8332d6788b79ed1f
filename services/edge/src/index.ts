// Edge process: MCP for clients on PORT, dispatching to the registry at REGISTRY_URL.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConfigError, loadConfigFile, type GatewayConfig } from '@mcpgw/common/config';
import { createLogger } from '@mcpgw/common/logger';
import { startTracing } from '@mcpgw/common/tracing';
import { DEFAULT_SEPARATOR } from '@mcpgw/common/naming';
import { connectRedis, DEFAULT_PREFIX } from '@mcpgw/common/redis';
import { MemoryEventLog, RedisEventLog, type EventLog } from '@mcpgw/common/event-log';
import { buildApp } from './app.js';
import { CatalogView } from './catalog-view.js';
import { LOOPBACK_HOSTS } from './guard.js';
import { createEdgeMetrics } from './metrics.js';
import { RegistryLink, registryLinkSettings } from './registry-client.js';
import { MemorySessionStore, RedisSessionStore, type SessionStore } from './sessions/session-store.js';
import type { SseWriter } from './transports/sse-writer.js';
import { LocalStreamBus, RedisStreamBus, type StreamBus } from './transports/stream-bus.js';

const log = createLogger('edge');
const env = process.env;

let gateway: Partial<GatewayConfig> = {};
if (env.MCPGW_CONFIG) {
  try {
    gateway = loadConfigFile(env.MCPGW_CONFIG, env, { gatewayOnly: true }).gateway;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`mcpgw edge: config error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}
const list = (v: string | undefined) => v?.split(',').map((s) => s.trim()).filter(Boolean);
const host = env.HOST ?? '127.0.0.1';
const port = Number(env.PORT ?? 4000);
const masterKey = env.MCPGW_MASTER_KEY || gateway.masterKey;
const loopbackOnly = ['127.0.0.1', 'localhost', '::1'].includes(host);
if (!masterKey && !loopbackOnly) {
  log.warn({ host }, 'NO AUTHENTICATION: MCPGW_MASTER_KEY is unset and the edge listens beyond loopback; anyone who reaches it can call every tool');
}

const metrics = createEdgeMetrics();
const ttlMs = Number(env.MCPGW_SESSION_TTL_SECONDS ?? 3600) * 1000;
const instanceId = `${hostname()}-${randomBytes(4).toString('hex')}`;
const streams = new Map<string, SseWriter>();
let redis: Redis | undefined;
let sessions: SessionStore;
let bus: StreamBus;
let events: EventLog;
if (env.REDIS_URL) {
  const prefix = env.MCPGW_REDIS_PREFIX ?? DEFAULT_PREFIX;
  const [client, sub] = await Promise.all([connectRedis(env.REDIS_URL, log, 'edge'), connectRedis(env.REDIS_URL, log, 'edge-sub')]);
  redis = client;
  sessions = new RedisSessionStore(redis, prefix, ttlMs, sub);
  bus = await RedisStreamBus.open(streams, redis, sub, prefix, instanceId, log);
  events = new RedisEventLog(redis, prefix, ttlMs);
} else {
  sessions = new MemorySessionStore(ttlMs);
  bus = new LocalStreamBus(streams);
  events = new MemoryEventLog(ttlMs);
}

const catalog = new CatalogView(gateway.toolSeparator ?? DEFAULT_SEPARATOR);
const registry = new RegistryLink(env.REGISTRY_URL ?? '127.0.0.1:50051', log, registryLinkSettings(env));
registry.watchCatalog(catalog);
if (!redis) registry.watchNotifications((sessionId, text) => void bus.deliver(undefined, sessionId, text));

const tracing = startTracing('mcpgw-edge');
const app = buildApp({
  tracing,
  catalog,
  registry,
  sessions,
  metrics,
  log,
  instanceId,
  streams,
  bus,
  events,
  sharedEvents: Boolean(redis),
  guard: {
    allowedHosts: list(env.MCPGW_ALLOWED_HOSTS) ?? gateway.allowedHosts ?? LOOPBACK_HOSTS,
    allowedOrigins: list(env.MCPGW_ALLOWED_ORIGINS) ?? gateway.allowedOrigins ?? [],
    masterKey,
  },
  maxBodyBytes: gateway.maxBodyBytes ?? 4 * 1024 * 1024,
  callTimeoutMs: Number(env.MCPGW_CALL_TIMEOUT_MS ?? 300_000),
});

const address = await app.listen({ host, port });
log.info({ address, port: Number(new URL(address).port), registry: env.REGISTRY_URL ?? '127.0.0.1:50051', redis: Boolean(redis) }, 'edge listening');

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'edge shutting down');
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await app.close();
  registry.close();
  await sessions.close();
  await bus.close();
  await tracing?.shutdown().catch(() => {});
  await redis?.quit().catch(() => redis?.disconnect());
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
