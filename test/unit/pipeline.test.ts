// The edge's request pipeline in-process (buildApp().inject() against a fake
// registry link): authenticate, session owner, scopes, limits, audit, admin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sha256Hex } from '../../services/edge/src/identity/keys.js';
import { testEdge, type TestEdge } from '../harness/edge-app.js';

const MASTER = 'master-secret-1';
const DECLARED = 'sk-mcpgw-declared-data-key';
const SERVERS = [
  { name: 'github', tools: ['search', 'create_issue', 'delete_repo'], prompts: ['review'], resources: ['gh://readme'] },
  { name: 'db', tools: ['query', 'fail'], prompts: ['sql'], resources: ['db://schema'] },
  { name: 'secret', tools: ['launch'], resources: ['secret://plans'] },
];
const GATEWAY = `
  teams:
    data:
      servers: [github, db]
      tools: ["!github__delete_repo"]
    ops:
      servers: [secret]
  keys:
    - id: ci
      name: ci bot
      sha256: ${sha256Hex(DECLARED)}
      team: data
      tools: ["db__*", "github__search"]
      rpm: 3
`;

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', host: 'localhost' };

describe('request pipeline (in-process)', () => {
  let edge: TestEdge;
  const inject = (o: InjectOptions): Promise<LightMyRequestResponse> => edge.app.inject({ ...o, headers: { host: 'localhost', ...o.headers } });
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  const post = (body: unknown, headers: Record<string, string> = {}, url = '/mcp') => inject({ method: 'POST', url, headers: { ...MCP_HEADERS, ...headers }, payload: body as object });
  const session = async (headers: Record<string, string>, url = '/mcp') => {
    const r = await post(INIT, headers, url);
    assert.equal(r.statusCode, 200, r.body);
    return r.headers['mcp-session-id'] as string;
  };
  const names = (body: string, key = 'tools') => (JSON.parse(body).result[key] as { name?: string; uri?: string }[]).map((t) => t.name ?? t.uri).sort();

  before(async () => { edge = await testEdge({ servers: SERVERS, masterKey: MASTER, gatewayYaml: GATEWAY }); });
  after(() => edge.app.close());

  test('no credential is 401 with the RFC 9728 pointer on every client route; a wrong one says invalid_token', async () => {
    for (const [method, url] of [['POST', '/mcp'], ['GET', '/sse'], ['GET', '/mcp/tools/list'], ['POST', '/mcp/tools/call'], ['GET', '/servers'], ['GET', '/openapi.json'], ['GET', '/admin/api/keys'], ['POST', '/servers/db/mcp']] as const) {
      const r = await inject({ method, url, headers: MCP_HEADERS, payload: method === 'POST' ? INIT : undefined });
      assert.equal(r.statusCode, 401, `${method} ${url}`);
      assert.equal(r.headers['www-authenticate'], 'Bearer resource_metadata="http://localhost/.well-known/oauth-protected-resource"');
      assert.equal(JSON.parse(r.body).error.code, -32016);
    }
    const wrong = await post(INIT, auth('sk-mcpgw-nope'));
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.headers['www-authenticate'] as string, /error="invalid_token"/);
    const query = await inject({ method: 'GET', url: `/mcp/tools/list?api_key=${MASTER}` });
    assert.equal(query.statusCode, 401);
    assert.match(JSON.parse(query.body).error.message, /query string/);
    const meta = await inject({ method: 'GET', url: '/.well-known/oauth-protected-resource/mcp' });
    assert.equal(meta.statusCode, 200);
    assert.equal(JSON.parse(meta.body).resource, 'http://localhost/mcp');
  });

  test('the master key works as Bearer (any case) and X-API-Key', async () => {
    assert.equal((await post(INIT, { authorization: `bearer ${MASTER}` })).statusCode, 200);
    assert.equal((await post(INIT, { authorization: `BEARER ${MASTER}` })).statusCode, 200);
    assert.equal((await post(INIT, { 'x-api-key': MASTER })).statusCode, 200);
  });

  test('lists contain exactly what the key may use, on the aggregate and per-server views and REST', async () => {
    const sid = await session(auth(DECLARED));
    const h = { ...auth(DECLARED), 'mcp-session-id': sid };
    assert.deepEqual(names((await post({ jsonrpc: '2.0', id: 2, method: 'tools/list' }, h)).body), ['db__fail', 'db__query', 'github__search']);
    // Prompts and resources follow server scopes.
    assert.deepEqual(names((await post({ jsonrpc: '2.0', id: 3, method: 'prompts/list' }, h)).body, 'prompts'), ['db__sql', 'github__review']);
    assert.deepEqual(names((await post({ jsonrpc: '2.0', id: 4, method: 'resources/list' }, h)).body, 'resources'), ['db://schema', 'gh://readme']);
    const rest = await inject({ method: 'GET', url: '/mcp/tools/list', headers: auth(DECLARED) });
    assert.deepEqual((JSON.parse(rest.body).tools as { name: string }[]).map((t) => t.name).sort(), ['db__fail', 'db__query', 'github__search']);
    const openai = await inject({ method: 'GET', url: '/mcp/tools/list?format=openai', headers: auth(DECLARED) });
    assert.equal(JSON.parse(openai.body).length, 3);
    const perServer = await session(auth(DECLARED), '/servers/github/mcp');
    const tools = await post({ jsonrpc: '2.0', id: 5, method: 'tools/list' }, { ...auth(DECLARED), 'mcp-session-id': perServer }, '/servers/github/mcp');
    assert.deepEqual(names(tools.body), ['search']);
    // A server outside the team is 404 like an unknown one.
    const hidden = await post(INIT, auth(DECLARED), '/servers/secret/mcp');
    assert.equal(hidden.statusCode, 404);
    assert.equal((await post(INIT, auth(DECLARED), '/servers/nosuch/mcp')).body.replace('nosuch', 'secret'), hidden.body);
  });

  test('a call, get or read outside scope is answered exactly like an unknown name, and audited', async () => {
    const sid = await session(auth(DECLARED));
    const h = { ...auth(DECLARED), 'mcp-session-id': sid };
    const call = (name: string) => post({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: {} } }, h);
    const denied = await call('github__delete_repo');
    const unknown = await call('github__nosuch');
    assert.equal(JSON.parse(denied.body).error.code, -32602);
    assert.equal(JSON.parse(denied.body).error.message.replace('delete_repo', 'X'), JSON.parse(unknown.body).error.message.replace('nosuch', 'X'));
    const read = await post({ jsonrpc: '2.0', id: 8, method: 'resources/read', params: { uri: 'secret://plans' } }, h);
    assert.equal(JSON.parse(read.body).error.code, -32002);
    const restCall = await inject({ method: 'POST', url: '/mcp/tools/call', headers: { ...auth(DECLARED), 'content-type': 'application/json' }, payload: { name: 'secret__launch', arguments: {} } });
    assert.equal(restCall.statusCode, 404);
    assert.ok(!edge.registry.calls.some((c) => c.tool === 'delete_repo' || c.tool === 'launch'), 'nothing out of scope reached the registry');
    const calls = await inject({ method: 'GET', url: '/admin/api/keys', headers: auth(MASTER) });
    assert.equal(calls.statusCode, 200);
  });

  test('sessions belong to their principal: another credential gets 404 on POST, GET and DELETE', async () => {
    const sid = await session(auth(MASTER));
    const other = { ...auth(DECLARED), 'mcp-session-id': sid };
    assert.equal((await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, other)).statusCode, 404);
    assert.equal((await inject({ method: 'GET', url: '/mcp', headers: { ...other, accept: 'text/event-stream' } })).statusCode, 404);
    assert.equal((await inject({ method: 'DELETE', url: '/mcp', headers: other })).statusCode, 404);
    // ...and the owner still has it.
    assert.equal((await post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { ...auth(MASTER), 'mcp-session-id': sid })).statusCode, 200);
  });

  test('rate limits: the key\'s rpm is a 429 with Retry-After and data.retryAfterMs; the principal reaches the registry, the credential never', async () => {
    const key = 'sk-mcpgw-declared-data-key';
    const sid = await session(auth(key));
    const h = { ...auth(key), 'mcp-session-id': sid };
    const statuses: number[] = [];
    let last: LightMyRequestResponse | undefined;
    for (let i = 0; i < 5; i++) {
      last = await post({ jsonrpc: '2.0', id: 100 + i, method: 'tools/call', params: { name: 'db__query', arguments: { i } } }, h);
      statuses.push(last.statusCode);
    }
    assert.ok(statuses.includes(429), `statuses ${statuses}`);
    assert.ok(Number(last!.headers['retry-after']) >= 1);
    const error = JSON.parse(last!.body).error;
    assert.equal(error.code, -32015);
    assert.ok(error.data.retryAfterMs > 0);
    const sent = edge.registry.calls.filter((c) => c.server === 'db');
    assert.ok(sent.length > 0 && sent.every((c) => c.context?.principal === 'key:ci'));
    assert.ok(!JSON.stringify(sent.map((c) => ({ ...c, argumentsJson: c.argumentsJson.toString(), metaJson: c.metaJson.toString() }))).includes(key));
  });

  test('admin API: 401 without a credential, 403 for a team key, keys created once-shown, listed without the key, revoked', async () => {
    assert.equal((await inject({ method: 'GET', url: '/admin/api/keys' })).statusCode, 401);
    assert.equal((await inject({ method: 'GET', url: '/admin/api/keys', headers: auth(DECLARED) })).statusCode, 403);
    const bad = await inject({ method: 'POST', url: '/admin/api/keys', headers: auth(MASTER), payload: { name: 'x', rpm: -1 } });
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body).error.message, /"rpm"/);
    const unknownTeam = await inject({ method: 'POST', url: '/admin/api/keys', headers: auth(MASTER), payload: { name: 'x', team: 'nope' } });
    assert.equal(unknownTeam.statusCode, 400);
    const created = await inject({ method: 'POST', url: '/admin/api/keys', headers: auth(MASTER), payload: { name: 'ops bot', team: 'ops' } });
    assert.equal(created.statusCode, 201);
    const { id, key } = JSON.parse(created.body) as { id: string; key: string };
    assert.match(key, /^sk-mcpgw-/);
    const list = await inject({ method: 'GET', url: '/admin/api/keys', headers: auth(MASTER) });
    assert.ok(!list.body.includes(key));
    assert.ok((JSON.parse(list.body).keys as { id: string }[]).some((k) => k.id === id));
    const rest = await inject({ method: 'GET', url: '/mcp/tools/list', headers: auth(key) });
    assert.deepEqual((JSON.parse(rest.body).tools as { name: string }[]).map((t) => t.name), ['secret__launch']);
    assert.equal((await inject({ method: 'DELETE', url: `/admin/api/keys/${id}`, headers: auth(MASTER) })).statusCode, 200);
    assert.equal((await inject({ method: 'DELETE', url: `/admin/api/keys/${id}`, headers: auth(MASTER) })).statusCode, 404);
    assert.equal((await inject({ method: 'GET', url: '/mcp/tools/list', headers: auth(key) })).statusCode, 401);
    assert.equal((await inject({ method: 'DELETE', url: '/admin/api/keys/ci', headers: auth(MASTER) })).statusCode, 409);
  });

  test('probes and metrics refuse a DNS-rebinding Host but accept IP literals', async () => {
    assert.equal((await inject({ method: 'GET', url: '/metrics', headers: { host: 'evil.example:4000' } })).statusCode, 403);
    assert.equal((await inject({ method: 'GET', url: '/healthz', headers: { host: '10.1.2.3:4000' } })).statusCode, 200);
    assert.equal((await inject({ method: 'GET', url: '/metrics', headers: { host: 'localhost', origin: 'http://evil.example' } })).statusCode, 403);
  });
});

