import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exposedName } from '@mcpgw/common/naming';

test('short safe names are <server>__<tool>', () => {
  assert.equal(exposedName('github', 'create_issue'), 'github__create_issue');
  assert.equal(exposedName('a', 'b', '--'), 'a--b');
});

test('long or unsafe names become 55 characters + _ + 8 hex, stable and distinct', () => {
  const long = exposedName('server', 'x'.repeat(80));
  assert.equal(long.length, 64);
  assert.match(long, /^server__x{47}_[0-9a-f]{8}$/);
  assert.equal(exposedName('server', 'x'.repeat(80)), long);
  const dotted = exposedName('fs', 'read.file');
  assert.match(dotted, /^fs__read_file_[0-9a-f]{8}$/);
  assert.notEqual(dotted, exposedName('fs', 'read_file'));
});
