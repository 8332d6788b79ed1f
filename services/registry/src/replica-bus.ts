// Messages for "whichever registry replica holds this": a Cancel for a call,
// or the client's answer (Respond) to a server-to-client request, can land on
// any replica. The one that gets it and does not hold the target publishes it
// on `<prefix>replicas`; every replica offers it to its own handlers. (DESIGN.md
// sketched owner records; a broadcast costs nothing on the call path.)
import type { Redis } from 'ioredis';
import type { Logger } from '@mcpgw/common/logger';

export type ReplicaMessage =
  | { kind: 'cancel'; key: string; reason: string }
  | { kind: 'respond'; id: string; response: string };

export interface ReplicaBus {
  publish(message: ReplicaMessage): Promise<void>;
}

export async function openReplicaBus(pub: Redis, sub: Redis, prefix: string, log: Logger, handle: (m: ReplicaMessage) => void): Promise<ReplicaBus> {
  const channel = `${prefix}replicas`;
  sub.on('message', (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      handle(JSON.parse(message) as ReplicaMessage);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'bad replica message');
    }
  });
  await sub.subscribe(channel).catch((err: Error) => log.warn({ err: err.message }, 'replica channel subscribe failed'));
  return {
    async publish(message) {
      await pub.publish(channel, JSON.stringify(message));
    },
  };
}