describe('bounds on client input (in-process)', () => {
  let edge: TestEdge;
  const H = { ...MCP_HEADERS, authorization: `Bearer ${MASTER}` };
  before(async () => { edge = await testEdge({ servers: SERVERS, masterKey: MASTER, limits: { maxBatchItems: 3, maxJsonDepth: 32, maxSsePerPrincipal: 2 } }); });
  after(() => edge.app.close());

  test('JSON nested deeper than the limit is a 400 with -32019 and the request\'s id, not a 500', async () => {
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const r = await edge.app.inject({ method: 'POST', url: '/mcp', headers: H, payload: `{"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"name":"db__query","arguments":${deep}}}` });
    assert.equal(r.statusCode, 400);
    const body = JSON.parse(r.body);
    assert.equal(body.id, 77);
    assert.equal(body.error.code, -32019);
    assert.match(body.error.message, /deeper than 32/);
  });

  test('batches above MCPGW_MAX_BATCH_ITEMS are refused before any item runs', async () => {
    const init = await edge.app.inject({ method: 'POST', url: '/mcp', headers: H, payload: { ...INIT, params: { ...INIT.params, protocolVersion: '2025-03-26' } } });
    const sid = init.headers['mcp-session-id'] as string;
    const items = Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'db__query', arguments: {} } }));
    const before = edge.registry.calls.length;
    const r = await edge.app.inject({ method: 'POST', url: '/mcp', headers: { ...H, 'mcp-session-id': sid }, payload: items });
    assert.equal(r.statusCode, 400);
    assert.equal(JSON.parse(r.body).error.code, -32019);
    assert.equal(edge.registry.calls.length, before);
    const ok = await edge.app.inject({ method: 'POST', url: '/mcp', headers: { ...H, 'mcp-session-id': sid }, payload: items.slice(0, 3) });
    assert.equal(JSON.parse(ok.body).length, 3);
  });

  test('CORS preflight of an allowed origin is 204 before auth; DELETE with an empty JSON body ends the session', async () => {
    const pre = await edge.app.inject({ method: 'OPTIONS', url: '/mcp', headers: { host: 'localhost', origin: 'http://localhost:6274', 'access-control-request-method': 'POST' } });
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://localhost:6274');
    assert.match(pre.headers['access-control-allow-headers'] as string, /mcp-session-id/);
    const init = await edge.app.inject({ method: 'POST', url: '/mcp', headers: H, payload: INIT });
    const sid = init.headers['mcp-session-id'] as string;
    const del = await edge.app.inject({ method: 'DELETE', url: '/mcp', headers: { ...H, 'mcp-session-id': sid, 'content-type': 'application/json' } });
    assert.equal(del.statusCode, 200);
  });
});

