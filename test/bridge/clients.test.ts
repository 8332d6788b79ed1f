// The bridge with real MCP clients: SDK 1.x and v2, over stdio (the demo
// server, a paged fixture) and over HTTP through a real gateway (Streamable
// HTTP on /mcp, legacy SSE on /mcp/).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as StdioV1 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SSEClientTransport as SseV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as ClientV2, SSEClientTransport as SseV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioV2 } from '@modelcontextprotocol/client/stdio';
import { callOpenAITool, loadMcpTools, toolResultMessage, type McpToolsClient, type OpenAIToolCall } from '@mcpgw/bridge';
import { fixtureCommand } from '../fixtures/launch.js';
import { startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';

const info = { name: 'bridge-test', version: '0.0.0' };
const toolCall = (name: string, args: unknown, id = 'call_1'): OpenAIToolCall => ({ id, type: 'function', function: { name, arguments: JSON.stringify(args) } });
const closers: (() => Promise<void>)[] = [];
after(async () => {
  await Promise.all(closers.map((c) => c().catch(() => {})));
});

async function v1Stdio(command: string, args: string[]): Promise<ClientV1> {
  const client = new ClientV1(info);
  await client.connect(new StdioV1({ command, args, stderr: 'ignore' }));
  closers.push(() => client.close());
  return client;
}

async function v2Stdio(command: string, args: string[]): Promise<ClientV2> {
  const client = new ClientV2(info);
  await client.connect(new StdioV2({ command, args, stderr: 'ignore' }));
  closers.push(() => client.close());
  return client;
}

/** Checks a client on the demo server's tools, named with `prefix` (`''` direct, `demo__` through the gateway). */
async function checkDemo(client: McpToolsClient, prefix: string): Promise<void> {
  const mcp = await loadMcpTools(client);
  const names = mcp.map((t) => t.name);
  for (const n of ['echo', 'add', 'current_time', 'fail']) assert.ok(names.includes(prefix + n), `${prefix}${n} in ${names.join(', ')}`);

  const openai = await loadMcpTools(client, { format: 'openai' });
  const add = openai.find((t) => t.function.name === `${prefix}add`)!;
  assert.equal(add.type, 'function');
  assert.equal(add.function.description, 'Adds two numbers.');
  assert.equal(add.function.parameters.type, 'object');
  assert.deepEqual(Object.keys(add.function.parameters.properties as object).sort(), ['a', 'b']);
  const now = openai.find((t) => t.function.name === `${prefix}current_time`)!;
  assert.deepEqual(now.function.parameters.properties, {});

  const responses = await loadMcpTools(client, { format: 'responses', filter: [`${prefix}echo`] });
  assert.deepEqual(responses.map((t) => [t.type, t.name, t.strict]), [['function', `${prefix}echo`, false]]);
  const anthropic = await loadMcpTools(client, { format: 'anthropic', filter: (t) => t.name.endsWith('echo') });
  assert.equal(anthropic[0]!.name, `${prefix}echo`);
  assert.equal((anthropic[0]!.input_schema.properties as Record<string, unknown>).message !== undefined, true);

  const c = toolCall(`${prefix}add`, { a: 2, b: 3 }, 'call_add');
  const result = await callOpenAITool(client, c);
  assert.deepEqual(result.structuredContent, { sum: 5 });
  assert.deepEqual(toolResultMessage(c, result), { role: 'tool', tool_call_id: 'call_add', content: '5' });
  const failed = await callOpenAITool(client, toolCall(`${prefix}fail`, { reason: 'nope' }));
  assert.equal(failed.isError, true);
  assert.equal(toolResultMessage(toolCall('x', {}), failed).content, 'Error: nope');
}

describe('over stdio', () => {
  test('SDK 1.x Client on the demo server', async () => {
    await checkDemo(await v1Stdio(process.execPath, [DEMO_SERVER]), '');
  });

  test('SDK v2 Client on the demo server', async () => {
    await checkDemo(await v2Stdio(process.execPath, [DEMO_SERVER]), '');
  });

  test('every page of tools/list, with both SDKs (250 tools in pages of 100)', async () => {
    const { command, args } = fixtureCommand('paged');
    for (const client of [await v1Stdio(command, args), await v2Stdio(command, args)]) {
      const tools = await loadMcpTools(client, { format: 'openai' });
      assert.equal(tools.length, 250);
      assert.equal(new Set(tools.map((t) => t.function.name)).size, 250);
      assert.equal(tools[249]!.function.name, 'tool_249');
      const r = await callOpenAITool(client, toolCall('tool_123', {}));
      assert.equal(toolResultMessage(toolCall('tool_123', {}), r).content, 'tool_123');
    }
  });
});

describe('over HTTP through the gateway', () => {
  let edge: EdgeHandle;
  before(async () => {
    const cfg = writeConfig(`mcp_servers:\n  demo:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(DEMO_SERVER)}]\n`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['demo__']);
  });
  after(stopAll);

  test('SDK 1.x Client over legacy SSE on /mcp/', async () => {
    const client = new ClientV1(info);
    await client.connect(new SseV1(new URL(`${edge.url}/mcp/`)));
    closers.push(() => client.close());
    await checkDemo(client, 'demo__');
  });

  test('SDK v2 Client over Streamable HTTP on /mcp', async () => {
    const client = new ClientV2(info);
    await client.connect(new HttpV2(new URL(`${edge.url}/mcp`)));
    closers.push(() => client.close());
    await checkDemo(client, 'demo__');
  });

  test('SDK v2 Client over legacy SSE on /mcp/', async () => {
    const client = new ClientV2(info);
    await client.connect(new SseV2(new URL(`${edge.url}/mcp/`)));
    closers.push(() => client.close());
    await checkDemo(client, 'demo__');
  });
});
