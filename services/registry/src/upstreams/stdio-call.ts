// JSON-RPC over a stdio upstream that speaks 2026-07-28: no handshake, every
// request carries the era's `_meta`, progress comes as notifications for our
// token, and a given-up request is cancelled with notifications/cancelled
// (stdio keeps it; HTTP closes the stream instead).
import { McpError, type JSONRPCMessage, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { LocalCallFailure } from './call-failure.js';
import { withEnvelope, type HttpCallOptions, type ModernCaller } from './http-call.js';
import type { StdioUpstreamTransport } from './stdio.js';

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
  onProgress?: (p: Progress) => void;
}

interface Message {
  id?: string | number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

export class StdioCaller implements ModernCaller {
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private closed = false;

  /** `transport` is started by `start()`; `onClose` runs once when the process goes away. */
  constructor(private readonly transport: StdioUpstreamTransport, private readonly onClose: () => void) {
    transport.onmessage = (m) => this.onMessage(m as Message);
    transport.onclose = () => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new LocalCallFailure('closed'));
      this.pending.clear();
      this.onClose();
    };
    transport.onerror = () => {};
  }

  start(): Promise<void> {
    return this.transport.start();
  }

  request(method: string, params: Record<string, unknown> | undefined, opts: HttpCallOptions): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new LocalCallFailure('closed'));
    const id = `mcpgw-${++this.next}`;
    let body = opts.onProgress ? { ...params, _meta: { ...(params?._meta as Record<string, unknown> | undefined), progressToken: id } } : params;
    if (opts.modern) body = withEnvelope(body, opts.modern);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const giveUp = (err: Error, reason: string) => {
        done();
        void this.transport.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } } as JSONRPCMessage).catch(() => {});
        reject(err);
      };
      const timer = setTimeout(() => giveUp(new LocalCallFailure('timeout'), 'timed out'), opts.timeoutMs);
      const onAbort = () => giveUp(Object.assign(new Error('cancelled'), { name: 'AbortError' }), 'cancelled by the client');
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (r) => { done(); resolve(r); },
        reject: (e) => { done(); reject(e); },
        onProgress: opts.onProgress,
      });
      this.transport.send({ jsonrpc: '2.0', id, method, params: body } as JSONRPCMessage).catch((err: Error) => this.pending.get(id)?.reject(err));
    });
  }

  private onMessage(msg: Message): void {
    if (msg.id !== undefined && (msg.result !== undefined || msg.error !== undefined)) {
      const p = this.pending.get(String(msg.id));
      if (!p) return;
      if (msg.error) p.reject(new McpError(msg.error.code, msg.error.message, msg.error.data));
      else p.resolve(msg.result ?? {});
      return;
    }
    if (msg.method === 'notifications/progress' && msg.params) {
      const { progressToken, ...values } = msg.params;
      this.pending.get(String(progressToken))?.onProgress?.(values as Progress);
    }
    // Server-to-client requests do not exist in 2026-07-28 (MRTR); anything else is ignored.
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
