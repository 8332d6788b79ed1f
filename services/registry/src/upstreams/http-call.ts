// A lean JSON-RPC client for calls to shared Streamable HTTP upstreams: one
// POST on a pooled keep-alive connection (undici), the answer read as JSON or
// from the SSE stream. The SDK client still initializes, lists, pings and
// receives notifications on the same upstream session; calls take this path
// because it costs less and holds nothing per call once it is answered.
import { Pool } from 'undici';
import { McpError, ErrorCode as SdkErrorCode, type Progress } from '@modelcontextprotocol/sdk/types.js';
import type { ClientCredentials } from './oauth2.js';

/** The upstream answered 404 for our session id: it forgot the session. */
export class SessionExpiredError extends Error {
  constructor() {
    super('upstream session expired (HTTP 404)');
  }
}

export interface HttpCallOptions {
  sessionId?: string;
  protocolVersion?: string;
  signal?: AbortSignal;
  timeoutMs: number;
  onProgress?: (p: Progress) => void;
  traceparent?: string;
}

interface Message {
  id?: unknown;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

const CONNECTIONS = 64;
/** How long an answered SSE stream may stay open before we close it. */
const LINGER_MS = 1;

export class HttpCaller {
  private readonly pool: Pool;
  private readonly path: string;
  private next = 0;

  /** `auth`: the upstream's OAuth token source (`auth_type: oauth2`), asked per call (a cached token costs a resolved promise). */
  constructor(url: URL, private readonly headers: Record<string, string>, private readonly auth?: ClientCredentials) {
    this.pool = new Pool(url.origin, { connections: CONNECTIONS, keepAliveTimeout: 30_000 });
    this.path = `${url.pathname}${url.search}`;
  }

  async request(method: string, params: Record<string, unknown> | undefined, opts: HttpCallOptions): Promise<Record<string, unknown>> {
    const id = `mcpgw-${++this.next}`;
    const withToken = opts.onProgress ? { ...params, _meta: { ...(params?._meta as Record<string, unknown> | undefined), progressToken: id } } : params;
    // One controller and one timer per call (cheaper than AbortSignal.any + AbortSignal.timeout).
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; controller.abort(); }, opts.timeoutMs);
    const onAbort = () => controller.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const { signal } = controller;
    try {
      const headers = this.headersFor(opts);
      if (this.auth) headers.authorization = await this.auth.header();
      const res = await this.pool.request({
        path: this.path, method: 'POST', signal, headers,
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params: withToken }),
      });
      if (res.statusCode === 401 && this.auth) this.auth.invalidate();
      if (res.statusCode === 404 && opts.sessionId) {
        await res.body.dump();
        throw new SessionExpiredError();
      }
      if (res.statusCode >= 400) throw new Error(`HTTP ${res.statusCode}: ${(await res.body.text()).slice(0, 300)}`);
      const type = String(res.headers['content-type'] ?? '');
      const answer = type.includes('text/event-stream')
        ? await this.fromStream(res.body, id, opts.onProgress)
        : ((await res.body.json()) as Message);
      if (answer.error) throw new McpError(answer.error.code, answer.error.message, answer.error.data);
      return answer.result ?? {};
    } catch (err) {
      if (timedOut) throw new McpError(SdkErrorCode.RequestTimeout, 'Request timed out');
      if (opts.signal?.aborted) this.cancelled(id, opts);
      throw err;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private headersFor(opts: HttpCallOptions): Record<string, string> {
    const { traceparent } = opts;
    return {
      ...this.headers,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(opts.sessionId ? { 'mcp-session-id': opts.sessionId } : {}),
      ...(opts.protocolVersion ? { 'mcp-protocol-version': opts.protocolVersion } : {}),
      ...(traceparent ? { traceparent } : {}),
    };
  }

  /**
   * Reads SSE events until our response; progress for our token goes to
   * `onProgress`. The rest of the stream is drained, not destroyed (destroying
   * costs an error object per call); a server that keeps it open is cut off.
   */
  private fromStream(body: NodeJS.ReadableStream & { destroy(): void }, id: string, onProgress?: (p: Progress) => void): Promise<Message> {
    return new Promise((resolve, reject) => {
      let buffered = '';
      let answered = false;
      let linger: NodeJS.Timeout | undefined;
      const onData = (chunk: Buffer) => {
        if (answered) return;
        buffered += chunk.toString('utf8');
        let end;
        while ((end = buffered.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end).replace(/^\r?\n\r?\n/, '');
          const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
          if (!data) continue;
          let msg: Message;
          try {
            msg = JSON.parse(data) as Message;
          } catch (err) {
            answered = true;
            return reject(err);
          }
          if (msg.id === id && (msg.result !== undefined || msg.error !== undefined)) {
            answered = true;
            // Most servers end the stream right after the answer; one that keeps it open is cut off
            // at once, so the pooled connection is free for the next call.
            linger = setTimeout(() => body.destroy(), LINGER_MS);
            return resolve(msg);
          }
          if (msg.method === 'notifications/progress' && msg.params?.progressToken === id && onProgress) {
            const { progressToken: _token, ...values } = msg.params;
            onProgress(values as Progress);
          }
        }
      };
      body.on('data', onData);
      body.on('error', (err) => { if (!answered) reject(err); });
      body.on('close', () => clearTimeout(linger));
      body.on('end', () => { if (!answered) reject(new McpError(SdkErrorCode.ConnectionClosed, 'the upstream closed the stream before answering')); });
    });
  }

  /** Tells the upstream we gave up on `id` (best effort). */
  private cancelled(id: string, opts: HttpCallOptions): void {
    this.pool.request({
      path: this.path, method: 'POST', headers: this.headersFor(opts),
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'cancelled by the client' } }),
    }).then((r) => r.body.dump(), () => {});
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
