import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IMPLEMENTED_VERSIONS, META, checkModernHeaders, classifyEra, decodeHeaderValue, decorateResult, discoverResult,
  errorResponseText, methodNotFound, missingCapability,
} from '../../services/edge/src/era/modern.js';

const V = '2026-07-28';
const meta = (extra: Record<string, unknown> = {}) => ({
  [META.protocolVersion]: V, [META.clientCapabilities]: {}, [META.clientInfo]: { name: 'c', version: '1' }, ...extra,
});
const req = (method: string, params: Record<string, unknown> = {}, m = meta()) => ({ jsonrpc: '2.0', id: 7, method, params: { ...params, _meta: m } });
const H = { 'mcp-protocol-version': V };

test('a 2026 request without a session is modern, with capabilities, client info and log level from _meta', () => {
  const out = classifyEra(H, req('tools/list', {}, meta({ [META.logLevel]: 'info', [META.clientCapabilities]: { elicitation: {} } })));
  assert.deepEqual(out, { era: 'modern', protocolVersion: V, clientCapabilities: { elicitation: {} }, clientInfo: { name: 'c', version: '1' }, logLevel: 'info' });
});

test('clientInfo is optional; an unknown log level is -32602', () => {
  const noInfo = meta(); delete (noInfo as Record<string, unknown>)[META.clientInfo];
  assert.equal((classifyEra(H, req('server/discover', {}, noInfo)) as { era: string }).era, 'modern');
  const bad = classifyEra(H, req('tools/list', {}, meta({ [META.logLevel]: 'loud' })));
  assert.ok('error' in bad && bad.error.code === -32602 && bad.error.httpStatus === 400 && /logLevel/.test(bad.error.message));
});

