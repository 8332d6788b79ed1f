// The console's static route: the fixed file list, its security and cache headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { registerUi, UI_CSP } from '../../services/edge/src/routes/ui.js';

function builtRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'mcpgw-ui-'));
  mkdirSync(join(root, 'dist'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(root, 'styles.css'), 'body{}');
  writeFileSync(join(root, 'dist/app.js'), 'export {};');
  writeFileSync(join(root, 'dist/app.d.ts'), 'export {};');
  writeFileSync(join(root, 'secret.txt'), 'no');
  return root;
}

test('/ui and /ui/ serve the page with the CSP and the other security headers', async () => {
  const app = Fastify();
  registerUi(app, { root: builtRoot() });
  for (const url of ['/ui', '/ui/']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 200, url);
    assert.match(res.headers['content-type'] as string, /^text\/html; charset=utf-8/);
    assert.equal(res.headers['content-security-policy'], UI_CSP);
    assert.match(UI_CSP, /script-src 'self';/);
    assert.doesNotMatch(UI_CSP, /unsafe/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
    assert.equal(res.headers['cache-control'], 'no-cache');
  }
  const js = await app.inject({ url: '/ui/app.js' });
  assert.equal(js.statusCode, 200);
  assert.match(js.headers['content-type'] as string, /^text\/javascript/);
  assert.equal(js.headers['content-security-policy'], UI_CSP);
  await app.close();
});

test('only the fixed files are served: no declarations, no other files, no traversal', async () => {
  const app = Fastify();
  registerUi(app, { root: builtRoot() });
  for (const url of ['/ui/app.d.ts', '/ui/secret.txt', '/ui/..%2Fsecret.txt', '/ui/dist/app.js', '/ui/%2e%2e%2fsecret.txt']) {
    const res = await app.inject({ url });
    assert.equal(res.statusCode, 404, url);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
  }
  await app.close();
});

test('an unchanged file revalidates to 304 with its ETag', async () => {
  const app = Fastify();
  registerUi(app, { root: builtRoot() });
  const first = await app.inject({ url: '/ui/styles.css' });
  const etag = first.headers.etag as string;
  assert.ok(etag);
  const again = await app.inject({ url: '/ui/styles.css', headers: { 'if-none-match': etag } });
  assert.equal(again.statusCode, 304);
  assert.equal(again.body, '');
  await app.close();
});

test('before a build the console answers 503 saying what to run', async () => {
  const app = Fastify({ logger: false });
  registerUi(app, { root: mkdtempSync(join(tmpdir(), 'mcpgw-ui-empty-')) });
  const res = await app.inject({ url: '/ui' });
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /npm run build/);
  await app.close();
});

test('the real build is served (npm run build ran first)', async () => {
  const app = Fastify();
  registerUi(app, {});
  const page = await app.inject({ url: '/ui' });
  assert.equal(page.statusCode, 200);
  // The page loads only same-origin files, no inline script or style.
  assert.doesNotMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/);
  assert.doesNotMatch(page.body, /\sstyle=/);
  assert.doesNotMatch(page.body, /<style/);
  for (const m of page.body.matchAll(/(?:src|href)="(\/ui\/[^"]+)"/g)) {
    assert.equal((await app.inject({ url: m[1]! })).statusCode, 200, m[1]);
  }
  await app.close();
});
