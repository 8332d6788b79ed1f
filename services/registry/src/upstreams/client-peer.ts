// What a per_client upstream session says to its client while calls run:
// server-to-client requests (sampling, elicitation, roots) and notifications
// (log messages). They go out on the stream of the client's call in flight.

/** One call in flight of a client session, as the registry streams it to the edge. */
export interface CallSink {
  notification(message: Record<string, unknown>): void;
  request(method: string, params: unknown, signal: AbortSignal): Promise<Record<string, unknown>>;
}

export class ClientPeer {
  /** Calls in flight, newest last: messages go to the newest (each to exactly one stream). */
  private readonly calls: CallSink[] = [];

  /** `outside`: where notifications go while no call is in flight (the session's own stream). */
  constructor(readonly capabilities: Record<string, unknown>, private readonly outside: (messageJson: string) => void) {}

  /** A notification from the upstream session: on the newest call's stream, else on the session's stream. */
  notify(message: Record<string, unknown>): void {
    const call = this.active;
    if (call) call.notification(message);
    else this.outside(JSON.stringify({ jsonrpc: '2.0', ...message }));
  }

  /** Makes `sink` the target while `run` is in flight. */
  async during<T>(sink: CallSink, run: () => Promise<T>): Promise<T> {
    this.calls.push(sink);
    try {
      return await run();
    } finally {
      this.calls.splice(this.calls.lastIndexOf(sink), 1);
    }
  }

  get active(): CallSink | undefined {
    return this.calls.at(-1);
  }

  get idle(): boolean {
    return this.calls.length === 0;
  }
}
