// The storage suite against a real Postgres (a throwaway cluster, see
// test/harness/postgres.ts), plus what only a server shows: two processes
// migrating at once, and the fail-closed error when the server is gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, StoreUnavailableError, type Store } from '../../services/registry/src/store/index.js';
import { createDatabase, startPostgres, type PostgresHandle } from '../harness/postgres.js';
import { stopAll } from '../harness/processes.js';
import { storeSuite } from './suite.js';

let pg: PostgresHandle;
let n = 0;
before(async () => { pg = await startPostgres(); });
after(async () => { await pg?.stop(); await stopAll(); });

storeSuite('Postgres', async () => openStore({ kind: 'postgres', where: await createDatabase(pg, `suite_${++n}`) }));

describe('store: Postgres only', () => {
  test('two stores migrating one database at once: no race, one set of rows', async () => {
    const url = await createDatabase(pg, 'race');
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ kind: 'postgres', where: url })));
    try {
      const results = await Promise.all(stores.map((s) => s.migrate()));
      for (const r of results) assert.ok(r.every((m) => m.appliedAtMs !== undefined));
      assert.deepEqual(new Set(results.map((r) => r[0]!.appliedAtMs)).size, 1, 'every store saw the same single application');
    } finally {
      for (const s of stores) await s.close();
    }
  });

  test('server killed: StoreUnavailableError (not a hang); back after a restart without reopening', async () => {
    const url = await createDatabase(pg, 'outage');
    const s: Store = await openStore({ kind: 'postgres', where: url });
    try {
      await s.migrate();
      await s.insertKey({ sha256: '1'.repeat(64), id: 'key_o', name: 'o', admin: false, createdAtMs: 1 });
      await pg.kill();
      await assert.rejects(s.getKey('1'.repeat(64)), StoreUnavailableError);
      await assert.rejects(s.insertKey({ sha256: '2'.repeat(64), id: 'key_p', name: 'p', admin: false, createdAtMs: 1 }), StoreUnavailableError);
      await pg.start();
      assert.equal((await s.getKey('1'.repeat(64)))?.name, 'o');
      assert.equal(await s.getKey('2'.repeat(64)), undefined, 'the write refused while down left nothing behind');
    } finally {
      await s.close();
    }
  });
});
