// The multiplexed call stream's framing between versions: a registry
// coalesces a turn's frames into one batch only for an edge that announced it
// reads them; an edge that did not (an older one, mid-upgrade) gets one frame
// per message. The registry reads an edge's batches and says so in its
// response metadata.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Metadata, type ServerDuplexStream } from '@grpc/grpc-js';
import type { CallEvent, CallToolRequest, CallsRequest, CallsResponse } from '@mcpgw/proto/registry';
import { BATCH_HEADER, BATCH_MAX_BYTES, FrameBatcher } from '@mcpgw/common/calls-stream';
import { callsMux } from '../../services/registry/src/calls-mux.js';

const RESULT: CallEvent = { event: { $case: 'result', value: { resultJson: Buffer.from('{}'), errorJson: Buffer.alloc(0), isError: false, sessionLost: false } }, eventId: '', messageJson: Buffer.alloc(0) };
const PROGRESS: CallEvent = { event: { $case: 'notification', value: Buffer.from('{}') }, eventId: '', messageJson: Buffer.alloc(0) } as unknown as CallEvent;

interface Run { written: CallsResponse[]; announced: Metadata[]; calls: number }

/** Runs calls (each a progress event, then the result) through the registry's side; returns the messages it wrote. */
function run(headers: string[], message: CallsRequest = callFrame(7)): Run {
  const out: Run = { written: [], announced: [], calls: 0 };
  const stream = Object.assign(new EventEmitter(), {
    metadata: new Metadata(),
    write: (f: CallsResponse) => { out.written.push(f); return true; },
    sendMetadata: (md: Metadata) => { out.announced.push(md); },
    end: () => {},
  });
  for (const h of headers) stream.metadata.set(h, '1');
  const mux = callsMux({
    draining: () => false,
    forward: () => assert.fail('no forward expected'),
    callTool: (call) => {
      out.calls++;
      call.write(PROGRESS);
      call.write(RESULT);
      call.end();
    },
  });
  mux.handler(stream as unknown as ServerDuplexStream<CallsRequest, CallsResponse>);
  stream.emit('data', message);
  return out;
}

function callFrame(callId: number): CallsRequest {
  return { callId, frame: { $case: 'callTool', value: {} as CallToolRequest }, deadlineMs: 1000, traceparent: '', batch: [] };
}

const shape = (f: CallsResponse) => [f.callId, f.frame?.$case];
const turn = () => new Promise((resolve) => setImmediate(resolve));

test('an edge that announced nothing gets one frame per message and a separate end', () => {
  const { written, announced } = run([]);
  assert.deepEqual(written.map(shape), [[7, 'accepted'], [7, 'event'], [7, 'event'], [7, 'end']]);
  assert.ok(written.every((m) => m.batch.length === 0));
  assert.equal(announced[0]?.get(BATCH_HEADER)[0], '1', 'the registry says it reads batches');
});

test('an edge that reads batches gets the frames of one turn in one message', async () => {
  const out = run([BATCH_HEADER]);
  assert.equal(out.written.length, 0, 'nothing is written before the turn ends');
  await turn();
  assert.equal(out.written.length, 1);
  assert.deepEqual(out.written[0]!.batch.map(shape), [[7, 'accepted'], [7, 'event'], [7, 'event'], [7, 'end']]);
});

test('the registry reads a batch of calls from the edge', async () => {
  const message: CallsRequest = { callId: 0, frame: undefined, deadlineMs: 0, traceparent: '', batch: [callFrame(1), callFrame(2), callFrame(3)] };
  const out = run([BATCH_HEADER], message);
  await turn();
  assert.equal(out.calls, 3);
  assert.deepEqual(out.written[0]!.batch.map(shape), [
    [1, 'accepted'], [1, 'event'], [1, 'event'], [1, 'end'],
    [2, 'accepted'], [2, 'event'], [2, 'event'], [2, 'end'],
    [3, 'accepted'], [3, 'event'], [3, 'event'], [3, 'end'],
  ]);
});

test('a batch is written before its payloads pass BATCH_MAX_BYTES; order is kept', async () => {
  const written: number[][] = [];
  const batcher = new FrameBatcher<{ n: number; size: number; batch: { n: number }[] }>(
    (m) => written.push(m.batch.length ? m.batch.map((f) => f.n) : [m.n]),
    (batch) => ({ n: 0, size: 0, batch }),
    (f) => f.size,
  );
  const big = (n: number) => ({ n, size: BATCH_MAX_BYTES * 0.6, batch: [] });
  const small = (n: number) => ({ n, size: 10, batch: [] });
  batcher.push(big(1));
  batcher.push(small(2));
  batcher.push(big(3));
  batcher.push(small(4));
  await turn();
  assert.deepEqual(written, [[1, 2], [3, 4]]);
});
