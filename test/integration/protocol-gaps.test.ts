// Protocol gaps closed with issue 22 (docs/tasks.md "Protocol gaps closed"):
// per-server views report the upstream's own serverInfo, and a per_client
// session's own list_changed reaches its client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { connectClient, INIT, rpc } from '../harness/mcp.js';
import { ROOT, startProcess, stopAll, waitFor, waitForLine, writeConfig } from '../harness/processes.js';

const V = '2026-07-28';
const discover = (edge: EdgeHandle, path: string) => rpc(`${edge.url}${path}`, {
  jsonrpc: '2.0', id: 1, method: 'server/discover',
  params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} } },
}, { 'mcp-protocol-version': V, 'mcp-method': 'server/discover' });

describe('protocol gaps: serverInfo of per-server views, per_client list_changed, reverse MRTR, resource URIs', () => {
  let edge: EdgeHandle;
  const record = join(mkdtempSync(join(tmpdir(), 'mcpgw-gaps-')), 'rec.jsonl');
  before(async () => {
    // A modern-only (2026-07-28) upstream over HTTP, for the reverse MRTR translation.
    const modern = startProcess(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'test/fixtures/modern-upstream.ts'), '--port', '0']);
    const port = (await waitForLine(modern, /^listening (\d+)/, 'modern fixture'))[1];
    const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('fwd', 'tasks')}${fixtureStdio('chg', 'changing', [], '    session: per_client\n')}${fixtureStdio('b1', 'basic')}${fixtureStdio('rec', 'recorder', ['--record', record])}${fixtureStdio('c1', 'conformance')}${fixtureStdio('c2', 'conformance')}  modern:\n    url: http://127.0.0.1:${port}/mcp\n`));
    edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['fwd__', 'chg__', 'modern__', 'b1__', 'rec__', 'c1__', 'c2__']);
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

  test('reverse MRTR: a 2026-07-28 upstream\'s input requests reach a 2025-era client as elicitation requests, over two rounds', async () => {
    const client = new Client({ name: 'legacy-client', version: '1.0.0' }, { capabilities: { elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params.message);
      return { action: 'accept', content: req.params.message === 'Your name?' ? { name: 'Ada' } : { colour: 'teal' } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${edge.url}/mcp`)));
    try {
      const r = await client.callTool({ name: 'modern__ask_name', arguments: {} });
      assert.equal((r.content as { text: string }[])[0]!.text, 'Ada likes teal');
      assert.deepEqual(asked, ['Your name?', 'Your colour?']);
    } finally {
      await client.close();
    }
    // A client that cannot answer (no elicitation capability): the upstream is told so and answers -32021.
    const plain = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      const r = await plain.callTool({ name: 'modern__ask_name', arguments: {} }).then((x) => ({ ok: x }), (err: { code?: number }) => ({ err }));
      assert.ok('err' in r && r.err.code === -32021, JSON.stringify(r));
    } finally {
      await plain.close();
    }
  });

  test('a resource URI two servers list is listed once per server, reversibly renamed, and each reads from its own server', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      const uris = (await client.listResources()).resources.map((r) => r.uri);
      const b1 = 'mcpgw://b1/fixture%3A%2F%2Fstatic';
      const rec = 'mcpgw://rec/fixture%3A%2F%2Fstatic';
      assert.ok(uris.includes(b1) && uris.includes(rec), JSON.stringify(uris));
      assert.ok(!uris.includes('fixture://static'), 'the colliding URI is not listed as one entry hiding the other');
      const reads = () => readFileSync(record, 'utf8').split('\n').filter((l) => l.includes('"resources/read"')).length;
      const before = reads();
      const fromRec = await client.readResource({ uri: rec });
      assert.equal((fromRec.contents[0] as { text?: string }).text, 'static fixture resource');
      assert.equal(fromRec.contents[0]!.uri, rec, 'the contents come back under the name they were asked by');
      assert.equal(reads(), before + 1, 'the renamed URI reached its own server (as the upstream\'s own URI)');
      assert.ok(readFileSync(record, 'utf8').includes('"name":"fixture://static"'));
      await client.readResource({ uri: b1 });
      await client.readResource({ uri: 'fixture://static' });
      assert.equal(reads(), before + 1, 'b1 served its renamed URI and, first by name, the upstream URI itself');
    } finally {
      await client.close();
    }
    // Per-server views rename nothing.
    const own = await connectClient(`${edge.url}/servers/rec/mcp`, 'http');
    try {
      assert.deepEqual((await own.listResources()).resources.map((r) => r.uri), ['fixture://static']);
    } finally {
      await own.close();
    }
  });

  test('an upstream with the tasks extension (2026-07-28) gets the task forwarded: polled, answered and cancelled with its own tasks/*', async () => {
    const TASKS_CAPS = { elicitation: {}, extensions: { 'io.modelcontextprotocol/tasks': {} } };
    let n = 100;
    const post = async (method: string, params: Record<string, unknown>, name: string) => (await rpc(`${edge.url}/mcp`, {
      jsonrpc: '2.0', id: ++n, method, params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': TASKS_CAPS } },
    }, { 'mcp-protocol-version': V, 'mcp-method': method, 'mcp-name': name })).json;
    const created = await post('tools/call', { name: 'modern__long_job', arguments: { ms: 300, ask: true } }, 'modern__long_job');
    assert.equal(created.result?.resultType, 'task', JSON.stringify(created));
    const taskId = created.result.taskId as string;
    assert.match(taskId, /^t-/, 'the gateway\'s own id, not the upstream\'s up-N');
    const asking = await waitFor('input_required', async () => {
      const r = await post('tasks/get', { taskId }, taskId);
      return r.result?.status === 'input_required' ? r.result : undefined;
    });
    assert.deepEqual(Object.keys(asking.inputRequests), ['word']);
    assert.deepEqual((await post('tasks/update', { taskId, inputResponses: { word: { action: 'accept', content: { word: 'kiwi' } } } }, taskId)).result, { resultType: 'complete' });
    const done = await waitFor('completed', async () => {
      const r = await post('tasks/get', { taskId }, taskId);
      return r.result?.status === 'completed' ? r.result : undefined;
    });
    assert.equal(done.result.content[0].text, 'long job done after 300 ms with kiwi');
    const long = await post('tools/call', { name: 'modern__long_job', arguments: { ms: 60_000 } }, 'modern__long_job');
    await post('tasks/cancel', { taskId: long.result.taskId }, long.result.taskId);
    assert.equal((await post('tasks/get', { taskId: long.result.taskId }, long.result.taskId)).result.status, 'cancelled');
    const log = await waitFor('the upstream to get its tasks/cancel', async () => {
      const r = await post('tools/call', { name: 'modern__task_log', arguments: {} }, 'modern__task_log');
      const seen = JSON.parse(r.result.content[0].text as string) as string[];
      return seen.includes('tasks/cancel') ? seen : undefined;
    });
    assert.ok(log.includes('tasks/get') && log.includes('tasks/update'), JSON.stringify(log));
  });

  test('a subscription by a renamed URI hears resources/updated under that name', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      const renamed = 'mcpgw://c1/test%3A%2F%2Fwatched-resource';
      assert.ok((await client.listResources()).resources.some((r) => r.uri === renamed));
      const heard: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { heard.push(n.params.uri); });
      await client.subscribeResource({ uri: renamed });
      const touched = await client.callTool({ name: 'c1__touch_watched_resource', arguments: {} });
      assert.equal((touched.content as { text: string }[])[0]!.text, 'updated sent', 'the shared upstream session was subscribed (by the upstream URI)');
      await waitFor('resources/updated at the client', () => heard.length > 0 || undefined, 10_000);
      assert.deepEqual(heard, [renamed]);
    } finally {
      await client.close();
    }
  });
});
