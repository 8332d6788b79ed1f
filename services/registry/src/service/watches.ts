// The long-lived server streams (catalog and notification watchers) of one
// registry: ended together when the replica drains, so edges move elsewhere.
import type { ServerWritableStream } from '@grpc/grpc-js';

export type Watches = Set<ServerWritableStream<unknown, unknown>>;

/** Registers a watcher until it is cancelled or closed; `stop` runs once it is gone. */
export function track(watches: Watches, call: ServerWritableStream<unknown, unknown>, stop: () => void): void {
  watches.add(call);
  const done = () => { stop(); watches.delete(call); };
  call.on('cancelled', done);
  call.on('close', done);
}
