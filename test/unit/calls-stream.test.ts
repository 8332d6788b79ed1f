// The multiplexed call stream's framing between versions: a registry merges a
// result and its end into one `last` frame only for an edge that announced it
// reads them; an edge that did not (an older one, mid-upgrade) gets `end`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Metadata, type ServerDuplexStream } from '@grpc/grpc-js';
import type { CallEvent, CallsRequest, CallsResponse } from '@mcpgw/proto/registry';
import { LAST_FRAME_HEADER } from '@mcpgw/common/calls-stream';
import { callsMux } from '../../services/registry/src/calls-mux.js';

const RESULT: CallEvent = { event: { $case: 'result', value: { resultJson: Buffer.from('{}'), errorJson: Buffer.alloc(0), isError: false, sessionLost: false } }, eventId: '', messageJson: Buffer.alloc(0) };
const PROGRESS: CallEvent = { event: { $case: 'notification', value: Buffer.from('{}') }, eventId: '', messageJson: Buffer.alloc(0) } as unknown as CallEvent;

/** Runs one call (a progress event, then the result) through the registry's side; returns the frames it wrote. */
function framesFor(announces: boolean): CallsResponse[] {
  const written: CallsResponse[] = [];
  const stream = Object.assign(new EventEmitter(), {
    metadata: new Metadata(),
    write: (f: CallsResponse) => { written.push(f); return true; },
    end: () => {},
  });
  if (announces) stream.metadata.set(LAST_FRAME_HEADER, '1');
  const mux = callsMux({
    draining: () => false,
    forward: () => assert.fail('no forward expected'),
    callTool: (call) => {
      call.write(PROGRESS);
      call.write(RESULT);
      call.end();
    },
  });
  mux.handler(stream as unknown as ServerDuplexStream<CallsRequest, CallsResponse>);
  stream.emit('data', { callId: 7, frame: { $case: 'callTool', value: {} }, deadlineMs: 1000, traceparent: '' });
  return written;
}

test('an edge that reads last frames gets the result and its end as one frame', () => {
  const frames = framesFor(true);
  assert.deepEqual(frames.map((f) => [f.frame?.$case, f.last]), [['accepted', false], ['event', false], ['event', true]]);
  assert.equal(frames[2]!.frame?.$case === 'event' && frames[2]!.frame.value, RESULT);
});

test('an edge that did not announce it gets a separate end frame', () => {
  const frames = framesFor(false);
  assert.deepEqual(frames.map((f) => [f.frame?.$case, f.last ?? false]), [['accepted', false], ['event', false], ['event', false], ['end', false]]);
});