test('list_changed is announced only to principals who can see the change', async () => {
  const { catalogOf } = await import('../harness/edge-app.js');
  const { Access } = await import('../../services/edge/src/identity/access.js');
  const catalog = catalogOf([{ name: 'db', tools: ['query'] }, { name: 'secret', tools: ['launch'] }]);
  const seen: string[][] = [];
  const dbOnly = new Access([{ servers: ['db'] }]);
  catalog.onChange((c) => seen.push(c.changedFor(dbOnly), c.changedFor(Access.ALL)));
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const server = (name: string, tools: string[]) => ({
    name, hash: tools.join(), stale: false, description: '', perClient: false, credentialHeader: '', tokenExchangeJson: '', serverInfoJson: Buffer.alloc(0), promptsJson: json([]), resourcesJson: json([]), resourceTemplatesJson: json([]),
    toolsJson: json(tools.map((t) => ({ name: t, inputSchema: { type: 'object' } }))),
  });
  catalog.apply({ version: 2, snapshot: false, removedServers: [], servers: [server('secret', ['launch', 'exfiltrate'])] });
  assert.deepEqual(seen, [[], ['tools']]);
  catalog.apply({ version: 3, snapshot: false, removedServers: [], servers: [server('db', ['query', 'explain'])] });
  assert.deepEqual(seen.slice(2), [['tools'], ['tools']]);
});
