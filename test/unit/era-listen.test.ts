// subscriptions/listen hubs: what the filter honours, what each stream receives, and how it is tagged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acknowledgement, honoredFilter, ListenHub, tagFor, type Listener } from '../../services/edge/src/era/listen.js';
import { Access } from '../../services/edge/src/identity/access.js';
import type { SseWriter } from '../../services/edge/src/transports/sse-writer.js';

const SUB = 'io.modelcontextprotocol/subscriptionId';

function fakeSse() {
  const sent: string[] = [];
  let ended = false;
  const sse = { event: (_n: string, data: string) => { sent.push(data); return true; }, end: () => { ended = true; } } as unknown as SseWriter;
  return { sse, sent, ended: () => ended };
}

test('the honoured filter keeps the known flags and resolvable URIs, and drops the rest', () => {
  assert.deepEqual(honoredFilter({ toolsListChanged: true, promptsListChanged: false, tasks: true, resourceSubscriptions: ['a://1', 'nope://2', 3, 'a://1'] }, (u) => u.startsWith('a://')),
    { toolsListChanged: true, resourceSubscriptions: ['a://1'] });
  assert.deepEqual(honoredFilter(undefined, () => true), {});
});

test('each stream gets only what its filter asked for, tagged with its subscription id', () => {
  const a = fakeSse();
  const b = fakeSse();
  const hub = new ListenHub({ id: 'p', access: Access.ALL });
  hub.listeners.add({ id: 7, filter: { toolsListChanged: true }, sse: a.sse });
  hub.listeners.add({ id: 'x', filter: { promptsListChanged: true, resourceSubscriptions: ['a://1'] }, sse: b.sse });
  hub.event('message', '{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{}}');
  hub.event('message', '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://1"}}');
  hub.event('message', '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"a://2"}}');
  hub.event('message', '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}');
  assert.deepEqual(a.sent.map((t) => JSON.parse(t)), [{ jsonrpc: '2.0', method: 'notifications/tools/list_changed', params: { _meta: { [SUB]: 7 } } }]);
  assert.deepEqual(b.sent.map((t) => JSON.parse(t)), [{ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'a://1', _meta: { [SUB]: 'x' } } }]);
  hub.end();
  assert.deepEqual(JSON.parse(a.sent.at(-1)!), { jsonrpc: '2.0', id: 7, result: { resultType: 'complete', _meta: { [SUB]: 7 } } }, 'a graceful end answers the listen request');
  assert.ok(a.ended() && b.ended());
});

test('the acknowledgement comes first and is tagged too', () => {
  const ack = JSON.parse(acknowledgement(3, { toolsListChanged: true }));
  assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
  assert.deepEqual(ack.params, { notifications: { toolsListChanged: true }, _meta: { [SUB]: 3 } });
  const l: Listener = { id: 3, filter: {}, sse: fakeSse().sse };
  assert.equal(tagFor(l, '{"jsonrpc":"2.0","method":"notifications/progress","params":{}}'), undefined, 'never progress on a listen stream');
});
