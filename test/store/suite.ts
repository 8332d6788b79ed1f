// The storage suite: the same behaviour asked of every Store implementation
// (the embedded SQLite file and a real Postgres). Each backend file calls
// storeSuite with a factory that gives a fresh, empty store.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../services/registry/src/store/index.js';
import { exportStore, importStore, MIGRATIONS } from '../../services/registry/src/store/index.js';

export function storeSuite(name: string, fresh: () => Promise<Store>): void {
  describe(`store: ${name}`, () => {
    const opened: Store[] = [];
    const open = async () => {
      const s = await fresh();
      opened.push(s);
      await s.migrate();
      return s;
    };
    after(async () => { for (const s of opened) await s.close(); });

    test('migrations: applied once, status lists every version, a second migrate is a no-op', async () => {
      const s = await open();
      const first = await s.status();
      assert.deepEqual(first.map((m) => m.version), MIGRATIONS.map((m) => m.version));
      assert.ok(first.every((m) => typeof m.appliedAtMs === 'number'), 'every migration applied');
      const again = await s.migrate();
      assert.deepEqual(again.map((m) => m.appliedAtMs), first.map((m) => m.appliedAtMs), 'a second migrate changes nothing');
    });

    test('keys: insert, lookup by sha256, duplicates refused, revoke once, list keeps revoked', async () => {
      const s = await open();
      const key = { sha256: 'a'.repeat(64), id: 'key_1', name: 'ci', team: 'data', servers: ['demo*'], tools: ['!demo_delete'], rpm: 60, maxConcurrency: 2,
        expiresAtMs: Date.now() + 3_600_000, admin: false, createdBy: 'master', createdAtMs: 1_700_000_000_000 };
      assert.equal(await s.insertKey(key), true);
      assert.equal(await s.insertKey({ ...key, id: 'key_other' }), false, 'same sha256 refused');
      assert.equal(await s.insertKey({ ...key, sha256: 'b'.repeat(64) }), false, 'same id refused');
      assert.deepEqual(await s.getKey(key.sha256), key);
      assert.equal(await s.getKey('c'.repeat(64)), undefined);
      assert.equal(await s.revokeKey('key_1', 'master', 1_700_000_001_000), key.sha256);
      assert.equal(await s.revokeKey('key_1', 'master', 1_700_000_002_000), undefined, 'a revoked key is not revoked twice');
      assert.equal(await s.revokeKey('key_nope', 'master', 1), undefined);
      const [listed] = await s.listKeys();
      assert.equal(listed!.revokedAtMs, 1_700_000_001_000);
      assert.equal(listed!.revokedBy, 'master');
      // A key with no scopes keeps "no narrowing" apart from "nothing".
      await s.insertKey({ sha256: 'd'.repeat(64), id: 'key_2', name: 'open', admin: true, createdAtMs: 1 });
      const open2 = await s.getKey('d'.repeat(64));
      assert.equal(open2!.servers, undefined);
      assert.equal(open2!.admin, true);
    });

    test('teams: put, update, list, delete', async () => {
      const s = await open();
      await s.putTeam({ name: 'data', servers: ['db*'], rpm: 10, createdBy: 'master', createdAtMs: 5 });
      await s.putTeam({ name: 'data', servers: ['db*', 'files'], rpm: 20, createdBy: 'master', createdAtMs: 5 });
      assert.deepEqual(await s.listTeams(), [{ name: 'data', servers: ['db*', 'files'], rpm: 20, createdBy: 'master', createdAtMs: 5 }]);
      assert.equal(await s.deleteTeam('data'), true);
      assert.equal(await s.deleteTeam('data'), false);
    });

    test('pins: save with history in one transaction, load per server, insert-if-absent for the upgrade copy', async () => {
      const s = await open();
      const def = { name: 'echo', description: 'Echoes', inputSchema: { type: 'object' } };
      await s.savePin({ server: 'demo', tool: 'echo', fingerprint: 'f1', definition: def, approvedAtMs: 10 },
        { server: 'demo', tool: 'echo', fingerprint: 'f1', decision: 'first_seen', principal: '', atMs: 10 });
      await s.savePin({ server: 'demo', tool: 'echo', fingerprint: 'f1', definition: def, approvedAtMs: 10, pending: { fingerprint: 'f2', definition: { ...def, description: 'Evil' }, seenAtMs: 20, rejected: false } },
        { server: 'demo', tool: 'echo', fingerprint: 'f2', decision: 'changed', principal: '', atMs: 20 });
      const [pin] = await s.loadPins('demo');
      assert.equal(pin!.pending?.fingerprint, 'f2');
      assert.deepEqual(pin!.pending?.definition, { ...def, description: 'Evil' });
      assert.equal(pin!.pending?.rejected, false);
      await s.savePin({ server: 'demo', tool: 'echo', fingerprint: 'f2', definition: { ...def, description: 'Evil' }, approvedAtMs: 30 },
        { server: 'demo', tool: 'echo', fingerprint: 'f2', decision: 'approved', principal: 'key:key_admin', atMs: 30 });
      const [approved] = await s.loadPins('demo');
      assert.equal(approved!.fingerprint, 'f2');
      assert.equal(approved!.pending, undefined);
      const history = await s.listPinDecisions('demo', 'echo');
      assert.deepEqual(history.map((h) => [h.decision, h.fingerprint, h.principal]), [['approved', 'f2', 'key:key_admin'], ['changed', 'f2', ''], ['first_seen', 'f1', '']]);
      assert.equal(await s.insertPinIfAbsent({ server: 'demo', tool: 'echo', fingerprint: 'old' }), false, 'the store wins over an old copy');
      assert.equal(await s.insertPinIfAbsent({ server: 'other', tool: 'x', fingerprint: 'f9' }), true);
      assert.deepEqual(await s.pinnedServers(), ['demo', 'other']);
      assert.deepEqual(await s.loadPins('nobody'), []);
    });

    test('audit log: appended, newest first, detail kept', async () => {
      const s = await open();
      for (let i = 0; i < 5; i++) await s.appendAudit({ atMs: 100 + i, principal: 'master', action: 'key_created', target: `key_${i}`, detail: { team: 'data', i } });
      const rows = await s.listAudit(3);
      assert.deepEqual(rows.map((r) => r.target), ['key_4', 'key_3', 'key_2']);
      assert.deepEqual(rows[0]!.detail, { team: 'data', i: 4 });
    });

    test('call log: bounded to the newest N rows; usage counters add up', async () => {
      const s = await open();
      const call = (i: number) => ({ atMs: 1000 + i, principal: 'key:k1', keyId: 'k1', team: 'data', server: 'demo', tool: 'echo', outcome: i % 3 ? 'ok' : 'error', ms: 1.5, edge: 'e1' });
      await s.appendCalls(Array.from({ length: 30 }, (_, i) => call(i)), 25);
      await s.appendCalls(Array.from({ length: 10 }, (_, i) => call(30 + i)), 25);
      const calls = await s.listCalls(1000);
      assert.equal(calls.length, 25, 'pruned to 25');
      assert.equal(calls[0]!.atMs, 1039, 'newest first');
      assert.equal(calls.at(-1)!.atMs, 1015, 'the oldest kept');
      assert.equal((await s.listCalls(1000, 1035)).length, 5);
      await s.addUsage([{ day: '2026-12-04', keyId: 'k1', team: 'data', server: 'demo', tool: 'echo', calls: 3, errors: 1, totalMs: 4.5 }]);
      await s.addUsage([{ day: '2026-12-04', keyId: 'k1', team: 'data', server: 'demo', tool: 'echo', calls: 2, errors: 0, totalMs: 1 }]);
      assert.deepEqual(await s.listUsage('2026-12-01'), [{ day: '2026-12-04', keyId: 'k1', team: 'data', server: 'demo', tool: 'echo', calls: 5, errors: 1, totalMs: 5.5 }]);
    });

    test('user credentials: sealed bytes round-trip, list without ciphertext, delete one and all', async () => {
      const s = await open();
      const sealed = Buffer.from([0, 1, 2, 255, 254, 0, 7]);
      await s.putUserCredential({ principal: 'user:a', server: 'gh', ciphertext: sealed, expiresAtMs: 5000, updatedAtMs: 1 });
      await s.putUserCredential({ principal: 'user:a', server: 'jira', ciphertext: Buffer.from('x'), expiresAtMs: null, updatedAtMs: 2 });
      await s.putUserCredential({ principal: 'user:a', server: 'gh', ciphertext: sealed, expiresAtMs: 6000, updatedAtMs: 3 });
      const got = await s.getUserCredential('user:a', 'gh');
      assert.ok(got && Buffer.isBuffer(got.ciphertext));
      assert.deepEqual(got, { principal: 'user:a', server: 'gh', ciphertext: sealed, expiresAtMs: 6000, updatedAtMs: 3 });
      assert.deepEqual(await s.listUserCredentials('user:a'), [
        { principal: 'user:a', server: 'gh', expiresAtMs: 6000, updatedAtMs: 3 }, { principal: 'user:a', server: 'jira', expiresAtMs: null, updatedAtMs: 2 }]);
      assert.equal(await s.deleteUserCredential('user:a', 'gh'), true);
      assert.equal(await s.deleteUserCredential('user:a', 'gh'), false);
      assert.equal(await s.deleteUserCredentials('user:a'), 1);
      assert.equal(await s.getUserCredential('user:a', 'jira'), undefined);
    });

    test('markOnce: true the first time only', async () => {
      const s = await open();
      assert.equal(await s.markOnce('redis-import', 1), true);
      assert.equal(await s.markOnce('redis-import', 2), false);
    });

    test('export then import into an empty store: same rows, secrets still hashed or sealed; a second import adds nothing', async () => {
      const a = await open();
      await a.insertKey({ sha256: 'e'.repeat(64), id: 'key_e', name: 'exported', team: 'data', admin: false, createdAtMs: 7, revokedAtMs: 9, revokedBy: 'master' });
      await a.putTeam({ name: 'data', createdAtMs: 1 });
      await a.savePin({ server: 'demo', tool: 'echo', fingerprint: 'f1', definition: { name: 'echo' }, approvedAtMs: 3 },
        { server: 'demo', tool: 'echo', fingerprint: 'f1', decision: 'first_seen', principal: '', atMs: 3 });
      await a.appendAudit({ atMs: 4, principal: 'master', action: 'key_created', target: 'key_e', detail: {} });
      await a.appendCalls([{ atMs: 5, principal: 'key:key_e', server: 'demo', tool: 'echo', outcome: 'ok', ms: 2 }], 100);
      await a.putUserCredential({ principal: 'user:a', server: 'gh', ciphertext: Buffer.from([9, 0, 9]), expiresAtMs: null, updatedAtMs: 6 });
      const lines: string[] = [];
      await exportStore(a, (l) => { lines.push(l); });
      const text = lines.join('\n');
      assert.ok(!text.includes('sk-mcpgw-'), 'no raw key in an export');
      const b = await open();
      const { inserted } = await importStore(b, lines);
      assert.deepEqual(inserted, { teams: 1, keys: 1, pins: 1, pin_decisions: 1, audit_log: 1, call_log: 1, user_credentials: 1 });
      assert.deepEqual(await b.getKey('e'.repeat(64)), await a.getKey('e'.repeat(64)));
      assert.deepEqual(await b.loadPins('demo'), await a.loadPins('demo'));
      assert.deepEqual(await b.getUserCredential('user:a', 'gh'), await a.getUserCredential('user:a', 'gh'));
      const again: string[] = [];
      await exportStore(b, (l) => { again.push(l); });
      assert.deepEqual(again.slice(1), lines.slice(1), 'the copy exports the same rows');
      const second = await importStore(b, lines.filter((l) => /"table":"(keys|pins|teams|user_credentials)"/.test(l)));
      assert.deepEqual(second.inserted, {}, 'rows with natural keys are not duplicated');
    });
  });
}
