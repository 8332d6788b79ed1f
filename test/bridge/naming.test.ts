// The bridge's copy of the gateway's naming rule must give the gateway's names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exposedName as gatewayName } from '@mcpgw/common/naming';
import { exposedName, providerToolName, ToolNameMap } from '@mcpgw/bridge';

test('the bridge names tools exactly as the gateway does', () => {
  const cases: [string, string, string?][] = [
    ['demo', 'echo'],
    ['srv', 'x'.repeat(70)],
    ['a'.repeat(40), 'b'.repeat(30)],
    ['github', 'repos.list'],
    ['fs', 'read file'],
    ['srv', 'ünïcode_tool'],
    ['s', 'exactly', '::'],
    ['s', 't'.repeat(61)], // joined length 64: kept
    ['s', 't'.repeat(62)], // joined length 65: shortened
  ];
  for (const [server, name, sep] of cases) {
    assert.equal(exposedName(server, name, sep), gatewayName(server, name, sep), `${server} / ${name}`);
  }
  assert.equal(exposedName('s', 't'.repeat(61)).length, 64);
  assert.match(exposedName('s', 't'.repeat(62)), /^s__t{52}_[0-9a-f]{8}$/);
});

test('provider names: valid names are kept, others are 55 characters + _ + 8 hex, and map back', () => {
  assert.equal(providerToolName('demo__echo'), 'demo__echo');
  const long = 'tool_' + 'x'.repeat(65);
  const short = providerToolName(long);
  assert.equal(short.length, 64);
  assert.match(short, /^tool_x{50}_[0-9a-f]{8}$/);
  assert.equal(providerToolName('read.file'), providerToolName('read.file'));
  assert.match(providerToolName('read.file'), /^read_file_[0-9a-f]{8}$/);
  assert.notEqual(providerToolName('read.file'), providerToolName('read file'));

  const names = new ToolNameMap();
  assert.equal(names.add(long), short);
  assert.equal(names.add('plain'), 'plain');
  assert.equal(names.toMcp(short), long);
  assert.equal(names.toMcp('plain'), 'plain');
  assert.equal(names.size, 1);
});
