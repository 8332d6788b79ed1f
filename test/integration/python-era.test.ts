// The Python SDK 2.x against the gateway, in both eras: `discover()` (2026-07-28,
// stateless) and `initialize()` (a 2025 session), each followed by list and call
// (test/python/era_client_test.py). Needs a Python with `mcp` 2.x: MCPGW_PYTHON
// names it (CI installs test/python/requirements.txt into a venv); skipped without one.
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, writeConfig } from '../harness/processes.js';

const PYTHON = process.env.MCPGW_PYTHON ?? 'python3';
const hasSdk = spawnSync(PYTHON, ['-c', 'import importlib.metadata as m, sys; sys.exit(0 if m.version("mcp").startswith("2.") else 1)'], { encoding: 'utf8' }).status === 0;
const SKIP = hasSdk ? {} : { skip: `no Python with the MCP SDK 2.x (${PYTHON}); set MCPGW_PYTHON to a venv's python with test/python/requirements.txt` };

let edge: EdgeHandle;
before(async () => {
  if (!hasSdk) return;
  // demo__add(a, b), as behind `npm start`
  const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('demo', 'basic')}`));
  edge = await startEdge(registry.url);
  await waitForTools(edge.url, ['demo__']);
});
after(stopAll);

for (const era of ['modern', 'legacy'] as const) {
  test(`Python SDK 2.x, ${era === 'modern' ? 'discover() (2026-07-28)' : 'initialize() (2025 session)'}, then list and call`, SKIP, () => {
    const r = spawnSync(PYTHON, ['test/python/era_client_test.py', `${edge.url}/mcp`, '--era', era], { encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 0, `era_client_test.py --era ${era} failed:\n${r.stdout}\n${r.stderr.slice(-4000)}`);
    assert.match(r.stdout, new RegExp(`^ok ${era}:`, 'm'));
  });
}
