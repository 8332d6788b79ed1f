// Every malformed request gets the spec's status and a well-formed JSON-RPC
// error, and no amount of garbage hurts the edge.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startRegistry, waitForTools, type EdgeHandle } from '../harness/gateway.js';
import { INIT, rpc } from '../harness/mcp.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { sseReader } from '../harness/sse.js';
import { connect } from 'node:net';

describe('bad input', () => {
  let edge: EdgeHandle;
  let url: string;
  before(async () => {
    const cfg = writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\ngateway:\n  max_body_bytes: 65536\n`);
    const registry = await startRegistry(cfg);
    edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg });
    url = `${edge.url}/mcp`;
    await waitForTools(edge.url, ['demo__']);
  });
  after(stopAll);

  const session = async (version = '2025-11-25') => {
    const init = await rpc(url, { ...INIT, params: { ...INIT.params, protocolVersion: version } });
    assert.equal(init.json.result.protocolVersion, version);
    return init.headers.get('mcp-session-id')!;
  };

  test('an oversized body is 413, a wrong Accept 406, both with JSON-RPC errors', async () => {
    const big = await rpc(url, { ...INIT, params: { ...INIT.params, pad: 'x'.repeat(70_000) } });
    assert.equal(big.status, 413);
    assert.match(big.json.error.message, /65536 bytes/);
    const accept = await rpc(url, INIT, { accept: 'text/html' });
    assert.equal(accept.status, 406);
    assert.equal(accept.json.error.code, -32600);
  });

  test('batches: rejected on 2025-06-18+, answered on 2025-03-26', async () => {
    const modern = await session('2025-11-25');
    const rejected = await rpc(url, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], { 'mcp-session-id': modern });
    assert.equal(rejected.status, 400);
    assert.match(rejected.json.error.message, /batches are not part of protocol 2025-11-25/);
    const old = await session('2025-03-26');
    const answered = await rpc(url, [
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'b' } } },
      { jsonrpc: '1.0', id: 3, method: 'ping' },
    ], { 'mcp-session-id': old });
    assert.equal(answered.status, 200);
    assert.deepEqual(answered.json.map((r: { id: number }) => r.id), [1, 2, 3]);
    assert.equal(answered.json[1].result.content[0].text, 'b');
    assert.equal(answered.json[2].error.code, -32600);
  });

  test('invalid params of protocol methods are -32602 saying which', async () => {
    const sid = await session();
    const h = { 'mcp-session-id': sid };
    const noName = await rpc(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { arguments: {} } }, h);
    assert.equal(noName.json.error.code, -32602);
    assert.match(noName.json.error.message, /"name"/);
    const badArgs = await rpc(url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'demo__echo', arguments: [1] } }, h);
    assert.equal(badArgs.json.error.code, -32602);
    const badLevel = await rpc(url, { jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'loud' } }, h);
    assert.equal(badLevel.json.error.code, -32602);
    const paramsNotObject = await rpc(url, { jsonrpc: '2.0', id: 4, method: 'ping', params: 'x' }, h);
    assert.equal(paramsNotObject.json.error.code, -32602);
  });

  test('1,000 mutated requests: every reply well-formed, the edge healthy, memory flat', async () => {
    const sid = await session();
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const values: unknown[] = [null, true, 0, -1, 1e308, '', 'x', 'ü\u0000', [], {}, [1, 2], { a: { b: [] } }, 'a'.repeat(5000)];
    const seeds: Record<string, unknown>[] = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'demo__echo', arguments: { message: 'm' } } },
      { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } },
      { jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'info' } },
      { jsonrpc: '2.0', id: 3, result: {} },
    ];
    const mutate = (): { body: string; headers: Record<string, string> } => {
      const msg: Record<string, unknown> = structuredClone(pick(seeds));
      const keys = ['jsonrpc', 'id', 'method', 'params', 'result', 'error', 'extra'];
      for (let i = 0, n = 1 + Math.floor(rand() * 3); i < n; i++) {
        const key = pick(keys);
        if (rand() < 0.3) delete msg[key];
        else msg[key] = pick(values);
      }
      let body = JSON.stringify(msg);
      const r = rand();
      if (r < 0.1) body = body.slice(0, Math.floor(rand() * body.length));
      else if (r < 0.15) body = body.replace(/"/g, "'");
      else if (r < 0.2) body = `[${body},${body}]`;
      const headers: Record<string, string> = { 'mcp-session-id': rand() < 0.9 ? sid : pick(['', 'nope', sid + 'x']) };
      if (rand() < 0.05) headers['content-type'] = pick(['text/plain', 'application/xml', 'multipart/form-data']);
      if (rand() < 0.05) headers['mcp-protocol-version'] = pick(['2020-01-01', 'x', '2025-06-18']);
      return { body, headers };
    };
    const rss = async () => {
      const text = await (await fetch(`${edge.url}/metrics`)).text();
      return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)![1]);
    };
    const before = await rss();
    const allowed = new Set([200, 202, 400, 404, 406, 413, 415]);
    for (let i = 0; i < 1000; i++) {
      const { body, headers } = mutate();
      const reply = await rpc(url, body, headers);
      assert.ok(allowed.has(reply.status), `status ${reply.status} for ${body.slice(0, 200)}`);
      if (reply.status === 202) continue;
      const replies = Array.isArray(reply.json) ? reply.json : [reply.json];
      for (const r of replies) {
        assert.equal(r?.jsonrpc, '2.0', `not JSON-RPC: ${JSON.stringify(reply.json)?.slice(0, 200)} for ${body.slice(0, 200)}`);
        assert.ok('result' in r || (typeof r.error?.code === 'number' && typeof r.error?.message === 'string'), `malformed reply ${JSON.stringify(r).slice(0, 200)}`);
      }
    }
    assert.equal((await fetch(`${edge.url}/healthz`)).status, 200);
    const grown = (await rss()) - before;
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB`);
  });

  test('a body that trickles in is cut off at MCPGW_REQUEST_TIMEOUT_MS; SSE streams outlive it; SSE streams per principal are capped', async () => {
    const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`));
    const strict = await startEdge(registry.url, { MCPGW_REQUEST_TIMEOUT_MS: '1000', MCPGW_HEADERS_TIMEOUT_MS: '1000', MCPGW_MAX_SSE_PER_PRINCIPAL: '2' });
    const started = Date.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect(strict.port, '127.0.0.1', () => {
        socket.write('POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
        const drip = setInterval(() => socket.write(' '), 200);
        socket.on('close', () => { clearInterval(drip); resolve(Date.now() - started); });
      });
      socket.on('error', () => {});
      setTimeout(() => reject(new Error('slow body still open after 10 s')), 10_000).unref();
    });
    assert.ok(closedAfter < 5_000, `closed after ${closedAfter} ms`);
    // Two legacy streams are fine and stay open past the request timeout; a third is 429.
    const open = () => fetch(`${strict.url}/sse`, { headers: { accept: 'text/event-stream' } });
    const s1 = await open();
    const s2 = await open();
    const r1 = sseReader(s1);
    const endpoint = (await r1.next()).data;
    const third = await open();
    assert.equal(third.status, 429);
    assert.equal(((await third.json()) as { error: { code: number } }).error.code, -32019);
    await new Promise((r) => setTimeout(r, 1_500));
    const post = await rpc(new URL(endpoint, `${strict.url}/sse`).toString(), INIT);
    assert.equal(post.status, 202);
    assert.equal(JSON.parse((await r1.next()).data).id, 1);
    r1.close();
    await s2.body?.cancel();
  });
});
