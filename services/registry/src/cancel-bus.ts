// Cancellation must reach the registry replica that runs the call, whichever
// replica the edge's Cancel RPC landed on. With Redis, a replica that does not
// run the call publishes it on `<prefix>cancel` and every replica checks its
// own running calls. (DESIGN.md sketched an owner record per call; a broadcast
// costs nothing on the call path, which an owner-record write would.)
import type { Redis } from 'ioredis';
import type { Logger } from '@mcpgw/common/logger';

export interface CancelBus {
  /** Asks the other replicas to cancel `key` with `reason`. */
  publish(key: string, reason: string): Promise<void>;
}

export async function openRedisCancelBus(pub: Redis, sub: Redis, prefix: string, log: Logger, cancelLocal: (key: string, reason: string) => void): Promise<CancelBus> {
  const channel = `${prefix}cancel`;
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    const { key, reason } = JSON.parse(message) as { key: string; reason: string };
    cancelLocal(key, reason);
  });
  await sub.subscribe(channel).catch((err: Error) => log.warn({ err: err.message }, 'cancel channel subscribe failed'));
  return {
    async publish(key, reason) {
      await pub.publish(channel, JSON.stringify({ key, reason }));
    },
  };
}
