// The 2026-07-28 adapter in-process (buildApp().inject() against the fake
// registry): header rules, server/discover, result fields, the stateless
// path, and every way a requestState can be bad.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sha256Hex } from '../../services/edge/src/identity/keys.js';
import { testEdge, type TestEdge } from '../harness/edge-app.js';

const MASTER = 'master-secret-1';
const SCOPED = 'sk-mcpgw-scoped-key-for-2026';
const OTHER = 'sk-mcpgw-other-key-for-2026';
const SERVERS = [
  { name: 'github', tools: ['search', 'create_issue', 'ask'], prompts: ['review'], resources: ['gh://readme'] },
  { name: 'db', tools: ['query', 'ask'], resources: ['db://schema'] },
  { name: 'geo', tools: ['locate'], schemas: { locate: { type: 'object', properties: { region: { type: 'string', 'x-mcp-header': 'Region' } } } } },
];
const GATEWAY = `
  keys:
    - id: scoped
      name: scoped
      sha256: ${sha256Hex(SCOPED)}
      tools: ["db__*"]
    - id: other
      name: other
      sha256: ${sha256Hex(OTHER)}
`;

const V = '2026-07-28';
const meta = (extra: Record<string, unknown> = {}, caps: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': caps, ...extra,
});
const rpc = (id: number, method: string, params: Record<string, unknown> = {}, caps: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta({}, caps) } });

