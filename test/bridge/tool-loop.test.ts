// runToolLoop with the official openai client against the scripted provider,
// and the demo MCP server over stdio (SDK 1.x client).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIError } from 'openai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { loadMcpTools, runToolLoop, type McpToolsClient } from '@mcpgw/bridge';
import { offeredTools, start, type ScriptedProvider, type Step } from '../fixtures/openai-provider/index.js';
import { DEMO_SERVER } from '../harness/processes.js';

let mcp: Client;
const providers: ScriptedProvider[] = [];
before(async () => {
  mcp = new Client({ name: 'tool-loop-test', version: '0.0.0' });
  await mcp.connect(new StdioClientTransport({ command: process.execPath, args: [DEMO_SERVER], stderr: 'ignore' }));
});
after(async () => {
  await mcp.close();
  await Promise.all(providers.map((p) => p.close()));
});

async function provider(script: Step[]): Promise<{ p: ScriptedProvider; openai: OpenAI }> {
  const p = await start({ script });
  providers.push(p);
  // No retries: each scripted step answers exactly one request.
  return { p, openai: new OpenAI({ baseURL: p.url, apiKey: 'sk-test', maxRetries: 0 }) };
}

const lastMessage = (req: { body: any }) => req.body.messages.at(-1);
const request = (content: string) => ({ model: 'gpt-scripted', messages: [{ role: 'user' as const, content }] });

