// The registry's side of the multiplexed call stream (`Calls`): one
// long-lived bidi stream per edge channel carries many tool calls and
// forwards. Each frame becomes a light call object that looks to the
// CallTool/Forward handlers exactly like a grpc-js server stream, so the relay
// logic is the same for both paths; events go back tagged with the call id.
import { EventEmitter } from 'node:events';
import { Metadata, status, type ServerDuplexStream, type ServerWritableStream } from '@grpc/grpc-js';
import type { CallEvent, CallToolRequest, CallsRequest, CallsResponse, ForwardRequest } from '@mcpgw/proto/registry';
import { BATCH_HEADER, FrameBatcher } from '@mcpgw/common/calls-stream';

/** One frame of one call. */
function response(callId: number, frame: CallsResponse['frame']): CallsResponse {
  return { callId, frame, batch: [] };
}

/** A response frame's payload bytes, for the batch size bound. */
function responseBytes(r: CallsResponse): number {
  if (r.frame?.$case !== 'event') return 16;
  const e = r.frame.value;
  const inner = e.event;
  const payload = inner?.$case === 'result' ? inner.value.resultJson.length + inner.value.errorJson.length
    : inner?.$case === 'notificationJson' ? inner.value.length
    : inner?.$case === 'serverRequest' ? inner.value.paramsJson.length : 0;
  return 16 + e.messageJson.length + payload;
}

type Handler<T> = (call: ServerWritableStream<T, CallEvent>) => void;

export interface CallsMuxDeps {
  callTool: Handler<CallToolRequest>;
  forward: Handler<ForwardRequest>;
  /** While draining, new calls are refused with UNAVAILABLE before they are accepted (the edge retries them elsewhere). */
  draining: () => boolean;
}

/** One multiplexed call, shaped like the grpc-js stream the handlers expect (write, end, 'cancelled', deadline, metadata). */
class MuxedCall<T> extends EventEmitter {
  cancelled = false;
  private ended = false;
  private readonly deadline: number;

  constructor(readonly request: T, readonly metadata: Metadata, private readonly id: number, deadlineMs: number,
    private readonly send: (frame: CallsResponse) => void, private readonly done: (id: number) => void) {
    super();
    this.deadline = deadlineMs > 0 ? Date.now() + deadlineMs : Infinity;
  }

  getDeadline(): number {
    return this.deadline;
  }

  /** Acceptance already went out as the `accepted` frame. */
  sendMetadata(): void {}

  write(event: CallEvent): boolean {
    if (!this.cancelled && !this.ended) this.send(response(this.id, { $case: 'event', value: event }));
    return true;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.cancelled) this.send(response(this.id, { $case: 'end', value: true }));
    this.done(this.id);
  }

  /** The edge gave up on the call, or the stream carrying it went away. */
  cancel(): void {
    if (this.cancelled || this.ended) return;
    this.cancelled = true;
    this.emit('cancelled');
    this.done(this.id);
  }
}

export interface CallsMux {
  handler: (stream: ServerDuplexStream<CallsRequest, CallsResponse>) => void;
  /** Draining: every stream ends once its calls are done (so the server can shut down); new calls are refused meanwhile. */
  drain(): void;
  inFlight(): number;
}

export function callsMux(deps: CallsMuxDeps): CallsMux {
  const streams = new Set<{ calls: Map<number, MuxedCall<unknown>>; endIfIdle(): void }>();
  const handler = (stream: ServerDuplexStream<CallsRequest, CallsResponse>): void => {
    const calls = new Map<number, MuxedCall<unknown>>();
    // Frames to an edge that reads batches are coalesced per event-loop turn.
    const batcher = stream.metadata.get(BATCH_HEADER)[0] === '1'
      ? new FrameBatcher<CallsResponse>((m) => stream.write(m), (batch) => ({ callId: 0, frame: undefined, batch }), responseBytes)
      : undefined;
    // And this side reads the edge's batches: said in the response metadata, which goes out at once.
    const announce = new Metadata();
    announce.set(BATCH_HEADER, '1');
    stream.sendMetadata(announce);
    let open = true;
    const send = (frame: CallsResponse) => {
      if (!open) return;
      if (batcher) batcher.push(frame);
      else stream.write(frame);
    };
    const endIfIdle = () => {
      if (open && calls.size === 0 && deps.draining()) {
        open = false;
        batcher?.flush();
        stream.end();
      }
    };
    const state = { calls, endIfIdle };
    streams.add(state);
    const done = (id: number) => {
      calls.delete(id);
      endIfIdle();
    };
    const take = (frame: CallsRequest): void => {
      const f = frame.frame;
      if (!f) return;
      if (f.$case === 'cancel') return void calls.get(frame.callId)?.cancel();
      if (deps.draining()) {
        return send(response(frame.callId, { $case: 'error', value: { code: status.UNAVAILABLE, details: 'registry draining' } }));
      }
      const md = new Metadata();
      if (frame.traceparent) md.set('traceparent', frame.traceparent);
      const call = new MuxedCall(f.value, md, frame.callId, frame.deadlineMs, send, done);
      calls.set(frame.callId, call);
      send(response(frame.callId, { $case: 'accepted', value: true }));
      if (f.$case === 'callTool') deps.callTool(call as unknown as ServerWritableStream<CallToolRequest, CallEvent>);
      else deps.forward(call as unknown as ServerWritableStream<ForwardRequest, CallEvent>);
    };
    stream.on('data', (message: CallsRequest) => {
      if (message.batch.length === 0) return take(message);
      for (const frame of message.batch) take(frame);
    });
    const close = () => {
      streams.delete(state);
      if (!open) return;
      open = false;
      batcher?.drop();
      // Calls of a stream that went away are cancelled, as a per-call stream's would be (resumable ones run on).
      for (const c of [...calls.values()]) c.cancel();
    };
    stream.on('end', () => {
      close();
      stream.end();
    });
    stream.on('cancelled', close);
    stream.on('error', close);
    stream.on('close', close);
  };
  return {
    handler,
    drain: () => { for (const s of [...streams]) s.endIfIdle(); },
    inFlight: () => [...streams].reduce((n, s) => n + s.calls.size, 0),
  };
}
