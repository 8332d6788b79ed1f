// Upgrade in place: installs from before the store kept keys and pins only in
// Redis. On the first start with the store, those records are copied in once
// (a marker in store_meta); rows the store has already win, so a repeated or
// interrupted copy changes nothing it should not.
import type { Redis } from 'ioredis';
import type { Logger } from '@mcpgw/common/logger';
import type { KeyRow, Store } from './store/index.js';
import type { PinRecord } from './catalog/pinning.js';
import { toPinRow } from './catalog/store-pins.js';

/** The edge's Redis key record of earlier versions. */
interface LegacyKey {
  id: string; name: string; team?: string; servers?: string[]; tools?: string[]; rpm?: number; maxConcurrency?: number;
  expiresAt?: string; createdAt?: string; admin?: boolean; revokedAt?: string;
}

const ms = (iso: string | undefined) => (iso && !Number.isNaN(Date.parse(iso)) ? Date.parse(iso) : undefined);

function keyRow(sha256: string, k: LegacyKey): KeyRow {
  const row: KeyRow = { sha256, id: k.id, name: k.name, admin: k.admin === true, createdAtMs: ms(k.createdAt) ?? 0, createdBy: 'redis-import' };
  if (k.team) row.team = k.team;
  if (k.servers) row.servers = k.servers;
  if (k.tools) row.tools = k.tools;
  if (k.rpm) row.rpm = k.rpm;
  if (k.maxConcurrency) row.maxConcurrency = k.maxConcurrency;
  if (ms(k.expiresAt)) row.expiresAtMs = ms(k.expiresAt);
  if (ms(k.revokedAt)) { row.revokedAtMs = ms(k.revokedAt); row.revokedBy = 'redis-import'; }
  return row;
}

export interface UpgradeResult { keys: number; pins: number; skipped: boolean }

export async function copyRedisRecords(redis: Redis, store: Store, prefix: string, servers: string[], log: Logger): Promise<UpgradeResult> {
  const marker = `redis-import:${prefix}`;
  if ((await store.marker(marker)) !== undefined) return { keys: 0, pins: 0, skipped: true };
  let keys = 0;
  let pins = 0;
  const index = await redis.hgetall(`${prefix}{keys}:index`);
  for (const [id, sha] of Object.entries(index)) {
    const text = await redis.get(`${prefix}{keys}:${sha}`);
    if (!text) continue;
    if (await store.insertKey(keyRow(sha, { ...(JSON.parse(text) as LegacyKey), id }))) keys++;
  }
  // Revoked keys kept no hash: they are listed under a placeholder that no presented key can match.
  const revoked = await redis.hgetall(`${prefix}{keys}:revoked`);
  for (const [id, text] of Object.entries(revoked)) {
    if (await store.insertKey(keyRow(`revoked:${id}`, { ...(JSON.parse(text) as LegacyKey), id }))) keys++;
  }
  for (const server of servers) {
    const all = await redis.hgetall(`${prefix}pins:{${server}}`);
    for (const [tool, text] of Object.entries(all)) {
      if (await store.insertPinIfAbsent(toPinRow(server, tool, JSON.parse(text) as PinRecord))) pins++;
    }
  }
  await store.markOnce(marker, Date.now());
  if (keys || pins) log.info({ keys, pins }, 'copied keys and pins that existed only in Redis into the store (once)');
  return { keys, pins, skipped: false };
}
