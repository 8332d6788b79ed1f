// The edge's link to the registry: one grpc-js channel per target (a
// `dns:///` target balances round robin inside grpc-js), keepalive on, and a
// WatchCatalog stream that resyncs from its last version on every reconnect.
//
// Hardening (issue 10):
// - reconnect backoff is capped (~1 s) so calls work again right after a
//   registry outage, whatever its length;
// - calls go to a channel that is READY (or idle), never to one known down;
// - a call that never reached a registry (UNAVAILABLE before the registry's
//   response headers, which it sends as soon as it accepts a call) is retried
//   on another target, so a dead or draining registry costs no failed call;
// - every call carries the shared token (`authorization: Bearer …`), and the
//   channel uses TLS when certificates are configured;
// - clients never see the registry's internal address in an error.
import { readFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import {
  connectivityState,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ClientReadableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  RegistryClient,
  type CallEvent,
  type CallToolRequest,
  type CancelRequest,
  type CatalogEvent,
  type ForwardRequest,
  type EndSessionRequest,
  type ListServersResponse,
  type ListPinsResponse,
  type DecidePinRequest,
  type ConnectFinishRequest,
  type ConnectFinishResponse,
  type ConnectStartRequest,
  type ConnectStartResponse,
  type DisconnectRequest,
  type DisconnectResponse,
  type ListConnectionsResponse,
  type DecidePinResponse,
  type RespondRequest,
  type SessionNotification,
  type LookupKeyResponse,
  type CreateKeyRequest,
  type CreateKeyResponse,
  type RevokeKeyResponse,
  type ListKeysResponse,
  type ListAuditResponse,
  type ListPinHistoryRequest,
  type ListPinHistoryResponse,
  type CallRecord,
  type ListCallsResponse,
  type ListUsageResponse,
  type StartTaskRequest,
  type ResumeTaskRequest,
  type TaskStep,
  type GetTaskResponse,
  type TaskAck,
  type ListTasksResponse,
} from '@mcpgw/proto/registry';
import { backoffDelay } from '@mcpgw/common/backoff';
import type { Logger } from '@mcpgw/common/logger';
import { CallsChannel } from './calls-mux.js';
import type { CatalogView } from './catalog-view.js';

/** Reconnect backoff bounds: grpc-js defaults grow to 120 s, which outlives short outages by minutes. */
const RECONNECT_INITIAL_MS = 250;
const RECONNECT_MAX_MS = 1_000;

const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': RECONNECT_INITIAL_MS,
  'grpc.max_reconnect_backoff_ms': RECONNECT_MAX_MS,
  'grpc.min_reconnect_backoff_ms': 100,
};

/** After every target refused a call once: this many more tries, ~0.2 + 0.4 + 0.8 + 1 s apart (a replica restarting). */
const MAX_EXTRA_ATTEMPTS = 4;

/** What the edge shows clients instead of grpc's details (which name the registry's address). */
const UNREACHABLE = 'no registry replica reachable; retry shortly';

export interface CallMeta {
  deadlineMs: number;
  traceparent?: string;
}

export interface RegistryTls {
  /** PEM: the CA that signed the registry's certificate. */
  ca: Buffer;
  /** PEM client certificate and key, for mTLS. */
  cert?: Buffer;
  key?: Buffer;
}

export interface RegistryLinkOptions {
  /** Shared secret the registry requires (MCPGW_REGISTRY_TOKEN). */
  token?: string;
  /** Calls ride one multiplexed stream per target (default) instead of one gRPC call each (MCPGW_REGISTRY_MUX=0). */
  multiplex?: boolean;
  tls?: RegistryTls;
}

/** The link's options from the edge's settings: token, and TLS files (CA, and client certificate and key for mTLS). */
export function registryLinkOptions(token: string | undefined, tls: { ca?: string; cert?: string; key?: string }, multiplex = true): RegistryLinkOptions {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const ca = read(tls.ca);
  return { token, multiplex, tls: ca ? { ca, cert: read(tls.cert), key: read(tls.key) } : undefined };
}

interface Target {
  client: RegistryClient;
  /** The multiplexed call stream to this target (see calls-mux.ts). */
  calls: CallsChannel;
  /** Until when this target is skipped (it refused a call: draining or down). */
  avoidUntil: number;
}

export class RegistryLink {
  private readonly targets: Target[];
  private next = 0;
  private watch?: ClientReadableStream<CatalogEvent>;
  private watchAttempt = 0;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  private readonly token?: string;
  private readonly multiplex: boolean;

