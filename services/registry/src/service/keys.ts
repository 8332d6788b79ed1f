// Virtual key RPCs over the store: edges look keys up (behind their caches),
// create and revoke them here. Only sha256 hashes arrive; the key itself
// never leaves the edge that minted it. Each write and its audit row are one
// transaction.
import { status } from '@grpc/grpc-js';
import type { RegistryServer, VirtualKey } from '@mcpgw/proto/registry';
import type { KeyRow } from '../store/index.js';
import type { RegistryDeps } from '../server.js';
import { answer, storeError } from './store-errors.js';

export type KeyHandlers = Pick<RegistryServer, 'lookupKey' | 'createKey' | 'revokeKey' | 'listKeys'>;

const SHA256 = /^[0-9a-f]{64}$/;

export function toVirtualKey(k: KeyRow): VirtualKey {
  return {
    id: k.id, name: k.name, team: k.team ?? '', servers: k.servers ?? [], hasServers: k.servers !== undefined, tools: k.tools ?? [], hasTools: k.tools !== undefined,
    rpm: k.rpm ?? 0, maxConcurrency: k.maxConcurrency ?? 0, expiresAtMs: k.expiresAtMs ?? 0, admin: k.admin, createdBy: k.createdBy ?? '',
    createdAtMs: k.createdAtMs, revokedAtMs: k.revokedAtMs ?? 0,
  };
}

export function fromVirtualKey(sha256: string, v: VirtualKey, createdBy: string, nowMs: number): KeyRow {
  const row: KeyRow = { sha256, id: v.id, name: v.name, admin: v.admin, createdAtMs: Number(v.createdAtMs) || nowMs };
  if (v.team) row.team = v.team;
  if (v.hasServers) row.servers = v.servers;
  if (v.hasTools) row.tools = v.tools;
  if (v.rpm) row.rpm = v.rpm;
  if (v.maxConcurrency) row.maxConcurrency = v.maxConcurrency;
  if (Number(v.expiresAtMs)) row.expiresAtMs = Number(v.expiresAtMs);
  if (createdBy) row.createdBy = createdBy;
  return row;
}

export function keyHandlers(deps: RegistryDeps): KeyHandlers {
  const { store, log } = deps;
  return {
    lookupKey(call, cb) {
      const { sha256 } = call.request;
      if (!SHA256.test(sha256)) return cb(null, { found: false, key: undefined });
      answer(cb, log, 'key lookup', store.getKey(sha256).then((k) => (k && k.revokedAtMs === undefined ? { found: true, key: toVirtualKey(k) } : { found: false, key: undefined })));
    },

    createKey(call, cb) {
      const { sha256, key, principal } = call.request;
      if (!SHA256.test(sha256) || !key?.id || !key.name) return cb({ code: status.INVALID_ARGUMENT, details: 'sha256 (hex), key.id and key.name are required' });
      const now = Date.now();
      const row = fromVirtualKey(sha256, key, principal, now);
      const audit = { atMs: now, principal: principal || 'unknown', action: 'key_created', target: row.id, detail: { id: row.id, name: row.name, team: row.team ?? null, admin: row.admin } };
      store.insertKey(row, audit).then(
        (inserted) => (inserted ? cb(null, { key: toVirtualKey(row) }) : cb({ code: status.ALREADY_EXISTS, details: `a key with this id or hash exists` })),
        (err: unknown) => cb(storeError(err, log, 'key create')),
      );
    },

    revokeKey(call, cb) {
      const { id, principal } = call.request;
      const now = Date.now();
      const audit = { atMs: now, principal: principal || 'unknown', action: 'key_revoked', target: id, detail: { id } };
      answer(cb, log, 'key revoke', store.revokeKey(id, principal || 'unknown', now, audit).then((sha256) => ({ found: sha256 !== undefined, sha256: sha256 ?? '' })));
    },

    listKeys(_call, cb) {
      answer(cb, log, 'key list', store.listKeys().then((keys) => ({ keys: keys.map(toVirtualKey) })));
    },
  };
}
