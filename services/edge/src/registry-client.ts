// The edge's link to the registry: one grpc-js channel per target (a
// `dns:///` target balances round robin inside grpc-js), keepalive on, and a
// WatchCatalog stream that resyncs from its last version on every reconnect.
import { credentials, Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
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
  type DecidePinResponse,
  type RespondRequest,
  type SessionNotification,
} from '@mcpgw/proto/registry';
import { backoffDelay } from '@mcpgw/common/backoff';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogView } from './catalog-view.js';

const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
};

export interface CallMeta {
  deadlineMs: number;
  traceparent?: string;
}

export class RegistryLink {
  private readonly clients: RegistryClient[];
  private next = 0;
  private watch?: ClientReadableStream<CatalogEvent>;
  private watchAttempt = 0;
  private closed = false;
  private retryTimer?: NodeJS.Timeout;

  /** `target`: host:port, `dns:///name:port`, or a comma-separated list of them. */
  constructor(target: string, private readonly log: Logger) {
    this.clients = target.split(',').map((t) => t.trim()).filter(Boolean)
      .map((t) => new RegistryClient(t, credentials.createInsecure(), CHANNEL_OPTIONS));
  }

  private pick(): RegistryClient {
    const c = this.clients[this.next % this.clients.length]!;
    this.next++;
    return c;
  }

  /** Keeps `view` current for as long as the link is open. */
  watchCatalog(view: CatalogView): void {
    if (this.closed) return;
    const stream = this.pick().watchCatalog({ sinceVersion: view.version });
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
      const delay = backoffDelay(this.watchAttempt++, 100, 5_000);
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
    const stream = this.pick().watchNotifications({});
    stream.on('data', (n: SessionNotification) => onMessage(n.sessionId, n.messageJson.toString('utf8')));
    let restarted = false;
    const restart = () => {
      if (restarted || this.closed) return;
      restarted = true;
      setTimeout(() => this.watchNotifications(onMessage, attempt + 1), backoffDelay(attempt, 100, 5_000)).unref();
    };
    stream.on('error', restart);
    stream.on('end', restart);
  }

  callTool(req: CallToolRequest, meta: CallMeta): ClientReadableStream<CallEvent> {
    return this.pick().callTool(req, metadataOf(meta), { deadline: Date.now() + meta.deadlineMs });
  }

  forward(req: ForwardRequest, meta: CallMeta): ClientReadableStream<CallEvent> {
    return this.pick().forward(req, metadataOf(meta), { deadline: Date.now() + meta.deadlineMs });
  }

  /** Asks every registry target: the call may run on any of them. */
  cancel(req: CancelRequest): void {
    for (const c of this.clients) c.cancel(req, new Metadata(), { deadline: Date.now() + 5_000 }, () => {});
  }

  /** Any registry may hold the request; it passes the answer on to the one that does. */
  respond(req: RespondRequest): void {
    this.pick().respond(req, new Metadata(), { deadline: Date.now() + 5_000 }, (err) => {
      if (err) this.log.warn({ err: err.details }, 'respond failed');
    });
  }

  endSession(req: EndSessionRequest): void {
    for (const c of this.clients) c.endSession(req, new Metadata(), { deadline: Date.now() + 5_000 }, () => {});
  }

  listServers(): Promise<ListServersResponse> {
    return new Promise((resolve, reject) => {
      this.pick().listServers({}, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  listPins(server = ''): Promise<ListPinsResponse> {
    return new Promise((resolve, reject) => {
      this.pick().listPins({ server }, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  decidePin(req: DecidePinRequest): Promise<DecidePinResponse> {
    return new Promise((resolve, reject) => {
      this.pick().decidePin(req, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.watch?.cancel();
    for (const c of this.clients) c.close();
  }
}

function metadataOf(meta: CallMeta): Metadata {
  const md = new Metadata();
  if (meta.traceparent) md.set('traceparent', meta.traceparent);
  return md;
}

