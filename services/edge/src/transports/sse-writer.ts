import type { ServerResponse } from 'node:http';
import { Access } from '../identity/access.js';

const KEEPALIVE_MS = 15_000;
/** A client this far behind is cut off: its stream ends rather than buffering without bound (MCPGW_SSE_MAX_BUFFER_BYTES). */
let MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export function setSseBufferLimit(bytes: number): void {
  MAX_BUFFERED_BYTES = bytes;
}

/**
 * What the stream bus and list_changed fan-out write to, by session id: an
 * SseWriter (a session's stream), or a hub of 2026 `subscriptions/listen`
 * streams (era/listen.ts) that filters and tags what it is given.
 */
/** Whose stream it is: its scopes filter notifications, its id ends it when the credential is revoked. */
export interface StreamOwner {
  readonly id: string;
  readonly access: Access;
}

export interface StreamTarget {
  readonly access: Access;
  /** The principal id of the stream's owner. */
  readonly ownerId: string;
  readonly closed: boolean;
  event(name: string, data: string, id?: string): boolean;
  end(): void;
  endWithRetry(retryMs: number): void;
}

/** Writes Server-Sent Events to one HTTP response, with keep-alive comments. */
export class SseWriter implements StreamTarget {
  private readonly keepalive: NodeJS.Timeout;
  closed = false;

  readonly access: Access;
  readonly ownerId: string;

  /**
   * `owner`: the principal this stream belongs to, so that notifications
   * (list_changed) reach it only for items it can see.
   */
  constructor(private readonly res: ServerResponse, owner: StreamOwner = { id: '', access: Access.ALL }, extraHeaders: Record<string, string> = {}) {
    this.access = owner.access;
    this.ownerId = owner.id;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies (nginx and friends) must not buffer the stream.
      'x-accel-buffering': 'no',
      ...extraHeaders,
    });
    res.flushHeaders();
    this.keepalive = setInterval(() => this.write(': keep-alive\n\n'), KEEPALIVE_MS);
    this.keepalive.unref();
    res.on('close', () => this.markClosed());
  }

  onClose(listener: () => void): void {
    this.res.on('close', listener);
  }

  /** The priming event: an id to resume from before any message, and the reconnect delay. */
  prime(id: string, retryMs: number): boolean {
    return this.write(`id: ${id}\nretry: ${retryMs}\ndata: \n\n`);
  }

  event(name: string, data: string, id?: string): boolean {
    return this.write(`${id ? `id: ${id}\n` : ''}event: ${name}\ndata: ${data}\n\n`);
  }

  private write(chunk: string): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > MAX_BUFFERED_BYTES) {
      // Events stored for resumption are not lost: the client can resume with Last-Event-ID.
      this.res.destroy();
      this.markClosed();
      return false;
    }
    this.res.write(chunk);
    return true;
  }

  /** Ends the stream telling the client when to reconnect (shutdown: another replica takes over). */
  endWithRetry(retryMs: number): void {
    this.write(`retry: ${retryMs}\n\n`);
    this.end();
  }

  end(): void {
    this.markClosed();
    this.res.end();
  }

  private markClosed(): void {
    this.closed = true;
    clearInterval(this.keepalive);
  }
}
