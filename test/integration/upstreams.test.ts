// Upstreams of every transport and every bad habit, through edge and registry.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVERYTHING, fixtureStdio, startEdge, startEverything, startFixtureServer, startRegistry, waitForTools } from '../harness/gateway.js';
import { connectClient } from '../harness/mcp.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';

const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);
const callRest = async (edgeUrl: string, name: string, args: Record<string, unknown> = {}) => {
  const res = await fetch(`${edgeUrl}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, arguments: args }) });
  return { status: res.status, body: (await res.json()) as any };
};

describe('upstream transports', () => {
  after(stopAll);

  test('stdio, legacy SSE and Streamable HTTP upstreams (ours and server-everything) list and call through the gateway', async () => {
    const [sse, http, evSse, evHttp] = await Promise.all([
      startFixtureServer('basic', 'sse'), startFixtureServer('basic', 'http'), startEverything('sse'), startEverything('http'),
    ]);
    const cfg = writeConfig(`mcp_servers:
${fixtureStdio('fx_stdio', 'basic')}  fx_sse:
    url: ${sse.url}
  fx_http:
    url: ${http.url}
    transport: http
  ev_stdio:
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(EVERYTHING)}, "stdio"]
  ev_sse:
    url: ${evSse.url}
  ev_http:
    url: ${evHttp.url}
    transport: http
`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    const servers = ['fx_stdio', 'fx_sse', 'fx_http', 'ev_stdio', 'ev_sse', 'ev_http'];
    await waitForTools(edge.url, servers.map((s) => `${s}__`));
    for (const s of servers) {
      const r = await callRest(edge.url, `${s}__echo`, { message: `via ${s}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.match(text(r.body), new RegExp(`via ${s}`));
    }
  });
});

