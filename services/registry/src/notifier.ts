// Delivers notifications to client sessions outside any call: through Redis
// (every edge listens on `<prefix>notify` and writes to the streams it holds),
// or, with one registry and no Redis, to the edges' WatchNotifications streams.
import type { Redis } from 'ioredis';

export interface SessionNotifier {
  publish(sessionId: string, messageJson: string): void;
}

export class RedisNotifier implements SessionNotifier {
  private readonly channel: string;

  constructor(private readonly redis: Redis, prefix: string) {
    this.channel = `${prefix}notify`;
  }

  publish(sessionId: string, messageJson: string): void {
    this.redis.publish(this.channel, `${sessionId}\t${messageJson}`).catch(() => { /* at-most-once, like MCP notifications */ });
  }
}

export class LocalNotifier implements SessionNotifier {
  private readonly watchers = new Set<(sessionId: string, messageJson: string) => void>();

  watch(listener: (sessionId: string, messageJson: string) => void): () => void {
    this.watchers.add(listener);
    return () => this.watchers.delete(listener);
  }

  publish(sessionId: string, messageJson: string): void {
    for (const w of this.watchers) w(sessionId, messageJson);
  }
}
