// Virtual keys in the registry's store (issue 19): the edge never connects to
// the database; it reads and writes keys through the registry's gRPC API.
// KeyStore keeps its cache in front (positive for the key cache TTL, negative
// briefly), so a cached key costs no round trip; a registry or store that
// cannot answer makes the lookup fail, which KeyStore turns into "cached copy
// or refused" (fail closed). Revokes are still announced on Redis so every
// edge drops its cached copy at once.
import type { VirtualKey } from '@mcpgw/proto/registry';
import type { RegistryLink } from '../registry-client.js';
import type { KeyBackend, KeyRecord } from './keys.js';

/** The registry calls this backend needs (a fake of it drives unit tests). */
export type KeyRegistry = Pick<RegistryLink, 'lookupKey' | 'createKey' | 'revokeKey' | 'listKeys'>;

/** Where revokes are announced to other edges (Redis pub/sub); absent with one edge. */
export type RevokeBus = Pick<KeyBackend, 'onRevoke' | 'announceRevoke'>;

const iso = (ms: number | bigint) => new Date(Number(ms)).toISOString();

export function toKeyRecord(v: VirtualKey): KeyRecord {
  const rec: KeyRecord = { id: v.id, name: v.name, admin: v.admin, createdAt: Number(v.createdAtMs) ? iso(v.createdAtMs) : '' };
  if (v.team) rec.team = v.team;
  if (v.hasServers) rec.servers = v.servers;
  if (v.hasTools) rec.tools = v.tools;
  if (v.rpm) rec.rpm = v.rpm;
  if (v.maxConcurrency) rec.maxConcurrency = v.maxConcurrency;
  if (Number(v.expiresAtMs)) rec.expiresAt = iso(v.expiresAtMs);
  if (Number(v.revokedAtMs)) rec.revokedAt = iso(v.revokedAtMs);
  if (v.createdBy) rec.createdBy = v.createdBy;
  return rec;
}

export function toVirtualKey(r: KeyRecord): VirtualKey {
  return {
    id: r.id, name: r.name, team: r.team ?? '', servers: r.servers ?? [], hasServers: r.servers !== undefined, tools: r.tools ?? [], hasTools: r.tools !== undefined,
    rpm: r.rpm ?? 0, maxConcurrency: r.maxConcurrency ?? 0, expiresAtMs: r.expiresAt ? Date.parse(r.expiresAt) : 0, admin: r.admin,
    createdBy: r.createdBy ?? '', createdAtMs: r.createdAt ? Date.parse(r.createdAt) : Date.now(), revokedAtMs: 0,
  };
}

export class RegistryKeyBackend implements KeyBackend {
  constructor(private readonly registry: KeyRegistry, private readonly bus?: RevokeBus) {}

  async get(sha: string): Promise<KeyRecord | undefined> {
    const r = await this.registry.lookupKey(sha);
    return r.found && r.key ? toKeyRecord(r.key) : undefined;
  }

  async put(sha: string, rec: KeyRecord): Promise<void> {
    await this.registry.createKey({ sha256: sha, key: toVirtualKey(rec), principal: rec.createdBy ?? '' });
  }

  async remove(id: string, by = ''): Promise<string | undefined> {
    const r = await this.registry.revokeKey(id, by);
    return r.found ? r.sha256 : undefined;
  }

  async list(): Promise<KeyRecord[]> {
    return (await this.registry.listKeys()).keys.map(toKeyRecord);
  }

  onRevoke(listener: (sha: string) => void): void {
    this.bus?.onRevoke(listener);
  }

  async announceRevoke(sha: string): Promise<void> {
    await this.bus?.announceRevoke(sha);
  }
}