describe('runToolLoop', () => {
  test('a loop across two tools: each result goes back to the model, then it answers', async () => {
    const { p, openai } = await provider([
      { toolCalls: [{ name: 'echo', arguments: { message: 'hello' }, id: 'call_echo' }] },
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 3 }, id: 'call_add' }] },
      (req) => ({ answer: `the sum is ${lastMessage(req).content}` }),
    ]);
    const result = await runToolLoop({ openai, mcp, request: request('echo hello, then add 2 and 3') });
    assert.equal(result.stoppedReason, 'answer');
    assert.equal(result.message.content, 'the sum is 5');
    assert.equal(result.steps.length, 3);
    assert.equal(p.requests.length, 3);
    // Every MCP tool was offered, in OpenAI's shape.
    const offered = offeredTools(p.requests[0]!);
    for (const n of ['echo', 'add', 'current_time', 'countdown', 'fail']) assert.ok(offered.includes(n), n);
    assert.equal(p.requests[0]!.body.tools.find((t: any) => t.function.name === 'add').function.parameters.type, 'object');
    // The model saw its own tool call and the tool's answer.
    const second = p.requests[1]!.body.messages;
    assert.deepEqual(second.at(-2).tool_calls.map((c: any) => c.function.name), ['echo']);
    assert.deepEqual(second.at(-1), { role: 'tool', tool_call_id: 'call_echo', content: 'hello' });
    assert.deepEqual(lastMessage(p.requests[2]!), { role: 'tool', tool_call_id: 'call_add', content: '5' });
    assert.equal(p.requests[0]!.body.stream, false);
    // The conversation returned can be sent again.
    assert.deepEqual(result.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
  });

  test('several tool calls in one turn run at the same time; results go back in the order asked', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const counting: McpToolsClient = {
      listTools: (params) => mcp.listTools(params),
      async callTool(params) {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          return await mcp.callTool(params);
        } finally {
          inFlight--;
        }
      },
    };
    const { p, openai } = await provider([
      { toolCalls: [
        { name: 'countdown', arguments: { n: 2, delay_ms: 150 }, id: 'call_a' },
        { name: 'countdown', arguments: { n: 2, delay_ms: 150 }, id: 'call_b' },
        { name: 'echo', arguments: { message: 'third' }, id: 'call_c' },
      ] },
      { answer: 'done' },
    ]);
    const result = await runToolLoop({ openai, mcp: counting, request: request('go') });
    assert.equal(result.message.content, 'done');
    assert.equal(maxInFlight, 3, 'all three tool calls were in flight together');
    const tools = p.requests[1]!.body.messages.slice(-3);
    assert.deepEqual(tools, [
      { role: 'tool', tool_call_id: 'call_a', content: 'liftoff' },
      { role: 'tool', tool_call_id: 'call_b', content: 'liftoff' },
      { role: 'tool', tool_call_id: 'call_c', content: 'third' },
    ]);
  });

  test('a tool that fails: isError goes back to the model marked as an error', async () => {
    const { p, openai } = await provider([
      { toolCalls: [{ name: 'fail', arguments: { reason: 'disk full' }, id: 'call_f' }] },
      { answer: 'sorry, the disk is full' },
    ]);
    const result = await runToolLoop({ openai, mcp, request: request('try it') });
    assert.equal(result.stoppedReason, 'answer');
    assert.deepEqual(lastMessage(p.requests[1]!), { role: 'tool', tool_call_id: 'call_f', content: 'Error: disk full' });
    assert.equal(result.steps[0]!.toolCalls[0]!.result!.isError, true);
  });

  test('invalid JSON arguments and an unknown tool go back as errors, and the model can retry', async () => {
    const { p, openai } = await provider([
      { toolCalls: [{ name: 'add', arguments: '{"a": 2, "b":', id: 'call_bad' }, { name: 'no_such_tool', arguments: {}, id: 'call_unknown' }] },
      { toolCalls: [{ name: 'add', arguments: { a: 2, b: 40 }, id: 'call_good' }] },
      { answer: '42' },
    ]);
    const result = await runToolLoop({ openai, mcp, request: request('add') });
    assert.equal(result.message.content, '42');
    const [bad, unknown] = p.requests[1]!.body.messages.slice(-2);
    assert.equal(bad.tool_call_id, 'call_bad');
    assert.match(bad.content, /^Error: tool call call_bad \(add\): arguments are not a JSON object: /);
    assert.equal(unknown.tool_call_id, 'call_unknown');
    assert.match(unknown.content, /^Error: .*no_such_tool/);
    assert.equal(result.steps[0]!.toolCalls[0]!.error!.name, 'ToolArgumentsError');
    assert.deepEqual(lastMessage(p.requests[2]!), { role: 'tool', tool_call_id: 'call_good', content: '42' });
  });

  test("a provider error surfaces as the openai client's APIError with the provider's status and message", async () => {
    const { openai } = await provider([
      { error: { status: 500, message: 'The server had an error while processing your request.', type: 'server_error' } },
    ]);
    await assert.rejects(runToolLoop({ openai, mcp, request: request('hi') }), (err: unknown) => {
      assert.ok(err instanceof APIError, String(err));
      assert.equal(err.status, 500);
      assert.equal(err.type, 'server_error');
      assert.match(err.message, /The server had an error/);
      return true;
    });
  });

  test('maxSteps reached: stops with stoppedReason max_steps after that many model calls', async () => {
    const again: Step = { toolCalls: [{ name: 'echo', arguments: { message: 'again' } }] };
    const { p, openai } = await provider([again, again, again]);
    const result = await runToolLoop({ openai, mcp, request: request('loop forever'), maxSteps: 2 });
    assert.equal(result.stoppedReason, 'max_steps');
    assert.equal(result.steps.length, 2);
    assert.equal(p.requests.length, 2);
    assert.equal(p.remaining, 1);
    assert.equal(result.messages.at(-1)!.role, 'tool');
    await assert.rejects(runToolLoop({ openai, mcp, request: request('x'), maxSteps: 0 }), RangeError);
  });

  test('request.tools given: exactly those are offered', async () => {
    const { p, openai } = await provider([{ answer: 'ok' }]);
    const tools = await loadMcpTools(mcp, { format: 'openai', filter: ['echo'] });
    await runToolLoop({ openai, mcp, request: { ...request('hi'), tools, temperature: 0 } });
    assert.deepEqual(offeredTools(p.requests[0]!), ['echo']);
    assert.equal(p.requests[0]!.body.temperature, 0);
  });
});
