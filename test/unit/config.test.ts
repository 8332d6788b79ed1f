import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '@mcpgw/common/config';

const litellm = `
model_list: []
mcp_servers:
  zapier_mcp:
    url: "https://actions.zapier.com/mcp/sk-xxxxx/sse"
  fetch:
    url: http://localhost:8000/mcp
    auth_type: bearer_token
    auth_value: os.environ/FETCH_TOKEN
    headers: { X-Team: search }
  everything:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-everything"]
    env: { DEBUG: "\${DEBUG_LEVEL}" }
`;

test("LiteLLM's mcp_servers block parses unchanged, transports inferred", () => {
  const cfg = parseConfig(litellm, 'c.yaml', { FETCH_TOKEN: 'tok', DEBUG_LEVEL: '2' });
  const byName = Object.fromEntries(cfg.servers.map((s) => [s.name, s]));
  assert.equal(byName.zapier_mcp!.transport, 'sse');
  assert.equal(byName.fetch!.transport, 'http');
  assert.equal(byName.fetch!.headers.Authorization, 'Bearer tok');
  assert.equal(byName.fetch!.headers['X-Team'], 'search');
  assert.equal(byName.everything!.transport, 'stdio');
  assert.deepEqual(byName.everything!.args, ['-y', '@modelcontextprotocol/server-everything']);
  assert.equal(byName.everything!.env.DEBUG, '2');
  assert.equal(cfg.gateway.toolSeparator, '__');
});

test('the JSON-in-YAML form from the LiteLLM docs parses too', () => {
  const cfg = parseConfig('mcp_servers: {"github": {"url": "http://127.0.0.1:9/mcp", "transport": "http", "auth_type": "api_key", "auth_value": "k"}}', 'c.yaml', {});
  assert.equal(cfg.servers[0]!.headers['X-API-Key'], 'k');
});

test('errors name the server, the key and the line', () => {
  const text = 'mcp_servers:\n  ok:\n    command: node\n  broken:\n    command: node\n    timeout_ms: "soon"\n';
  assert.throws(() => parseConfig(text, 'c.yaml', {}), (err: Error) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /c\.yaml:6/);
    assert.match(err.message, /server 'broken'/);
    assert.match(err.message, /timeout_ms/);
    return true;
  });
});

test('missing url/command, a missing env var and the separator in a name are rejected', () => {
  assert.throws(() => parseConfig('mcp_servers:\n  a:\n    description: x\n', 'c.yaml', {}), /c\.yaml:2.*server 'a'.*command/);
  assert.throws(() => parseConfig('mcp_servers:\n  a:\n    url: http://x/mcp\n    auth_type: bearer_token\n    auth_value: os.environ/NOPE\n', 'c.yaml', {}), /c\.yaml:5.*NOPE is not set/);
  assert.throws(() => parseConfig('mcp_servers:\n  my__server:\n    command: node\n', 'c.yaml', {}), /c\.yaml:2.*separator/);
  assert.throws(() => parseConfig('mcp_servers:\n  a:\n    command: node\n    transport: websocket\n', 'c.yaml', {}), /c\.yaml:4.*transport/);
});

test('unknown keys are warned about, not fatal', () => {
  const cfg = parseConfig('mcp_servers:\n  a:\n    command: node\n    colour: blue\n', 'c.yaml', {});
  assert.equal(cfg.warnings.length, 1);
  assert.match(cfg.warnings[0]!, /c\.yaml:4.*colour/);
});

test('the edge reads only the gateway block, so server secrets need not be in its environment', () => {
  const cfg = parseConfig('mcp_servers:\n  a:\n    url: http://x/mcp\n    auth_type: bearer_token\n    auth_value: os.environ/ONLY_IN_REGISTRY\ngateway:\n  tool_separator: "--"\n', 'c.yaml', {}, { gatewayOnly: true });
  assert.equal(cfg.gateway.toolSeparator, '--');
  assert.equal(cfg.servers.length, 0);
});

test('auth_type oauth2 needs token_url, client_id and client_secret, and never becomes a static header', () => {
  assert.throws(() => parseConfig('mcp_servers:\n  s:\n    url: http://x/mcp\n    auth_type: oauth2\n    client_id: a\n    client_secret: b\n', 'c.yaml', {}), /c\.yaml:\d+: server 's', key 'token_url': auth_type oauth2 needs `token_url`/);
  const cfg = parseConfig('mcp_servers:\n  s:\n    url: http://x/mcp\n    auth_type: oauth2\n    token_url: http://auth/token\n    client_id: a\n    client_secret: b\n    scopes: "read write"\n', 'c.yaml', {});
  assert.deepEqual(cfg.servers[0]!.oauth2, { tokenUrl: 'http://auth/token', clientId: 'a', clientSecret: 'b', scopes: ['read', 'write'], audience: undefined });
  assert.deepEqual(cfg.servers[0]!.headers, {});
});

const models = `
mcp_servers:
  demo: { command: node }
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY
  - model_name: local
    litellm_params: { model: hosted_vllm/qwen, api_base: "http://vllm:8000/v1/", timeout: 30 }
    model_info: { mode: chat }
`;

test('model_list (LiteLLM style) is the edge\'s: parsed with its env in gatewayOnly mode, left alone by the registry', () => {
  const edge = parseConfig(models, 'c.yaml', { OPENAI_API_KEY: 'sk-up' }, { gatewayOnly: true });
  assert.deepEqual(edge.models, [
    { name: 'gpt-4o-mini', model: 'gpt-4o-mini', apiBase: 'https://api.openai.com/v1', apiKey: 'sk-up', timeoutMs: undefined },
    { name: 'local', model: 'qwen', apiBase: 'http://vllm:8000/v1', apiKey: undefined, timeoutMs: 30_000 },
  ]);
  // The registry neither needs the model keys in its environment nor validates the block.
  const registry = parseConfig(models, 'c.yaml', {});
  assert.deepEqual(registry.models, []);
  assert.equal(registry.servers.length, 1);
});

test('model_list errors name the line, the entry and the key', () => {
  const bad = (yaml: string, re: RegExp) => assert.throws(() => parseConfig(yaml, 'c.yaml', { K: 'k' }, { gatewayOnly: true }), (e: Error) => e instanceof ConfigError && re.test(e.message));
  bad('model_list:\n  - model_name: a\n    litellm_params:\n      model: anthropic/claude\n', /^c\.yaml:4: model_list\[0\]\.litellm_params\.model: provider 'anthropic' is not OpenAI-compatible/);
  bad('model_list:\n  - model_name: a\n    litellm_params: { model: openai/x }\n  - model_name: a\n    litellm_params: { model: openai/y }\n', /^c\.yaml:4: model_list\[1\]\.model_name: 'a' is listed twice/);
  bad('model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      api_base: not a url\n', /^c\.yaml:5: model_list\[0\]\.litellm_params\.api_base/);
  bad('model_list:\n  - litellm_params: { model: openai/x }\n', /model_list\[0\]\.model_name/);
  bad('model_list:\n  - model_name: a\n    litellm_params: { model: openai/x, api_key: os.environ/MISSING }\n', /environment variable MISSING is not set/);
  bad('model_list: { a: 1 }\n', /^c\.yaml:1: `model_list` must be a list/);
});
