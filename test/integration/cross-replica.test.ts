// One session, two edges sharing Redis, every request of the session landing
// on the other edge than the one before (as a load balancer without affinity
// does): progress, a sampling answer, log messages and a cancellation all
// still reach the right place.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

/** A client whose every HTTP request goes to the next edge in turn. */
async function alternatingClient(edges: EdgeHandle[], path: string, hits: number[]): Promise<Client> {
  let n = 0;
  const fetchAlternating = (url: string | URL, init?: RequestInit) => {
    const i = n++ % edges.length;
    hits[i] = (hits[i] ?? 0) + 1;
    const u = new URL(url);
    u.port = String(edges[i]!.port);
    return fetch(u, init);
  };
  const client = new Client({ name: 'alternating', version: '1' }, { capabilities: { sampling: {} } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${edges[0]!.url}${path}`), { fetch: fetchAlternating }));
  return client;
}

describe('one session across two edges', () => {
  let edges: EdgeHandle[];
  let record: string;
  const clients: Client[] = [];

  before(async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, MCPGW_REDIS_PREFIX: `x${Date.now()}:` };
    record = join(mkdtempSync(join(tmpdir(), 'mcpgw-x-')), 'upstream.jsonl');
    const cfg = writeConfig(`mcp_servers:
${fixtureStdio('conf', 'conformance', [], '    session: per_client\n')}${fixtureStdio('rec', 'recorder', ['--record', record])}`);
    const registry = await startRegistry(cfg, env);
    edges = await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]);
    await waitForTools(edges[0]!.url, ['conf__', 'rec__']);
    await waitForTools(edges[1]!.url, ['conf__', 'rec__']);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stopAll();
  });

  test('progress, a sampling answer sent to the other edge, and per-session log levels', async () => {
    const hits: number[] = [];
    const client = await alternatingClient(edges, '/mcp', hits);
    clients.push(client);
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      const first = req.params.messages[0]!.content as { type: string; text?: string };
      asked.push(first.text ?? '?');
      return { role: 'assistant', model: 'local-stub', content: { type: 'text', text: 'forty-two' } };
    });
    const sampled = await client.callTool({ name: 'conf__test_sampling', arguments: { prompt: 'meaning of life?' } });
    assert.deepEqual(asked, ['meaning of life?']);
    assert.match(JSON.stringify(sampled.content), /LLM response: forty-two/);

    const progress: number[] = [];
    await client.callTool({ name: 'conf__test_tool_with_progress', arguments: {} }, undefined, { onprogress: (p) => progress.push(p.progress) });
    assert.deepEqual(progress, [0, 50, 100]);

    const logs: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => { logs.push(n.params.level); });
    await client.setLoggingLevel('info');
    await client.callTool({ name: 'conf__test_tool_with_logging', arguments: {} });
    await waitFor('log messages', () => logs.length >= 4 || undefined, 5_000);
    assert.ok(!logs.includes('debug'), `debug filtered out at level info: ${logs.join(',')}`);
    assert.ok(logs.includes('error'));
    assert.ok(hits[0]! > 2 && hits[1]! > 2, `both edges served the session: ${hits.join(' / ')}`);
  });

  test('a notifications/cancelled that lands on the other edge reaches the upstream', async () => {
    const client = await alternatingClient(edges, '/mcp', []);
    clients.push(client);
    const abort = new AbortController();
    const call = client.callTool({ name: 'rec__slow', arguments: { ms: 10_000 } }, undefined, { signal: abort.signal });
    await waitFor('the upstream to start the call', () => readFileSync(record, 'utf8').includes('"slow"') || undefined);
    abort.abort('no longer needed');
    await assert.rejects(call);
    await waitFor('the cancellation at the upstream', () => /"event":"cancelled"/.test(readFileSync(record, 'utf8')) || undefined);
  });
});
