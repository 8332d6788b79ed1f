// End to end through real processes: fixture upstreams (stdio and Streamable
// HTTP), the registry, the edge, and the SDK's client over both transports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { startDemoHttp, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { connectClient, INIT, rpc } from '../harness/mcp.js';
import { DEMO_SERVER, ROOT, stopAll, writeConfig } from '../harness/processes.js';

const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);

describe('gateway end to end', () => {
  let edge: EdgeHandle;
  const clients: Client[] = [];

  before(async () => {
    const remote = await startDemoHttp('remote');
    const cfg = writeConfig(`
mcp_servers:
  local:
    command: node
    args: ["${DEMO_SERVER}", "--label", "local"]
  remote:
    url: ${remote.url}
    transport: http
`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['local__', 'remote__']);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stopAll();
  });

  test('the SDK client over Streamable HTTP lists and calls tools of a stdio and an HTTP upstream', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    clients.push(client);
    assert.equal(client.getServerVersion()?.name, 'mcpgw');
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ['local__echo', 'local__add', 'remote__echo', 'remote__current_time']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    assert.match(tools.find((t) => t.name === 'remote__echo')!.description!, /\[remote\]/);
    assert.equal(text(await client.callTool({ name: 'local__echo', arguments: { message: 'via stdio' } })), 'via stdio');
    const sum = await client.callTool({ name: 'remote__add', arguments: { a: 2, b: 40 } });
    assert.deepEqual(sum.structuredContent, { sum: 42 });
  });

  test('progress comes back with the client\'s own token, then the result', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    clients.push(client);
    const seen: number[] = [];
    const result = await client.callTool({ name: 'remote__countdown', arguments: { n: 4, delay_ms: 5 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.equal(text(result), 'liftoff');
    assert.deepEqual(seen, [1, 2, 3, 4]);
  });

  test('tool failures are results with isError; upstream schema errors name the problem', async () => {
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    clients.push(client);
    const failed = await client.callTool({ name: 'local__fail', arguments: { reason: 'nope' } });
    assert.equal(failed.isError, true);
    assert.equal(text(failed), 'nope');
    const invalid = await client.callTool({ name: 'local__add', arguments: { a: 'x' } });
    assert.equal(invalid.isError, true);
  });

  for (const path of ['/mcp/', '/mcp', '/sse']) {
    test(`the SDK client over legacy SSE at ${path} lists and calls`, async () => {
      const client = await connectClient(`${edge.url}${path}`, 'sse');
      clients.push(client);
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'remote__echo'));
      assert.equal(text(await client.callTool({ name: 'remote__echo', arguments: { message: `sse ${path}` } })), `sse ${path}`);
    });
  }

  test('a per-server view shows one upstream with its own names', async () => {
    const client = await connectClient(`${edge.url}/servers/local/mcp`, 'http');
    clients.push(client);
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    assert.deepEqual(names, ['add', 'countdown', 'current_time', 'echo', 'fail']);
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'direct' } })), 'direct');
    const prompt = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
    assert.match(JSON.stringify(prompt.messages), /Ada/);
    const res = await client.readResource({ uri: 'demo://readme' });
    assert.match(JSON.stringify(res.contents), /mcpgw demo server/);
  });

  test('REST lists and calls tools; unknown tools are 404 naming the tool', async () => {
    const list = await (await fetch(`${edge.url}/mcp/tools/list`)).json() as { tools: { name: string }[] };
    assert.ok(list.tools.some((t) => t.name === 'local__add'));
    const openai = await (await fetch(`${edge.url}/mcp-rest/tools/list?format=openai`)).json() as { type: string; function: { name: string } }[];
    assert.ok(openai.some((t) => t.type === 'function' && t.function.name === 'local__add'));
    const call = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'local__add', arguments: { a: 1, b: 2 } }) });
    assert.equal(call.status, 200);
    assert.deepEqual((await call.json() as { structuredContent: unknown }).structuredContent, { sum: 3 });
    const only = await (await fetch(`${edge.url}/mcp/tools/list?server=remote`)).json() as { tools: { name: string }[] };
    assert.ok(only.tools.length > 0 && only.tools.every((t) => t.name.startsWith('remote__')));
    const litellm = await fetch(`${edge.url}/mcp-rest/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ server_id: 'local', name: 'echo', arguments: { message: 'by server_id' } }) });
    assert.equal(text(await litellm.json()), 'by server_id');
    const status = await (await fetch(`${edge.url}/servers`)).json() as { servers: { name: string; state: string; tools: number }[] };
    assert.deepEqual(status.servers.map((x) => [x.name, x.state]).sort(), [['local', 'ready'], ['remote', 'ready']]);
    assert.ok(status.servers.every((x) => x.tools === 5));
    const openapi = await (await fetch(`${edge.url}/openapi.json`)).json() as { openapi: string; paths: Record<string, unknown> };
    assert.equal(openapi.openapi, '3.1.0');
    assert.ok(openapi.paths['/mcp-rest/tools/call']);
    const unknown = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'nope__x' }) });
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json() as { error: { message: string } }).error.message, /nope__x/);
  });

  test('malformed requests get the spec status and a JSON-RPC error saying what was wrong', async () => {
    const url = `${edge.url}/mcp`;
    const parse = await rpc(url, '{"jsonrpc": "2.0", "id": 1, "method": ');
    assert.equal(parse.status, 400);
    assert.equal(parse.json.error.code, -32700);
    const notRpc = await rpc(url, { hello: 'world' });
    assert.equal(notRpc.status, 400);
    assert.equal(notRpc.json.error.code, -32600);
    const noSession = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
    assert.equal(noSession.status, 400);
    assert.match(noSession.json.error.message, /Mcp-Session-Id/);
    const unknownSession = await rpc(url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { 'mcp-session-id': 'no-such-session' });
    assert.equal(unknownSession.status, 404);
    const media = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hi' });
    assert.equal(media.status, 415);
    assert.equal((await media.json() as { error: { code: number } }).error.code, -32600);

    const init = await rpc(url, INIT);
    assert.equal(init.status, 200);
    const sid = init.headers.get('mcp-session-id')!;
    assert.ok(sid && sid.length >= 22);
    const badVersion = await rpc(url, { jsonrpc: '2.0', id: 4, method: 'ping' }, { 'mcp-session-id': sid, 'mcp-protocol-version': '1999-01-01' });
    assert.equal(badVersion.status, 400);
    assert.match(badVersion.json.error.message, /1999-01-01/);
    const unknownTool = await rpc(url, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ghost__tool', arguments: {} } }, { 'mcp-session-id': sid });
    assert.equal(unknownTool.json.error.code, -32602);
    assert.match(unknownTool.json.error.message, /ghost__tool/);
    const unknownMethod = await rpc(url, { jsonrpc: '2.0', id: 6, method: 'no/such' }, { 'mcp-session-id': sid });
    assert.equal(unknownMethod.json.error.code, -32601);
    const note = await rpc(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid });
    assert.equal(note.status, 202);
    const del = await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    assert.equal(del.status, 200);
    const afterDelete = await rpc(url, { jsonrpc: '2.0', id: 7, method: 'ping' }, { 'mcp-session-id': sid });
    assert.equal(afterDelete.status, 404);
    // The service is still healthy after all of that.
    assert.equal((await fetch(`${edge.url}/healthz`)).status, 200);
  });

  test('the MCP Inspector CLI lists and calls through both transports', async () => {
    const run = promisify(execFile);
    const cli = join(ROOT, 'node_modules/@modelcontextprotocol/inspector/cli/build/cli.js');
    const list = await run(process.execPath, [cli, '--cli', `${edge.url}/mcp`, '--transport', 'http', '--method', 'tools/list'], { timeout: 60_000 });
    assert.match(list.stdout, /"local__echo"/);
    const call = await run(process.execPath, [cli, '--cli', `${edge.url}/mcp/`, '--transport', 'sse', '--method', 'tools/call', '--tool-name', 'remote__echo', '--tool-arg', 'message=inspected'], { timeout: 60_000 });
    assert.match(call.stdout, /"inspected"/);
    for (const [url, transport] of [[`${edge.url}/mcp`, 'http'], [`${edge.url}/mcp/`, 'sse']] as const) {
      const resources = await run(process.execPath, [cli, '--cli', url, '--transport', transport, '--method', 'resources/list'], { timeout: 60_000 });
      // Both upstreams list demo://readme: the aggregate lists it once per server, renamed reversibly (docs/tasks.md).
      assert.match(resources.stdout, /mcpgw:\/\/local\/demo%3A%2F%2Freadme/);
      assert.match(resources.stdout, /mcpgw:\/\/remote\/demo%3A%2F%2Freadme/);
      const prompts = await run(process.execPath, [cli, '--cli', url, '--transport', transport, '--method', 'prompts/list'], { timeout: 60_000 });
      assert.match(prompts.stdout, /"local__greet"/);
    }
  });
});

describe('upstream failures', () => {
  after(stopAll);

  test('an upstream that goes away gives an error naming it, and the others keep working', async () => {
    const remote = await startDemoHttp();
    const cfg = writeConfig(`
mcp_servers:
  steady:
    command: node
    args: ["${DEMO_SERVER}"]
  flaky:
    url: ${remote.url}
    timeout_ms: 5000
`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['steady__', 'flaky__']);
    remote.proc.kill();
    await remote.proc.exited;
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      await assert.rejects(client.callTool({ name: 'flaky__echo', arguments: { message: 'x' } }), (err: Error) => {
        assert.match(err.message, /flaky/);
        return true;
      });
      assert.equal(text(await client.callTool({ name: 'steady__echo', arguments: { message: 'still here' } })), 'still here');
    } finally {
      await client.close();
    }
  });

  test('a config error exits non-zero naming the server, the key and the line', async () => {
    const cfg = writeConfig('mcp_servers:\n  good:\n    command: node\n  bad:\n    url: not a url\n');
    const run = promisify(execFile);
    await assert.rejects(run(process.execPath, [join(ROOT, 'services/registry/dist/index.js')], { env: { ...process.env, MCPGW_CONFIG: cfg, GRPC_PORT: '0', METRICS_PORT: '0' } }), (err: Error & { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /config\.yaml:5: server 'bad', key 'url'/);
      return true;
    });
  });
});