  /** `target`: host:port, `dns:///name:port`, or a comma-separated list of them. */
  constructor(target: string, private readonly log: Logger, options: RegistryLinkOptions = {}) {
    this.token = options.token;
    this.multiplex = options.multiplex ?? true;
    const creds: ChannelCredentials = options.tls
      ? credentials.createSsl(options.tls.ca, options.tls.key ?? null, options.tls.cert ?? null)
      : credentials.createInsecure();
    this.targets = target.split(',').map((t) => t.trim()).filter(Boolean)
      .map((t) => {
        const client = new RegistryClient(t, creds, CHANNEL_OPTIONS);
        return { client, calls: new CallsChannel(client, () => this.metadata()), avoidUntil: 0 };
      });
  }

  /**
   * The next target whose channel is READY; else one that is idle or
   * connecting (asked to connect); else the next in turn. `exclude`: targets
   * this call already tried.
   */
  private pickTarget(exclude?: Set<Target>): Target {
    const n = this.targets.length;
    const now = Date.now();
    let usable: Target | undefined;
    let fallback: Target | undefined;
    for (let i = 0; i < n; i++) {
      const t = this.targets[(this.next + i) % n]!;
      if (exclude?.has(t)) continue;
      const state = t.client.getChannel().getConnectivityState(true);
      if (state === connectivityState.READY && t.avoidUntil <= now) {
        this.next = (this.next + i + 1) % n;
        return t;
      }
      if (!usable && t.avoidUntil <= now && (state === connectivityState.IDLE || state === connectivityState.CONNECTING)) usable = t;
      fallback ??= t;
    }
    const chosen = usable ?? fallback ?? this.targets[this.next % n]!;
    this.next = (this.targets.indexOf(chosen) + 1) % n;
    return chosen;
  }

  private pick(): RegistryClient {
    return this.pickTarget().client;
  }

  private metadata(meta?: CallMeta): Metadata {
    const md = new Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    if (meta?.traceparent) md.set('traceparent', meta.traceparent);
    return md;
  }

