// Keys read through the registry (issue 19): the record survives the trip
// through the proto shape, a cached key costs no registry call, and a store
// that cannot answer serves the last known record (rechecked after a short
// grace, not on every request) while unknown keys are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyStore, type KeyRecord } from '../../services/edge/src/identity/keys.js';
import { RegistryKeyBackend, toKeyRecord, toVirtualKey, type KeyRegistry } from '../../services/edge/src/identity/registry-keys.js';

function fakeRegistry() {
  const keys = new Map<string, ReturnType<typeof toVirtualKey>>();
  const state = { lookups: 0, down: false };
  const registry: KeyRegistry = {
    lookupKey: async (sha256) => {
      state.lookups++;
      if (state.down) throw Object.assign(new Error('store unavailable'), { code: 14 });
      const key = keys.get(sha256);
      return { found: key !== undefined, key };
    },
    createKey: async (req) => { keys.set(req.sha256, req.key!); return { key: req.key }; },
    revokeKey: async () => ({ found: false, sha256: '' }),
    listKeys: async () => ({ keys: [...keys.values()] }),
  };
  return { registry, state };
}

test('a key record survives the proto shape: scopes absent stay absent, empty stays empty', () => {
  const full: KeyRecord = { id: 'key_1', name: 'ci', team: 'data', servers: ['git*'], tools: [], rpm: 60, maxConcurrency: 2,
    expiresAt: '2030-01-01T00:00:00.000Z', createdAt: '2026-01-01T00:00:00.000Z', admin: true, createdBy: 'master' };
  assert.deepEqual(toKeyRecord(toVirtualKey(full)), full);
  const bare: KeyRecord = { id: 'key_2', name: 'bare', createdAt: '2026-01-01T00:00:00.000Z', admin: false };
  assert.deepEqual(toKeyRecord(toVirtualKey(bare)), bare);
});

test('cached keys cost no registry call; the store down serves the last known record, unknown keys are refused', async () => {
  const { registry, state } = fakeRegistry();
  const store = new KeyStore(new RegistryKeyBackend(registry), [], 50);
  const { key } = await store.create({ name: 'ci', admin: false, createdBy: 'master' });
  assert.ok('found' in (await store.lookup(key)));
  for (let i = 0; i < 1_000; i++) await store.lookup(key);
  assert.equal(state.lookups, 1, 'one registry call for 1,001 lookups of a cached key');

  await new Promise((r) => setTimeout(r, 60)); // past the cache TTL
  state.down = true;
  const stale = await store.lookup(key);
  assert.ok('found' in stale && stale.found.name === 'ci', 'the last known record serves while the store is down');
  const calls = state.lookups;
  for (let i = 0; i < 100; i++) await store.lookup(key);
  assert.equal(state.lookups, calls, 'not rechecked on every request while down');
  assert.deepEqual(await store.lookup('sk-mcpgw-never-seen-before'), { unavailable: true }, 'an unknown key is refused (401), not served');

  state.down = false;
  assert.deepEqual(await store.lookup('sk-mcpgw-never-seen-before'), { missing: true });
});