describe('MCP 2026-07-28 adapter (in-process)', () => {
  let edge: TestEdge;
  const inject = (o: InjectOptions): Promise<LightMyRequestResponse> => edge.app.inject({ ...o, headers: { host: 'localhost', ...o.headers } });
  /** A well-formed modern POST: the headers mirror the body unless overridden. */
  const post = (body: { method: string; params?: Record<string, unknown> }, headers: Record<string, string | undefined> = {}, key = MASTER, url = '/mcp') => {
    const p = body.params ?? {};
    const name = body.method === 'resources/read' ? p.uri : body.method === 'tools/call' || body.method === 'prompts/get' ? p.name : undefined;
    const h: Record<string, string> = {
      'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${key}`,
      'mcp-protocol-version': V, 'mcp-method': body.method, ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
    };
    for (const [k, v] of Object.entries(headers)) if (v === undefined) delete h[k]; else h[k] = v;
    return inject({ method: 'POST', url, headers: h, payload: body as object });
  };
  const json = (r: LightMyRequestResponse) => JSON.parse(r.body) as { id?: unknown; result?: Record<string, unknown>; error?: { code: number; message: string; data?: Record<string, unknown> } };

  before(async () => { edge = await testEdge({ servers: SERVERS, masterKey: MASTER, gatewayYaml: GATEWAY }); });
  after(() => edge.app.close());

  test('server/discover names the gateway, its own versions and cache hints; no session is made', async () => {
    const r = await post(rpc(1, 'server/discover'));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['mcp-session-id'], undefined);
    const res = json(r).result!;
    assert.deepEqual(res.supportedVersions, ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
    assert.equal(res.resultType, 'complete');
    assert.equal(res.cacheScope, 'public');
    assert.equal(typeof res.ttlMs, 'number');
    assert.equal((res._meta as Record<string, { name: string }>)['io.modelcontextprotocol/serverInfo']!.name, 'mcpgw');
  });

  test('tools/list: resultType, cache hints (public for the unscoped view, private for a scoped key), deterministic order', async () => {
    const all = json(await post(rpc(2, 'tools/list'))).result!;
    const names = (all.tools as { name: string }[]).map((t) => t.name);
    assert.deepEqual(names, [...names].sort());
    assert.equal(all.resultType, 'complete');
    assert.equal(all.cacheScope, 'public');
    const scoped = json(await post(rpc(3, 'tools/list'), {}, SCOPED)).result!;
    assert.deepEqual((scoped.tools as { name: string }[]).map((t) => t.name), ['db__ask', 'db__query']);
    assert.equal(scoped.cacheScope, 'private', 'a list filtered by the principal\'s scopes is not public');
  });

  test('a call is stateless: the registry hears the principal\'s modern session id and a call id of its own', async () => {
    const before = edge.registry.calls.length;
    const r = await post(rpc(4, 'tools/call', { name: 'db__query', arguments: { q: 1 } }));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(json(r).result!.resultType, 'complete');
    assert.equal(json(r).id, 4);
    const call = edge.registry.calls[before]!;
    assert.match(call.context!.sessionId, /^m\./);
    assert.notEqual(call.context!.requestId, '4', 'equal JSON-RPC ids of concurrent requests never collide at the registry');
    assert.equal(r.headers['mcp-session-id'], undefined);
  });

  test('header rules: Mcp-Method, Mcp-Name and the version header must mirror the body (400, -32020)', async () => {
    for (const [headers, pattern] of [
      [{ 'mcp-method': 'tools/list' }, /Mcp-Method header value 'tools\/list' does not match body value 'tools\/call'/],
      [{ 'mcp-method': undefined }, /Mcp-Method header is required/],
      [{ 'mcp-name': 'db__other' }, /Mcp-Name header value 'db__other' does not match body value 'db__query'/],
      [{ 'mcp-name': undefined }, /Mcp-Name header is required/],
      [{ 'mcp-protocol-version': '2025-11-25' }, /./],
    ] as const) {
      const r = await post(rpc(5, 'tools/call', { name: 'db__query', arguments: {} }), headers as Record<string, string | undefined>);
      if (headers['mcp-protocol-version']) {
        // A 2025 header with 2026 _meta is a legacy request without a session.
        assert.equal(r.statusCode, 400, r.body);
        continue;
      }
      assert.equal(r.statusCode, 400, `${JSON.stringify(headers)}: ${r.body}`);
      assert.equal(json(r).error!.code, -32020);
      assert.match(json(r).error!.message, pattern);
      assert.equal(json(r).id, 5, 'the error echoes the request id');
    }
    const encoded = await post(rpc(6, 'tools/call', { name: 'db__query', arguments: {} }), { 'mcp-name': `=?base64?${Buffer.from('db__query').toString('base64')}?=` });
    assert.equal(encoded.statusCode, 200, `a Base64-sentinel Mcp-Name is decoded before comparing: ${encoded.body}`);
  });

  test('Mcp-Param-* headers mirror x-mcp-header arguments (SEP-2243): checked after Base64 decoding, 400 -32020 otherwise', async () => {
    const call = (region: unknown, headers: Record<string, string | undefined>) => post(rpc(40, 'tools/call', { name: 'geo__locate', arguments: region === undefined ? {} : { region } }), headers);
    const b64 = (v: string) => `=?base64?${Buffer.from(v).toString('base64')}?=`;
    assert.equal((await call('eu-west', { 'mcp-param-region': 'eu-west' })).statusCode, 200);
    assert.equal((await call('Zürich', { 'mcp-param-region': b64('Zürich') })).statusCode, 200);
    assert.equal((await call('SGVsbG8=', { 'mcp-param-region': 'SGVsbG8=' })).statusCode, 200, 'a value without the sentinel is literal');
    for (const [region, value, pattern] of [
      ['eu-west', undefined, /Mcp-Param-Region header is required/],
      ['eu-west', 'us-east', /Mcp-Param-Region header value 'us-east' does not match body value 'eu-west'/],
      ['Hello', '=?base64?SGVsbG8?=', /malformed/],
      ['Hello', '=?base64?SGVs!!!bG8=?=', /malformed/],
      [undefined, 'eu-west', /body has no arguments.region/],
    ] as const) {
      const r = await call(region, { 'mcp-param-region': value });
      assert.equal(r.statusCode, 400, `${String(value)}: ${r.body}`);
      assert.equal(json(r).error!.code, -32020);
      assert.match(json(r).error!.message, pattern);
    }
  });

  test('versions: header and _meta disagreeing is -32020; an unknown version is -32022 with the supported list', async () => {
    const body = { jsonrpc: '2.0', id: 7, method: 'tools/list', params: { _meta: { ...meta(), 'io.modelcontextprotocol/protocolVersion': 'v999.0.0' } } };
    const mismatch = await post(body);
    assert.equal(mismatch.statusCode, 400);
    assert.equal(json(mismatch).error!.code, -32020);
    const unknown = await post(body, { 'mcp-protocol-version': 'v999.0.0' });
    assert.equal(unknown.statusCode, 400);
    assert.equal(json(unknown).error!.code, -32022);
    assert.deepEqual(json(unknown).error!.data, { supported: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'], requested: 'v999.0.0' });
  });

  test('missing _meta fields are -32602 (400); a modern request with Mcp-Session-Id is -32020', async () => {
    const noMeta = await post({ jsonrpc: '2.0', id: 8, method: 'server/discover', params: {} } as never);
    assert.equal(noMeta.statusCode, 400);
    assert.equal(json(noMeta).error!.code, -32602);
    const noCaps = await post({ jsonrpc: '2.0', id: 9, method: 'server/discover', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': V } } } as never);
    assert.equal(json(noCaps).error!.code, -32602);
    assert.match(json(noCaps).error!.message, /clientCapabilities/);
    const withSession = await post(rpc(10, 'tools/list'), { 'mcp-session-id': 'abc' });
    assert.equal(withSession.statusCode, 400);
    assert.equal(json(withSession).error!.code, -32020);
    assert.match(json(withSession).error!.message, /Mcp-Session-Id/);
  });

  test('unknown and removed methods are 404 with -32601; GET and DELETE of a modern client are 405', async () => {
    for (const method of ['ping', 'logging/setLevel', 'resources/subscribe', 'initialize', 'unknown/method']) {
      const r = await post(rpc(11, method, method === 'resources/subscribe' ? { uri: 'gh://readme' } : {}));
      assert.equal(r.statusCode, 404, `${method}: ${r.body}`);
      assert.equal(json(r).error!.code, -32601);
    }
    for (const method of ['GET', 'DELETE'] as const) {
      const r = await inject({ method, url: '/mcp', headers: { authorization: `Bearer ${MASTER}`, accept: 'text/event-stream', 'mcp-protocol-version': V } });
      assert.equal(r.statusCode, 405, `${method}: ${r.body}`);
      assert.equal(r.headers.allow, 'POST');
    }
  });

  test('resource not found is -32602 naming the URI; a read carries cache hints', async () => {
    const missing = await post(rpc(12, 'resources/read', { uri: 'nope://x' }));
    assert.equal(json(missing).error!.code, -32602);
    assert.equal(json(missing).error!.data!.uri, 'nope://x');
    const read = json(await post(rpc(13, 'resources/read', { uri: 'gh://readme' }))).result!;
    assert.equal(read.resultType, 'complete');
    assert.equal(typeof read.ttlMs, 'number');
    assert.ok(read.cacheScope === 'public' || read.cacheScope === 'private');
  });

  describe('MRTR: an upstream\'s elicitation becomes InputRequiredResult', () => {
    const ask = (id: number, extra: Record<string, unknown> = {}, key = MASTER, caps: Record<string, unknown> = { elicitation: {} }, name = 'db__ask') =>
      post(rpc(id, 'tools/call', { name, arguments: {}, ...extra }, caps), {}, key);
    const first = async (key = MASTER) => {
      const r = await ask(20, {}, key);
      assert.equal(r.statusCode, 200, r.body);
      const res = json(r).result!;
      assert.equal(res.resultType, 'input_required');
      assert.equal(res.ttlMs, undefined, 'an InputRequiredResult carries no cache hints');
      const requests = res.inputRequests as Record<string, { method: string; params: Record<string, unknown> }>;
      assert.deepEqual(Object.keys(requests), ['user_name'], 'the upstream named the key');
      assert.equal(requests.user_name!.method, 'elicitation/create');
      assert.equal((requests.user_name!.params._meta as Record<string, unknown> | undefined)?.['mcpgw/inputKey'], undefined);
      return res.requestState as string;
    };
    const reason = (r: LightMyRequestResponse) => {
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(json(r).error!.code, -32602);
      assert.match(json(r).error!.message, /^Invalid requestState: /);
      return json(r).error!.data!.reason;
    };

    test('the retry (new id) answers the upstream and gets the call\'s result', async () => {
      const state = await first();
      const r = await ask(21, { requestState: state, inputResponses: { user_name: { action: 'accept', content: { name: 'Alice' } } } });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(json(r).id, 21);
      assert.equal(json(r).result!.resultType, 'complete');
      assert.deepEqual(json(r).result!.content, [{ type: 'text', text: 'Hello, Alice!' }]);
      const sent = edge.registry.responses.at(-1)!;
      assert.deepEqual(JSON.parse(sent.responseJson).result, { action: 'accept', content: { name: 'Alice' } });
    });

    test('a retry without the answer is asked again; an answer that is not an object is -32602', async () => {
      const state = await first();
      const again = json(await ask(22, { requestState: state, inputResponses: {} })).result!;
      assert.equal(again.resultType, 'input_required');
      assert.deepEqual(Object.keys(again.inputRequests as object), ['user_name']);
      const bad = await ask(23, { requestState: again.requestState, inputResponses: { user_name: 42 } });
      assert.equal(json(bad).error!.code, -32602);
      assert.match(json(bad).error!.message, /inputResponses\["user_name"\]/);
    });

    test('malformed, tampered, foreign and wrong-request states are refused, each saying which', async () => {
      const state = await first();
      assert.equal(reason(await ask(24, { requestState: 'not-a-state', inputResponses: {} })), 'malformed');
      const flipped = state.slice(0, -3) + (state.at(-3) === 'A' ? 'B' : 'A') + state.slice(-2);
      assert.equal(reason(await ask(25, { requestState: flipped, inputResponses: {} })), 'tampered');
      assert.equal(reason(await ask(26, { requestState: state, inputResponses: {} }, OTHER)), 'foreign-principal');
      assert.equal(reason(await ask(27, { requestState: state, inputResponses: {} }, MASTER, { elicitation: {} }, 'github__ask')), 'wrong-request');
      const before = edge.registry.responses.length;
      assert.equal(edge.registry.responses.length, before, 'no refused retry reached the upstream');
    });

    test('a client that did not declare elicitation gets -32021 and the call is cancelled upstream', async () => {
      const cancels = edge.registry.cancels.length;
      const r = await ask(28, {}, MASTER, {});
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(json(r).error!.code, -32021);
      assert.deepEqual(json(r).error!.data, { requiredCapabilities: { elicitation: {} } });
      assert.equal(edge.registry.cancels.length, cancels + 1);
    });
  });

  test('a held call nobody resumes is cancelled upstream when its state expires; the late retry is told it expired', async () => {
    const short = await testEdge({ servers: SERVERS, masterKey: MASTER, mrtrHoldMs: 300 });
    try {
      const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${MASTER}`, host: 'localhost', 'mcp-protocol-version': V, 'mcp-method': 'tools/call', 'mcp-name': 'db__ask' };
      const call = (id: number, extra: Record<string, unknown> = {}) => short.app.inject({ method: 'POST', url: '/mcp', headers, payload: rpc(id, 'tools/call', { name: 'db__ask', arguments: {}, ...extra }, { elicitation: {} }) });
      const state = (JSON.parse((await call(30)).body) as { result: { requestState: string } }).result.requestState;
      const callId = short.registry.calls.at(-1)!.context!.requestId;
      await new Promise((r) => setTimeout(r, 800));
      assert.deepEqual(short.registry.cancels.map((c) => c.requestId), [callId], 'the held call was cancelled at the registry');
      const late = await call(31, { requestState: state, inputResponses: { user_name: { action: 'accept', content: { name: 'Bob' } } } });
      assert.equal(late.statusCode, 400);
      assert.equal((JSON.parse(late.body) as { error: { data: { reason: string } } }).error.data.reason, 'expired');
      assert.equal(short.registry.responses.length, 0, 'nothing reached the upstream');
    } finally {
      await short.app.close();
    }
  });
});
