// The `mcpgw` command as a user runs it (the bin, a child process) against
// the real gateway: registry and edge processes with a master key, a
// `changing` fixture upstream under `pinning: hold` with `hold_new`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { ROOT, stopAll, waitFor, writeConfig } from '../harness/processes.js';

const MASTER = 'mk-cli-e2e-0123456789';
const BIN = join(ROOT, 'packages/cli/bin/mcpgw.js');

describe('mcpgw CLI against the gateway', () => {
  let edge: EdgeHandle;
  let key = '';
  let keyId = '';
  const auth = (k: string) => ({ authorization: `Bearer ${k}` });

  function mcpgw(args: string[], env: NodeJS.ProcessEnv = { MCPGW_MASTER_KEY: MASTER }): Promise<{ code: number; out: string; err: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, MCPGW_URL: edge.url, ...env }, timeout: 30_000 }, (error, out, err) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, out, err });
      });
    });
  }
  let apiProbe: Promise<string | undefined> | undefined;
  const requireApi = async () => {
    apiProbe ??= fetch(`${edge.url}/admin/api/servers`).then((r) => (r.status === 401 ? undefined : `GET /admin/api/servers without a key answered ${r.status}, not 401`));
    const why = await apiProbe;
    if (why) assert.fail(`the admin API is missing or unprotected (${why}); this step needs it`);
  };

  before(async () => {
    const cfg = writeConfig(`
mcp_servers:
${fixtureStdio('chg', 'changing')}
gateway:
  pinning: hold
  hold_new: true
  teams:
    data: { servers: ["*"], tools: ["*"] }
`);
    const registry = await startRegistry(cfg, { MCPGW_MASTER_KEY: MASTER });
    edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER });
  });
  after(() => stopAll());

  test('usage errors exit 2 and say what is wrong', async () => {
    const r = await mcpgw(['keys', 'create', '--name', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--team is required/);
  });

  test('without a key: exit 1 with the 401 and a hint', async () => {
    await requireApi();
    const r = await mcpgw(['servers'], {});
    assert.equal(r.code, 1);
    assert.match(r.err, /HTTP 401: .*MCPGW_MASTER_KEY/);
  });

  test('servers lists the upstream with its state', async () => {
    await requireApi();
    const r = await waitFor('chg ready in `mcpgw servers`', async () => {
      const x = await mcpgw(['servers']);
      return /chg +ready/.test(x.out) ? x : undefined;
    });
    assert.match(r.out, /^NAME +STATE +TRANSPORT +ERA +SESSION/);
    const json = JSON.parse((await mcpgw(['servers', '--json'])).out);
    assert.equal(json[0].name, 'chg');
  });

  test('keys create prints the key once; it works until keys revoke', async () => {
    await requireApi();
    const r = await mcpgw(['keys', 'create', '--name', 'cli-bot', '--team', 'data', '--servers', 'chg', '--rpm', '100']);
    assert.equal(r.code, 0, r.err);
    key = r.out.trim();
    assert.match(key, /^sk-mcpgw-/);
    keyId = /Created key (\S+)/.exec(r.err)![1]!;
    assert.equal((await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(key) })).status, 200);

    const list = await mcpgw(['keys', 'list']);
    assert.match(list.out, new RegExp(`${keyId} +cli-bot +data +chg`));
    assert.ok(!list.out.includes(key), 'the list never shows the key');

    const revoke = await mcpgw(['keys', 'revoke', keyId]);
    assert.equal(revoke.code, 0, revoke.err);
    await waitFor('the revoked key refused', async () => (await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(key) })).status === 401 || undefined, 5_000);
    const unknown = await mcpgw(['keys', 'revoke', 'no-such-key']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /HTTP 404/);
  });

  test('a held tool: pins --pending shows it, approve releases it, calls shows the call', async () => {
    await requireApi();
    const bump = await fetch(`${edge.url}/mcp/tools/call`, {
      method: 'POST', headers: { ...auth(MASTER), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'chg__bump', arguments: {} }),
    });
    assert.equal(bump.status, 200);
    const pending = await waitFor('chg__v2 pending', async () => {
      const r = await mcpgw(['pins', '--pending', '--json']);
      return (JSON.parse(r.out) as { name: string; pending?: { fingerprint: string } }[]).find((t) => t.name === 'chg__v2');
    });
    const human = await mcpgw(['pins', '--pending']);
    assert.match(human.out, new RegExp(`mcpgw approve chg__v2 --fingerprint ${pending.pending!.fingerprint}`));

    const stale = await mcpgw(['approve', 'chg__v2', '--fingerprint', '0'.repeat(64)]);
    assert.equal(stale.code, 1);
    assert.match(stale.err, /HTTP 409/);
    const ok = await mcpgw(['approve', 'chg__v2', '--fingerprint', pending.pending!.fingerprint]);
    assert.equal(ok.code, 0, ok.err);
    assert.match((await mcpgw(['tools', '--server', 'chg'])).out, /chg__v2 +chg +trusted/);

    const calls = await waitFor('the bump call listed', async () => {
      const r = await mcpgw(['calls']);
      return /chg__bump|bump/.test(r.out) ? r : undefined;
    });
    assert.match(calls.out, /^AT +SERVER +TOOL +PRINCIPAL +OUTCOME +MS/);
  });
});
