import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '@mcpgw/common/config';
import { headerValue } from '../../services/registry/src/upstreams/http-call.js';
import { mcpParamHeaders, paramHeadersOf } from '../../services/registry/src/upstreams/param-headers.js';

test('protocol: auto by default; 2025 and 2026 (string or number) accepted; anything else names the key and line', () => {
  const cfg = parseConfig('mcp_servers:\n  a:\n    url: http://x/mcp\n  b:\n    url: http://x/mcp\n    protocol: 2026\n  c:\n    url: http://x/mcp\n    protocol: "2025"\n', 'c.yaml', {});
  assert.deepEqual(cfg.servers.map((s) => s.protocol), ['auto', '2026', '2025']);
  assert.throws(() => parseConfig('mcp_servers:\n  a:\n    url: http://x/mcp\n    protocol: 2024\n', 'c.yaml', {}), /c\.yaml:4.*server 'a'.*protocol/);
});

test('protocol: 2026 is for Streamable HTTP and stdio (legacy SSE predates it)', () => {
  assert.equal(parseConfig('mcp_servers:\n  a:\n    command: node\n    protocol: 2026\n', 'c.yaml', {}).servers[0]!.protocol, '2026');
  assert.throws(() => parseConfig('mcp_servers:\n  a:\n    url: http://x/sse\n    protocol: 2026\n', 'c.yaml', {}), /server 'a'.*protocol 2026 needs transport http or stdio/);
});

test('Mcp-Name and Mcp-Param values: plain when safe ASCII, else the base64 sentinel', () => {
  assert.equal(headerValue('us-west1'), 'us-west1');
  assert.equal(headerValue('Hello, 世界'), '=?base64?SGVsbG8sIOS4lueVjA==?=');
  assert.equal(headerValue(' padded '), '=?base64?IHBhZGRlZCA=?=');
  assert.equal(headerValue('line1\nline2'), '=?base64?bGluZTEKbGluZTI=?=');
  assert.equal(headerValue('=?base64?literal?='), '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=');
});

test('x-mcp-header: nested properties are mirrored; null or absent values send nothing; invalid annotations are refused', () => {
  const params = paramHeadersOf({
    type: 'object',
    properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, opts: { type: 'object', properties: { n: { type: 'integer', 'x-mcp-header': 'N' }, on: { type: 'boolean', 'x-mcp-header': 'On' } } } },
  });
  assert.deepEqual(mcpParamHeaders(params, { region: 'eu', opts: { n: 42, on: false } }), { 'mcp-param-region': 'eu', 'mcp-param-n': '42', 'mcp-param-on': 'false' });
  assert.deepEqual(mcpParamHeaders(params, { region: null }), {});
  assert.throws(() => paramHeadersOf({ properties: { a: { type: 'number', 'x-mcp-header': 'A' } } }), /type "number"/);
  assert.throws(() => paramHeadersOf({ properties: { a: { type: 'string', 'x-mcp-header': 'A' }, b: { type: 'string', 'x-mcp-header': 'a' } } }), /used twice/);
  assert.throws(() => paramHeadersOf({ properties: { a: { type: 'string', 'x-mcp-header': 'bad name' } } }), /not an HTTP token/);
});
