// The registry's gRPC service: catalog reads and watches, and calls routed to
// one upstream. MCP payloads stay JSON bytes; upstream failures are results
// (CallResult.error_json), gRPC status is left for transport failures.
// Each RPC's handler lives in service/<concern>.ts; this file assembles them,
// and builds the grpc-js server with its gatekeeper.
import { timingSafeEqual, createHash } from 'node:crypto';
import {
  Metadata, Server, ServerCredentials, ServerInterceptingCall, status,
  type ChannelCredentials, type ServerInterceptor,
} from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { RegistryService, type RegistryServer } from '@mcpgw/proto/registry';
import type { EventLog } from '@mcpgw/common/event-log';
import type { Tracing } from '@mcpgw/common/tracing';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogStore } from './catalog/catalog.js';
import type { PinningCatalog } from './catalog/pinning.js';
import type { RegistryMetrics } from './metrics.js';
import type { ReplicaBus, ReplicaMessage } from './replica-bus.js';
import type { LocalNotifier } from './notifier.js';
import type { UpstreamSet } from './upstreams/upstream-set.js';
import { catalogHandlers } from './service/catalog.js';
import { callHandlers } from './service/calls.js';
import { pinHandlers } from './service/pins.js';
import { connectService } from './upstreams/user-auth/connect-service.js';
import { Peers } from './peers.js';
import { createRegistryTasks, forwardsTasks, type RegistryTasks, type TaskSettings, type TaskStore } from './tasks/index.js';
import { keyHandlers } from './service/keys.js';
import { recordHandlers } from './service/records.js';
import type { Store } from './store/index.js';
import type { Watches } from './service/watches.js';

export { toServerCatalog } from './service/convert.js';

export interface RegistryDeps {
  catalog: CatalogStore;
  /** Tool pinning over the same catalog: fingerprints, pending changes, decisions. */
  pins: PinningCatalog;
  upstreams: UpstreamSet;
  metrics: RegistryMetrics;
  log: Logger;
  /** Reaches other replicas (Redis); absent with one replica. */
  replicaBus?: ReplicaBus;
  /** This replica's id, unique among replicas: part of server-to-client request ids. */
  instanceId: string;
  /** Without Redis: the notifier whose watchers are the edges' WatchNotifications streams. */
  localNotifier?: LocalNotifier;
  /** OpenTelemetry, when configured. */
  tracing?: Tracing;
  /** The shared event log (Redis), for calls the edge asks to make resumable. */
  events?: EventLog;
  /** MCPGW_REGISTRY_TOKEN: required from every caller (health checks excepted); also sent to other replicas. */
  token?: string;
  /** How this replica reaches others (per_client owners): TLS when the link uses it. */
  peerCredentials?: ChannelCredentials;
  /** Set on SIGTERM: new calls are refused (UNAVAILABLE before acceptance, so edges retry elsewhere). */
  draining?: boolean;
  /** The system of record: keys, pins and their history, audit, call log, usage. */
  store: Store;
  /** How many rows the call log keeps (MCPGW_CALL_LOG_ROWS). */
  callLogRows?: number;
  /** Tasks (issue 22): where task records live (Redis; memory by default), bounds, and this replica's address for routing. */
  taskStore?: TaskStore;
  taskSettings?: Partial<TaskSettings>;
  taskAddress?: () => string | undefined;
  /** Reaches client sessions' streams (task status notifications). */
  taskNotifier?: { publish(sessionId: string, messageJson: string): void };
}

export interface RegistryImpl {
  service: RegistryServer;
  /** What another replica broadcast: acted on when this replica holds the target. */
  onReplicaMessage(message: ReplicaMessage): void;
  /** Calls (CallTool, Forward) running now. */
  inFlight(): number;
  /** Ends the long-lived watch streams, so edges resubscribe on another replica. */
  endWatches(): void;
  tasks: RegistryTasks;
}

/** New edges are spread over replicas: connections are recycled after this long. */
const MAX_CONNECTION_AGE_MS = 5 * 60_000;

