// The aggregate's reversible resource URI mapping (services/edge/src/catalog/resource-uris.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapResourceTemplate, mapResourceUri, unmapResourceUri } from '../../services/edge/src/catalog/resource-uris.js';

test('a mapped URI names its server and gives back the upstream URI unchanged', () => {
  for (const uri of ['file:///README.md', 'test://static-text', 'https://x.example/a?b=c&d=%20e#f', 'weird://ü/ spaces/{x}']) {
    const mapped = mapResourceUri('docs-1', uri);
    assert.match(mapped, /^mcpgw:\/\/docs-1\/[^/]*$/);
    assert.deepEqual(unmapResourceUri(mapped), { server: 'docs-1', uri });
  }
});

test('a mapped template keeps its expressions, and its expansion unmaps to the upstream template\'s expansion', () => {
  const t = mapResourceTemplate('s', 'test://template/{id}/data');
  assert.equal(t, 'mcpgw://s/test%3A%2F%2Ftemplate%2F{id}%2Fdata');
  assert.deepEqual(unmapResourceUri(t.replace('{id}', '42')), { server: 's', uri: 'test://template/42/data' });
});

test('anything else is not a mapped URI', () => {
  for (const uri of ['file:///a', 'mcpgw://', 'mcpgw:///x', 'mcpgw://bad name/x', 'mcpgw://s/%E0%A4%A']) assert.equal(unmapResourceUri(uri), undefined, uri);
});
