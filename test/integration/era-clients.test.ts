// Real clients of both eras against the gateway: the TypeScript SDK v2
// (`@modelcontextprotocol/client`) in its three versionNegotiation modes.
// `legacy` is today's 2025 path and passes now. `auto` and
// `pin: '2026-07-28'` describe what the 2026 adapter must do (stateless
// requests, server/discover, progress on the request's stream, resource
// read, subscriptions/listen, elicitation through MRTR against a 2025-era
// per_client upstream).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport, type VersionNegotiationMode } from '@modelcontextprotocol/client';
import { fixtureStdio, startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';

const ADAPTER = {};
const deadline = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))]);

let edge: EdgeHandle;
const record = join(mkdtempSync(join(tmpdir(), 'mcpgw-era-rec-')), 'upstream.jsonl');

async function connect(mode: VersionNegotiationMode, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'era-clients-test', version: '1.0.0' }, { capabilities, versionNegotiation: { mode } });
  client.onerror = () => undefined;
  await client.connect(new StreamableHTTPClientTransport(new URL(`${edge.url}/mcp`)));
  // auto falls back to initialize against a 2025-only server: the modern tests must not pass that way
  if (mode !== 'legacy') assert.ok(client.getDiscoverResult(), `${JSON.stringify(mode)}: the client negotiated the modern era (server/discover answered)`);
  return client;
}

const textOf = (r: { content?: unknown }) => ((r.content as { type: string; text?: string }[] | undefined) ?? []).map((c) => c.text ?? '').join('');

