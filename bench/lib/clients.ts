// The benchmark's clients: the SDK's Client (Streamable HTTP and legacy SSE,
// as users run it) and a raw HTTP path on node:http with keep-alive sockets
// (the throughput ceiling: no schema validation, no per-call objects beyond
// the request itself).
import { Agent, request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

export const PROTOCOL_VERSION = '2025-11-25';
const ACCEPT_BOTH = 'application/json, text/event-stream';

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A keep-alive HTTP client; one agent (socket pool) per instance. */
export class RawHttp {
  readonly agent: Agent;

  constructor(maxSockets = 256) {
    this.agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' });
  }

  send(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const h: Record<string, string | number> = { ...headers };
      if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
      const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: h, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
        }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** How a call is checked: a JSON-RPC result that is not a tool error, with every progress step seen. */
function checkResult(r: HttpResponse, progressSteps: number): void {
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  if (!r.body.includes('"result"')) throw new Error(`no result: ${r.body.slice(0, 200)}`);
  if (r.body.includes('"isError":true')) throw new Error(`tool error: ${r.body.slice(0, 200)}`);
  if (progressSteps > 0) {
    let seen = 0;
    for (let i = r.body.indexOf('notifications/progress'); i >= 0; i = r.body.indexOf('notifications/progress', i + 1)) seen++;
    if (seen !== progressSteps) throw new Error(`saw ${seen} of ${progressSteps} progress notifications`);
  }
}

/** One tools/call: the tool's name as the caller sees it, its arguments (as an object and as JSON text), and the progress steps expected (0: no progress asked). */
export interface CallSpec {
  tool: string;
  args: Record<string, unknown>;
  argsJson: string;
  progressSteps: number;
}

export interface Caller {
  call(spec: CallSpec): Promise<void>;
  /** One tools/list; returns the response body size in bytes. */
  list?(): Promise<number>;
  close(): Promise<void>;
}

/** A raw Streamable HTTP session: initialize, notifications/initialized, then POSTs. */
export class RawSession implements Caller {
  private id = 1;
  private headers: Record<string, string> = {};

  private constructor(private readonly http: RawHttp, private readonly url: URL, private readonly accept: string, private readonly extra: Record<string, string>) {}

  /**
   * `extra`: headers sent on every request (a gateway's key or token).
   * `sessionless`: the server may answer initialize without Mcp-Session-Id
   * (stateless Streamable HTTP, as some peer gateways run it).
   */
  static async open(http: RawHttp, url: string, accept = ACCEPT_BOTH, extra: Record<string, string> = {}, sessionless = false): Promise<RawSession> {
    const s = new RawSession(http, new URL(url), accept, extra);
    await s.initialize(sessionless);
    return s;
  }

  /** initialize + notifications/initialized; the session setup a client pays once. */
  async initialize(sessionless = false): Promise<void> {
    const base = { ...this.extra, 'content-type': 'application/json', accept: ACCEPT_BOTH };
    const init = await this.http.send('POST', this.url, base, JSON.stringify({
      jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcpgw-bench', version: '1' } },
    }));
    if (init.status !== 200 || !init.body.includes('"result"')) throw new Error(`initialize: HTTP ${init.status}: ${init.body.slice(0, 200)}`);
    const sid = init.headers['mcp-session-id'];
    if (typeof sid !== 'string' && !sessionless) throw new Error('initialize: no Mcp-Session-Id');
    const version = /"protocolVersion":"([^"]+)"/.exec(init.body)?.[1] ?? PROTOCOL_VERSION;
    this.headers = { ...this.extra, 'content-type': 'application/json', accept: this.accept, 'mcp-protocol-version': version };
    if (typeof sid === 'string') this.headers['mcp-session-id'] = sid;
    const ack = await this.http.send('POST', this.url, this.headers, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
    if (ack.status !== 202 && !(sessionless && ack.status === 200)) throw new Error(`notifications/initialized: HTTP ${ack.status}: ${ack.body.slice(0, 200)}`);
  }

  get sessionId(): string {
    return this.headers['mcp-session-id']!;
  }

  /** Every tool name of one tools/list (a single page). */
  async toolNames(): Promise<string[]> {
    const r = await this.http.send('POST', this.url, this.headers, `{"jsonrpc":"2.0","id":${this.id++},"method":"tools/list"}`);
    if (r.status !== 200) throw new Error(`tools/list: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    const at = r.body.indexOf('{"jsonrpc"');
    const body = at > 0 ? r.body.slice(at, r.body.indexOf('\n', at) < 0 ? undefined : r.body.indexOf('\n', at)) : r.body;
    const msg = JSON.parse(body) as { result?: { tools?: { name: string }[] }; error?: unknown };
    if (!msg.result?.tools) throw new Error(`tools/list: ${body.slice(0, 200)}`);
    return msg.result.tools.map((t) => t.name);
  }

  async call({ tool, argsJson, progressSteps }: CallSpec): Promise<void> {
    const id = this.id++;
    const meta = progressSteps > 0 ? `,"_meta":{"progressToken":${id}}` : '';
    const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":${argsJson}${meta}}}`;
    checkResult(await this.http.send('POST', this.url, this.headers, body), progressSteps);
  }

  async list(): Promise<number> {
    const r = await this.http.send('POST', this.url, this.headers, `{"jsonrpc":"2.0","id":${this.id++},"method":"tools/list"}`);
    if (r.status !== 200 || !r.body.includes('"tools"')) throw new Error(`tools/list: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    return Buffer.byteLength(r.body);
  }

  async close(): Promise<void> {
    if (this.headers['mcp-session-id']) await this.http.send('DELETE', this.url, this.headers).catch(() => undefined);
  }
}

interface Pending { resolve: () => void; reject: (err: Error) => void; progress: number; steps: number }

/**
 * A raw legacy HTTP+SSE session: GET opens the stream and names the POST
 * URL (`event: endpoint`); every answer comes back on the stream.
 */
export class RawLegacySession implements Caller {
  private id = 1;
  private postUrl!: URL;
  private buf = '';
  private readonly pending = new Map<number, Pending>();
  private req?: ClientRequest;
  private readonly headers: Record<string, string>;

  private constructor(private readonly http: RawHttp, private readonly extra: Record<string, string>) {
    this.headers = { ...extra, 'content-type': 'application/json' };
  }

  static async open(http: RawHttp, sseUrl: string, extra: Record<string, string> = {}): Promise<RawLegacySession> {
    const s = new RawLegacySession(http, extra);
    await s.connect(new URL(sseUrl));
    const init = s.wait(0, 0);
    await s.post(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'mcpgw-bench', version: '1' } } }));
    await init;
    await s.post('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    return s;
  }

  private connect(url: URL): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'GET', agent: false, headers: { ...this.extra, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`GET ${url.pathname}: HTTP ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          this.buf += chunk;
          let end;
          while ((end = this.buf.indexOf('\n\n')) >= 0) {
            const event = this.buf.slice(0, end);
            this.buf = this.buf.slice(end + 2);
            if (!this.postUrl && event.includes('event: endpoint')) {
              this.postUrl = new URL(event.slice(event.indexOf('data: ') + 6).trim(), url);
              resolve();
            } else {
              this.onEvent(event);
            }
          }
        });
        res.on('close', () => this.failAll(new Error('SSE stream closed')));
      });
      this.req = req;
      req.on('error', (err) => {
        reject(err);
        this.failAll(err);
      });
      req.end();
    });
  }

  private onEvent(event: string): void {
    const at = event.indexOf('data: ');
    if (at < 0) return;
    const msg = JSON.parse(event.slice(at + 6)) as { id?: number; method?: string; params?: { progressToken?: number }; result?: { isError?: boolean }; error?: unknown };
    if (msg.method === 'notifications/progress') {
      const p = this.pending.get(Number(msg.params?.progressToken));
      if (p) p.progress++;
      return;
    }
    if (msg.id === undefined) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error || !msg.result) p.reject(new Error(`error: ${JSON.stringify(msg.error).slice(0, 200)}`));
    else if (msg.result.isError) p.reject(new Error('tool error'));
    else if (p.progress !== p.steps) p.reject(new Error(`saw ${p.progress} of ${p.steps} progress notifications`));
    else p.resolve();
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private wait(id: number, steps: number): Promise<void> {
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, progress: 0, steps }));
  }

  private async post(body: string): Promise<void> {
    const r = await this.http.send('POST', this.postUrl, this.headers, body);
    if (r.status !== 202) throw new Error(`POST message: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
  }

  async call({ tool, argsJson, progressSteps }: CallSpec): Promise<void> {
    const id = this.id++;
    const meta = progressSteps > 0 ? `,"_meta":{"progressToken":${id}}` : '';
    const answered = this.wait(id, progressSteps);
    try {
      await this.post(`{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":${JSON.stringify(tool)},"arguments":${argsJson}${meta}}}`);
    } catch (err) {
      this.pending.delete(id);
      throw err;
    }
    await answered;
  }

  async list(): Promise<number> {
    const id = this.id++;
    const answered = this.wait(id, 0);
    await this.post(`{"jsonrpc":"2.0","id":${id},"method":"tools/list"}`);
    await answered;
    return 0;
  }

  async close(): Promise<void> {
    this.req?.destroy();
  }
}

