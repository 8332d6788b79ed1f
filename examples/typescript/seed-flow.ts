// The seed's flow against a running mcpgw (`npm start`), in TypeScript:
//   1. an MCP client on the legacy SSE endpoint /mcp/ lists the gateway's tools as OpenAI tools;
//   2. an MCP client on Streamable HTTP /mcp runs a tool call the way a model would send it;
//   3. an OpenAI client pointed at the same gateway (`/v1`) runs a tool loop over MCP tools;
//   4. the same client lets the gateway run its MCP tools itself (`{"type": "mcp", "server_url": "mcpgw"}`).
//
// Run from the repository root:  node --import tsx examples/typescript/seed-flow.ts
// Environment: MCPGW_URL (default http://localhost:4000), MCPGW_API_KEY (when the
// gateway has a master key), OPENAI_BASE_URL (default $MCPGW_URL/v1), MODEL (default gpt-4o-mini).
import OpenAI from 'openai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { callOpenAITool, loadMcpTools, runToolLoop, toMcpCall, toolResultMessage, type OpenAIToolCall } from '@mcpgw/bridge';

const gateway = (process.env.MCPGW_URL ?? 'http://localhost:4000').replace(/\/$/, '');
const apiKey = process.env.MCPGW_API_KEY;
const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};

// 1. Legacy SSE, as LiteLLM's Python clients connect: sse_client("http://localhost:4000/mcp/").
const sse = new Client({ name: 'seed-flow-sse', version: '1.0.0' });
await sse.connect(new SSEClientTransport(new URL(`${gateway}/mcp/`), { requestInit: { headers } }));
const tools = await loadMcpTools(sse, { format: 'openai' });
console.log(`legacy SSE /mcp/: ${tools.length} tools:`, tools.map((t) => t.function.name).join(', '));
await sse.close();

// 2. Streamable HTTP: a tool call in OpenAI's shape, run on MCP.
const mcp = new Client({ name: 'seed-flow-http', version: '1.0.0' });
await mcp.connect(new StreamableHTTPClientTransport(new URL(`${gateway}/mcp`), { requestInit: { headers } }));
const toolCall: OpenAIToolCall = { id: 'call_1', type: 'function', function: { name: 'demo__add', arguments: '{"a": 2, "b": 3}' } };
console.log('as an MCP call:', toMcpCall(toolCall));
const result = await callOpenAITool(mcp, toolCall);
console.log('tool message for the model:', toolResultMessage(toolCall, result));

// 3. An OpenAI client on the same gateway URL; the bridge runs the model's tool calls on MCP.
const openai = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL ?? `${gateway}/v1`, apiKey: apiKey ?? process.env.OPENAI_API_KEY ?? 'unused' });
try {
  const run = await runToolLoop({
    openai,
    mcp,
    request: { model: process.env.MODEL ?? 'gpt-4o-mini', messages: [{ role: 'user', content: 'What is 2 + 3? Use the tools.' }], tools },
    maxSteps: 5,
  });
  console.log(`model (${run.stoppedReason}, ${run.steps.length} steps):`, run.message.content);

  // 4. Server-side: the gateway offers the caller's MCP tools to the model, runs its calls
  //    (with the caller's scopes, limits and audit) and answers with mcp_call items.
  const response = await openai.responses.create({
    model: process.env.MODEL ?? 'gpt-4o-mini',
    input: 'What is 2 + 3? Use the tools.',
    tools: [{ type: 'mcp', server_label: 'mcpgw', server_url: 'mcpgw', require_approval: 'never' }],
  });
  for (const item of response.output) if (item.type === 'mcp_call') console.log(`gateway ran ${item.name}(${item.arguments}) ->`, item.output ?? item.error);
  console.log('model, tools run by the gateway:', response.output_text);
} catch (err) {
  if (err instanceof OpenAI.APIError) console.error(`the model endpoint answered ${err.status}: ${err.message} (is a model_list configured?)`);
  else throw err;
} finally {
  await mcp.close();
}