  /** Keeps `view` current for as long as the link is open. */
  watchCatalog(view: CatalogView): void {
    if (this.closed) return;
    const stream = this.pick().watchCatalog({ sinceVersion: view.version }, this.metadata());
    this.watch = stream;
    stream.on('data', (event: CatalogEvent) => {
      this.watchAttempt = 0;
      try {
        view.apply(event);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'bad catalog event; resyncing');
        stream.cancel();
      }
    });
    const restart = (reason: string) => {
      if (this.watch !== stream || this.closed) return;
      this.watch = undefined;
      const delay = backoffDelay(this.watchAttempt++, 100, 1_000);
      this.log.warn({ reason, retryInMs: delay }, 'catalog watch ended; resubscribing');
      this.retryTimer = setTimeout(() => this.watchCatalog(view), delay);
      this.retryTimer.unref();
    };
    stream.on('error', (err: ServiceError) => restart(err.details || err.message));
    stream.on('end', () => restart('stream ended'));
  }

  /** Without Redis: notifications for sessions, straight from the (single) registry; resubscribes when it drops. */
  watchNotifications(onMessage: (sessionId: string, messageJson: string) => void, attempt = 0): void {
    if (this.closed) return;
    const stream = this.pick().watchNotifications({}, this.metadata());
    let got = false;
    stream.on('data', (n: SessionNotification) => {
      got = true;
      onMessage(n.sessionId, n.messageJson.toString('utf8'));
    });
    let restarted = false;
    const restart = () => {
      if (restarted || this.closed) return;
      restarted = true;
      const next = got ? 0 : attempt + 1;
      setTimeout(() => this.watchNotifications(onMessage, next), backoffDelay(next, 100, 1_000)).unref();
    };
    stream.on('error', restart);
    stream.on('end', restart);
  }

  callTool(req: CallToolRequest, meta: CallMeta): ClientReadableStream<CallEvent> {
    return this.retrying(meta, (t, deadline) => (this.multiplex
      ? t.calls.callTool(req, deadline, meta.traceparent) as unknown as ClientReadableStream<CallEvent>
      : t.client.callTool(req, this.metadata(meta), { deadline })));
  }

  forward(req: ForwardRequest, meta: CallMeta): ClientReadableStream<CallEvent> {
    return this.retrying(meta, (t, deadline) => (this.multiplex
      ? t.calls.forward(req, deadline, meta.traceparent) as unknown as ClientReadableStream<CallEvent>
      : t.client.forward(req, this.metadata(meta), { deadline })));
  }

  /**
   * A server-streaming call that moves to another target while it has not
   * reached any registry: the registry sends its response headers as soon as
   * it accepts a call, so UNAVAILABLE before them means no upstream saw it.
   */
  private retrying(meta: CallMeta, open: (t: Target, deadline: number) => ClientReadableStream<CallEvent>)
    : ClientReadableStream<CallEvent> {
    const out = new CallStream();
    const deadline = Date.now() + meta.deadlineMs;
    const tried = new Set<Target>();
    let attempts = 0;
    const attempt = () => {
      const target = this.pickTarget(tried.size < this.targets.length ? tried : undefined);
      tried.add(target);
      const stream = open(target, deadline);
      out.attach(stream);
      let accepted = false;
      stream.on('metadata', () => { accepted = true; });
      stream.on('data', (ev: CallEvent) => { accepted = true; out.emit('data', ev); });
      stream.on('end', () => { if (out.current === stream) out.emit('end'); });
      stream.on('error', (err: ServiceError) => {
        if (out.current !== stream) return;
        if (err.code === status.UNAVAILABLE && !accepted && !out.cancelled) {
          target.avoidUntil = Date.now() + RECONNECT_MAX_MS;
          // Another target, or the same one after a short wait while only one exists (a restart).
          const more = tried.size < this.targets.length;
          attempts++;
          const wait = more ? 0 : Math.min(100 * 2 ** (attempts - this.targets.length), 1_000);
          if (Date.now() + wait < deadline - 50 && attempts < this.targets.length + MAX_EXTRA_ATTEMPTS) {
            this.log.debug({ err: err.details, retryInMs: wait }, 'registry refused a call before accepting it; retrying on another target');
            if (!more) tried.clear();
            // Detach now: this stream's own 'end' follows its error and must not reach the caller.
            out.current = undefined;
            out.pending = setTimeout(attempt, wait);
            return;
          }
        }
        out.emit('error', clientFacing(err));
      });
    };
    attempt();
    return out as unknown as ClientReadableStream<CallEvent>;
  }

  /** Asks every registry target: the call may run on any of them. */
  cancel(req: CancelRequest): void {
    for (const t of this.targets) t.client.cancel(req, this.metadata(), { deadline: Date.now() + 5_000 }, () => {});
  }

  /** Any registry may hold the request; it passes the answer on to the one that does. */
  respond(req: RespondRequest): void {
    this.pick().respond(req, this.metadata(), { deadline: Date.now() + 5_000 }, (err) => {
      if (err) this.log.warn({ err: err.details }, 'respond failed');
    });
  }

  endSession(req: EndSessionRequest): void {
    for (const t of this.targets) t.client.endSession(req, this.metadata(), { deadline: Date.now() + 5_000 }, () => {});
  }

  listServers(): Promise<ListServersResponse> {
    return this.unary<ListServersResponse>((c, md, opts, done) => c.listServers({}, md, opts, done));
  }

  listPins(server = ''): Promise<ListPinsResponse> {
    return this.unary<ListPinsResponse>((c, md, opts, done) => c.listPins({ server }, md, opts, done));
  }

  decidePin(req: DecidePinRequest): Promise<DecidePinResponse> {
    return this.unary<DecidePinResponse>((c, md, opts, done) => c.decidePin(req, md, opts, done));
  }

  // Issue 20: users' own upstream accounts (the edge's /connect pages and /connections).
  connectStart(req: ConnectStartRequest): Promise<ConnectStartResponse> {
    return this.unary<ConnectStartResponse>((c, md, opts, done) => c.connectStart(req, md, opts, done));
  }

  connectFinish(req: ConnectFinishRequest): Promise<ConnectFinishResponse> {
    return this.unary<ConnectFinishResponse>((c, md, opts, done) => c.connectFinish(req, md, opts, done));
  }

  listConnections(principal: string): Promise<ListConnectionsResponse> {
    return this.unary<ListConnectionsResponse>((c, md, opts, done) => c.listConnections({ principal }, md, opts, done));
  }

  disconnect(req: DisconnectRequest): Promise<DisconnectResponse> {
    return this.unary<DisconnectResponse>((c, md, opts, done) => c.disconnect(req, md, opts, done));
  }

  // The system of record (issue 19): the registry's store, read behind the edge's caches.

  lookupKey(sha256: string): Promise<LookupKeyResponse> {
    return this.unary<LookupKeyResponse>((c, md, opts, done) => c.lookupKey({ sha256 }, md, opts, done));
  }

  createKey(req: CreateKeyRequest): Promise<CreateKeyResponse> {
    return this.unary<CreateKeyResponse>((c, md, opts, done) => c.createKey(req, md, opts, done));
  }

  revokeKey(id: string, principal: string): Promise<RevokeKeyResponse> {
    return this.unary<RevokeKeyResponse>((c, md, opts, done) => c.revokeKey({ id, principal }, md, opts, done));
  }

  listKeys(): Promise<ListKeysResponse> {
    return this.unary<ListKeysResponse>((c, md, opts, done) => c.listKeys({}, md, opts, done));
  }

  listAudit(limit: number): Promise<ListAuditResponse> {
    return this.unary<ListAuditResponse>((c, md, opts, done) => c.listAudit({ limit }, md, opts, done));
  }

  listPinHistory(req: ListPinHistoryRequest): Promise<ListPinHistoryResponse> {
    return this.unary<ListPinHistoryResponse>((c, md, opts, done) => c.listPinHistory(req, md, opts, done));
  }

  recordCalls(calls: CallRecord[]): Promise<void> {
    return this.unary<unknown>((c, md, opts, done) => c.recordCalls({ calls }, md, opts, done)).then(() => undefined);
  }

  listCalls(limit: number, sinceMs = 0): Promise<ListCallsResponse> {
    return this.unary<ListCallsResponse>((c, md, opts, done) => c.listCalls({ limit, sinceMs }, md, opts, done));
  }

  listUsage(sinceDay = ''): Promise<ListUsageResponse> {
    return this.unary<ListUsageResponse>((c, md, opts, done) => c.listUsage({ sinceDay }, md, opts, done));
  }

  // Tasks (issue 22): StartTask and ResumeTask wait up to their window for the call's first step.
  // Not idempotent (a retry after the registry started the call would run it twice): retried only when refused unstarted.
  startTask(req: StartTaskRequest): Promise<TaskStep> {
    return this.unary<TaskStep>((c, md, opts, done) => c.startTask(req, md, opts, done), req.windowMs + 15_000, neverStarted);
  }

  resumeTask(req: ResumeTaskRequest): Promise<TaskStep> {
    return this.unary<TaskStep>((c, md, opts, done) => c.resumeTask(req, md, opts, done), req.windowMs + 15_000, neverStarted);
  }

  getTask(principal: string, taskId: string): Promise<GetTaskResponse> {
    return this.unary<GetTaskResponse>((c, md, opts, done) => c.getTask({ principal, taskId }, md, opts, done));
  }

  updateTask(principal: string, taskId: string, inputResponsesJson: Buffer): Promise<TaskAck> {
    return this.unary<TaskAck>((c, md, opts, done) => c.updateTask({ principal, taskId, inputResponsesJson }, md, opts, done));
  }

  cancelTask(principal: string, taskId: string): Promise<TaskAck> {
    return this.unary<TaskAck>((c, md, opts, done) => c.cancelTask({ principal, taskId }, md, opts, done));
  }

  listTasks(principal: string): Promise<ListTasksResponse> {
    return this.unary<ListTasksResponse>((c, md, opts, done) => c.listTasks({ principal, limit: 0 }, md, opts, done));
  }

  /**
   * Every unary call goes through here, so none can leave without the link
   * token (pin review once shipped with empty metadata and answered 502 in
   * every deployment). A registry that is unreachable before it answers is
   * skipped for the next target; the error clients see names no address.
   */
  private unary<Res>(
    invoke: (client: RegistryClient, md: Metadata, opts: { deadline: number }, done: (err: ServiceError | null, res: Res) => void) => void,
    deadlineMs = 5_000, retryable: (err: ServiceError) => boolean = () => true,
  ): Promise<Res> {
    const tried = new Set<Target>();
    const once = (): Promise<Res> => new Promise((resolve, reject) => {
      const target = this.pickTarget(tried);
      tried.add(target);
      invoke(target.client, this.metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (!err) return resolve(res);
        if (err.code === status.UNAVAILABLE && tried.size < this.targets.length && retryable(err)) return resolve(once());
        reject(clientFacing(err));
      });
    });
    return once();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.watch?.cancel();
    for (const t of this.targets) {
      t.calls.close();
      t.client.close();
    }
  }
}

/** A refusal before the registry ran anything: a draining registry, or no connection at all. */
function neverStarted(err: ServiceError): boolean {
  return /draining|No connection established|ECONNREFUSED|Failed to connect/i.test(err.details ?? '');
}

/** The error the dispatcher sees: grpc's details name internal addresses, so UNAVAILABLE gets a plain text. */
function clientFacing(err: ServiceError): ServiceError {
  if (err.code !== status.UNAVAILABLE) return err;
  const e = new Error(UNREACHABLE) as ServiceError;
  e.code = err.code;
  e.details = UNREACHABLE;
  e.metadata = err.metadata;
  return e;
}

/** The stream handed to the dispatcher: events of whichever attempt is current; cancel() reaches it. */
class CallStream extends EventEmitter {
  current?: ClientReadableStream<CallEvent>;
  pending?: NodeJS.Timeout;
  cancelled = false;

  attach(stream: ClientReadableStream<CallEvent>): void {
    this.current = stream;
    this.pending = undefined;
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.current) return this.current.cancel();
    clearTimeout(this.pending);
    this.current = undefined;
    this.emit('error', Object.assign(new Error('Cancelled on client'), { code: status.CANCELLED, details: 'Cancelled on client' }));
  }
}
