// Identity and access through real processes: Redis, a registry with two
// upstreams, two edges, a local JWT issuer. The auth matrix (credential ×
// route), keys shared and revoked across edges, a shared rate limit, session
// hijack on every transport, and the SDK client with a key and with a JWT.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { sha256Hex } from '../../services/edge/src/identity/keys.js';
import { startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { startIssuer, type TestIssuer } from '../harness/jwks.js';
import { INIT, rpc } from '../harness/mcp.js';
import { DEMO_SERVER, stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';
import { sseReader } from '../harness/sse.js';

const MASTER = 'identity-master-key';
const EXPIRED = 'sk-mcpgw-expired-declared-key';
const AUDIENCE = 'http://mcpgw.test/mcp';
const ALPHA = ['alpha__add', 'alpha__countdown', 'alpha__current_time', 'alpha__echo', 'alpha__fail'];
const BETA = ALPHA.map((n) => n.replace('alpha', 'beta'));

describe('identity and access (real processes)', () => {
  let a: EdgeHandle;
  let b: EdgeHandle;
  let issuer: TestIssuer;
  const creds: Record<string, Record<string, string>> = {};

  const admin = async (edge: EdgeHandle, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${edge.url}/admin/api${path}`, {
      method, headers: { authorization: `Bearer ${MASTER}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const createKey = async (edge: EdgeHandle, body: Record<string, unknown>) => {
    const r = await admin(edge, 'POST', '/keys', body);
    assert.equal(r.status, 201, JSON.stringify(r.json));
    return r.json as { id: string; key: string };
  };
  const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

  before(async () => {
    const redis = await startRedis();
    issuer = await startIssuer(AUDIENCE);
    const cfg = writeConfig(`
mcp_servers:
  alpha:
    command: node
    args: ["${DEMO_SERVER}", "--label", "alpha"]
  beta:
    command: node
    args: ["${DEMO_SERVER}", "--label", "beta"]
gateway:
  teams:
    alpha-team: { servers: [alpha], tools: ["!alpha__fail"] }
    beta-team: { servers: [beta] }
  keys:
    - { id: old, name: expired key, sha256: ${sha256Hex(EXPIRED)}, expires_at: "2020-01-01T00:00:00Z" }
  auth:
    resource: ${AUDIENCE}
    jwt:
      - issuer: ${issuer.issuer}
        audiences: [${AUDIENCE}]
        jwks_url: ${issuer.jwksUrl}
`);
    const registry = await startRegistry(cfg, { REDIS_URL: redis.url });
    const env = { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER, REDIS_URL: redis.url };
    [a, b] = await Promise.all([startEdge(registry.url, env, false), startEdge(registry.url, env, false)]);
    for (const e of [a, b]) await waitFor('edge ready', async () => (await fetch(`${e.url}/readyz`)).ok || undefined);
    await waitFor('tools of both servers', async () => {
      const r = await fetch(`${a.url}/mcp/tools/list`, { headers: bearer(MASTER) });
      const names = ((await r.json()) as { tools: { name: string }[] }).tools.map((t) => t.name);
      return names.length === 10 || undefined;
    });
    const revoked = await createKey(a, { name: 'revoked', team: 'alpha-team' });
    await admin(a, 'DELETE', `/keys/${revoked.id}`);
    creds.none = {};
    creds.wrong = bearer('sk-mcpgw-not-a-key');
    creds.revoked = bearer(revoked.key);
    creds.expired = bearer(EXPIRED);
    creds.outOfScope = bearer((await createKey(a, { name: 'beta bot', team: 'beta-team' })).key);
    creds.inScope = { 'x-api-key': (await createKey(a, { name: 'alpha bot', team: 'alpha-team' })).key };
    creds.master = bearer(MASTER);
    creds.jwt = bearer(await issuer.sign({ sub: 'alice', team: 'alpha-team' }));
    creds.jwtWrongAudience = bearer(await issuer.sign({ sub: 'alice', team: 'alpha-team' }, { audience: 'http://other.example/mcp' }));
  });
  after(async () => {
    await issuer.close();
    await stopAll();
  });

  /** What one credential sees on every route; `names` are tool lists, `servers` the /servers list. */
  async function observe(edge: EdgeHandle, headers: Record<string, string>) {
    const init = await rpc(`${edge.url}/mcp`, INIT, headers);
    let names: string[] | undefined;
    if (init.status === 200) {
      const list = await rpc(`${edge.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { ...headers, 'mcp-session-id': init.headers.get('mcp-session-id')! });
      names = (list.json.result.tools as { name: string }[]).map((t) => t.name).sort();
    }
    const perServer = (await rpc(`${edge.url}/servers/alpha/mcp`, INIT, headers)).status;
    const sse = await fetch(`${edge.url}/sse`, { headers: { accept: 'text/event-stream', ...headers } });
    if (sse.ok) {
      const reader = sseReader(sse);
      assert.equal((await reader.next()).event, 'endpoint');
      reader.close();
    } else await sse.body?.cancel();
    const restList = await fetch(`${edge.url}/mcp/tools/list`, { headers });
    const restNames = restList.ok ? ((await restList.json()) as { tools: { name: string }[] }).tools.map((t) => t.name).sort() : (await restList.text(), undefined);
    const restCall = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ name: 'alpha__echo', arguments: { message: 'hi' } }) });
    await restCall.text();
    const servers = await fetch(`${edge.url}/servers`, { headers });
    const serverNames = servers.ok ? ((await servers.json()) as { servers: { name: string }[] }).servers.map((s) => s.name).sort() : (await servers.text(), undefined);
    const openapi = await fetch(`${edge.url}/openapi.json`, { headers });
    await openapi.text();
    return { init: init.status, names, perServer, sse: sse.status, restList: restList.status, restNames, restCall: restCall.status, servers: servers.status, serverNames, openapi: openapi.status, wwwAuthenticate: init.headers.get('www-authenticate') };
  }

  test('the auth matrix: every credential on every route, with the exact names each may see', async () => {
    const denied = { init: 401, names: undefined, perServer: 401, sse: 401, restList: 401, restNames: undefined, restCall: 401, servers: 401, serverNames: undefined, openapi: 401 };
    const alphaOnly = ALPHA.filter((n) => n !== 'alpha__fail');
    const expected: Record<string, object> = {
      none: denied, wrong: denied, revoked: denied, expired: denied, jwtWrongAudience: denied,
      outOfScope: { init: 200, names: BETA, perServer: 404, sse: 200, restList: 200, restNames: BETA, restCall: 404, servers: 200, serverNames: ['beta'], openapi: 200 },
      inScope: { init: 200, names: alphaOnly, perServer: 200, sse: 200, restList: 200, restNames: alphaOnly, restCall: 200, servers: 200, serverNames: ['alpha'], openapi: 200 },
      jwt: { init: 200, names: alphaOnly, perServer: 200, sse: 200, restList: 200, restNames: alphaOnly, restCall: 200, servers: 200, serverNames: ['alpha'], openapi: 200 },
      master: { init: 200, names: [...ALPHA, ...BETA], perServer: 200, sse: 200, restList: 200, restNames: [...ALPHA, ...BETA], restCall: 200, servers: 200, serverNames: ['alpha', 'beta'], openapi: 200 },
    };
    const table: string[] = [];
    for (const [name, want] of Object.entries(expected)) {
      const { wwwAuthenticate, ...got } = await observe(name.length % 2 ? a : b, creds[name]!);
      table.push(`${name.padEnd(17)} ${JSON.stringify({ init: got.init, perServer: got.perServer, sse: got.sse, rest: `${got.restList}/${got.restCall}`, servers: got.servers, openapi: got.openapi, tools: got.names?.length })}`);
      assert.deepEqual(got, want, name);
      if (got.init === 401) {
        assert.match(wwwAuthenticate!, /^Bearer resource_metadata="http:\/\/mcpgw\.test\/\.well-known\/oauth-protected-resource"/, name);
        if (name !== 'none') assert.match(wwwAuthenticate!, /error="invalid_token"/, name);
      }
    }
    console.log(`auth matrix (status per route, tools visible):\n${table.join('\n')}`);
  });

  test('a key created on one edge works on the other; a revoke on one is effective on the other within 1 s', async () => {
    const { id, key } = await createKey(a, { name: 'roaming', team: 'alpha-team' });
    const onB = await fetch(`${b.url}/mcp/tools/list`, { headers: bearer(key) });
    assert.equal(onB.status, 200);
    await onB.text();
    const revokedAt = performance.now();
    assert.equal((await admin(a, 'DELETE', `/keys/${id}`)).status, 200);
    const ms = await waitFor('revoke seen on edge b', async () => {
      const r = await fetch(`${b.url}/mcp/tools/list`, { headers: bearer(key) });
      await r.text();
      return r.status === 401 ? performance.now() - revokedAt : undefined;
    }, 5_000);
    console.log(`revoke effective on the other edge after ${ms.toFixed(0)} ms (target: 1 s)`);
    assert.ok(ms < 1_000, `revoke took ${ms} ms`);
  });

  test('a rate limit of N rpm is shared by the edges: the N+1th call across both is 429 with Retry-After', async () => {
    const { key } = await createKey(a, { name: 'limited', team: 'alpha-team', rpm: 4 });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const edge = i % 2 ? b : a;
      const r = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(key) }, body: JSON.stringify({ name: 'alpha__add', arguments: { a: i, b: 1 } }) });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
      await r.text();
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    assert.ok(Number(retryAfter) >= 1);
  });

  test('session hijack: a session made with key A is 404 with key B on every route (Streamable HTTP, GET, DELETE, resume, legacy SSE POST)', async () => {
    const A = creds.inScope!;
    const B = creds.master!;
    const init = await rpc(`${a.url}/mcp`, INIT, A);
    const sid = init.headers.get('mcp-session-id')!;
    const asB = { ...B, 'mcp-session-id': sid };
    assert.equal((await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, asB)).status, 404);
    const get = await fetch(`${b.url}/mcp`, { headers: { accept: 'text/event-stream', ...asB } });
    assert.equal(get.status, 404);
    await get.text();
    const resume = await fetch(`${a.url}/mcp`, { headers: { accept: 'text/event-stream', 'last-event-id': 'x', ...asB } });
    assert.equal(resume.status, 404);
    await resume.text();
    const del = await fetch(`${a.url}/mcp`, { method: 'DELETE', headers: asB });
    assert.equal(del.status, 404);
    // Legacy SSE: the stream belongs to A; B's POSTs to its endpoint are 404.
    const stream = await fetch(`${a.url}/sse`, { headers: { accept: 'text/event-stream', ...A } });
    const reader = sseReader(stream);
    const endpoint = (await reader.next()).data;
    const post = await rpc(new URL(endpoint, `${a.url}/sse`).toString(), INIT, B);
    assert.equal(post.status, 404);
    reader.close();
    // A keeps its session.
    assert.equal((await rpc(`${a.url}/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, { ...A, 'mcp-session-id': sid })).status, 200);
  });

  test('the SDK client with a key (Streamable HTTP and legacy SSE) and with a JWT; tokens are checked against the issuer', async () => {
    for (const [headers, transport] of [[creds.inScope!, 'http'], [creds.jwt!, 'sse'], [creds.jwt!, 'http']] as const) {
      const client = new Client({ name: 'identity-test', version: '1' });
      const url = new URL(transport === 'http' ? `${b.url}/mcp` : `${b.url}/mcp/`);
      await client.connect(transport === 'http'
        ? new StreamableHTTPClientTransport(url, { requestInit: { headers } })
        : new SSEClientTransport(url, { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } }));
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ALPHA.filter((n) => n !== 'alpha__fail'));
      const r = await client.callTool({ name: 'alpha__add', arguments: { a: 2, b: 3 } });
      assert.equal((r.content as { text: string }[])[0]!.text, '5');
      const denied = await client.callTool({ name: 'beta__add', arguments: { a: 2, b: 3 } }).catch((e: Error) => e);
      assert.match(String((denied as Error).message ?? JSON.stringify(denied)), /unknown tool 'beta__add'/);
      await client.close();
    }
    // Bad tokens: each says what is wrong.
    const cases: [string, RegExp][] = [
      [await issuer.sign({ sub: 'x' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 }), /expired/],
      [await issuer.sign({ sub: 'x' }, { unknownKid: true }), /"kid"/],
      [await issuer.sign({ sub: 'x' }, { issuer: 'http://evil.example' }), /issuer/],
      ['not.a.jwt', /not a well-formed JWT|invalid/],
    ];
    for (const [token, message] of cases) {
      const r = await rpc(`${a.url}/mcp`, INIT, bearer(token));
      assert.equal(r.status, 401);
      assert.match(r.json.error.message, message);
    }
    // The issuer's JWKS down: cached keys keep working, unknown ones are 401 (not 500).
    issuer.setDown(true);
    assert.equal((await rpc(`${a.url}/mcp`, INIT, creds.jwt!)).status, 200);
    assert.equal((await rpc(`${a.url}/mcp`, INIT, bearer(await issuer.sign({ sub: 'y' }, { unknownKid: true })))).status, 401);
    issuer.setDown(false);
  });
});