test('initialize, 2025 session traffic and header-less 2025-03-26 clients stay legacy', () => {
  assert.deepEqual(classifyEra({}, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25' } }), { era: 'legacy' });
  assert.deepEqual(classifyEra({ 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 's' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' }), { era: 'legacy' });
  assert.deepEqual(classifyEra({ 'mcp-session-id': 's' }, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } }), { era: 'legacy' });
  // a 2025 session request that happens to carry extra _meta is still legacy: its header names a legacy version
  assert.deepEqual(classifyEra({ 'mcp-protocol-version': '2025-11-25', 'mcp-session-id': 's' }, req('tools/list')), { era: 'legacy' });
});

test('initialize with a 2026 header is a modern request for a removed method (404 -32601), not a new session', () => {
  const out = classifyEra(H, req('initialize'));
  assert.equal((out as { era?: string }).era, 'modern');
  assert.deepEqual([methodNotFound('initialize').httpStatus, methodNotFound('initialize').code], [404, -32601]);
});

test('a modern request carrying Mcp-Session-Id is 400 -32020 naming the header', () => {
  const out = classifyEra({ ...H, 'mcp-session-id': 'abc' }, req('tools/list'));
  assert.ok('error' in out);
  assert.equal(out.error.httpStatus, 400);
  assert.equal(out.error.code, -32020);
  assert.match(out.error.message, /Mcp-Session-Id/);
});

test('missing _meta, protocolVersion or clientCapabilities is 400 -32602', () => {
  const cases: [unknown, RegExp][] = [
    [{ jsonrpc: '2.0', id: 1, method: 'server/discover', params: {} }, /_meta is required/],
    [{ jsonrpc: '2.0', id: 1, method: 'server/discover' }, /_meta is required/],
    [req('server/discover', {}, { [META.clientCapabilities]: {} } as never), /protocolVersion/],
    [req('server/discover', {}, { [META.protocolVersion]: V } as never), /clientCapabilities/],
  ];
  for (const [body, re] of cases) {
    const out = classifyEra(H, body);
    assert.ok('error' in out, JSON.stringify(body));
    assert.equal(out.error.code, -32602);
    assert.equal(out.error.httpStatus, 400);
    assert.match(out.error.message, re);
  }
});

test('header/_meta version mismatch or a missing header is -32020; an unknown version is -32022 with the supported list', () => {
  const mismatch = classifyEra(H, req('server/discover', {}, meta({ [META.protocolVersion]: 'v999.0.0' })));
  assert.ok('error' in mismatch && mismatch.error.code === -32020 && /'2026-07-28' does not match body value 'v999.0.0'/.test(mismatch.error.message));
  const missing = classifyEra({}, req('tools/list'));
  assert.ok('error' in missing && missing.error.code === -32020 && /MCP-Protocol-Version header is required/.test(missing.error.message));
  const unknown = classifyEra({ 'mcp-protocol-version': 'v999.0.0' }, req('server/discover', {}, meta({ [META.protocolVersion]: 'v999.0.0' })));
  assert.ok('error' in unknown);
  assert.equal(unknown.error.httpStatus, 400);
  assert.equal(unknown.error.code, -32022);
  assert.deepEqual(unknown.error.data, { supported: [...IMPLEMENTED_VERSIONS], requested: 'v999.0.0' });
});

test('checkModernHeaders: Mcp-Method and Mcp-Name must match the body', () => {
  const call = req('tools/call', { name: 'demo__echo', arguments: {} });
  assert.equal(checkModernHeaders({ ...H, 'mcp-method': 'tools/call', 'mcp-name': 'demo__echo' }, call), undefined);
  const bad: [Record<string, string>, RegExp][] = [
    [{ ...H, 'mcp-name': 'demo__echo' }, /Mcp-Method header is required/],
    [{ ...H, 'mcp-method': 'tools/list', 'mcp-name': 'demo__echo' }, /Mcp-Method header value 'tools\/list' does not match body value 'tools\/call'/],
    [{ ...H, 'mcp-method': 'tools/call' }, /Mcp-Name header is required/],
    [{ ...H, 'mcp-method': 'tools/call', 'mcp-name': 'other' }, /'other' does not match body value 'demo__echo'/],
    [{ ...H, 'mcp-method': 'tools/call', 'mcp-name': '=?base64?!!?=' }, /invalid characters|malformed/],
    [{ 'mcp-method': 'tools/call', 'mcp-name': 'demo__echo' }, /MCP-Protocol-Version header is required/],
  ];
  for (const [headers, re] of bad) {
    const err = checkModernHeaders(headers, call);
    assert.ok(err, JSON.stringify(headers));
    assert.equal(err.code, -32020);
    assert.equal(err.httpStatus, 400);
    assert.match(err.message, re);
  }
  const unsupported = checkModernHeaders({ 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/call', 'mcp-name': 'demo__echo' }, call);
  assert.equal(unsupported?.code, -32022);
});

test('Mcp-Name in the Base64 sentinel form is decoded before comparing (resources/read uses params.uri)', () => {
  const uri = 'file:///tmp/héllo wörld.txt';
  const read = req('resources/read', { uri });
  const enc = `=?base64?${Buffer.from(uri).toString('base64')}?=`;
  assert.equal(checkModernHeaders({ ...H, 'mcp-method': 'resources/read', 'mcp-name': enc }, read), undefined);
  assert.equal(decodeHeaderValue('plain'), 'plain');
  assert.equal(decodeHeaderValue('bad\u0001'), undefined);
  assert.equal(checkModernHeaders({ ...H, 'mcp-method': 'tools/list' }, req('tools/list')), undefined);
});

test('removed and unknown methods are 404 -32601; a missing capability is 400 -32021 with requiredCapabilities', () => {
  for (const m of ['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe', 'unknown/method']) {
    const e = methodNotFound(m);
    assert.equal(e.httpStatus, 404);
    assert.equal(e.code, -32601);
  }
  assert.match(methodNotFound('ping').message, /removed in protocol 2026-07-28/);
  const cap = missingCapability('sampling', 'tool test_missing_capability');
  assert.deepEqual([cap.httpStatus, cap.code, cap.data], [400, -32021, { requiredCapabilities: { sampling: {} } }]);
});

test('discoverResult lists the implemented versions explicitly and identifies the gateway in _meta', () => {
  const d = discoverResult({ instructions: 'hi' });
  assert.deepEqual(d.supportedVersions, ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
  assert.equal(d.resultType, 'complete');
  assert.equal(d.cacheScope, 'public', 'DiscoverResult is a CacheableResult: the same for every principal');
  assert.equal(d.ttlMs, 3_600_000);
  assert.equal(d.instructions, 'hi');
  assert.deepEqual((d._meta as Record<string, unknown>)[META.serverInfo], { name: 'mcpgw', title: 'mcpgw MCP gateway', version: '0.1.0' });
  assert.ok((d.capabilities as Record<string, unknown>).tools);
});

test('decorateResult splices resultType, and ttlMs/cacheScope for lists and reads', () => {
  const hints = { cacheScope: 'private' as const, ttlMs: 30000 };
  const list = decorateResult('tools/list', '{"tools":[{"name":"a"}]}', hints);
  assert.deepEqual(JSON.parse(list), { resultType: 'complete', ttlMs: 30000, cacheScope: 'private', tools: [{ name: 'a' }] });
  assert.equal(list, '{"resultType":"complete","ttlMs":30000,"cacheScope":"private","tools":[{"name":"a"}]}');
  assert.deepEqual(JSON.parse(decorateResult('tools/call', '{"content":[]}', hints)), { resultType: 'complete', content: [] });
  assert.deepEqual(JSON.parse(decorateResult('resources/read', ' { } ', hints)), { resultType: 'complete', ttlMs: 30000, cacheScope: 'private' });
  assert.deepEqual(JSON.parse(decorateResult('ping', '{}', hints)), { resultType: 'complete' });
});

test('decorateResult keeps an upstream input_required result and never duplicates keys', () => {
  const hints = { cacheScope: 'public' as const, ttlMs: 1000 };
  const ir = '{"resultType":"input_required","inputRequests":{"a":{"method":"roots/list","params":{}}}}';
  assert.deepEqual(JSON.parse(decorateResult('resources/read', ir, hints)), JSON.parse(ir));
  const upstream = decorateResult('prompts/list', '{"prompts":[],"ttlMs":5,"cacheScope":"public","resultType":"complete"}', hints);
  assert.equal(upstream.match(/"ttlMs"/g)?.length, 1);
  assert.deepEqual(JSON.parse(upstream), { resultType: 'complete', ttlMs: 1000, cacheScope: 'public', prompts: [] });
  // a tool result whose text merely mentions the key is escaped inside a string: still the fast path
  const text = JSON.stringify({ content: [{ type: 'text', text: '"resultType": x' }] });
  assert.ok(decorateResult('tools/call', text, hints).startsWith('{"resultType":"complete",'));
  assert.throws(() => decorateResult('tools/list', '[]', hints), /JSON object/);
});

test('errorResponseText echoes the id and carries data', () => {
  const t = JSON.parse(errorResponseText(301, { httpStatus: 400, code: -32022, message: 'm', data: { supported: [], requested: 'x' } }));
  assert.deepEqual(t, { jsonrpc: '2.0', id: 301, error: { code: -32022, message: 'm', data: { supported: [], requested: 'x' } } });
});
