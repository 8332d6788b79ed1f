// Protocol gaps closed with issue 22 (docs/tasks.md "Protocol gaps closed"):
// per-server views report the upstream's own serverInfo, and a per_client
// session's own list_changed reaches its client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { connectClient, INIT, rpc } from '../harness/mcp.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';

const V = '2026-07-28';
const discover = (edge: EdgeHandle, path: string) => rpc(`${edge.url}${path}`, {
  jsonrpc: '2.0', id: 1, method: 'server/discover',
  params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} } },
}, { 'mcp-protocol-version': V, 'mcp-method': 'server/discover' });

describe('protocol gaps: serverInfo of per-server views, per_client list_changed', () => {
  let edge: EdgeHandle;
  before(async () => {
    const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('fwd', 'tasks')}${fixtureStdio('chg', 'changing', [], '    session: per_client\n')}`));
    edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['fwd__', 'chg__']);
  });
  after(stopAll);

  test('a per-server view reports the upstream\'s own serverInfo (2025 initialize and 2026 discover); the aggregate is the gateway', async () => {
    const init = await rpc(`${edge.url}/servers/fwd/mcp`, INIT);
    assert.equal(init.status, 200);
    assert.deepEqual(init.json.result.serverInfo, { name: 'fixture-tasks', version: '2.5.0' });
    const d = await discover(edge, '/servers/fwd/mcp');
    assert.deepEqual(d.json.result._meta['io.modelcontextprotocol/serverInfo'], { name: 'fixture-tasks', version: '2.5.0' });
    assert.equal((await rpc(`${edge.url}/mcp`, INIT)).json.result.serverInfo.name, 'mcpgw');
    assert.equal((await discover(edge, '/mcp')).json.result._meta['io.modelcontextprotocol/serverInfo'].name, 'mcpgw');
  });

  test('a per_client session\'s own tools/list_changed reaches its client', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      let heard = 0;
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => { heard++; });
      const r = await client.callTool({ name: 'chg__bump', arguments: {} });
      assert.equal((r.content as { text: string }[])[0]!.text, 'v2');
      await waitFor('tools/list_changed at the client', () => heard > 0 || undefined, 10_000);
    } finally {
      await client.close();
    }
  });
});
