// `mcpgw db …` on the store itself, no gateway running: status and migrate,
// and export → import as a round trip into an empty store, embedded to
// embedded and embedded to Postgres (the way to move off the embedded store).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { main, type Io } from '../../packages/cli/src/index.js';
import { openStore } from '../../services/registry/src/store/index.js';
import { createDatabase, startPostgres, type PostgresHandle } from '../harness/postgres.js';
import { stopAll } from '../harness/processes.js';

function io(): Io & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (s) => void stdout.push(s), err: (s) => void stderr.push(s), env: {} };
}

describe('mcpgw db', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'mcpgw-cli-db-'));
  let pg: PostgresHandle;
  before(async () => { pg = await startPostgres(); });
  after(async () => {
    await pg?.stop();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('status shows pending migrations; migrate applies them; --json for scripts', async () => {
    const dir = join(tmp, 'fresh');
    const s1 = io();
    assert.equal(await main(['db', 'status', '--data-dir', dir], s1), 0);
    assert.match(s1.stdout.join(''), /pending/);
    const s2 = io();
    assert.equal(await main(['db', 'migrate', '--data-dir', dir], s2), 0);
    assert.match(s2.stdout.join(''), /up to date/);
    const s3 = io();
    assert.equal(await main(['db', 'status', '--data-dir', dir, '--json'], s3), 0);
    assert.equal(JSON.parse(s3.stdout.join('')).pending, 0);
  });

  test('export → import into an empty store (embedded, then Postgres): the same rows, secrets still hashed', async () => {
    const source = join(tmp, 'source');
    const s = await openStore({ kind: 'sqlite', where: source });
    await s.migrate();
    await s.insertKey({ sha256: 'a'.repeat(64), id: 'key_a', name: 'ci', team: 'data', servers: ['git*'], admin: false, createdBy: 'master', createdAtMs: 1 },
      { atMs: 1, principal: 'master', action: 'key_created', target: 'key_a', detail: { id: 'key_a' } });
    await s.savePin({ server: 'git', tool: 'log', fingerprint: 'f', definition: { name: 'log' }, approvedAtMs: 2 },
      { server: 'git', tool: 'log', fingerprint: 'f', decision: 'approved', principal: 'master', atMs: 2 });
    await s.putUserCredential({ principal: 'user:a', server: 'gh', ciphertext: Buffer.from([1, 2, 3]), expiresAtMs: null, updatedAtMs: 3 });
    await s.close();

    const file = join(tmp, 'backup.jsonl');
    const ex = io();
    assert.equal(await main(['db', 'export', '--data-dir', source, '--out', file], ex), 0, ex.stderr.join(''));
    assert.equal(statSync(file).mode & 0o777, 0o600, 'the backup is private');
    const text = readFileSync(file, 'utf8');
    assert.ok(text.includes('a'.repeat(64)) && !text.includes('sk-mcpgw-'), 'keys as hashes only');

    const targets: string[][] = [['--data-dir', join(tmp, 'copy')], ['--database-url', await createDatabase(pg, 'restored')]];
    for (const target of targets) {
      const im = io();
      assert.equal(await main(['db', 'import', file, ...target], im), 0, im.stderr.join(''));
      assert.match(im.stdout.join(''), /keys 1/);
      const again = io();
      assert.equal(await main(['db', 'export', ...target], again), 0);
      assert.deepEqual(again.stdout.join('').trim().split('\n').slice(1), text.trim().split('\n').slice(1), `${target[0]}: the copy exports the same rows`);
      const twice = io();
      assert.equal(await main(['db', 'import', file, ...target], twice), 0);
      assert.match(twice.stdout.join(''), /already there, skipped/);
    }
  });

  test('usage errors exit 2, an unreachable store exits 1 with the reason', async () => {
    const e1 = io();
    assert.equal(await main(['db', 'frobnicate'], e1), 2);
    const e2 = io();
    assert.equal(await main(['db', 'import'], e2), 2);
    const e3 = io();
    assert.equal(await main(['db', 'status', '--database-url', 'postgres://nobody@127.0.0.1:1/none'], e3), 1);
    assert.match(e3.stderr.join(''), /store unavailable/);
    const e4 = io();
    assert.equal(await main(['db', 'status', '--database-url', 'mysql://x'], e4), 2);
  });
});
