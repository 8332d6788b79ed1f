// The benchmark's clients: the SDK's Client (Streamable HTTP and legacy SSE,
// as users run it) and a raw HTTP path on node:http with keep-alive sockets
// (the throughput ceiling: no schema validation, no per-call objects beyond
// the request itself).
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
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

  private constructor(private readonly http: RawHttp, private readonly url: URL, private readonly accept: string) {}

  static async open(http: RawHttp, url: string, accept = ACCEPT_BOTH): Promise<RawSession> {
    const s = new RawSession(http, new URL(url), accept);
    await s.initialize();
    return s;
  }

  /** initialize + notifications/initialized; the session setup a client pays once. */
  async initialize(): Promise<void> {
    const base = { 'content-type': 'application/json', accept: ACCEPT_BOTH };
    const init = await this.http.send('POST', this.url, base, JSON.stringify({
      jsonrpc: '2.0', id: 0, method: 'initialize',
      params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcpgw-bench', version: '1' } },
    }));
    if (init.status !== 200 || !init.body.includes('"result"')) throw new Error(`initialize: HTTP ${init.status}: ${init.body.slice(0, 200)}`);
    const sid = init.headers['mcp-session-id'];
    if (typeof sid !== 'string') throw new Error('initialize: no Mcp-Session-Id');
    this.headers = { 'content-type': 'application/json', accept: this.accept, 'mcp-session-id': sid, 'mcp-protocol-version': PROTOCOL_VERSION };
    const ack = await this.http.send('POST', this.url, this.headers, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
    if (ack.status !== 202) throw new Error(`notifications/initialized: HTTP ${ack.status}`);
  }

  get sessionId(): string {
    return this.headers['mcp-session-id']!;
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
    await this.http.send('DELETE', this.url, this.headers).catch(() => undefined);
  }
}

/** The gateway's REST endpoints: POST {base}/mcp/tools/call, GET {base}/mcp/tools/list. */
export class RestCaller implements Caller {
  private readonly callUrl: URL;
  private readonly listUrl: URL;

  constructor(private readonly http: RawHttp, edgeUrl: string) {
    this.callUrl = new URL('/mcp/tools/call', edgeUrl);
    this.listUrl = new URL('/mcp/tools/list', edgeUrl);
  }

  async call({ tool, argsJson }: CallSpec): Promise<void> {
    const r = await this.http.send('POST', this.callUrl, { 'content-type': 'application/json' }, `{"name":${JSON.stringify(tool)},"arguments":${argsJson}}`);
    if (r.status !== 200) throw new Error(`REST HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    if (r.body.includes('"isError":true')) throw new Error(`tool error: ${r.body.slice(0, 200)}`);
  }

  async list(): Promise<number> {
    const r = await this.http.send('GET', this.listUrl, {});
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
export async function connectSdk(url: string, transport: SdkTransport, sseOnly = false): Promise<{ client: Client; transport: StreamableHTTPClientTransport | SSEClientTransport }> {
  const client = new Client({ name: 'mcpgw-bench', version: '1.0.0' });
  const fetchSseOnly = (input: string | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    if (headers.get('accept')?.includes('application/json')) headers.set('accept', 'text/event-stream');
    return fetch(input, { ...init, headers });
  };
  const t = transport === 'http'
    ? new StreamableHTTPClientTransport(new URL(url), sseOnly ? { fetch: fetchSseOnly } : undefined)
    : new SSEClientTransport(new URL(url));
  await client.connect(t);
  return { client, transport: t };
}

export class SdkCaller implements Caller {
  private constructor(readonly client: Client, private readonly transport: StreamableHTTPClientTransport | SSEClientTransport) {}

  static async open(url: string, transport: SdkTransport, sseOnly = false): Promise<SdkCaller> {
    const c = await connectSdk(url, transport, sseOnly);
    return new SdkCaller(c.client, c.transport);
  }

  async call({ tool, args, progressSteps }: CallSpec): Promise<void> {
    let seen = 0;
    const result = await this.client.callTool({ name: tool, arguments: args }, undefined, progressSteps > 0 ? { onprogress: () => { seen++; } } : undefined);
    if (result.isError) throw new Error(`tool error: ${JSON.stringify(result.content).slice(0, 200)}`);
    if (seen !== progressSteps) throw new Error(`saw ${seen} of ${progressSteps} progress notifications`);
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
