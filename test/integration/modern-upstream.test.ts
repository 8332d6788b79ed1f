// An upstream that speaks only MCP 2026-07-28, next to a 2025-era one, through the real registry and edge.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startEdge, startFixtureServer, startRegistry, waitForTools } from '../harness/gateway.js';
import { connectClient } from '../harness/mcp.js';
import { ROOT, startProcess, stopAll, waitFor, waitForLine, writeConfig, type Proc } from '../harness/processes.js';

const MODERN = join(ROOT, 'test/fixtures/modern-upstream.ts');
const TSX = import.meta.resolve('tsx');
const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);

async function startModern(port = 0): Promise<{ proc: Proc; port: number; url: string }> {
  const proc = startProcess(process.execPath, ['--import', TSX, MODERN, '--port', String(port), '--tools', '5', '--page-size', '2']);
  const m = await waitForLine(proc, /^listening (\d+)/, 'modern fixture');
  return { proc, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}/mcp` };
}

interface ServerView { name: string; state: string; era: string; tools: number; lastError?: string }
async function servers(edgeUrl: string): Promise<ServerView[]> {
  return ((await (await fetch(`${edgeUrl}/servers`)).json()) as { servers: ServerView[] }).servers;
}

describe('modern-only (2026-07-28) upstreams', () => {
  after(stopAll);

  test('discovered, catalogued, called with progress by a 2025 client, health-probed and reconnected', async () => {
    let modern = await startModern();
    const legacy = await startFixtureServer('basic', 'http');
    const cfg = writeConfig(`mcp_servers:
  modern:
    url: ${modern.url}
  legacy:
    url: ${legacy.url}
  pinned:
    url: ${legacy.url}
    protocol: 2025
  wrong:
    url: ${legacy.url}
    protocol: "2026"
`);
    const registry = await startRegistry(cfg, { MCPGW_PING_INTERVAL_MS: '300' });
    const edge = await startEdge(registry.url);
    const names = await waitForTools(edge.url, ['modern__', 'legacy__', 'pinned__']);
    // Every page of the modern upstream's tools/list (page size 2): 9 named tools + tool_000..tool_004.
    for (const n of ['modern__echo', 'modern__progress', 'modern__route', 'modern__tool_000', 'modern__tool_004', 'legacy__echo']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);

    const view = await servers(edge.url);
    const by = (n: string) => view.find((s) => s.name === n)!;
    assert.equal(by('modern').era, '2026-07-28');
    assert.equal(by('modern').state, 'ready');
    assert.equal(by('modern').tools, 14);
    assert.notEqual(by('legacy').era, '2026-07-28');
    assert.equal(by('legacy').state, 'ready');
    // protocol: 2026 against a 2025-era upstream: down, and the error says why.
    const wrong = await waitFor('the forced-2026 server to report its failure', async () => {
      const s = (await servers(edge.url)).find((x) => x.name === 'wrong');
      return s?.lastError ? s : undefined;
    });
    assert.notEqual(wrong.state, 'ready');
    assert.match(wrong.lastError!, /server\/discover failed \(protocol: 2026\)/);

    const client = await connectClient(`${edge.url}/mcp`, 'http');
    assert.equal(text(await client.callTool({ name: 'modern__echo', arguments: { message: 'hi modern' } })), 'hi modern');
    assert.equal(text(await client.callTool({ name: 'legacy__echo', arguments: { message: 'hi legacy' } })), 'hi legacy');
    const seen: number[] = [];
    const done = await client.callTool({ name: 'modern__progress', arguments: { steps: 4 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    assert.equal(text(done), '4 steps');
    assert.deepEqual(seen, [1, 2, 3, 4]);
    // x-mcp-header: the registry mirrors `region` into Mcp-Param-Region (the fixture rejects the call otherwise).
    assert.equal(text(await client.callTool({ name: 'modern__route', arguments: { region: 'eu-west 1', query: 'q' } })), 'routed to eu-west 1: q');
    // What the upstream received: the 2026 headers, no session.
    const headers = JSON.parse(text(await client.callTool({ name: 'modern__seen', arguments: {} }))) as Record<string, string>;
    assert.equal(headers['mcp-protocol-version'], '2026-07-28');
    assert.equal(headers['mcp-method'], 'tools/call');
    assert.equal(headers['mcp-name'], 'seen');
    assert.equal(headers['mcp-session-id'], undefined);

    // Forwards: resources/read and prompts/get.
    const resources = await client.listResources();
    const res = resources.resources.find((r) => r.uri.includes('modern://static') || r.name.includes('modern'));
    assert.ok(res, JSON.stringify(resources.resources));
    const read = await client.readResource({ uri: res.uri });
    assert.match(JSON.stringify(read.contents), /contents of modern:\/\/static/);
    const prompt = await client.getPrompt({ name: 'modern__greet', arguments: { name: 'Ada' } });
    assert.match(JSON.stringify(prompt.messages), /Hello, Ada/);

    // Down and back on the same port: the health probe (server/discover) notices, the reconnect finds it again.
    const port = modern.port;
    modern.proc.kill('SIGKILL');
    await modern.proc.exited;
    await waitFor('the modern upstream to be seen down', async () => ((await servers(edge.url)).find((s) => s.name === 'modern')!.state !== 'ready' || undefined));
    modern = await startModern(port);
    await waitFor('a call to the restarted modern upstream', async () => {
      try {
        return text(await client.callTool({ name: 'modern__echo', arguments: { message: 'back' } })) === 'back' || undefined;
      } catch {
        return undefined;
      }
    }, 30_000);
    assert.equal((await servers(edge.url)).find((s) => s.name === 'modern')!.era, '2026-07-28');
    await client.close();
  });

  test('stdio: a server that refuses initialize is asked server/discover (auto), or spoken to in 2026 at once (protocol: 2026)', async () => {
    const args = JSON.stringify(['--import', TSX, MODERN, '--stdio', '--tools', '3', '--page-size', '2']);
    const cfg = writeConfig(`mcp_servers:
  m_auto:
    command: ${JSON.stringify(process.execPath)}
    args: ${args}
  m_pinned:
    command: ${JSON.stringify(process.execPath)}
    args: ${args}
    protocol: 2026
`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    const names = await waitForTools(edge.url, ['m_auto__', 'm_pinned__']);
    for (const n of ['m_auto__echo', 'm_auto__tool_002', 'm_pinned__progress']) assert.ok(names.includes(n), `${n} in ${names.join(',')}`);
    const view = await servers(edge.url);
    for (const n of ['m_auto', 'm_pinned']) assert.equal(view.find((s) => s.name === n)!.era, '2026-07-28', n);
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    assert.equal(text(await client.callTool({ name: 'm_auto__echo', arguments: { message: 'over stdio' } })), 'over stdio');
    const seen: number[] = [];
    assert.equal(text(await client.callTool({ name: 'm_pinned__progress', arguments: { steps: 3 } }, undefined, { onprogress: (p) => seen.push(p.progress) })), '3 steps');
    assert.deepEqual(seen, [1, 2, 3]);
    await client.close();
  });
});