export function createRegistryService(deps: RegistryDeps): RegistryImpl {
  const watches: Watches = new Set();
  const peers = new Peers(deps.token, deps.peerCredentials);
  const calls = callHandlers(deps, watches, peers);
  // Gateway-run tasks take the CallTool path; the upstream's requests are answered through Respond.
  const tasks = createRegistryTasks({
    store: deps.taskStore, settings: deps.taskSettings, instanceId: deps.instanceId, log: deps.log, peers, address: deps.taskAddress,
    callTool: (call) => service.callTool(call),
    forward: (call) => service.forward(call),
    forwardable: (server, tool) => forwardsTasks(deps.catalog.entries().find((e) => e.name === server), tool),
    notify: (sessionId, text) => (deps.taskNotifier ?? deps.localNotifier)?.publish(sessionId, text),
    respond: (id, json) => { if (!calls.respondLocal(id, json)) void deps.replicaBus?.publish({ kind: 'respond', id, response: json }).catch(() => undefined); },
  });
  // One module per concern; the compiler checks that together they cover every RPC.
  const service: RegistryServer = {
    ...catalogHandlers(deps, watches),
    ...calls.handlers,
    ...pinHandlers(deps),
    ...keyHandlers(deps),
    ...recordHandlers(deps),
    // Issue 20: connecting users' own upstream accounts.
    ...connectService(deps.upstreams),
    // Issue 22: tasks, on any replica.
    ...tasks.handlers,
  };
  /** Draining: catalog watchers move away, and multiplexed call streams end once their calls are done. */
  const endWatches = () => {
    for (const w of watches) w.end();
    watches.clear();
    calls.drain();
  };
  return { service, onReplicaMessage: calls.onReplicaMessage, inFlight: calls.inFlight, endWatches, tasks };
}

/** A grpc-js server with the registry and grpc.health.v1 services; not yet bound. */
export function createGrpcServer(deps: RegistryDeps, registry = createRegistryService(deps)): { server: Server; health: HealthImplementation } {
  const server = new Server({
    interceptors: [gatekeeper(deps)],
    'grpc.max_connection_age_ms': MAX_CONNECTION_AGE_MS,
    // Long-running streams (WatchCatalog, slow tool calls) are not cut by the age limit.
    'grpc.max_connection_age_grace_ms': 2 ** 31 - 1,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(RegistryService, registry.service);
  const health = new HealthImplementation({ '': 'SERVING', 'mcpgw.registry.v1.Registry': 'SERVING' });
  health.addToServer(server);
  return { server, health };
}

export function bindGrpc(server: Server, address: string, creds: ServerCredentials = ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

const HEALTH_PREFIX = '/grpc.health.v1.';

/**
 * Every call but health checks: the shared token (compared in constant time)
 * or UNAUTHENTICATED; while draining, UNAVAILABLE before the call is accepted
 * (no response headers), which the edge retries on another replica.
 */
function gatekeeper(deps: RegistryDeps): ServerInterceptor {
  const expected = deps.token ? createHash('sha256').update(`Bearer ${deps.token}`).digest() : undefined;
  const authorized = (md: Metadata): boolean => {
    if (!expected) return true;
    const given = md.get('authorization')[0];
    if (typeof given !== 'string') return false;
    return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
  };
  return (method, call) => new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(md, mdNext) {
          if (method.path.startsWith(HEALTH_PREFIX)) return mdNext(md);
          if (!authorized(md)) {
            deps.log.warn({ method: method.path }, 'registry call refused: missing or wrong MCPGW_REGISTRY_TOKEN');
            return call.sendStatus({ code: status.UNAUTHENTICATED, details: 'missing or wrong registry token', metadata: new Metadata() });
          }
          if (deps.draining) return call.sendStatus({ code: status.UNAVAILABLE, details: 'registry draining', metadata: new Metadata() });
          mdNext(md);
        },
      });
    },
  });
}
