// Issue 20 units: per-user upstream tokens at rest (AES-256-GCM, rotating keys,
// bound to user and server), the credential store, gateway tokens, config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TokenSealer } from '../../services/registry/src/upstreams/user-auth/sealing.js';
import { MemoryUserCredentialStore } from '../../services/registry/src/upstreams/user-auth/credential-store.js';
import { GatewayTokens } from '../../services/edge/src/oauth/tokens.js';

const key = () => randomBytes(32).toString('base64');

test('sealed tokens open with any listed key; the first key seals; rotation keeps old tokens readable until the old key goes', () => {
  const k1 = key();
  const k2 = key();
  const old = TokenSealer.fromEnv(`k1:${k1}`);
  const blob = old.seal('{"access":"a"}', 'user:alice\0linear');
  assert.ok(!blob.toString('latin1').includes('access'), 'no plaintext in the blob');
  const rotated = TokenSealer.fromEnv(`k2:${k2},k1:${k1}`);
  assert.equal(rotated.open(blob, 'user:alice\0linear').keyId, 'k1');
  assert.equal(rotated.open(rotated.seal('x', 'b'), 'b').keyId, 'k2');
  assert.throws(() => TokenSealer.fromEnv(`k2:${k2}`).open(blob, 'user:alice\0linear'), /no longer has/);
});

test('a blob is bound to its user and server, and tampering is detected', () => {
  const s = TokenSealer.fromEnv(`k1:${key()}`);
  const blob = s.seal('secret', 'user:alice\0linear');
  assert.throws(() => s.open(blob, 'user:bob\0linear'), /does not open/);
  assert.throws(() => s.open(blob, 'user:alice\0github'), /does not open/);
  const bad = Buffer.from(blob);
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => s.open(bad, 'user:alice\0linear'), /does not open/);
});

test('keys must be 32 bytes with a plain id', () => {
  assert.throws(() => TokenSealer.fromEnv(`k1:${randomBytes(16).toString('base64')}`), /32 bytes/);
  assert.throws(() => TokenSealer.fromEnv('nocolon'), /id:base64/);
});

test('the memory credential store keeps rows per (principal, server) and lists without ciphertext', async () => {
  const store = new MemoryUserCredentialStore();
  await store.putUserCredential({ principal: 'p', server: 'a', ciphertext: Buffer.from('x'), expiresAtMs: 1, updatedAtMs: 2 });
  await store.putUserCredential({ principal: 'p', server: 'b', ciphertext: Buffer.from('y'), expiresAtMs: null, updatedAtMs: 3 });
  await store.putUserCredential({ principal: 'q', server: 'a', ciphertext: Buffer.from('z'), expiresAtMs: null, updatedAtMs: 4 });
  assert.deepEqual((await store.listUserCredentials('p')).map((r) => r.server).sort(), ['a', 'b']);
  assert.ok(!('ciphertext' in (await store.listUserCredentials('p'))[0]!));
  assert.equal(await store.deleteUserCredential('p', 'a'), true);
  assert.equal(await store.deleteUserCredentials('p'), 1);
  assert.equal((await store.getUserCredential('q', 'a'))?.updatedAtMs, 4);
});

test('gateway access tokens verify on any edge with the same secret, only for their resource', async () => {
  const a = new GatewayTokens('shared-secret-0123456789', 'https://gw.example', 'https://gw.example/mcp');
  const b = new GatewayTokens('shared-secret-0123456789', 'https://gw.example', 'https://gw.example/mcp');
  const t = await a.mint({ sub: 'alice', name: 'Alice', team: 'eng', scopes: ['server:x'], clientId: 'c', family: 'f' });
  const v = await b.verify(t);
  assert.ok(v.ok && v.claims.sub === 'alice' && v.claims.team === 'eng' && v.claims.scopes[0] === 'server:x');
  const other = new GatewayTokens('shared-secret-0123456789', 'https://gw.example', 'https://other.example/mcp');
  const w = await other.verify(t);
  assert.ok(!w.ok && w.reason === 'wrong_audience');
  const forged = new GatewayTokens('another-secret-0123456789', 'https://gw.example', 'https://gw.example/mcp');
  assert.ok(!(await b.verify(await forged.mint({ sub: 'mallory', name: 'm', scopes: ['mcpgw:admin'], clientId: 'c', family: 'f' }))).ok);
});

test('config: the per-user auth types and gateway.auth.login', async () => {
  const { ConfigError, parseConfig } = await import('@mcpgw/common/config');
  const cfg = parseConfig(`mcp_servers:
  gh:
    url: https://example.com/mcp
    auth_type: client_header
  gh2:
    url: https://example.com/mcp
    auth_type: client_header
    client_header: X-GitHub-Token
  lin:
    url: https://example.com/mcp
    auth_type: oauth2_user
    scopes: [read]
  bill:
    url: https://example.com/mcp
    auth_type: token_exchange
    token_endpoint: https://login.example.com/token
    audience: billing
gateway:
  auth:
    login: { issuer: "https://login.example.com", client_id: gw, client_secret: s }
`, 'c.yaml', {});
  const by = new Map(cfg.servers.map((s) => [s.name, s]));
  assert.deepEqual(by.get('gh')!.userAuth, { kind: 'client_header', header: 'x-mcp-gh-authorization' });
  assert.deepEqual(by.get('gh2')!.userAuth, { kind: 'client_header', header: 'x-github-token' });
  assert.equal(by.get('lin')!.userAuth?.kind, 'oauth2_user');
  assert.deepEqual(by.get('bill')!.userAuth, { kind: 'token_exchange', tokenEndpoint: 'https://login.example.com/token', audience: 'billing', clientId: undefined, clientSecret: undefined, scopes: [] });
  assert.ok(!('Authorization' in by.get('gh')!.headers), 'never a static header');
  assert.deepEqual(cfg.gateway.login, { issuer: 'https://login.example.com', clientId: 'gw', clientSecret: 's', scopes: ['openid', 'profile', 'email'], teamClaim: 'team', scopeClaim: 'scope' });
  assert.throws(() => parseConfig('mcp_servers:\n  x:\n    command: foo\n    auth_type: oauth2_user\n', 'c.yaml', {}), ConfigError);
  assert.throws(() => parseConfig('mcp_servers:\n  x:\n    url: https://e.com/mcp\n    auth_type: token_exchange\n', 'c.yaml', {}), /token_endpoint/);
});
