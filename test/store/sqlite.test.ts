// The storage suite against the embedded store (a SQLite file in a temp directory).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../../services/registry/src/store/index.js';
import { storeSuite } from './suite.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

storeSuite('embedded (SQLite file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-store-'));
  dirs.push(dir);
  return openStore({ kind: 'sqlite', where: join(dir, 'data') });
});

test('embedded store: data survives a reopen; the file is private to its owner', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-store-'));
  dirs.push(dir);
  const where = join(dir, 'data');
  const a = await openStore({ kind: 'sqlite', where });
  await a.migrate();
  await a.insertKey({ sha256: 'f'.repeat(64), id: 'key_f', name: 'kept', admin: false, createdAtMs: 1 });
  await a.close();
  const b = await openStore({ kind: 'sqlite', where });
  await b.migrate();
  assert.equal((await b.getKey('f'.repeat(64)))?.name, 'kept');
  await b.close();
  assert.equal(statSync(join(where, 'mcpgw.db')).mode & 0o777, 0o600);
  assert.equal(statSync(where).mode & 0o777, 0o700);
});
