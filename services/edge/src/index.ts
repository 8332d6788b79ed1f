// Edge process: MCP for clients on PORT, dispatching to the registry at REGISTRY_URL.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ConfigError, loadConfigFile } from '@mcpgw/common/config';
import { watchConfig } from '@mcpgw/common/config-watch';
import { createLogger } from '@mcpgw/common/logger';
import { startTracing } from '@mcpgw/common/tracing';
import { connectRedis } from '@mcpgw/common/redis';
import { MemoryEventLog, RedisEventLog, type EventLog } from '@mcpgw/common/event-log';
import { buildApp } from './app.js';
import { CatalogView } from './catalog-view.js';
import { Authenticator } from './identity/authenticate.js';
import { JwtVerifier } from './identity/jwt.js';
import { KeyStore, RedisKeyBackend } from './identity/keys.js';
import { RegistryKeyBackend, type RevokeBus } from './identity/registry-keys.js';
import { Providers } from './llm/provider.js';
import { createEdgeMetrics } from './metrics.js';
import { Limiter } from './pipeline/limits.js';
import { RegistryLink, registryLinkOptions } from './registry-client.js';
import { MemorySessionStore, RedisSessionStore, type SessionStore } from './sessions/session-store.js';
import { loadEdgeSettings, redactSettings, type EdgeSettings } from './settings.js';
import { setSseBufferLimit, type StreamTarget } from './transports/sse-writer.js';
import { createOAuth } from './oauth/create.js';
import { LocalStreamBus, RedisStreamBus, type StreamBus } from './transports/stream-bus.js';

const log = createLogger('edge');

let settings: EdgeSettings;
try {
  settings = loadEdgeSettings(process.env);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`mcpgw edge: config error: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
const { host, port, gateway } = settings;
setSseBufferLimit(settings.sseMaxBufferBytes);

const metrics = createEdgeMetrics();
const instanceId = `${hostname()}-${randomBytes(4).toString('hex')}`;
const streams = new Map<string, StreamTarget>();
let redis: Redis | undefined;
let sessions: SessionStore;
let bus: StreamBus;
let events: EventLog;
let revokeBus: RevokeBus | undefined;
if (settings.redisUrl) {
  const prefix = settings.redisPrefix;
  const [client, sub] = await Promise.all([connectRedis(settings.redisUrl, log, 'edge'), connectRedis(settings.redisUrl, log, 'edge-sub')]);
  redis = client;
  sessions = new RedisSessionStore(redis, prefix, settings.sessionTtlMs, sub, settings.limits.maxSessionsPerPrincipal);
  bus = await RedisStreamBus.open(streams, redis, sub, prefix, instanceId, log);
  events = new RedisEventLog(redis, prefix, settings.sessionTtlMs);
  // Keys live in the registry's store; Redis only carries revokes to every edge.
  revokeBus = new RedisKeyBackend(redis, sub, prefix);
} else {
  sessions = new MemorySessionStore(settings.sessionTtlMs, settings.limits.maxSessionsPerPrincipal);
  bus = new LocalStreamBus(streams);
  events = new MemoryEventLog(settings.sessionTtlMs);
}

const registry = new RegistryLink(settings.registryUrl, log, registryLinkOptions(settings.registryToken, settings.registryTls, settings.registryMux));
// Admin-created keys are read through the registry (its store), behind KeyStore's cache.
const keys = new KeyStore(new RegistryKeyBackend(registry, revokeBus), gateway.keys, settings.keyCacheMs);
// gateway.auth.login: the gateway signs users in itself (issue 20); its tokens verify on every edge with MCPGW_STATE_SECRET.
const oauth = gateway.login ? createOAuth(gateway.login, gateway.teams, settings.publicUrl!, settings.stateSecret, redis, settings.redisPrefix, settings.oauthDevHttpClientIds) : undefined;
const authenticator = new Authenticator({ masterKey: settings.masterKey, keys, jwt: new JwtVerifier(gateway.jwt), teams: gateway.teams, keysEnabled: gateway.keys.length > 0, gatewayTokens: oauth?.tokens });
const loopbackOnly = ['127.0.0.1', 'localhost', '::1'].includes(host);
if (!authenticator.required && !loopbackOnly) {
  log.warn({ host }, 'NO AUTHENTICATION: MCPGW_MASTER_KEY is unset and the edge listens beyond loopback; anyone who reaches it can call every tool');
}

const catalog = new CatalogView(gateway.toolSeparator);
registry.watchCatalog(catalog);
if (!redis) registry.watchNotifications((sessionId, text) => void bus.deliver(undefined, sessionId, text));

const tracing = startTracing('mcpgw-edge');
const providers = new Providers(settings.models, { timeoutMs: settings.llm.timeoutMs, maxConnections: settings.llm.maxConnections });
const app = buildApp({
  tracing,
  catalog,
  registry,
  records: registry,
  sessions,
  metrics,
  log,
  instanceId,
  streams,
  bus,
  events,
  sharedEvents: Boolean(redis),
  hosts: { allowedHosts: settings.allowedHosts, allowedOrigins: settings.allowedOrigins },
  authenticator,
  keys,
  limiter: new Limiter({ redis, prefix: settings.redisPrefix, toolLimits: gateway.toolLimits, metrics, log }),
  gateway,
  publicUrl: settings.publicUrl,
  redactedSettings: redactSettings(settings),
  maxBodyBytes: gateway.maxBodyBytes,
  limits: settings.limits,
  sessionTtlMs: settings.sessionTtlMs,
  callTimeoutMs: settings.callTimeoutMs,
  stateSecret: settings.stateSecret,
  mrtrHoldMs: settings.mrtrHoldMs,
  oauth,
  connect: registry,
  tasks: settings.tasks,
  llm: { providers, maxSteps: settings.llm.maxSteps },
});
// model_list reloads here as it does on the registry; the rest of the gateway block needs a (rolling) restart.
if (process.env.MCPGW_CONFIG) {
  const path = process.env.MCPGW_CONFIG;
  watchConfig(path, log, async (config) => {
    providers.replace(config.models);
    log.info({ models: config.models.map((m) => m.name) }, 'model_list reloaded');
  }, (p) => loadConfigFile(p, process.env, { gatewayOnly: true }));
}
if (redis && settings.stateSecretGenerated) {
  log.warn('MCPGW_STATE_SECRET is unset: MRTR requestState is sealed with a per-process secret, so a 2026 client\'s retry that reaches another edge is refused; give every edge the same MCPGW_STATE_SECRET');
}

const address = await app.listen({ host, port });
log.info({ address, port: Number(new URL(address).port), registry: settings.registryUrl, redis: Boolean(redis), auth: authenticator.required }, 'edge listening');

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