describe('upstream faults', () => {
  after(stopAll);

  test('a hanging upstream: calls time out naming it, lists keep serving the others', async () => {
    const cfg = writeConfig(`mcp_servers:
${fixtureStdio('stuck', 'hang', [], '    timeout_ms: 1500\n')}${fixtureStdio('listless', 'hang', ['--hang', 'tools/list'])}${fixtureStdio('fine', 'basic')}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    const names = await waitForTools(edge.url, ['stuck__', 'fine__']);
    assert.ok(!names.some((n) => n.startsWith('listless__')), 'the upstream whose list hangs contributes nothing yet');
    const started = Date.now();
    const r = await callRest(edge.url, 'stuck__wait', {});
    assert.equal(r.status, 504, JSON.stringify(r.body));
    assert.match(r.body.error.message, /'stuck'.*timed out after 1500 ms/);
    assert.ok(Date.now() - started < 5_000);
    assert.equal(text((await callRest(edge.url, 'fine__echo', { message: 'ok' })).body), 'ok');
    // A caller may set its own timeout for one call.
    const own = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'stuck__wait', arguments: {}, timeout_ms: 300 }) });
    assert.match(((await own.json()) as any).error.message, /timed out after 300 ms/);
  });

  test('a crashing upstream: the crash names it, it reconnects, later calls succeed', async () => {
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('fragile', 'crash')}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['fragile__']);
    const crash = await callRest(edge.url, 'fragile__crash', {});
    assert.equal(crash.status, 502, JSON.stringify(crash.body));
    assert.match(crash.body.error.message, /'fragile'/);
    const ok = await waitFor('a successful call after the reconnect', async () => {
      const r = await callRest(edge.url, 'fragile__echo', { message: 'back' });
      return r.status === 200 ? r : undefined;
    });
    assert.equal(text(ok.body), 'back');
  });

  test('a client cancellation reaches the upstream', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'mcpgw-rec-')), 'upstream.jsonl');
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('rec', 'recorder', ['--record', record])}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['rec__']);
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    try {
      const abort = new AbortController();
      const call = client.callTool({ name: 'rec__slow', arguments: { ms: 10_000 } }, undefined, { signal: abort.signal });
      await waitFor('the upstream to receive the call', () => readFileSync(record, 'utf8').includes('"slow"') || undefined);
      abort.abort('changed my mind');
      await assert.rejects(call);
      await waitFor('the cancellation at the upstream', () => /"event":"cancelled"/.test(readFileSync(record, 'utf8')) || undefined);
    } finally {
      await client.close();
    }
  });

  test('a REST caller that disconnects cancels its call at the upstream', async () => {
    const record = join(mkdtempSync(join(tmpdir(), 'mcpgw-rec-')), 'upstream.jsonl');
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('rec', 'recorder', ['--record', record])}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['rec__']);
    const abort = new AbortController();
    const pending = fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'rec__slow', arguments: { ms: 10_000 } }), signal: abort.signal });
    await waitFor('the upstream to receive the call', () => readFileSync(record, 'utf8').includes('"slow"') || undefined);
    abort.abort();
    await assert.rejects(pending);
    await waitFor('the cancellation at the upstream', () => /"event":"cancelled"/.test(readFileSync(record, 'utf8')) || undefined);
  });

  test('250 tools over several pages all reach the catalog', async () => {
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('big', 'paged')}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    const names = await waitFor('all 250 tools', async () => {
      const n = await waitForTools(edge.url, ['big__']);
      return n.length === 250 ? n : undefined;
    });
    assert.ok(names.includes('big__tool_249'));
    assert.equal(text((await callRest(edge.url, 'big__tool_249')).body), 'tool_249');
  });

  test('list_changed: the edge sees a new tool (target: within 1 s) and pushes list_changed to a live session', async () => {
    const cfg = writeConfig(`mcp_servers:\n${fixtureStdio('live', 'changing')}`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['live__v1']);
    const client = await connectClient(`${edge.url}/mcp`, 'http');
    let notified = 0;
    client.setNotificationHandler((await import('@modelcontextprotocol/sdk/types.js')).ToolListChangedNotificationSchema, () => { notified++; });
    try {
      // Open the GET stream the SDK client uses for server notifications.
      await new Promise((r) => setTimeout(r, 200));
      const bumped = Date.now();
      await client.callTool({ name: 'live__bump', arguments: {} });
      await waitFor('live__v2 at the edge', async () => ((await waitForTools(edge.url, ['live__v2'])).length > 0 ? true : undefined), 5_000);
      // The 1 s target is measured here and reported; the assertion stays generous (shared CI cores).
      const seenMs = Date.now() - bumped;
      console.log(`catalog change reached the edge after ${seenMs} ms`);
      assert.ok(seenMs < 5_000, `change reached the edge after ${seenMs} ms`);
      await waitFor('notifications/tools/list_changed at the client', () => notified > 0 || undefined, 5_000);
    } finally {
      await client.close();
    }
  });

  test('a shared HTTP upstream that forgets its session is re-initialized transparently', async () => {
    const up = await startFixtureServer('basic', 'http', ['--expire-sessions-after', '8']);
    const cfg = writeConfig(`mcp_servers:\n  forgetful:\n    url: ${up.url}\n    transport: http\n`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['forgetful__']);
    // The first list takes 4 requests; the session expires during the calls.
    for (let i = 0; i < 6; i++) {
      const r = await callRest(edge.url, 'forgetful__echo', { message: `n${i}` });
      assert.equal(r.status, 200, `call ${i}: ${JSON.stringify(r.body)}`);
      assert.equal(text(r.body), `n${i}`);
    }
    assert.ok(registry.proc.lines.some((l) => l.includes('re-initializing')), 'the registry re-initialized at least once');
  });
});

describe('upstream protection', () => {
  after(stopAll);

  test('a bounded queue per upstream answers "busy" past it; repeated connection failures open the breaker', async () => {
    const deadUp = await startFixtureServer('basic', 'http');
    const cfg = writeConfig(`mcp_servers:
${fixtureStdio('jam', 'hang', [], '    timeout_ms: 1500\n    max_concurrency: 1\n')}  dead:\n    url: ${deadUp.url}\n    transport: http\n`);
    const registry = await startRegistry(cfg);
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['jam__', 'dead__']);

    // One in flight, one queued, the third is refused at once.
    const calls = [callRest(edge.url, 'jam__wait'), callRest(edge.url, 'jam__wait')];
    await new Promise((r) => setTimeout(r, 100));
    const busy = await callRest(edge.url, 'jam__wait');
    assert.equal(busy.status, 503, JSON.stringify(busy.body));
    assert.match(busy.body.error.message, /'jam'.*busy/);
    await Promise.all(calls);

    // Timeouts are not connection failures (issue 10): the breaker opens on refused connections only.
    deadUp.proc.kill('SIGKILL');
    await deadUp.proc.exited;
    for (let i = 0; i < 5; i++) assert.match((await callRest(edge.url, 'dead__echo', { message: 'x' })).body.error.message, /ECONNREFUSED|fetch failed|not connected/);
    const open = await callRest(edge.url, 'dead__echo', { message: 'x' });
    assert.match(open.body.error.message, /'dead'.*circuit open/, 'the open breaker fails without calling the upstream');
    const metrics = await (await fetch(`http://127.0.0.1:${registry.metricsPort}/metrics`)).text();
    assert.match(metrics, /mcpgw_breaker_state\{server="dead"\} 1/);
  });
});

describe('edge to registry', () => {
  after(stopAll);

  test('a call that could not reach a registry target is retried on the next one', async () => {
    const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('fine', 'basic')}`));
    // The first target refuses connections: nothing ever reached an upstream there.
    const edge = await startEdge(`127.0.0.1:1,${registry.url}`);
    await waitForTools(edge.url, ['fine__']);
    for (let i = 0; i < 4; i++) {
      const r = await callRest(edge.url, 'fine__echo', { message: `try ${i}` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });
});
