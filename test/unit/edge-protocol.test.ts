import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify } from '../../services/edge/src/jsonrpc.js';
import { endpointFor } from '../../services/edge/src/transports/legacy-sse.js';
import { negotiateVersion } from '../../services/edge/src/protocol.js';

test('classify tells requests, notifications, responses and what is wrong', () => {
  assert.equal(classify({ jsonrpc: '2.0', id: 1, method: 'ping' }).kind, 'request');
  assert.equal(classify({ jsonrpc: '2.0', method: 'notifications/initialized' }).kind, 'notification');
  assert.equal(classify({ jsonrpc: '2.0', id: 'a', result: {} }).kind, 'response');
  const cases: [unknown, RegExp][] = [
    [42, /JSON object/], [{ id: 1, method: 'x' }, /"jsonrpc" must be "2.0"/], [{ jsonrpc: '2.0', id: 1 }, /missing "method"/],
    [{ jsonrpc: '2.0', id: {}, method: 'x' }, /"id" must be/], [{ jsonrpc: '2.0', id: 1, method: 7 }, /"method"/],
  ];
  for (const [body, message] of cases) {
    const c = classify(body);
    assert.equal(c.kind, 'invalid');
    if (c.kind === 'invalid') assert.match(c.error.message, message);
  }
});

test('legacy endpoint URLs are relative to the GET URL', () => {
  const resolve = (get: string) => new URL(endpointFor(get, 'S'), `http://h${get}`).pathname;
  assert.equal(resolve('/mcp/'), '/mcp/message');
  assert.equal(resolve('/mcp'), '/mcp/message');
  assert.equal(resolve('/sse'), '/message');
  assert.equal(resolve('/servers/demo/sse'), '/servers/demo/message');
  assert.equal(resolve('/servers/demo/mcp'), '/servers/demo/mcp/message');
  assert.match(endpointFor('/mcp/', 'S'), /^message\?sessionId=S$/);
});

test('version negotiation keeps a supported client version, else offers the latest', () => {
  assert.equal(negotiateVersion('2025-06-18'), '2025-06-18');
  assert.equal(negotiateVersion('2099-01-01'), '2025-11-25');
});
