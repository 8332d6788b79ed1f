// Tool definitions to provider shapes, provider tool calls to MCP calls, MCP results to tool messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  functionCallOutput, toAnthropicTool, toMcpCall, toOpenAITool, toResponsesTool, toolResultMessage,
  ToolArgumentsError, ToolNameMap, ToolSchemaError,
} from '@mcpgw/bridge';
import type { ChatCompletionMessageFunctionToolCall, ChatCompletionTool, ChatCompletionToolMessageParam } from 'openai/resources/chat/completions';
import type { FunctionTool } from 'openai/resources/responses/responses';

const call = (name: string, args: string, id = 'call_1'): ChatCompletionMessageFunctionToolCall => ({ id, type: 'function', function: { name, arguments: args } });

test('a tool without a schema, or with an empty one, takes an empty object', () => {
  const noSchema = toOpenAITool({ name: 'ping' });
  assert.deepEqual(noSchema, { type: 'function', function: { name: 'ping', description: '', parameters: { type: 'object', properties: {} } } });
  assert.deepEqual(toOpenAITool({ name: 'ping', inputSchema: {} }).function.parameters, { type: 'object', properties: {} });
  assert.deepEqual(toOpenAITool({ name: 'ping', inputSchema: { type: 'object' } }).function.parameters, { type: 'object', properties: {} });
  // The result is what the openai package's types accept.
  const typed: ChatCompletionTool = noSchema;
  assert.ok(typed);
});

test('an object schema is kept (minus $schema); a non-object schema is rejected naming the tool', () => {
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false };
  const t = toOpenAITool({ name: 'add', description: 'Adds', inputSchema: schema });
  assert.deepEqual(t.function, { name: 'add', description: 'Adds', parameters: { type: 'object', properties: { a: { type: 'number' } }, required: ['a'], additionalProperties: false } });
  assert.equal(toOpenAITool({ name: 'n', inputSchema: { type: ['object', 'null'], properties: {} } }).function.parameters.type, 'object');
  assert.deepEqual(toOpenAITool({ name: 'p', inputSchema: { properties: { x: {} } } }).function.parameters, { properties: { x: {} }, type: 'object' });
  assert.throws(() => toOpenAITool({ name: 'bad', inputSchema: { type: 'string' } }), (e: unknown) => e instanceof ToolSchemaError && e.toolName === 'bad' && /type is "string"/.test(e.message));
  assert.throws(() => toOpenAITool({ name: 'bad2', inputSchema: [] as never }), ToolSchemaError);
});

test('Responses and Anthropic shapes', () => {
  const tool = { name: 'echo', description: 'Echoes', inputSchema: { type: 'object', properties: { message: { type: 'string' } } } };
  const r = toResponsesTool(tool);
  assert.deepEqual(r, { type: 'function', name: 'echo', description: 'Echoes', parameters: tool.inputSchema, strict: false });
  const typed: FunctionTool = r;
  assert.ok(typed);
  assert.deepEqual(toAnthropicTool(tool), { name: 'echo', description: 'Echoes', input_schema: tool.inputSchema });
});

test('a 70-character name is shortened to 64 and the tool call maps back to the MCP name', () => {
  const names = new ToolNameMap();
  const mcpName = 'very_long_server_name__' + 'a_really_long_tool_name_'.repeat(2).slice(0, 47);
  assert.equal(mcpName.length, 70);
  const t = toOpenAITool({ name: mcpName }, { names });
  assert.equal(t.function.name.length, 64);
  assert.equal(t.function.name.slice(0, 55), mcpName.slice(0, 55));
  assert.deepEqual(toMcpCall(call(t.function.name, '{"x":1}'), { names }), { name: mcpName, arguments: { x: 1 } });
  // The shared default map works the same without passing one.
  const d = toOpenAITool({ name: mcpName });
  assert.equal(toMcpCall(call(d.function.name, '{}')).name, mcpName);
});

test('toMcpCall parses arguments; empty is {}, invalid JSON or a non-object is a ToolArgumentsError naming the call', () => {
  assert.deepEqual(toMcpCall(call('add', '{"a":2,"b":3}')), { name: 'add', arguments: { a: 2, b: 3 } });
  assert.deepEqual(toMcpCall(call('now', '')), { name: 'now', arguments: {} });
  assert.deepEqual(toMcpCall({ type: 'function_call', call_id: 'call_r', name: 'add', arguments: '{"a":1}' }), { name: 'add', arguments: { a: 1 } });
  assert.throws(() => toMcpCall(call('add', '{"a":2,', 'call_bad')), (e: unknown) => {
    assert.ok(e instanceof ToolArgumentsError);
    assert.equal(e.toolCallId, 'call_bad');
    assert.equal(e.toolName, 'add');
    assert.equal(e.rawArguments, '{"a":2,');
    assert.match(e.message, /^tool call call_bad \(add\): arguments are not a JSON object: /);
    return true;
  });
  assert.throws(() => toMcpCall(call('add', '[1,2]')), /arguments are not a JSON object: got an array/);
  assert.throws(() => toMcpCall(call('add', 'null')), /got null/);
  assert.throws(() => toMcpCall(call('add', '"str"')), /got string/);
});

test('toolResultMessage: text joined, structured content, media and resources described, errors marked', () => {
  const c = call('t', '{}', 'call_9');
  const msg = toolResultMessage(c, { content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] });
  assert.deepEqual(msg, { role: 'tool', tool_call_id: 'call_9', content: 'one\ntwo' });
  const typed: ChatCompletionToolMessageParam = msg;
  assert.ok(typed);
  assert.equal(toolResultMessage(c, { content: [], structuredContent: { sum: 5 } }).content, '{"sum":5}');
  assert.equal(toolResultMessage(c, { content: [{ type: 'text', text: '5' }], structuredContent: { sum: 5 } }).content, '5');
  const png = Buffer.alloc(1234).toString('base64');
  assert.equal(toolResultMessage(c, { content: [{ type: 'image', data: png, mimeType: 'image/png' }] }).content, '[image: image/png, 1234 bytes]');
  assert.equal(toolResultMessage(c, { content: [{ type: 'audio', data: Buffer.alloc(10).toString('base64'), mimeType: 'audio/wav' }] }).content, '[audio: audio/wav, 10 bytes]');
  assert.equal(toolResultMessage(c, { content: [{ type: 'resource_link', uri: 'file:///a.txt', name: 'a' }] }).content, '[resource: file:///a.txt]');
  assert.equal(toolResultMessage(c, { content: [{ type: 'resource', resource: { uri: 'test://t', text: 'hello' } }] }).content, '[resource: test://t]\nhello');
  assert.equal(toolResultMessage(c, { content: [{ type: 'resource', resource: { uri: 'test://b', mimeType: 'application/pdf', blob: Buffer.alloc(3).toString('base64') } }] }).content, '[resource: test://b, application/pdf, 3 bytes]');
  assert.equal(toolResultMessage(c, { isError: true, content: [{ type: 'text', text: 'boom' }] }).content, 'Error: boom');
  assert.equal(toolResultMessage(c, { isError: true, content: [] }).content, 'Error: the tool failed without a message');
  assert.deepEqual(functionCallOutput({ type: 'function_call', call_id: 'call_r', name: 't', arguments: '{}' }, { content: [{ type: 'text', text: 'ok' }] }), { type: 'function_call_output', call_id: 'call_r', output: 'ok' });
});
