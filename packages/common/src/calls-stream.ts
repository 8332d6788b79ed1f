// What the edge and the registry agree on for the multiplexed `Calls` stream
// beyond the proto: features announced in the stream's metadata, so either
// side can be upgraded first (a rolling upgrade mixes versions), and the
// batching of frames both sides use.

/**
 * Stream metadata by which a side says it reads batched frames (the `batch`
 * field): the edge in its request metadata, the registry in its response
 * metadata. Each side batches only toward a peer that said so.
 */
export const BATCH_HEADER = 'mcpgw-batch';

/** A batch is written before its frames' payloads pass this many bytes (a frame is never split). */
export const BATCH_MAX_BYTES = 1024 * 1024;

/**
 * Coalesces the frames written during one event-loop turn into one message,
 * so a busy stream pays gRPC's per-message cost (framing, the HTTP/2 write,
 * the decode and 'data' event on the other side) once per turn rather than
 * once per frame. A lone frame goes out as itself; order is kept.
 */
export class FrameBatcher<F> {
  private pending: F[] = [];
  private bytes = 0;
  private scheduled = false;

  /**
   * `write`: puts one message on the stream; `wrap`: the message carrying
   * several frames; `sizeOf`: a frame's payload bytes (for BATCH_MAX_BYTES).
   */
  constructor(private readonly write: (message: F) => void, private readonly wrap: (frames: F[]) => F, private readonly sizeOf: (frame: F) => number) {}

  push(frame: F): void {
    const size = this.sizeOf(frame);
    if (this.pending.length > 0 && this.bytes + size > BATCH_MAX_BYTES) this.flush();
    this.pending.push(frame);
    this.bytes += size;
    if (this.scheduled) return;
    this.scheduled = true;
    // After the I/O of this turn: every frame its callbacks wrote goes out in one message.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Writes what is pending now (before the stream ends). */
  flush(): void {
    const frames = this.pending;
    if (frames.length === 0) return;
    this.pending = [];
    this.bytes = 0;
    this.write(frames.length === 1 ? frames[0]! : this.wrap(frames));
  }

  /** Forgets what is pending (the stream is gone). */
  drop(): void {
    this.pending = [];
    this.bytes = 0;
  }
}
