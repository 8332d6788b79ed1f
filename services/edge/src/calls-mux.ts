// The edge's side of the multiplexed call stream (`Calls`): one long-lived
// bidi stream per registry target carries every tool call and forward, so a
// call costs two small frames on an open HTTP/2 stream instead of a new gRPC
// call (headers, stream setup, trailers) each way. Each call is handed out as
// an object that behaves like the grpc-js stream it replaces: 'metadata' when
// the registry accepted it, 'data' per event, then 'end', or 'error' with a
// gRPC status; cancel() tells the registry.
import { EventEmitter } from 'node:events';
import { status, type ClientDuplexStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import type { CallToolRequest, CallsRequest, CallsResponse, ForwardRequest, RegistryClient } from '@mcpgw/proto/registry';
import { BATCH_HEADER, FrameBatcher } from '@mcpgw/common/calls-stream';

function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: undefined as unknown as Metadata });
}

/** One call on the shared stream, shaped like a grpc-js ClientReadableStream<CallEvent>. */
export class MuxCall extends EventEmitter {
  private finished = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly channel: CallsChannel, readonly id: number, deadline: number) {
    super();
    const ms = deadline - Date.now();
    this.timer = setTimeout(() => this.fail(grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), true), Math.max(ms, 0));
    this.timer.unref();
  }

  /** Called by the channel for each frame of this call. */
  onFrame(frame: CallsResponse['frame']): void {
    if (this.finished || !frame) return;
    switch (frame.$case) {
      case 'accepted': this.emit('metadata'); break;
      case 'event': this.emit('data', frame.value); break;
      case 'end': this.finish(); this.emit('end'); break;
      case 'error': this.fail(grpcError(frame.value.code as status, frame.value.details), false); break;
    }
  }

  /** The call ends with `err`; `tellRegistry`: the registry may still run it, so cancel it there. */
  fail(err: ServiceError, tellRegistry: boolean): void {
    if (this.finished) return;
    this.finish();
    if (tellRegistry) this.channel.sendCancel(this.id);
    this.emit('error', err);
  }

  cancel(): void {
    this.fail(grpcError(status.CANCELLED, 'Cancelled on client'), true);
  }

  private finish(): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.channel.forget(this.id);
  }
}

/** A call frame's payload bytes, for the batch size bound. */
function requestBytes(r: CallsRequest): number {
  const f = r.frame;
  if (f?.$case === 'callTool') return 64 + f.value.argumentsJson.length + f.value.metaJson.length + (f.value.context?.clientCapabilitiesJson.length ?? 0);
  if (f?.$case === 'forward') return 64 + f.value.paramsJson.length + (f.value.context?.clientCapabilitiesJson.length ?? 0);
  return 16;
}

/** The multiplexed stream to one registry target, opened on first use and again after it ends. */
export class CallsChannel {
  private stream?: ClientDuplexStream<CallsRequest, CallsResponse>;
  /** Coalesces this turn's frames once the registry said it reads batches. */
  private batcher?: FrameBatcher<CallsRequest>;
  private nextId = 1;
  private readonly calls = new Map<number, MuxCall>();

  constructor(private readonly client: RegistryClient, private readonly metadata: () => Metadata) {}

  callTool(req: CallToolRequest, deadline: number, traceparent?: string): MuxCall {
    return this.start({ $case: 'callTool', value: req }, deadline, traceparent);
  }

  forward(req: ForwardRequest, deadline: number, traceparent?: string): MuxCall {
    return this.start({ $case: 'forward', value: req }, deadline, traceparent);
  }

  private start(frame: CallsRequest['frame'], deadline: number, traceparent = ''): MuxCall {
    const id = this.nextId++;
    const call = new MuxCall(this, id, deadline);
    this.calls.set(id, call);
    this.send(this.open(), { callId: id, frame, deadlineMs: Math.max(1, deadline - Date.now()), traceparent, batch: [] });
    return call;
  }

  sendCancel(id: number): void {
    if (this.stream) this.send(this.stream, { callId: id, frame: { $case: 'cancel', value: true }, deadlineMs: 0, traceparent: '', batch: [] });
  }

  private send(stream: ClientDuplexStream<CallsRequest, CallsResponse>, frame: CallsRequest): void {
    if (this.batcher) this.batcher.push(frame);
    else stream.write(frame);
  }

  forget(id: number): void {
    this.calls.delete(id);
  }

  private open(): ClientDuplexStream<CallsRequest, CallsResponse> {
    if (this.stream) return this.stream;
    const md = this.metadata();
    md.set(BATCH_HEADER, '1');
    const stream = this.client.calls(md);
    this.stream = stream;
    this.batcher = undefined;
    // A registry that reads batched frames says so in its response metadata; older ones get one frame per message.
    stream.on('metadata', (response: Metadata) => {
      if (this.stream !== stream || response.get(BATCH_HEADER)[0] !== '1') return;
      this.batcher = new FrameBatcher<CallsRequest>((m) => stream.write(m), (batch) => ({ callId: 0, frame: undefined, deadlineMs: 0, traceparent: '', batch }), requestBytes);
    });
    const deliver = (r: CallsResponse) => this.calls.get(r.callId)?.onFrame(r.frame);
    stream.on('data', (message: CallsResponse) => {
      if (message.batch.length === 0) return void deliver(message);
      for (const r of message.batch) deliver(r);
    });
    // The stream ended (the registry drains, or the connection broke): its calls end with it.
    // A call the registry never accepted fails UNAVAILABLE before 'metadata', so the link retries it elsewhere.
    const gone = (err?: ServiceError) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      // Frames still waiting for their turn never left: their calls fail unaccepted below (and are retried elsewhere).
      this.batcher?.drop();
      this.batcher = undefined;
      const failure = grpcError(status.UNAVAILABLE, err?.details || 'registry stream closed');
      for (const call of [...this.calls.values()]) call.fail(failure, false);
    };
    stream.on('error', (err: ServiceError) => gone(err));
    stream.on('end', () => {
      gone();
      stream.end();
    });
    return stream;
  }

  close(): void {
    this.batcher?.flush();
    this.batcher = undefined;
    this.stream?.end();
    this.stream = undefined;
  }
}
