// MRTR translation (2026-07-28 basic/patterns/mrtr): a 2025-era upstream
// asks the client something (sampling, elicitation, roots) with a real
// server-to-client request during a modern client's call. The edge answers
// the client with an InputRequiredResult whose sealed requestState names the
// held call; the client's retry (new request id, `inputResponses`) may reach
// any edge: it answers the upstream's requests with Respond and follows the
// rest of the call from the event log (Redis: the registry stores the call's
// events and keeps it running when the first edge's stream is gone; one edge
// without Redis: the holding edge copies the events into its memory log).
// The edge that first answered keeps the call's gRPC stream as a watchdog:
// a call nobody resumes within the state's lifetime is cancelled upstream.
import { createHash } from 'node:crypto';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { CallContext, CallEvent } from '@mcpgw/proto/registry';
import { ErrorCode, progressText, requestText, responseText, takeMeta, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { EventLog } from '@mcpgw/common/event-log';
import type { Logger } from '@mcpgw/common/logger';
import type { CallHandle, RegistryCalls, UpstreamRequest } from '../dispatcher.js';
import { modernNotificationKind } from '../dispatcher.js';
import type { JsonRpcRequest } from '../jsonrpc.js';
import { fail, ok, type Outcome } from '../pipeline/outcome.js';
import { missingCapability, MRTR_METHODS } from './modern.js';
import type { HeldCallLocator, RequestState, StateSealer } from './sealed-state.js';
import { openFailureError } from './sealed-state.js';

/** The `_meta` key in which an upstream may name the inputRequests key of its request (our conformance fixture does). */
export const INPUT_KEY_META = 'mcpgw/inputKey';
/** Requests an upstream sends together are gathered this long into one InputRequiredResult. */
const SETTLE_MS = 40;

const CAPABILITY: Record<string, 'sampling' | 'elicitation' | 'roots'> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export interface Ask {
  key: string;
  id: string;
  method: string;
  params: Record<string, unknown>;
  /** Where it is stored in the event log, when it is. */
  eventId?: string;
}

export interface MrtrDeps {
  sealer: StateSealer;
  events: EventLog;
  registry: RegistryCalls;
  log: Logger;
  /** How long a held call waits for its retry (the requestState's lifetime). */
  holdMs: number;
  /** How long a retry follows the call for its next step. */
  followMs: number;
}

/** What the retry of a request needs to continue its call. */
export interface ModernRequestInfo {
  principal: string;
  msg: JsonRpcRequest;
  capabilities: Record<string, unknown>;
  logLevel?: string;
  progressToken?: string | number;
  notify?: (text: string) => void;
  onSide?: (text: string) => void;
  signal?: AbortSignal;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The salient params a requestState is bound to (tool or prompt name, resource URI), as a digest. */
export function targetOf(msg: JsonRpcRequest): string {
  const p = msg.params ?? {};
  const what = msg.method === 'resources/read' ? p.uri : p.name;
  return createHash('sha256').update(`${msg.method}\0${typeof what === 'string' ? what : ''}`).digest('base64url').slice(0, 22);
}

function toAsk(req: { id: string; method: string; paramsJson: string; eventId?: string }, used: Set<string>): Ask {
  let params: Record<string, unknown> = {};
  try {
    const p: unknown = JSON.parse(req.paramsJson || '{}');
    if (isObject(p)) params = p;
  } catch { /* an upstream's unreadable params are passed as none */ }
  const named = takeMeta(params, INPUT_KEY_META);
  params = named.params;
  let key = typeof named.value === 'string' ? named.value : '';
  if (!key || used.has(key)) {
    const kind = CAPABILITY[req.method] ?? 'input';
    let n = 1;
    while (used.has(`${kind}_${n}`)) n++;
    key = `${kind}_${n}`;
  }
  used.add(key);
  return { key, id: req.id, method: req.method, params, eventId: req.eventId };
}

interface Held {
  stream: ClientReadableStream<CallEvent>;
  context: CallContext;
  timer?: NodeJS.Timeout;
  /** Local appends, in order (events the registry did not store). */
  chain: Promise<unknown>;
}

export class Mrtr {
  /** Calls this edge answered with InputRequiredResult, by call id: their streams, watched until they end or expire. */
  private readonly held = new Map<string, Held>();

  constructor(private readonly deps: MrtrDeps) {}

  get heldCount(): number {
    return this.held.size;
  }

  /**
   * The dispatcher hook of a modern request's first leg: gathers the
   * upstream's requests for a moment, then ends the request with an
   * InputRequiredResult and keeps the call.
   */
  tap(info: ModernRequestInfo, session: string, callId: string): (req: UpstreamRequest, call: CallHandle) => void {
    const asks: Ask[] = [];
    const used = new Set<string>();
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    return (req, call) => {
      if (done) return;
      if (!MRTR_METHODS.has(info.msg.method)) {
        // Only tools/call, prompts/get and resources/read may answer with InputRequiredResult.
        const error = { code: ErrorCode.MethodNotFound, message: `mcpgw: a 2026-07-28 client cannot be asked ${req.method} during ${info.msg.method}` };
        this.deps.registry.respond({ context: call.context, id: req.id, responseJson: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: req.id, error })) });
        return;
      }
      const ask = toAsk(req, used);
      // Answers a client sent up front (inputResponses without a requestState) serve the upstream at once.
      const given = isObject(info.msg.params?.inputResponses) && info.msg.params.requestState === undefined ? info.msg.params.inputResponses[ask.key] : undefined;
      if (isObject(given)) {
        this.deps.registry.respond({ context: call.context, id: req.id, responseJson: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: given })) });
        return;
      }
      const cap = CAPABILITY[req.method];
      if (cap && !isObject(info.capabilities[cap])) {
        done = true;
        clearTimeout(timer);
        const e = missingCapability(cap, `the upstream's ${req.method} during this ${info.msg.method}`);
        call.abandon(fail({ code: e.code, message: e.message, data: e.data }));
        return;
      }
      asks.push(ask);
      timer ??= setTimeout(() => {
        done = true;
        const held = this.open(call.context, callId);
        const cursor = this.store(held, asks);
        const holding = call.hold(cursor.then((c) => this.inputRequired(info, asks, { session, callId, cursor: c, server: call.server })), (stream) => this.watch(held, stream, callId));
        if (!holding) {
          cursor.catch(() => undefined);
          this.release(callId);
        }
      }, SETTLE_MS);
    };
  }

  private open(context: CallContext, callId: string): Held {
    const h: Held = { stream: undefined as unknown as ClientReadableStream<CallEvent>, context, chain: Promise.resolve() };
    this.held.set(callId, h);
    return h;
  }

  /** Stores the asks the registry did not store; resolves to the event id of the last. */
  private store(h: Held, asks: Ask[]): Promise<string> {
    let last: string | undefined;
    for (const a of asks) {
      if (a.eventId) { last = a.eventId; continue; }
      const text = requestText(a.id, a.method, JSON.stringify(a.params));
      h.chain = h.chain.then(() => this.deps.events.append(h.context.sessionId, h.context.requestId, text, false)).then((id) => { last = id; a.eventId = id; });
    }
    return h.chain.then(() => {
      if (!last) throw new Error('no event id for the input request');
      return last;
    });
  }

  /** Watches a held call: copies unstored events to the log, cancels it when nobody resumes it in time. */
  private watch(h: Held, stream: ClientReadableStream<CallEvent>, callId: string): void {
    h.stream = stream;
    const { context } = h;
    const arm = () => {
      clearTimeout(h.timer);
      h.timer = setTimeout(() => {
        this.deps.log.info({ call: callId }, 'MRTR: held call was not resumed in time; cancelling it upstream');
        this.deps.registry.cancel({ context, requestId: context.requestId, reason: 'the client did not answer the input request in time' });
        stream.cancel();
        this.release(callId);
      }, this.deps.holdMs + Math.min(5_000, this.deps.holdMs));
      h.timer.unref();
    };
    arm();
    stream.on('data', (ev: CallEvent) => {
      const e = ev.event;
      if (!e) return;
      if (e.$case === 'serverRequest') arm();
      if (e.$case === 'result') this.release(callId, false);
      if (ev.eventId) return;
      let text: string | undefined;
      let final = false;
      switch (e.$case) {
        case 'progress': text = context.progressToken ? progressText(context.progressToken, { progress: e.value.progress, total: e.value.hasTotal ? e.value.total : undefined, message: e.value.message || undefined }) : undefined; break;
        case 'notificationJson': text = e.value.toString('utf8'); break;
        case 'serverRequest': text = requestText(e.value.id, e.value.method, e.value.paramsJson.toString('utf8')); break;
        case 'result':
          final = true;
          text = e.value.errorJson.length > 0
            ? responseText(context.requestId, { error: e.value.errorJson.toString('utf8') })
            : responseText(context.requestId, { result: e.value.resultJson.toString('utf8') });
          break;
      }
      if (text !== undefined) {
        const t = text;
        h.chain = h.chain.then(() => this.deps.events.append(context.sessionId, context.requestId, t, final)).catch(() => undefined);
      }
    });
    const ended = () => {
      // A stream that ends without its result (the registry went away): the retry finds no more events and times out.
      this.release(callId, false);
    };
    stream.on('error', ended);
    stream.on('end', ended);
  }

  private release(callId: string, cancel = false): void {
    const h = this.held.get(callId);
    if (!h) return;
    clearTimeout(h.timer);
    this.held.delete(callId);
    if (cancel) h.stream?.cancel();
  }

  /** The InputRequiredResult for `asks`, with a sealed state naming the held call. */
  private inputRequired(info: ModernRequestInfo, asks: Ask[], call: HeldCallLocator): Outcome {
    const registry = asks[0]!.id.slice(0, Math.max(0, asks[0]!.id.lastIndexOf('.')));
    const state = this.deps.sealer.seal({
      principal: info.principal, requestId: info.msg.id, method: info.msg.method, target: targetOf(info.msg), registry,
      pending: Object.fromEntries(asks.map((a) => [a.key, a.id])),
      asks: Object.fromEntries(asks.map((a) => [a.key, { method: a.method, params: a.params }])),
      call,
    }, this.deps.holdMs);
    const inputRequests = Object.fromEntries(asks.map((a) => [a.key, { method: a.method, params: a.params }]));
    return ok(JSON.stringify({ resultType: 'input_required', inputRequests, requestState: state }));
  }

  /** Opens a retry's requestState, or says (with the spec's -32602) why it cannot be used. */
  openState(info: ModernRequestInfo): { state: RequestState } | { error: JsonRpcError } {
    const out = this.deps.sealer.open(info.msg.params?.requestState, { principal: info.principal, method: info.msg.method, target: targetOf(info.msg) });
    if (!out.ok) {
      const e = openFailureError(out);
      return { error: { code: e.code, message: e.message, data: e.data } };
    }
    if (!out.state.call && !out.state.task) return { error: { code: ErrorCode.InvalidParams, message: 'Invalid requestState: it names no held call', data: { reason: 'malformed' } } };
    return { state: out.state };
  }

  /**
   * A retry: answers the upstream's pending requests with the client's
   * `inputResponses`, then follows the call to its result or its next
   * input request. Unanswered keys are asked again.
   */
  async resume(info: ModernRequestInfo, state: RequestState): Promise<Outcome> {
    const call = state.call!;
    const responses = info.msg.params?.inputResponses;
    if (responses !== undefined && !isObject(responses)) {
      return fail({ code: ErrorCode.InvalidParams, message: 'Invalid params: inputResponses must be an object keyed by the inputRequests keys' });
    }
    const context = this.contextOf(info.principal, call);
    const missing: Ask[] = [];
    for (const [key, id] of Object.entries(state.pending)) {
      const r = responses?.[key];
      if (r === undefined) {
        const ask = state.asks?.[key];
        if (ask) missing.push({ key, id: String(id), method: ask.method, params: ask.params });
        continue;
      }
      if (!isObject(r)) {
        return fail({ code: ErrorCode.InvalidParams, message: `Invalid params: inputResponses["${key}"] must be the ${state.asks?.[key]?.method ?? 'input'} result object`, data: { key } });
      }
    }
    // Only once every answer is valid does any reach the upstream.
    for (const [key, id] of Object.entries(state.pending)) {
      const r = responses?.[key];
      if (!isObject(r)) continue;
      this.deps.registry.respond({ context, id: String(id), responseJson: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: String(id), result: r })) });
    }
    if (missing.length > 0) return this.inputRequired(info, missing, call);
    return this.follow(info, call, context);
  }

  private contextOf(principal: string, call: HeldCallLocator): CallContext {
    return {
      principal, sessionId: call.session, requestId: JSON.stringify(call.callId), traceparent: '', timeoutMs: 0, protocolVersion: '2026-07-28',
      progressToken: '', storeEvents: false, clientCapabilitiesJson: Buffer.alloc(0), serverCredential: '',
    };
  }

  /** Reads the call's events after the cursor until its result or its next input requests. */
  private async follow(info: ModernRequestInfo, call: HeldCallLocator, context: CallContext): Promise<Outcome> {
    const streamId = context.requestId;
    const deadline = Date.now() + this.deps.followMs;
    let cursor = call.cursor;
    const asks: Ask[] = [];
    const used = new Set<string>();
    let settleBy = 0;
    while (!info.signal?.aborted) {
      const now = Date.now();
      if (asks.length > 0 && now >= settleBy) return this.inputRequired(info, asks, { ...call, cursor: asks.at(-1)!.eventId! });
      if (now >= deadline) {
        this.deps.registry.cancel({ context, requestId: context.requestId, reason: 'the resumed call did not finish in time' });
        return fail({ code: ErrorCode.RequestTimeout, message: 'Request timed out: the resumed call did not finish in time', data: { server: call.server } });
      }
      const wait = asks.length > 0 ? settleBy - now : Math.min(1_000, deadline - now);
      const events = await this.deps.events.readAfter(call.session, cursor, Math.max(1, wait));
      for (const e of events) {
        cursor = e.id;
        if (e.streamId !== streamId) continue;
        let m: { id?: unknown; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
        try { m = JSON.parse(e.text) as typeof m; } catch { continue; }
        if (typeof m.method === 'string' && m.id !== undefined) {
          const cap = CAPABILITY[m.method];
          if (cap && !isObject(info.capabilities[cap])) {
            this.deps.registry.cancel({ context, requestId: context.requestId, reason: 'the client cannot answer what the upstream asked' });
            const err = missingCapability(cap, `the upstream's ${m.method} during this ${info.msg.method}`);
            return fail({ code: err.code, message: err.message, data: err.data });
          }
          asks.push(toAsk({ id: String(m.id), method: m.method, paramsJson: JSON.stringify(m.params ?? {}), eventId: e.id }, used));
          if (asks.length === 1) settleBy = Date.now() + SETTLE_MS;
        } else if (m.method === 'notifications/progress') {
          if (info.progressToken !== undefined && info.notify) {
            info.notify(JSON.stringify({ jsonrpc: '2.0', method: m.method, params: { ...(m.params ?? {}), progressToken: info.progressToken } }));
          }
        } else if (typeof m.method === 'string') {
          const kind = modernNotificationKind(e.text, info.logLevel);
          if (kind === 'log') info.notify?.(e.text);
          else if (kind === 'side') info.onSide?.(e.text);
        } else if (e.final || 'result' in m || 'error' in m) {
          if (m.error !== undefined) return { kind: 'upstream_error', json: JSON.stringify(m.error), sessionLost: false };
          const result = isObject(m.result) ? m.result : {};
          return { kind: 'result', json: JSON.stringify(result), toolError: result.isError === true };
        }
      }
    }
    this.deps.registry.cancel({ context, requestId: context.requestId, reason: 'the client closed the retry\'s stream' });
    return fail({ code: ErrorCode.Cancelled, message: 'Cancelled: the client closed the stream' });
  }
}
