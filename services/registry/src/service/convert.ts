// Conversions between the registry's records and the gRPC messages, shared by
// the service modules.
import {
  ToolPin_State,
  type CallEvent,
  type CatalogEvent,
  type ServerCatalog,
  type ToolPin,
} from '@mcpgw/proto/registry';
import type { CatalogChange, CatalogEntry } from '../catalog/catalog.js';
import type { PinState, PinView } from '../catalog/pinning.js';
import { SESSION_LOST } from '../upstreams/upstream-set.js';

export const EMPTY = Buffer.alloc(0);

export function toServerCatalog(e: CatalogEntry): ServerCatalog {
  return {
    name: e.name,
    hash: e.hash,
    toolsJson: e.toolsJson,
    resourcesJson: e.resourcesJson,
    resourceTemplatesJson: e.resourceTemplatesJson,
    promptsJson: e.promptsJson,
    stale: e.stale,
    description: e.description,
    serverInfoJson: e.serverInfoJson,
    perClient: e.perClient,
    credentialHeader: e.credentialHeader,
    tokenExchangeJson: e.tokenExchange,
  };
}

export function toCatalogEvent(c: CatalogChange): CatalogEvent {
  return { version: c.version, snapshot: c.snapshot, servers: c.servers.map(toServerCatalog), removedServers: c.removed };
}

export function resultEvent(resultJson: string, isError: boolean): CallEvent {
  return { event: { $case: 'result', value: { resultJson: Buffer.from(resultJson), errorJson: EMPTY, isError, sessionLost: false } }, eventId: '', messageJson: EMPTY };
}

export function errorEvent(error: { code: number }, json = JSON.stringify(error)): CallEvent {
  const errorJson = Buffer.from(json);
  return { event: { $case: 'result', value: { resultJson: EMPTY, errorJson, isError: false, sessionLost: error.code === SESSION_LOST } }, eventId: '', messageJson: EMPTY };
}

const PIN_STATE: Record<PinState, ToolPin_State> = {
  trusted: ToolPin_State.STATE_TRUSTED, changed: ToolPin_State.STATE_CHANGED, held: ToolPin_State.STATE_HELD, rejected: ToolPin_State.STATE_REJECTED,
};

export function toToolPin(p: PinView): ToolPin {
  const json = (v: unknown) => (v === undefined ? EMPTY : Buffer.from(JSON.stringify(v)));
  return {
    server: p.server, tool: p.tool, state: PIN_STATE[p.state], fingerprint: p.fingerprint ?? '', definitionJson: json(p.definition),
    pendingFingerprint: p.pending?.fingerprint ?? '', pendingDefinitionJson: json(p.pending?.definition), pendingSeenMs: p.pending?.seenAt ?? 0,
  };
}

export function parseObject(bytes: Buffer, what: string): Record<string, unknown> {
  if (bytes.length === 0) return {};
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}
