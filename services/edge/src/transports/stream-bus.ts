// Delivers a message to a stream held by some edge replica: written directly
// when this replica holds it, else published on that replica's Redis channel
// (`<prefix>edge:<instance>`). Without Redis there is only this replica.
import type { Redis } from 'ioredis';
import type { Logger } from '@mcpgw/common/logger';
import type { StreamTarget } from './sse-writer.js';

export interface StreamBus {
  /** false when no replica holds the stream any more. */
  deliver(instance: string | undefined, sessionId: string, text: string): Promise<boolean>;
  /** To the stream(s) registered under `id` on whichever replicas hold them (2026 listen hubs). */
  broadcast(id: string, text: string): Promise<void>;
  close(): Promise<void>;
}

function writeLocal(streams: Map<string, StreamTarget>, sessionId: string, text: string): boolean {
  const sse = streams.get(sessionId);
  return sse ? sse.event('message', text) : false;
}

export class LocalStreamBus implements StreamBus {
  constructor(private readonly streams: Map<string, StreamTarget>) {}
  async deliver(_instance: string | undefined, sessionId: string, text: string): Promise<boolean> {
    return writeLocal(this.streams, sessionId, text);
  }
  async broadcast(id: string, text: string): Promise<void> {
    writeLocal(this.streams, id, text);
  }
  async close(): Promise<void> {}
}

export class RedisStreamBus implements StreamBus {
  private constructor(
    private readonly streams: Map<string, StreamTarget>,
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly prefix: string,
    private readonly instanceId: string,
  ) {}

  static async open(streams: Map<string, StreamTarget>, pub: Redis, sub: Redis, prefix: string, instanceId: string, log: Logger): Promise<RedisStreamBus> {
    const bus = new RedisStreamBus(streams, pub, sub, prefix, instanceId);
    // Our own channel, and `notify`, where registries publish notifications for
    // sessions outside calls (every edge hears them; the one holding the stream writes).
    const channels = [bus.channel(instanceId), `${prefix}notify`];
    sub.on('message', (ch: string, message: string) => {
      if (!channels.includes(ch)) return;
      const tab = message.indexOf('\t');
      writeLocal(streams, message.slice(0, tab), message.slice(tab + 1));
    });
    await sub.subscribe(...channels).catch((err: Error) => log.warn({ err: err.message }, 'edge channel subscribe failed; ioredis retries on reconnect'));
    return bus;
  }

  private channel(instance: string): string {
    return `${this.prefix}edge:${instance}`;
  }

  async deliver(instance: string | undefined, sessionId: string, text: string): Promise<boolean> {
    if (writeLocal(this.streams, sessionId, text)) return true;
    if (!instance || instance === this.instanceId) return false;
    const receivers = await this.pub.publish(this.channel(instance), `${sessionId}\t${text}`);
    return receivers > 0;
  }

  async broadcast(id: string, text: string): Promise<void> {
    // The `notify` channel reaches every edge, this one included (each writes what it holds).
    await this.pub.publish(`${this.prefix}notify`, `${id}\t${text}`);
  }

  async close(): Promise<void> {
    await this.sub.quit().catch(() => this.sub.disconnect());
  }
}