describe('SDK v2 client against the gateway', () => {
  before(async () => {
    // the conformance fixture as a 2025-era per_client upstream: it sends real elicitation requests
    // (--shared-state: its dynamic tool is service-wide, so a session's toggle reaches the catalog, hence listen streams)
    const sharedState = join(mkdtempSync(join(tmpdir(), 'mcpgw-era-')), 'state.json');
    // and a recording upstream, to see cancellations arrive
    const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('conf', 'conformance', ['--shared-state', sharedState], '    session: per_client\n')}${fixtureStdio('rec', 'recorder', ['--record', record])}`));
    edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['conf__', 'rec__']);
  });
  after(stopAll);

  test('legacy mode: initialize, list and call over a 2025 session', async () => {
    const client = await connect('legacy');
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'conf__test_simple_text'), 'tools/list names the upstream tool with its server prefix');
      const res = await client.callTool({ name: 'conf__test_simple_text', arguments: {} });
      assert.equal(textOf(res), 'This is a simple text response for testing.');
      assert.equal(client.getDiscoverResult(), undefined, 'legacy mode never probes');
    } finally {
      await client.close();
    }
  });

  test('legacy mode: the MRTR fixture tool asks through a real elicitation request (what the 2026 adapter translates)', async () => {
    const client = await connect('legacy', { elicitation: {} });
    try {
      const seen: unknown[] = [];
      client.setRequestHandler('elicitation/create', async (req) => {
        seen.push(req.params._meta?.['mcpgw/inputKey']);
        return { action: 'accept', content: { name: 'Alice' } };
      });
      const res = await client.callTool({ name: 'conf__test_input_required_result_elicitation', arguments: {} });
      assert.equal(textOf(res), 'Hello, Alice!');
      assert.deepEqual(seen, ['user_name'], 'the upstream names the inputRequests key the suite expects');
    } finally {
      await client.close();
    }
  });

  test('2026-07-28: closing the request\'s stream cancels the call at the upstream (2025 sessions keep resumable streams)', async () => {
    const abort = new AbortController();
    const body = {
      jsonrpc: '2.0', id: 1, method: 'tools/call',
      params: { name: 'rec__slow', arguments: { ms: 10_000 }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
    };
    const pending = fetch(`${edge.url}/mcp`, {
      method: 'POST', signal: abort.signal, body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'rec__slow' },
    });
    await waitFor('the upstream to receive the call', () => readFileSync(record, 'utf8').includes('"slow"') || undefined);
    abort.abort();
    await assert.rejects(pending);
    await waitFor('the cancellation at the upstream', () => /"event":"(cancelled|aborted)"/.test(readFileSync(record, 'utf8')) || undefined);
  });

  for (const mode of ['auto', { pin: '2026-07-28' }] as VersionNegotiationMode[]) {
    const label = typeof mode === 'string' ? mode : `pin ${mode.pin}`;
    describe(`${label} mode (modern era)`, () => {
      test('server/discover offers 2026-07-28 and the gateway names itself; list and call are stateless', ADAPTER, async () => {
        const client = await connect(mode);
        try {
          const discover = client.getDiscoverResult();
          assert.ok(discover, 'the connect-time probe got a DiscoverResult (modern era)');
          assert.ok(discover.supportedVersions.includes('2026-07-28'));
          assert.ok(discover.supportedVersions.includes('2025-11-25'));
          assert.equal((discover._meta?.['io.modelcontextprotocol/serverInfo'] as { name?: string } | undefined)?.name, 'mcpgw');
          const list = await client.listTools();
          const names = list.tools.map((t) => t.name);
          assert.ok(names.includes('conf__test_simple_text'));
          assert.deepEqual(names, [...names].sort(), 'tools/list in deterministic order');
          const res = await client.callTool({ name: 'conf__test_simple_text', arguments: {} });
          assert.equal(textOf(res), 'This is a simple text response for testing.');
        } finally {
          await client.close();
        }
      });

      test('progress rides the call\'s own stream', ADAPTER, async () => {
        const client = await connect(mode);
        try {
          const seen: number[] = [];
          const res = await client.callTool({ name: 'conf__test_tool_with_progress', arguments: {} }, { onprogress: (p) => { seen.push(p.progress); } });
          assert.match(textOf(res), /progress executed successfully/);
          assert.deepEqual(seen, [0, 50, 100]);
        } finally {
          await client.close();
        }
      });

      test('a resource read carries its content (and cache hints)', ADAPTER, async () => {
        const client = await connect(mode);
        try {
          const { resources } = await client.listResources();
          const uri = resources.find((r) => r.uri.endsWith('test://static-text') || r.uri === 'test://static-text')?.uri;
          assert.ok(uri, `a static text resource is listed: ${JSON.stringify(resources.map((r) => r.uri))}`);
          const read = await client.readResource({ uri });
          assert.equal((read.contents[0] as { text?: string }).text, 'This is the content of the static text resource.');
        } finally {
          await client.close();
        }
      });

      test('subscriptions/listen is acknowledged and receives a tools list_changed', ADAPTER, async () => {
        const client = await connect(mode);
        try {
          let changed!: () => void;
          const gotChange = new Promise<void>((resolve) => { changed = resolve; });
          client.setNotificationHandler('notifications/tools/list_changed', () => { changed(); });
          const sub = await client.listen({ toolsListChanged: true });
          assert.equal(sub.honoredFilter.toolsListChanged, true);
          await client.callTool({ name: 'conf__test_trigger_tool_change', arguments: {} });
          await deadline(gotChange, 10_000, 'notifications/tools/list_changed on the listen stream');
          await sub.close();
        } finally {
          await client.close();
        }
      });

      test('elicitation from a 2025 per_client upstream is answered through MRTR (InputRequiredResult, retry)', ADAPTER, async () => {
        const client = await connect(mode, { elicitation: {} });
        try {
          const asked: string[] = [];
          client.setRequestHandler('elicitation/create', async (req) => {
            asked.push(String((req.params as { message?: string }).message));
            return { action: 'accept', content: { name: 'Alice' } };
          });
          const res = await client.callTool({ name: 'conf__test_input_required_result_elicitation', arguments: {} });
          assert.deepEqual(asked, ['What is your name?'], 'the client answered one embedded elicitation request');
          assert.equal(textOf(res), 'Hello, Alice!');
        } finally {
          await client.close();
        }
      });
    });
  }
});
