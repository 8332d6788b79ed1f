// The edge's LLM settings: model_list read from the config with the edge's
// environment, the env bounds, and no provider key in the admin API's view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadEdgeSettings, redactSettings } from '../../services/edge/src/settings.js';
import { writeConfig } from '../harness/processes.js';

test('model_list and MCPGW_LLM_* settings load; redacted settings never show a provider key', () => {
  const cfg = writeConfig('model_list:\n  - model_name: m\n    litellm_params: { model: openai/gpt-x, api_key: os.environ/UPSTREAM_KEY }\n');
  const settings = loadEdgeSettings({ MCPGW_CONFIG: cfg, UPSTREAM_KEY: 'sk-upstream-secret', MCPGW_LLM_MAX_STEPS: '4' });
  assert.deepEqual(settings.models.map((m) => [m.name, m.model, m.apiKey]), [['m', 'gpt-x', 'sk-upstream-secret']]);
  assert.deepEqual(settings.llm, { timeoutMs: 120_000, maxSteps: 4, maxConnections: 64 });
  const shown = JSON.stringify(redactSettings(settings));
  assert.ok(!shown.includes('sk-upstream-secret'), shown);
  assert.match(shown, /"apiKey":"\[redacted\]"/);
  assert.throws(() => loadEdgeSettings({ MCPGW_LLM_MAX_STEPS: '0' }), /MCPGW_LLM_MAX_STEPS/);
});
