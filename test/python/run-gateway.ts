// Starts the scripted provider, a registry with the demo upstream (`demo`) and
// an edge whose model_list routes `gpt-scripted` to the provider, then runs
// each Python test file with MCPGW_URL and OPENAI_BASE_URL=<edge>/v1, and
// stops everything. Usage (run.sh does this): run-gateway.ts <python> [test files]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { start, type Step } from '../fixtures/openai-provider/index.js';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { DEMO_SERVER, ROOT, stopAll, writeConfig } from '../harness/processes.js';

const [python, ...files] = process.argv.slice(2);
if (!python) {
  console.error('usage: run-gateway.ts <python> [test files]');
  process.exit(2);
}
const tests = files.length > 0 ? files : [join(ROOT, 'test/python/seed_flow_test.py')];
const readScript = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/python', name), 'utf8')) as Step[];
// The seed flow's client-side loop, then the server-side MCP tools test (unittest runs tests by name).
const script = [...readScript('provider-script.json'), ...readScript('provider-script-gateway.json')];
const provider = await start({ script: [], models: ['upstream-model'] });
let failed = false;
try {
  const cfg = writeConfig(`
mcp_servers:
  demo:
    command: node
    args: [${JSON.stringify(DEMO_SERVER)}]
model_list:
  - model_name: gpt-scripted
    litellm_params: { model: openai/upstream-model, api_base: "${provider.url}", api_key: os.environ/SCRIPTED_PROVIDER_KEY }
`);
  const registry = await startRegistry(cfg);
  const edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, SCRIPTED_PROVIDER_KEY: 'sk-scripted' });
  await waitForTools(edge.url, ['demo__']);
  for (const file of tests) {
    // Each file gets the script afresh: the seed flow's model calls are exactly these.
    provider.push(...script);
    // The gateway runs without a key here, so the Streamable HTTP half runs too.
    const { MCPGW_API_KEY: _none, ...env } = process.env;
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(python, [file], { stdio: 'inherit', env: { ...env, MCPGW_URL: edge.url, OPENAI_BASE_URL: `${edge.url}/v1`, MODEL: 'gpt-scripted' } });
      child.on('exit', resolve);
    });
    if (code !== 0) failed = true;
  }
  if (!failed && provider.requests.filter((r) => r.endpoint === 'chat.completions').some((r) => r.body.model !== 'upstream-model')) {
    console.error('the gateway did not forward the upstream model name');
    failed = true;
  }
} finally {
  await stopAll();
  await provider.close();
}
process.exit(failed ? 1 : 0);
