// Catalog RPCs: what the upstreams offer (ListTools, WatchCatalog) and how
// they are doing (ListServers).
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { ServerStatus_State, type CatalogEvent, type RegistryServer, type WatchCatalogRequest } from '@mcpgw/proto/registry';
import { CircuitState } from 'cockatiel';
import type { CatalogChange } from '../catalog/catalog.js';
import type { RegistryDeps } from '../server.js';
import { toCatalogEvent, toServerCatalog } from './convert.js';
import { track, type Watches } from './watches.js';

export type CatalogHandlers = Pick<RegistryServer, 'listTools' | 'watchCatalog' | 'listServers'>;

export function catalogHandlers(deps: RegistryDeps, watches: Watches): CatalogHandlers {
  const { catalog, upstreams } = deps;
  return {
    listTools(call: ServerUnaryCall<{ servers: string[] }, unknown>, cb: sendUnaryData<never>) {
      const only = new Set(call.request.servers);
      const servers = catalog.entries().filter((e) => only.size === 0 || only.has(e.name)).map(toServerCatalog);
      cb(null, { servers, nextCursor: '', version: catalog.version } as never);
    },

    watchCatalog(call: ServerWritableStream<WatchCatalogRequest, CatalogEvent>) {
      // Subscribe before reading so no change falls between the two.
      const pending: CatalogChange[] = [];
      let live = false;
      const unsubscribe = catalog.subscribe((c) => (live ? call.write(toCatalogEvent(c)) : pending.push(c)));
      track(watches, call as ServerWritableStream<unknown, unknown>, unsubscribe);
      const since = Number(call.request.sinceVersion);
      const changes = since > 0 ? catalog.changesSince(since) : undefined;
      let sentVersion: number;
      if (changes) {
        for (const c of changes) call.write(toCatalogEvent(c));
        sentVersion = changes.at(-1)?.version ?? since;
      } else {
        call.write({ version: catalog.version, snapshot: true, servers: catalog.entries().map(toServerCatalog), removedServers: [] });
        sentVersion = catalog.version;
      }
      for (const c of pending) if (c.snapshot || c.version > sentVersion) call.write(toCatalogEvent(c));
      live = true;
    },

    listServers(_call, cb) {
      const state = { connecting: ServerStatus_State.STATE_CONNECTING, up: ServerStatus_State.STATE_UP, down: ServerStatus_State.STATE_DOWN } as const;
      cb(null, {
        servers: upstreams.all().map((u) => ({
          name: u.config.name,
          transport: u.config.transport,
          state: u.state === 'up' && u.breaker.state !== CircuitState.Closed ? ServerStatus_State.STATE_DEGRADED : state[u.state],
          lastLatencyMs: u.lastLatencyMs,
          toolCount: u.toolCount,
          lastError: u.lastError,
          lastSeenMs: u.lastSeenMs,
          protocolVersion: u.protocolVersion ?? '',
          sessionMode: u.config.session,
          pinChanges: deps.pins.pendingCount(u.config.name),
        })),
      });
    },
  };
}
