// One upstream MCP server: one long-lived SDK client, reconnected with capped
// backoff when it drops or stops answering pings. Calls never re-initialize
// (except once, transparently, when a shared HTTP session expired) and never
// list first. A breaker and a concurrency limit keep one bad upstream from
// tying up the registry.
import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { HttpCaller, MODERN_VERSION, SessionExpiredError, type ModernCaller, type ModernEnvelope } from './http-call.js';
import { StdioCaller } from './stdio-call.js';
import { StdioUpstreamTransport } from './stdio.js';
import { mcpParamHeaders, paramHeadersOf, type ParamHeader } from './param-headers.js';
import { traceContext } from './trace-context.js';
import {
  McpError,
  ErrorCode as SdkErrorCode,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ProgressNotificationSchema,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { backoffDelay } from '@mcpgw/common/backoff';
import { ErrorCode, upstreamError, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { ServerConfig } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import { BrokenCircuitError, BulkheadRejectedError, CircuitState, ConsecutiveBreaker, bulkhead, circuitBreaker, handleWhen, type BulkheadPolicy, type CircuitBreakerPolicy } from 'cockatiel';
import type { ClientPeer } from './client-peer.js';
import { ClientCredentials, type TokenSource } from './oauth2.js';
import { createTransport } from './transports.js';
import { ClientRedactor, configSecrets, describeError, type Redactor } from '@mcpgw/common/redact';
import { LocalCallFailure, sdkLocalFailure } from './call-failure.js';

/** Upstream results pass through untouched: their shape is the upstream's business. */
const PassthroughResult = z.looseObject({});

export type UpstreamState = 'connecting' | 'up' | 'down';

export interface CatalogContents {
  name: string;
  hash: string;
  tools: unknown[];
  resources: unknown[];
  resourceTemplates: unknown[];
  prompts: unknown[];
  description: string;
  serverInfo: unknown;
  perClient: boolean;
  /** `auth_type: client_header`: the request header the edge passes on for this server ('' = none). */
  credentialHeader: string;
  /** `auth_type: token_exchange`: what the edge needs to exchange the caller's JWT (no secret), as JSON; '' = none. */
  tokenExchange: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** W3C trace context for HTTP upstreams. */
  traceparent?: string;
  timeoutMs?: number;
  onProgress?: (p: Progress) => void;
  /**
   * Asks the call's client a server-to-client request (it becomes one on the
   * client's stream). With it, a 2026-07-28 upstream's InputRequiredResult is
   * answered for a 2025-era client and the call retried (reverse MRTR, issue 22).
   */
  ask?: (method: string, params: unknown, signal: AbortSignal) => Promise<Record<string, unknown>>;
  /** The client's capabilities (its session's), declared in a modern upstream request's `_meta` so the upstream knows what it may ask. */
  clientCapabilities?: Record<string, unknown>;
}

export interface UpstreamEvents {
  contents(c: CatalogContents): void;
  /** A notification of a shared upstream that concerns client sessions (resources/updated). */
  notification(message: Record<string, unknown>): void;
  state(u: Upstream): void;
  breaker(u: Upstream, s: CircuitState): void;
}

/** A failed upstream request, already shaped as the JSON-RPC error the client gets. */
export class UpstreamCallError extends Error {
  constructor(readonly error: JsonRpcError, readonly connectionFailure = false) {
    super(error.message);
  }
}

const CLIENT_INFO = { name: 'mcpgw', version: '0.1.0' };
const BREAKER_FAILURES = 5;
const BREAKER_HALF_OPEN_MS = 15_000;
const LIST_TIMEOUT_MS = 30_000;
const MAX_PAGES = 100;
const PING_INTERVAL_MS = Number(process.env.MCPGW_PING_INTERVAL_MS ?? 30_000);
const PING_TIMEOUT_MS = 10_000;
/** Lists are re-read this often even without list_changed: a safety net. */
const REFRESH_INTERVAL_MS = Number(process.env.MCPGW_REFRESH_INTERVAL_MS ?? 300_000);

export class Upstream {
  state: UpstreamState = 'connecting';
  lastError = '';
  lastSeenMs = 0;
  lastLatencyMs = 0;
  toolCount = 0;
  /**
   * Opens after consecutive connection failures (refused, closed before an
   * answer, not connected), never after tool errors, timeouts or calls cut in
   * flight; one probe when half-open; replaced by a closed one on reconnect.
   */
  breaker: CircuitBreakerPolicy;
  /** Masks this server's configured secrets (and token-looking text) in error texts and logs. */
  /** Error and log text of this upstream, secrets and credential shapes masked. */
  readonly redact: Redactor;
  /** What of this upstream reaches a client: results, errors, notifications (see ClientRedactor). */
  readonly forClient: ClientRedactor;
  /** max_concurrency requests at once, as many queued; past that, a "busy" error at once. */
  private readonly bulkhead: BulkheadPolicy;
  private client?: Client;
  private stopped = false;
  private reconnectAttempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private readonly timers: NodeJS.Timeout[] = [];
  private refreshing?: Promise<void>;
  private refreshAgain = false;
  private reconnecting?: Promise<void>;
  /** Shared Streamable HTTP upstreams: calls go through the lean caller on the SDK client's session. */
  private caller?: HttpCaller;
  private httpTransport?: StreamableHTTPClientTransport;
  /** Progress listeners by our own progress token (see connect()). */
  private readonly progressListeners = new Map<string, (p: Progress) => void>();
  private nextToken = 0;
  private lastReinitMs = 0;
  /**
   * Set while the upstream speaks 2026-07-28 (found by `server/discover`): no SDK
   * client, no session; every request is a stateless POST through the lean caller.
   */
  private modern?: { caller: ModernCaller; envelope: ModernEnvelope; capabilities: Record<string, unknown>; serverInfo: unknown; instructions?: string };
  /** A modern upstream's `x-mcp-header` tool parameters, mirrored as `Mcp-Param-*` headers on its calls. */
  private paramHeaders = new Map<string, ParamHeader[]>();
  /** A stdio upstream found modern-only (it refused `initialize`): later connects go modern at once. */
  private stdioModern = false;

  /** `auth_type: oauth2`, or one user's own tokens: one token source per upstream, shared by its SDK transport and the lean caller. */
  private readonly oauth?: TokenSource;

  /**
   * `peer`: this is one client session's own upstream session (`per_client`);
   * its server-to-client requests and notifications go to that client. Such an
   * upstream does not feed the catalog (the shared instance does).
   */
  constructor(readonly config: ServerConfig, private readonly log: Logger, private readonly events: UpstreamEvents, readonly peer?: ClientPeer, auth?: TokenSource) {
    this.oauth = auth ?? (config.oauth2 ? new ClientCredentials(config.oauth2, config.name) : undefined);
    this.forClient = new ClientRedactor(configSecrets(config));
    this.redact = (text) => this.forClient.text(text);
    this.breaker = this.newBreaker();
    this.bulkhead = bulkhead(config.maxConcurrency, config.maxConcurrency);
  }

  private newBreaker(): CircuitBreakerPolicy {
    const breaker = circuitBreaker(handleWhen((err) => err instanceof UpstreamCallError && err.connectionFailure), {
      halfOpenAfter: BREAKER_HALF_OPEN_MS,
      breaker: new ConsecutiveBreaker(BREAKER_FAILURES),
    });
    breaker.onStateChange((s) => { if (this.breaker === breaker) this.events.breaker(this, s); });
    return breaker;
  }

  /** Resolves once connected; rejects after `timeoutMs` with the last error. */
  async whenUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.state !== 'up') {
      if (this.stopped) throw new Error('stopped');
      if (Date.now() > deadline) throw new Error(`not connected after ${timeoutMs} ms${this.lastError ? ` (${this.lastError})` : ''}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  start(): void {
    void this.connect();
    const ping = setInterval(() => void this.ping(), PING_INTERVAL_MS);
    const refresh = setInterval(() => this.state === 'up' && this.refresh(), REFRESH_INTERVAL_MS);
    for (const t of [ping, refresh]) t.unref();
    this.timers.push(ping, refresh);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const t of this.timers) clearInterval(t);
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => {});
    await this.caller?.close().catch(() => {});
    if (this.modern && this.modern.caller !== this.caller) await this.modern.caller.close().catch(() => {});
  }

  async request(method: string, params: Record<string, unknown> | undefined, opts: CallOptions = {}): Promise<Record<string, unknown>> {
    const name = this.config.name;
    try {
      return await this.bulkhead.execute(() => this.breaker.execute(() => this.attempt(method, params, opts)));
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, name, `failing; circuit open after ${BREAKER_FAILURES} failures in a row${this.lastError ? ` (${this.lastError})` : ''}`));
      }
      if (err instanceof BulkheadRejectedError) {
        throw new UpstreamCallError(upstreamError(ErrorCode.Overloaded, name, `busy: ${this.config.maxConcurrency} requests in flight and as many queued (max_concurrency)`));
      }
      throw err;
    }
  }

  /** One request; a shared HTTP upstream that forgot our session is re-initialized once. */
  private async attempt(method: string, params: Record<string, unknown> | undefined, opts: CallOptions): Promise<Record<string, unknown>> {
    try {
      return await this.send(method, params, opts).catch(async (err: unknown) => {
        if (!isExpiredSession(err) || opts.signal?.aborted) throw err;
        this.log.info({ server: this.config.name }, 'upstream session expired; re-initializing');
        await this.reconnectNow();
        return this.send(method, params, opts);
      });
    } catch (err) {
      const callErr = err instanceof UpstreamCallError ? err : this.toCallError(err, this.timeoutFor(opts));
      // A modern upstream holds no connection whose close would tell us it went away: a failed call probes it now.
      if (this.modern && callErr.connectionFailure && this.state === 'up') void this.ping();
      throw callErr;
    }
  }

  /** The request's own timeout when it set one (the edge caps it), else the server's `timeout_ms`. */
  private timeoutFor(opts: CallOptions): number {
    return opts.timeoutMs || this.config.timeoutMs;
  }

  private async send(method: string, params: Record<string, unknown> | undefined, opts: CallOptions): Promise<Record<string, unknown>> {
    const modern = this.modern;
    if (modern) {
      if (this.state !== 'up') throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, this.config.name, `not connected${this.lastError ? ` (${this.lastError})` : ''}`), true);
      const started = performance.now();
      const tool = method === 'tools/call' ? this.paramHeaders.get(String(params?.name)) : undefined;
      let envelope = opts.ask && opts.clientCapabilities ? { ...modern.envelope, capabilities: clientCapabilities(opts.clientCapabilities) } : modern.envelope;
      // A forwarded task's requests declare the tasks extension (the registry's task runner marks them).
      const meta = params?._meta as Record<string, unknown> | undefined;
      if (meta && TASKS_MARK in meta) {
        const { [TASKS_MARK]: _mark, ...rest } = meta;
        params = { ...params, _meta: rest };
        envelope = { ...envelope, capabilities: { ...envelope.capabilities, extensions: { 'io.modelcontextprotocol/tasks': {} } } };
      }
      const call = (p: Record<string, unknown> | undefined) => modern.caller.request(method, p, {
        modern: envelope, signal: opts.signal, timeoutMs: this.timeoutFor(opts), onProgress: opts.onProgress, traceparent: opts.traceparent,
        extraHeaders: tool ? mcpParamHeaders(tool, p?.arguments) : undefined,
      });
      let result = await call(params);
      // Reverse MRTR: the upstream's input requests go to the client as real requests; the call is retried with the answers.
      for (let round = 0; opts.ask && result.resultType === 'input_required' && round < MAX_INPUT_ROUNDS; round++) {
        result = await call(await answerInputRequests(result, params, opts.ask, opts.signal));
      }
      this.lastSeenMs = Date.now();
      this.lastLatencyMs = performance.now() - started;
      return result;
    }
    const client = this.client;
    if (!client || this.state !== 'up') {
      throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, this.config.name, `not connected${this.lastError ? ` (${this.lastError})` : ''}`), true);
    }
    if (this.caller && this.httpTransport) {
      const started = performance.now();
      const result = await this.caller.request(method, params, {
        sessionId: this.httpTransport.sessionId, protocolVersion: this.httpTransport.protocolVersion,
        signal: opts.signal, timeoutMs: this.timeoutFor(opts), onProgress: opts.onProgress, traceparent: opts.traceparent,
      });
      this.lastSeenMs = Date.now();
      this.lastLatencyMs = performance.now() - started;
      return result;
    }
    let token: string | undefined;
    if (opts.onProgress) {
      token = `mcpgw-${++this.nextToken}`;
      this.progressListeners.set(token, opts.onProgress);
      params = { ...params, _meta: { ...(params?._meta as Record<string, unknown> | undefined), progressToken: token } };
    }
    const started = performance.now();
    try {
      const timeout = this.timeoutFor(opts);
      const call = () => client.request({ method, params } as never, PassthroughResult, { signal: opts.signal, timeout });
      // The SDK's transports take fixed headers; their fetch reads the trace context from async-local storage
      // (entered only when there is one: it switches on async hooks).
      const result = await (opts.traceparent && this.config.transport !== 'stdio' ? traceContext.run(opts.traceparent, call) : call())
        .catch((err: unknown) => { throw sdkLocalFailure(err, performance.now() - started, timeout, client.transport !== undefined) ?? err; });
      this.lastSeenMs = Date.now();
      this.lastLatencyMs = performance.now() - started;
      return result;
    } finally {
      if (token) this.progressListeners.delete(token);
    }
  }

  private toCallError(err: unknown, timeout: number): UpstreamCallError {
    const name = this.config.name;
    // A slow tool or a connection cut while a call was in flight says nothing about reaching the upstream: not a breaker failure.
    if (err instanceof LocalCallFailure) {
      return new UpstreamCallError(err.kind === 'timeout'
        ? upstreamError(ErrorCode.RequestTimeout, name, `timed out after ${timeout} ms`)
        : upstreamError(ErrorCode.UpstreamUnavailable, name, 'connection closed during the request'));
    }
    if (err instanceof McpError) {
      // The upstream's own JSON-RPC error (whatever its code): code, message and data pass through (secrets masked).
      return new UpstreamCallError({ code: err.code, message: this.redact(err.message.replace(/^MCP error -?\d+: /, '')), data: this.forClient.value(err.data) });
    }
    if (err instanceof Error && err.name === 'AbortError') return new UpstreamCallError(upstreamError(ErrorCode.Cancelled, name, 'cancelled'));
    // An HTTP error status means the upstream was reached and answered: its problem, not a connection failure.
    if (err instanceof StreamableHTTPError || (err instanceof Error && /^HTTP \d{3}\b/.test(err.message))) {
      return new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, name, describeError(err, this.redact)));
    }
    if (err instanceof Error && err.name === 'TimeoutError') return new UpstreamCallError(upstreamError(ErrorCode.RequestTimeout, name, `timed out after ${timeout} ms`));
    return new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, name, describeError(err, this.redact)), true);
  }


  /** Replaces the client now (shared by the 404 path and failed pings). */
  private reconnectNow(): Promise<void> {
    this.reconnecting ??= (async () => {
      const old = this.client;
      this.client = undefined;
      await old?.close().catch(() => {});
      clearTimeout(this.retryTimer);
      await this.connect();
    })().finally(() => { this.reconnecting = undefined; });
    return this.reconnecting;
  }

  private async ping(): Promise<void> {
    if (this.modern) return this.probeModern();
    const client = this.client;
    if (!client || this.state !== 'up' || this.reconnecting) return;
    try {
      await client.ping({ timeout: PING_TIMEOUT_MS });
      this.lastSeenMs = Date.now();
    } catch (err) {
      if (this.client !== client) return;
      this.lastError = `ping failed: ${describeError(err, this.redact)}`;
      this.log.warn({ server: this.config.name, err: this.lastError }, 'upstream ping failed; reconnecting');
      await this.reconnectNow();
    }
  }

  /**
   * 2026-07-28 has no `ping`: the health probe of a modern upstream is
   * `server/discover` (cheap, and every modern server must implement it).
   */
  private async probeModern(): Promise<void> {
    const modern = this.modern;
    if (!modern || this.state !== 'up' || this.reconnecting) return;
    try {
      await modern.caller.request('server/discover', {}, { modern: modern.envelope, timeoutMs: PING_TIMEOUT_MS });
      this.lastSeenMs = Date.now();
    } catch (err) {
      if (this.modern !== modern) return;
      this.lastError = `health probe (server/discover) failed: ${describeError(err, this.redact)}`;
      this.log.warn({ server: this.config.name, err: this.lastError }, 'upstream health probe failed; reconnecting');
      await this.reconnectNow();
    }
  }

  /**
   * The era question, asked of Streamable HTTP upstreams unless `protocol: 2025`:
   * `server/discover` first. 'modern' when it offers 2026-07-28; 'legacy' when
   * the answer is not a modern one (a 2025 server rejects the session-less
   * POST or does not know the method), so `initialize` follows; a string is
   * the reason to fail this attempt (unreachable, or modern without our version).
   */
  private async discover(caller: ModernCaller, forced: boolean): Promise<'modern' | 'legacy' | { fail: string }> {
    const envelope: ModernEnvelope = { version: MODERN_VERSION, clientInfo: CLIENT_INFO, capabilities: this.peer ? clientCapabilities(this.peer.capabilities) : {} };
    let result: Record<string, unknown>;
    try {
      result = await caller.request('server/discover', {}, { modern: envelope, timeoutMs: LIST_TIMEOUT_MS });
    } catch (err) {
      const reason = describeError(err, this.redact);
      if (err instanceof McpError && MODERN_ERRORS.has(err.code)) {
        const supported = (err.data as { supported?: unknown } | undefined)?.supported;
        return { fail: `server/discover: the upstream speaks a modern MCP without ${MODERN_VERSION}${Array.isArray(supported) ? ` (it supports ${supported.join(', ')})` : ''}: ${reason}` };
      }
      // Reached and answered, but not as a modern server: a 2025-era upstream.
      const answered = err instanceof McpError || (err instanceof Error && /^HTTP \d{3}\b/.test(err.message));
      if (answered && !forced) return 'legacy';
      return { fail: `server/discover failed${forced ? ' (protocol: 2026)' : ''}: ${reason}` };
    }
    const versions = Array.isArray(result.supportedVersions) ? result.supportedVersions.map(String) : [];
    if (!versions.includes(MODERN_VERSION)) {
      if (!forced && versions.length === 0) return 'legacy';
      return { fail: `server/discover: the upstream supports ${versions.join(', ') || 'no listed version'}, not ${MODERN_VERSION}` };
    }
    const meta = (result._meta ?? {}) as Record<string, unknown>;
    this.modern = {
      caller,
      envelope,
      capabilities: (result.capabilities ?? {}) as Record<string, unknown>,
      serverInfo: meta['io.modelcontextprotocol/serverInfo'] ?? result.serverInfo,
      instructions: typeof result.instructions === 'string' ? result.instructions : undefined,
    };
    return 'modern';
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    const previous = this.modern;
    this.modern = undefined;
    if (previous && previous.caller !== this.caller) await previous.caller.close().catch(() => {});
    if (this.config.transport === 'http' && this.config.protocol !== '2025') {
      this.caller ??= new HttpCaller(new URL(this.config.url!), this.config.headers, this.oauth);
      const era = await this.discover(this.caller, this.config.protocol === '2026');
      if (this.stopped) return;
      if (typeof era === 'object') return this.fail(era.fail);
      if (era === 'modern') return this.connected(MODERN_VERSION);
    }
    if (this.config.transport === 'stdio' && (this.config.protocol === '2026' || this.stdioModern)) return this.connectStdioModern();
    const transport = createTransport(this.config, (line) => this.log.info({ server: this.config.name, stderr: this.redact(line) }, 'upstream stderr'), this.oauth);
    const client = new Client(CLIENT_INFO, { capabilities: this.peer ? clientCapabilities(this.peer.capabilities) : {} });
    client.onerror = (err) => this.log.debug({ server: this.config.name, err: err.message }, 'upstream transport error');
    if (this.peer) this.wirePeer(client, this.peer);
    else {
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.refresh());
      client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.refresh());
      client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.refresh());
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => this.events.notification(n));
    }
    // Our own progress routing: the SDK drops a progress notification that arrives
    // in the same read as its response (it forgets the request's handler first).
    // Ours forgets the listener only after the response is handled, so the last
    // progress event still goes out, and before the result.
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      const { progressToken, ...values } = n.params;
      this.progressListeners.get(String(progressToken))?.(values);
    });
    try {
      await client.connect(transport, { timeout: LIST_TIMEOUT_MS });
    } catch (err) {
      // A refusal is the server's JSON-RPC answer; the SDK's own timeout and closed connection use these two codes
      // (the SDK closes the client on any connect failure, so the transport cannot tell them apart here).
      const refused = err instanceof McpError && err.code !== SdkErrorCode.RequestTimeout && err.code !== SdkErrorCode.ConnectionClosed;
      await client.close().catch(() => {});
      // A stdio server that answers `initialize` with a JSON-RPC error may be modern-only (the 2026 spec has it reject
      // initialize): ask it server/discover on a fresh process. 2025-era servers never see the probe.
      if (this.config.transport === 'stdio' && this.config.protocol !== '2025' && refused) {
        this.log.info({ server: this.config.name, err: describeError(err, this.redact) }, 'stdio upstream refused initialize; probing server/discover');
        return this.connectStdioModern(`initialize refused (${describeError(err, this.redact)})`);
      }
      this.fail(`connect failed: ${describeError(err, this.redact)}`);
      return;
    }
    if (this.stopped) {
      await client.close().catch(() => {});
      return;
    }
    // Registered after connect so a failed connect does not schedule twice.
    client.onclose = () => {
      if (this.client === client) {
        this.client = undefined;
        this.fail('connection closed');
      }
    };
    this.client = client;
    if (transport instanceof StreamableHTTPClientTransport && !this.peer) {
      this.httpTransport = transport;
      this.caller ??= new HttpCaller(new URL(this.config.url!), this.config.headers, this.oauth);
    }
    this.connected(this.httpTransport?.protocolVersion);
  }

  /** A stdio upstream spoken to in 2026-07-28: its own process, `server/discover` first. */
  private async connectStdioModern(why?: string): Promise<void> {
    const transport = new StdioUpstreamTransport(this.config, (line) => this.log.info({ server: this.config.name, stderr: this.redact(line) }, 'upstream stderr'));
    const caller: StdioCaller = new StdioCaller(transport, () => {
      if (this.modern?.caller === caller) this.fail('connection closed');
    });
    try {
      await caller.start();
    } catch (err) {
      return this.fail(`connect failed: ${describeError(err, this.redact)}`);
    }
    const era = await this.discover(caller, true);
    if (this.stopped || era !== 'modern') {
      await caller.close().catch(() => {});
      if (this.stopped) return;
      this.modern = undefined;
      return this.fail(`${why ? `${why}; ` : ''}${typeof era === 'object' ? era.fail : 'not a 2026-07-28 server'}`);
    }
    this.stdioModern = true;
    this.connected(MODERN_VERSION);
  }

  /** Up (either era): the breaker closes, calls flow, the lists are read. */
  private connected(era: string | undefined): void {
    if (this.modern) this.httpTransport = undefined;
    this.reconnectAttempt = 0;
    this.lastSeenMs = Date.now();
    this.lastError = '';
    // Reaching the upstream again is the proof the breaker waits for: calls flow at once.
    if (this.breaker.state !== CircuitState.Closed) {
      this.breaker = this.newBreaker();
      this.events.breaker(this, CircuitState.Closed);
    }
    this.setState('up');
    this.log.info({ server: this.config.name, transport: this.config.transport, perClient: Boolean(this.peer), era: era ?? '2025-era' }, 'upstream connected');
    if (!this.peer) this.refresh();
  }

  /** Server-to-client requests and notifications of a per_client session go to its client's call in flight. */
  private wirePeer(client: Client, peer: ClientPeer): void {
    const caps = peer.capabilities;
    const relay = (method: string) => async (req: { params?: unknown }, extra: { signal: AbortSignal }) => {
      const call = peer.active;
      if (!call) throw new McpError(SdkErrorCode.InternalError, `mcpgw: '${method}' from '${this.config.name}' arrived while the client has no call in flight; only requests made during a call reach the client`);
      return call.request(method, req.params, extra.signal) as never;
    };
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, relay('sampling/createMessage'));
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, relay('elicitation/create'));
    if (caps.roots) client.setRequestHandler(ListRootsRequestSchema, relay('roots/list'));
    const forward = (n: Record<string, unknown>) => peer.notify(n);
    client.setNotificationHandler(LoggingMessageNotificationSchema, forward);
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, forward);
    // The client's own upstream session changed its lists: the client hears it (issue 22), on the call in
    // flight or on its session's stream. The shared catalog follows the shared connection, as before.
    client.setNotificationHandler(ToolListChangedNotificationSchema, forward);
    client.setNotificationHandler(PromptListChangedNotificationSchema, forward);
    client.setNotificationHandler(ResourceListChangedNotificationSchema, forward);
  }

  private fail(reason: string): void {
    reason = this.redact(reason);
    this.lastError = reason;
    this.setState('down');
    if (this.stopped) return;
    const delay = backoffDelay(this.reconnectAttempt++);
    this.log.warn({ server: this.config.name, reason, retryInMs: delay }, 'upstream down');
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private setState(state: UpstreamState): void {
    if (this.state === state) return;
    this.state = state;
    this.events.state(this);
  }

  /** Re-read the upstream's lists; coalesces bursts of list_changed notifications. */
  refresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = this.readContents()
      .then((c) => {
        this.toolCount = c.tools.length;
        this.events.contents(c);
      })
      .catch((err: unknown) => {
        this.log.warn({ server: this.config.name, err: describeError(err, this.redact) }, 'catalog refresh failed');
        // An HTTP upstream that forgot our session: initialize again (not more than every 5 s).
        if (isExpiredSession(err) && Date.now() - this.lastReinitMs > 5_000) {
          this.lastReinitMs = Date.now();
          void this.reconnectNow();
        }
      })
      .finally(() => {
        this.refreshing = undefined;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refresh();
        }
      });
  }

  /** The protocol revision negotiated with the upstream, where the transport records it (Streamable HTTP). */
  get protocolVersion(): string | undefined {
    if (this.state !== 'up') return undefined;
    return this.modern ? MODERN_VERSION : this.httpTransport?.protocolVersion;
  }

  private async readContents(): Promise<CatalogContents> {
    const modern = this.modern;
    const client = this.client;
    let page: (method: string, params: Record<string, unknown>) => Promise<Record<string, unknown>>;
    let caps: Record<string, unknown>;
    let serverInfo: unknown;
    if (modern) {
      page = (method, params) => modern.caller.request(method, params, { modern: modern.envelope, timeoutMs: LIST_TIMEOUT_MS });
      caps = modern.capabilities;
      // protocolVersion: the edge streams a 2025 client's calls to it (its input requests become requests to the client).
      serverInfo = { serverInfo: modern.serverInfo, capabilities: caps, instructions: modern.instructions, protocolVersion: MODERN_VERSION };
    } else if (client) {
      page = (method, params) => client.request({ method, params } as never, PassthroughResult, { timeout: LIST_TIMEOUT_MS });
      caps = client.getServerCapabilities() ?? {};
      serverInfo = { serverInfo: client.getServerVersion(), capabilities: caps, instructions: client.getInstructions() };
    } else throw new Error('not connected');
    const tools = caps.tools ? await this.listAll(page, 'tools/list', 'tools') : [];
    const resources = caps.resources ? await this.listAll(page, 'resources/list', 'resources') : [];
    const resourceTemplates = caps.resources ? await this.listAll(page, 'resources/templates/list', 'resourceTemplates').catch(() => []) : [];
    const prompts = caps.prompts ? await this.listAll(page, 'prompts/list', 'prompts') : [];
    let filtered = tools.filter((t) => this.isToolAllowed((t as { name?: unknown }).name));
    if (modern) filtered = this.readParamHeaders(filtered);
    const perClient = this.config.session === 'per_client';
    const credentialHeader = this.config.userAuth?.kind === 'client_header' ? this.config.userAuth.header : '';
    const ua = this.config.userAuth;
    const tokenExchange = ua?.kind === 'token_exchange' ? JSON.stringify({ token_endpoint: ua.tokenEndpoint, audience: ua.audience ?? '', scopes: ua.scopes }) : '';
    const body = JSON.stringify([filtered, resources, resourceTemplates, prompts, perClient, credentialHeader, tokenExchange]);
    return {
      name: this.config.name,
      hash: createHash('sha256').update(body).digest('hex'),
      tools: filtered,
      resources,
      resourceTemplates,
      prompts,
      description: this.config.description ?? '',
      serverInfo,
      perClient,
      credentialHeader,
      tokenExchange,
    };
  }

  private isToolAllowed(name: unknown): boolean {
    if (typeof name !== 'string') return false;
    const { allowedTools, disallowedTools } = this.config;
    if (allowedTools) return allowedTools.includes(name);
    if (disallowedTools) return !disallowedTools.includes(name);
    return true;
  }

  /**
   * 2026-07-28 over HTTP: a tool's `x-mcp-header` parameters must be mirrored
   * into `Mcp-Param-*` headers; a tool whose annotations break the rules is
   * left out of the catalog (the spec's rule for clients), with a warning.
   */
  private readParamHeaders(tools: unknown[]): unknown[] {
    const map = new Map<string, ParamHeader[]>();
    const kept = tools.filter((t) => {
      const { name, inputSchema } = t as { name: string; inputSchema?: unknown };
      try {
        const params = paramHeadersOf(inputSchema);
        if (params.length) map.set(name, params);
        return true;
      } catch (err) {
        this.log.warn({ server: this.config.name, tool: name, err: (err as Error).message }, 'tool left out: invalid x-mcp-header');
        return false;
      }
    });
    this.paramHeaders = map;
    return kept;
  }

  /** Follows nextCursor through every page. */
  private async listAll(request: (method: string, params: Record<string, unknown>) => Promise<Record<string, unknown>>, method: string, key: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await request(method, cursor ? { cursor } : {});
      const list = result[key];
      if (Array.isArray(list)) items.push(...list);
      cursor = typeof result.nextCursor === 'string' && result.nextCursor ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return items;
  }
}

/** The client capabilities a per_client upstream session declares: what the end client has, of what we relay. */
function clientCapabilities(caps: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['sampling', 'elicitation', 'roots'] as const) if (caps[key]) out[key] = caps[key];
  return out;
}

/** JSON-RPC errors only a modern (2026-07-28) server answers: HeaderMismatch, MissingRequiredClientCapability, UnsupportedProtocolVersion. */
const MODERN_ERRORS = new Set([-32020, -32021, -32022]);

function isExpiredSession(err: unknown): boolean {
  return err instanceof SessionExpiredError || (err instanceof StreamableHTTPError && err.code === 404);
}

/** How many InputRequiredResult rounds one call of a modern upstream may take for a 2025-era client. */
const MAX_INPUT_ROUNDS = 16;

/**
 * The retry's params for an InputRequiredResult: each input request asked of
 * the client (all at once, as the upstream sent them together), the answers
 * keyed as the upstream keyed its requests, its requestState echoed unchanged.
 */
async function answerInputRequests(
  result: Record<string, unknown>, params: Record<string, unknown> | undefined,
  ask: NonNullable<CallOptions['ask']>, signal: AbortSignal | undefined,
): Promise<Record<string, unknown>> {
  const requests = (result.inputRequests ?? {}) as Record<string, { method?: unknown; params?: unknown }>;
  const never = new AbortController().signal;
  const answers = await Promise.all(Object.entries(requests).map(async ([key, r]) => {
    if (typeof r?.method !== 'string') throw new UpstreamCallError({ code: ErrorCode.InternalError, message: `mcpgw: the upstream's input request '${key}' names no method` });
    return [key, await ask(r.method, r.params ?? {}, signal ?? never)] as const;
  }));
  const { inputResponses: _old, requestState: _state, ...rest } = params ?? {};
  return { ...rest, inputResponses: Object.fromEntries(answers), ...(typeof result.requestState === 'string' ? { requestState: result.requestState } : {}) };
}

/** `_meta` key by which the task runner asks for the tasks extension on a modern upstream request (stripped before it leaves). */
export const TASKS_MARK = 'mcpgw/tasksExtension';