/** The gateway's REST endpoints: POST {base}/mcp/tools/call, GET {base}/mcp/tools/list. */
export class RestCaller implements Caller {
  private readonly callUrl: URL;
  private readonly listUrl: URL;

  constructor(private readonly http: RawHttp, edgeUrl: string, private readonly extra: Record<string, string> = {}) {
    this.callUrl = new URL('/mcp/tools/call', edgeUrl);
    this.listUrl = new URL('/mcp/tools/list', edgeUrl);
  }

  async call({ tool, argsJson }: CallSpec): Promise<void> {
    const r = await this.http.send('POST', this.callUrl, { ...this.extra, 'content-type': 'application/json' }, `{"name":${JSON.stringify(tool)},"arguments":${argsJson}}`);
    if (r.status !== 200) throw new Error(`REST HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    if (r.body.includes('"isError":true')) throw new Error(`tool error: ${r.body.slice(0, 200)}`);
  }

  async list(): Promise<number> {
    const r = await this.http.send('GET', this.listUrl, this.extra);
    if (r.status !== 200) throw new Error(`REST list HTTP ${r.status}`);
    return Buffer.byteLength(r.body);
  }

  async close(): Promise<void> {}
}

export type SdkTransport = 'http' | 'sse';

/**
 * The SDK's Client. `sseOnly` makes a Streamable HTTP client accept only
 * text/event-stream on POSTs, so a gateway answers in the same (SSE) mode as
 * an upstream that always streams.
 */
export async function connectSdk(url: string, transport: SdkTransport, sseOnly = false, headers: Record<string, string> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport | SSEClientTransport }> {
  const client = new Client({ name: 'mcpgw-bench', version: '1.0.0' });
  const fetchSseOnly = (input: string | URL, init?: RequestInit) => {
    const h = new Headers(init?.headers);
    if (h.get('accept')?.includes('application/json')) h.set('accept', 'text/event-stream');
    return fetch(input, { ...init, headers: h });
  };
  const auth = Object.keys(headers).length > 0;
  const t = transport === 'http'
    ? new StreamableHTTPClientTransport(new URL(url), sseOnly || auth ? { ...(sseOnly ? { fetch: fetchSseOnly } : {}), ...(auth ? { requestInit: { headers } } : {}) } : undefined)
    : new SSEClientTransport(new URL(url), auth ? { requestInit: { headers } } : undefined);
  await client.connect(t);
  return { client, transport: t };
}

export class SdkCaller implements Caller {
  /**
   * Calls over legacy SSE whose client saw fewer progress notifications than
   * were sent. The SDK runs notification handlers a microtask late, so when
   * the last progress events and the result arrive in one chunk (a fast tool)
   * the result removes the progress handler first; that is the client's
   * doing, so it is counted here rather than failing the call.
   */
  static legacyProgressShort = 0;

  private constructor(readonly client: Client, private readonly transport: StreamableHTTPClientTransport | SSEClientTransport) {}

  static async open(url: string, transport: SdkTransport, sseOnly = false, headers: Record<string, string> = {}): Promise<SdkCaller> {
    const c = await connectSdk(url, transport, sseOnly, headers);
    return new SdkCaller(c.client, c.transport);
  }

  async call({ tool, args, progressSteps }: CallSpec): Promise<void> {
    let seen = 0;
    const result = await this.client.callTool({ name: tool, arguments: args }, undefined, progressSteps > 0 ? { onprogress: () => { seen++; } } : undefined);
    if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content).slice(0, 200)}`);
    if (seen !== progressSteps) {
      if (this.transport instanceof SSEClientTransport && seen < progressSteps) SdkCaller.legacyProgressShort++;
      else throw new Error(`saw ${seen} of ${progressSteps} progress notifications`);
    }
  }

  async list(): Promise<number> {
    const r = await this.client.listTools();
    return r.tools.length;
  }

  async close(): Promise<void> {
    if (this.transport instanceof StreamableHTTPClientTransport) await this.transport.terminateSession().catch(() => undefined);
    await this.client.close().catch(() => undefined);
  }
}
