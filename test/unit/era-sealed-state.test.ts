import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createStateSealer, openFailureError, type OpenOutcome } from '../../services/edge/src/era/sealed-state.js';

const SECRET = 'test-gateway-secret-0123456789';
const binding = {
  principal: 'key:abc', requestId: 1, method: 'tools/call', target: 'demo__ask', registry: 'registry-0:50051', pending: { elicitation_0: 3 },
};
const failure = (o: OpenOutcome) => { assert.equal(o.ok, false); return o as Extract<OpenOutcome, { ok: false }>; };

test('a sealed state opens for its principal with every bound field', () => {
  let now = 1_000_000;
  const s = createStateSealer([SECRET], { now: () => now, ttlMs: 60_000 });
  const token = s.seal(binding);
  assert.match(token, /^mcpgw1\.[A-Za-z0-9_-]+$/);
  assert.ok(!token.includes('abc') && !token.includes('registry'), 'the payload is encrypted, not merely signed');
  now += 59_000;
  const out = s.open(token, { principal: 'key:abc', method: 'tools/call', target: 'demo__ask' });
  assert.ok(out.ok);
  assert.deepEqual(out.state, { ...binding, exp: 1_060_000 });
});

test('expired', () => {
  let now = 0;
  const s = createStateSealer([SECRET], { now: () => now });
  const token = s.seal(binding, 1000);
  now = 1001;
  const f = failure(s.open(token, { principal: 'key:abc' }));
  assert.equal(f.reason, 'expired');
  assert.match(f.message, /expired .*re-issue the original request/);
});

test('tampered: any changed byte, or a state sealed with another secret', () => {
  const s = createStateSealer([SECRET]);
  const token = s.seal(binding);
  const i = token.length - 20;
  const flipped = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
  assert.equal(failure(s.open(flipped, { principal: 'key:abc' })).reason, 'tampered');
  const other = createStateSealer(['another-secret-0123456789']).seal(binding);
  const f = failure(s.open(other, { principal: 'key:abc' }));
  assert.equal(f.reason, 'tampered');
  assert.match(f.message, /integrity check/);
});

test('foreign principal is reported before expiry (nothing learned about another principal\'s state)', () => {
  let now = 0;
  const s = createStateSealer([SECRET], { now: () => now });
  const token = s.seal(binding, 10);
  now = 100;
  const f = failure(s.open(token, { principal: 'key:other' }));
  assert.equal(f.reason, 'foreign-principal');
  assert.match(f.message, /another principal/);
});

test('malformed: not a string, not ours, not base64url, truncated', () => {
  const s = createStateSealer([SECRET]);
  const cases: [unknown, RegExp][] = [
    [42, /must be a string, got number/], [null, /got null/], ['eyJhbGciOi', /not issued by this gateway/],
    ['mcpgw1.***', /base64url/], ['mcpgw1.AAAA', /truncated/],
  ];
  for (const [token, re] of cases) {
    const f = failure(s.open(token, { principal: 'key:abc' }));
    assert.equal(f.reason, 'malformed', String(token));
    assert.match(f.message, re);
  }
});

test('wrong request: the state of a tools/call cannot be replayed on prompts/get or on another tool', () => {
  const s = createStateSealer([SECRET]);
  const token = s.seal(binding);
  assert.equal(failure(s.open(token, { principal: 'key:abc', method: 'prompts/get' })).reason, 'wrong-request');
  assert.equal(failure(s.open(token, { principal: 'key:abc', method: 'tools/call', target: 'demo__other' })).reason, 'wrong-request');
});

test('a rotated secret still opens states sealed with the previous one; short secrets are refused', () => {
  const old = createStateSealer([SECRET]).seal(binding);
  const rotated = createStateSealer(['the-new-secret-0123456789', SECRET]);
  assert.ok(rotated.open(old, { principal: 'key:abc' }).ok);
  assert.throws(() => createStateSealer(['short']), /at least 16 bytes/);
});

test('openFailureError is Invalid Params naming the reason', () => {
  const s = createStateSealer([SECRET]);
  const e = openFailureError(failure(s.open('mcpgw1.AAAA', { principal: 'p' })));
  assert.deepEqual([e.code, e.httpStatus, e.data.reason], [-32602, 400, 'malformed']);
  assert.match(e.message, /^Invalid requestState: /);
});
