// Issue 18: what a security review and a first run found, each tested in the
// deployed configuration: the registry link token set, Redis, two edges.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { start as startProvider, type ScriptedProvider } from '../fixtures/openai-provider/index.js';
import { fixtureStdio, startEdge, startFixtureServer, startRegistry, type EdgeHandle, type RegistryHandle } from '../harness/gateway.js';
import { startIssuer, type TestIssuer } from '../harness/jwks.js';
import { INIT, rpc } from '../harness/mcp.js';
import { startRedis } from '../harness/redis.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';

const MASTER = 'trust-master-key-0123456789';
const AUTH_VALUE = 'authval-SECRET-5521';
const URL_PASSWORD = 'urlpass-7781';
const ENV_SECRET = 'envsecret-SECRET-4410';
const PROVIDER_KEY = 'sk-provider-SECRET-0099887766';
const JWKS_PASSWORD = 'jwkspass-3318';
const AUDIENCE = 'https://mcpgw.test/mcp';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('trust fixes (registry token, Redis, two edges)', () => {
  let a: EdgeHandle;
  let b: EdgeHandle;
  let registry: RegistryHandle;
  let issuer: TestIssuer;
  let provider: ScriptedProvider;
  let cfgPath: string;

  const admin = async (edge: EdgeHandle, method: string, path: string, body?: unknown, key = MASTER) => {
    const res = await fetch(`${edge.url}/admin/api${path}`, {
      method, headers: { ...bearer(key), ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as any };
  };
  const call = async (edge: EdgeHandle, name: string, args: Record<string, unknown>, key = MASTER) => {
    const res = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json' }, body: JSON.stringify({ name, arguments: args }) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const toolNames = async (edge: EdgeHandle, key = MASTER): Promise<string[]> => {
    const res = await fetch(`${edge.url}/mcp/tools/list`, { headers: bearer(key) });
    return ((await res.json()) as { tools?: { name: string }[] }).tools?.map((t) => t.name) ?? [];
  };

  before(async () => {
    const redis = await startRedis();
    issuer = await startIssuer(AUDIENCE);
    provider = await startProvider({ script: [], models: ['upstream-model'] });
    const http = await startFixtureServer('errors', 'http');
    const withUserinfo = http.url.replace('http://', `http://admin:${URL_PASSWORD}@`);
    cfgPath = writeConfig(`
mcp_servers:
  errs:
    url: ${http.url}
    transport: http
    auth_type: bearer_token
    auth_value: ${AUTH_VALUE}
  basicauth:
    url: ${withUserinfo}
    transport: http
${fixtureStdio('local', 'errors', [], `    env: { API_TOKEN: "${ENV_SECRET}" }\n`)}${fixtureStdio('rp', 'rugpull')}
model_list:
  - model_name: gpt-scripted
    litellm_params: { model: openai/upstream-model, api_base: "${provider.url}", api_key: "${PROVIDER_KEY}" }
gateway:
  pinning: hold
  teams:
    alpha: { servers: [errs, local] }
    beta: { servers: [rp] }
  auth:
    jwt:
      - { issuer: "${issuer.issuer}", audiences: ["${AUDIENCE}"], jwks_url: "${issuer.jwksUrl}" }
      - { issuer: "https://unused.example", audiences: ["${AUDIENCE}"], jwks_url: "https://reader:${JWKS_PASSWORD}@unused.example/jwks.json" }
`);
    const env = { MCPGW_CONFIG: cfgPath, MCPGW_MASTER_KEY: MASTER, REDIS_URL: redis.url, MCPGW_MAX_SESSIONS_PER_PRINCIPAL: '3', MCPGW_CONFIG_POLL_MS: '200', LOG_LEVEL: 'debug' };
    registry = await startRegistry(cfgPath, env);
    a = await startEdge(registry.url, env);
    b = await startEdge(registry.url, env);
    await waitFor('every server\'s tools on both edges', async () => {
      const [ta, tb] = await Promise.all([toolNames(a), toolNames(b)]);
      const want = ['errs__tool_error', 'basicauth__echo', 'local__rpc_error', 'rp__weather'];
      return want.every((n) => ta.includes(n) && tb.includes(n)) || undefined;
    }, 60_000);
  });
  after(async () => {
    await provider?.close();
    await issuer?.close();
    await stopAll();
  });

  test('item 1: pin review answers with the link token set, on both edges', async () => {
    for (const edge of [a, b]) {
      const res = await admin(edge, 'GET', '/tools');
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.equal(res.json.mode, 'hold');
    }
  });

  test('item 2: an isError result is redacted like an error; a successful result keeps token-shaped text', async () => {
    const leaky = `failed with ${AUTH_VALUE}, token ghp_abcdefghijklmnopqrstuvwx1234 and postgres://app:dbpass-77@db/x`;
    const r = await call(a, 'errs__tool_error', { text: leaky });
    assert.equal(r.json.isError, true);
    const text = JSON.stringify(r.json);
    for (const secret of [AUTH_VALUE, 'ghp_abcdefghijklmnopqrstuvwx1234', 'dbpass-77']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    const local = await call(b, 'local__tool_error', { text: `env says ${ENV_SECRET}` });
    assert.ok(!JSON.stringify(local.json).includes(ENV_SECRET), JSON.stringify(local.json));
    // A commit sha in a successful answer is data, not a credential; the configured secret never passes.
    const sha = '0123456789abcdef0123456789abcdef01234567';
    const ok = await call(a, 'errs__echo', { message: `commit ${sha} by ${AUTH_VALUE}` });
    assert.equal(ok.json.content[0].text, `commit ${sha} by ***`);
  });

  test('item 3: a JWT with no team and no scope reaches no server; a team claim reaches its team', async () => {
    const bare = await issuer.sign({ sub: 'nobody' });
    assert.deepEqual(await toolNames(a, bare), []);
    const r = await call(a, 'errs__echo', { message: 'x' }, bare);
    assert.notEqual(r.status, 200);
    const alpha = await issuer.sign({ sub: 'al', team: 'alpha' });
    const names = await toolNames(b, alpha);
    assert.ok(names.includes('errs__echo') && !names.some((n) => n.startsWith('rp__')), names.join());
  });

  test('item 4: initialize refuses oversized capabilities; a principal holds at most MCPGW_MAX_SESSIONS_PER_PRINCIPAL sessions', async () => {
    const big = { ...INIT, id: 5, params: { ...INIT.params, capabilities: { experimental: { blob: 'x'.repeat(64 * 1024) } } } };
    const refused = await rpc(`${a.url}/mcp`, big, bearer(MASTER));
    assert.equal(refused.status, 400);
    assert.equal(refused.json.id, 5);
    assert.match(refused.json.error.message, /capabilities/);
    const key = (await admin(a, 'POST', '/keys', { name: 'sessions', team: 'alpha' })).json.key as string;
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await rpc(`${(i % 2 ? b : a).url}/mcp`, INIT, bearer(key));
      assert.equal(r.status, 200);
      ids.push(r.headers.get('mcp-session-id')!);
    }
    const ping = (id: string) => rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 9, method: 'ping' }, { ...bearer(key), 'mcp-session-id': id, 'mcp-protocol-version': '2025-11-25' });
    await waitFor('the oldest session ended (cached copies expire within 5 s)', async () => ((await ping(ids[0]!)).status === 404) || undefined, 20_000);
    const gone = await ping(ids[0]!);
    assert.equal(gone.json.id, 9, 'the 404 carries the request id');
    assert.equal((await ping(ids[3]!)).status, 200);
  });

  test('item 5: a provider error that echoes the provider key reaches the client mapped and redacted', async () => {
    provider.push({ error: { status: 401, message: `Incorrect API key provided: ${PROVIDER_KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } });
    const openai = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: MASTER, maxRetries: 0 });
    const err = await openai.chat.completions.create({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'hi' }] }).then(() => undefined, (e: unknown) => e as { status: number; message: string });
    assert.ok(err, 'the call failed');
    assert.equal(err.status, 502);
    assert.ok(!err.message.includes(PROVIDER_KEY) && !err.message.includes('0099887766'), err.message);
    assert.match(err.message, /refused the gateway's credentials/);
  });

  test('item 6: a JWT whose iss has control or non-ASCII characters gets 401 with one warn-free line, not 500', async () => {
    const token = await issuer.sign({ sub: 'x' }, { issuer: 'https://evil.example/\u0001\u00e9\u2028' });
    const r = await rpc(`${a.url}/mcp`, { ...INIT, id: 'abc' }, bearer(token));
    assert.equal(r.status, 401);
    assert.equal(r.json.id, 'abc', 'the 401 carries the request id');
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.ok(!a.proc.lines.some((l) => l.includes('"level":50') && l.includes('Invalid character')), 'no 500 with a stack in the log');
  });

  test('item 7: passwords in URLs stay out of /admin/api/config and the logs; a URL with userinfo connects (Basic auth)', async () => {
    const config = JSON.stringify((await admin(a, 'GET', '/config')).json);
    assert.ok(!config.includes(JWKS_PASSWORD), config);
    assert.ok(!config.includes(PROVIDER_KEY));
    const echo = await call(a, 'basicauth__echo', { message: 'through basic auth' });
    assert.equal(echo.json.content?.[0]?.text, 'through basic auth');
    const logs = [...registry.proc.lines, ...a.proc.lines, ...b.proc.lines].join('\n');
    for (const secret of [URL_PASSWORD, AUTH_VALUE, ENV_SECRET, JWKS_PASSWORD]) assert.ok(!logs.includes(secret), `${secret} in the logs`);
  });

  test('item 8: an upstream\'s own -32001 and -32000 pass through with message and data, not as gateway timeouts', async () => {
    for (const code of [-32001, -32000]) {
      const init = await rpc(`${a.url}/mcp`, INIT, bearer(MASTER));
      const sid = init.headers.get('mcp-session-id')!;
      const r = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'local__rpc_error', arguments: { code, message: 'busy right now', data: { retry: true } } } },
        { ...bearer(MASTER), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', accept: 'application/json' });
      assert.equal(r.json.error.code, code);
      assert.match(r.json.error.message, /busy right now/);
      assert.doesNotMatch(r.json.error.message, /timed out|connection closed/);
      assert.deepEqual(r.json.error.data, { retry: true });
    }
    // REST's HTTP status follows the error code (docs/troubleshooting.md); the body is the upstream's own error.
    const rest = await call(a, 'errs__rpc_error', { code: -32001, message: 'upstream says slow down', data: { retry: true } });
    assert.match(rest.json.error.message, /slow down/);
    assert.deepEqual(rest.json.error.data, { retry: true });
  });

  test('item 9: a changed title alone holds the tool under pinning: hold', async () => {
    assert.ok((await toolNames(a)).includes('rp__weather'));
    await call(a, 'rp__retitle', {});
    await waitFor('rp__weather withheld on both edges', async () => {
      const [ta, tb] = await Promise.all([toolNames(a), toolNames(b)]);
      return (!ta.includes('rp__weather') && !tb.includes('rp__weather')) || undefined;
    });
    const pins = (await admin(b, 'GET', '/tools?server=rp')).json.tools as { name: string; pin: string }[];
    assert.equal(pins.find((t) => t.name === 'rp__weather')?.pin, 'held');
  });

  test('item 10: /v1/responses with input [null] is a 400 that names the field', async () => {
    const res = await fetch(`${a.url}/v1/responses`, { method: 'POST', headers: { ...bearer(MASTER), 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-scripted', input: [null] }) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { param: string; message: string } };
    assert.equal(body.error.param, 'input[0]');
  });

  test('item 11: a team admin mints keys of its own team only; a revoked key\'s open stream ends', async () => {
    const teamAdmin = (await admin(a, 'POST', '/keys', { name: 'alpha admin', team: 'alpha', admin: true })).json.key as string;
    const other = await admin(b, 'POST', '/keys', { name: 'escape', team: 'beta' }, teamAdmin);
    assert.equal(other.status, 403, JSON.stringify(other.json));
    const none = await admin(b, 'POST', '/keys', { name: 'no team' }, teamAdmin);
    assert.equal(none.status, 201);
    assert.equal(none.json.team, 'alpha', 'a key minted without a team gets the admin\'s team');
    assert.ok(!(await toolNames(a, none.json.key)).some((n) => n.startsWith('rp__')));

    const key = (await admin(a, 'POST', '/keys', { name: 'streamer', team: 'alpha' })).json;
    const init = await rpc(`${b.url}/mcp`, INIT, bearer(key.key));
    const sid = init.headers.get('mcp-session-id')!;
    const stream = await fetch(`${b.url}/mcp`, { headers: { ...bearer(key.key), accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' } });
    assert.equal(stream.status, 200);
    const ended = (async () => {
      const reader = stream.body!.getReader();
      for (;;) if ((await reader.read()).done) return true;
    })();
    assert.equal((await admin(a, 'DELETE', `/keys/${key.id}`)).status, 200);
    assert.equal(await Promise.race([ended, new Promise((r) => setTimeout(() => r(false), 15_000))]), true, 'the stream ended after the revoke');
  });

  test('item 11: every model call of a /v1 tool loop counts against rpm', async () => {
    const key = (await admin(a, 'POST', '/keys', { name: 'rpm two', team: 'alpha', rpm: 2 })).json.key as string;
    provider.push({ toolCalls: [{ name: 'errs__echo', arguments: { message: 'one' } }] }, { toolCalls: [{ name: 'errs__echo', arguments: { message: 'two' } }] }, { answer: 'done' });
    const before = provider.requests.length;
    const res = await fetch(`${a.url}/v1/chat/completions`, {
      method: 'POST', headers: { ...bearer(key), 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-scripted', messages: [{ role: 'user', content: 'go' }], tools: [{ type: 'mcp', server_url: 'mcpgw', server_label: 'gw', require_approval: 'never' }] }),
    });
    // rpm 2 is spent by the first model call and its tool call: before the fix only the request's first model call counted.
    assert.equal(res.status, 429, await res.text());
    assert.ok(provider.requests.length - before < 3, 'the loop stopped before its third model call');
  });

  test('an unknown tool is named once in the error', async () => {
    const r = await call(a, 'errs__nosuch', {});
    assert.equal(r.status, 404);
    assert.equal(r.json.error.message.split('errs__nosuch').length - 1, 1, r.json.error.message);
  });

  test('a 401 answers the request\'s id', async () => {
    const r = await rpc(`${b.url}/mcp`, { jsonrpc: '2.0', id: 42, method: 'tools/list' });
    assert.equal(r.status, 401);
    assert.equal(r.json.id, 42);
  });

  test('model_list reloads on the edges', async () => {
    const text = readFileSync(cfgPath, 'utf8').replace('model_list:\n', `model_list:\n  - model_name: added-later\n    litellm_params: { model: openai/upstream-model, api_base: "${provider.url}", api_key: "${PROVIDER_KEY}" }\n`);
    writeFileSync(cfgPath, text);
    for (const edge of [a, b]) {
      await waitFor(`added-later in /v1/models of ${edge.url}`, async () => {
        const r = await fetch(`${edge.url}/v1/models`, { headers: bearer(MASTER) });
        return ((await r.json()) as { data: { id: string }[] }).data.some((m) => m.id === 'added-later') || undefined;
      });
    }
  });
});
