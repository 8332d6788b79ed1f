// `subscriptions/listen` (2026-07-28): a long-lived POST response carrying the
// list_changed and resources/updated notifications its filter asked for, each
// tagged with the listen request's id. The listen streams of one principal
// form a hub registered in the edge's stream map under the principal's modern
// session id, exactly like a session's GET stream: the catalog's list_changed
// fan-out (app.ts), the registry's notify channel (resources/updated of
// subscribed URIs, per_client upstream sessions' own notifications) and the
// call-stream side notifications all reach it on whichever edge holds it.
import type { JsonRpcId } from '@mcpgw/common/jsonrpc';
import type { Access } from '../identity/access.js';
import type { SseWriter, StreamOwner, StreamTarget } from '../transports/sse-writer.js';
import { META } from './modern.js';

export interface SubscriptionFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

const LIST_FLAGS: Record<string, keyof SubscriptionFilter> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

/** The part of a client's filter the gateway honours (unknown types are left out, as the spec says). */
export function honoredFilter(raw: unknown, resolvable: (uri: string) => boolean): SubscriptionFilter {
  const f = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? raw as Record<string, unknown> : {};
  const out: SubscriptionFilter = {};
  for (const flag of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged'] as const) if (f[flag] === true) out[flag] = true;
  if (Array.isArray(f.resourceSubscriptions)) {
    const uris = [...new Set(f.resourceSubscriptions.filter((u): u is string => typeof u === 'string' && resolvable(u)))];
    if (uris.length > 0) out.resourceSubscriptions = uris;
  }
  return out;
}

/** One listen stream: its subscription id (the request's JSON-RPC id) and filter. */
export interface Listener {
  id: JsonRpcId;
  filter: SubscriptionFilter;
  sse: SseWriter;
}

/** The notification text with `_meta.subscriptionId` set, or undefined when the filter does not want it. */
export function tagFor(listener: Listener, text: string): string | undefined {
  let msg: { method?: string; params?: Record<string, unknown> };
  try { msg = JSON.parse(text) as typeof msg; } catch { return undefined; }
  const method = msg.method ?? '';
  const flag = LIST_FLAGS[method];
  if (flag) {
    if (listener.filter[flag] !== true) return undefined;
  } else if (method === 'notifications/resources/updated') {
    const uri = msg.params?.uri;
    if (typeof uri !== 'string' || !listener.filter.resourceSubscriptions?.includes(uri)) return undefined;
  } else if (method === 'notifications/tasks/status') {
    // The principal's own tasks (the hub is the principal's): every listen stream hears them (SEP-2663, optional).
  } else {
    // Never progress or log messages (those ride their request's stream), nor anything else.
    return undefined;
  }
  const params = { ...(msg.params ?? {}) };
  params._meta = { ...(params._meta as Record<string, unknown> | undefined), [META.subscriptionId]: listener.id };
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

/** All listen streams of one principal on this edge, as one entry of the stream map. */
export class ListenHub implements StreamTarget {
  readonly listeners = new Set<Listener>();

  readonly access: Access;
  readonly ownerId: string;

  constructor(owner: StreamOwner) {
    this.access = owner.access;
    this.ownerId = owner.id;
  }

  get closed(): boolean {
    return this.listeners.size === 0;
  }

  event(_name: string, data: string): boolean {
    let wrote = false;
    for (const l of this.listeners) {
      const text = tagFor(l, data);
      if (text !== undefined) wrote = l.sse.event('message', text) || wrote;
    }
    return wrote || this.listeners.size > 0;
  }

  /** A graceful end: each stream gets its listen request's response (resultType complete, tagged). */
  end(): void {
    for (const l of [...this.listeners]) {
      l.sse.event('message', JSON.stringify({ jsonrpc: '2.0', id: l.id, result: { resultType: 'complete', _meta: { [META.subscriptionId]: l.id } } }));
      l.sse.end();
    }
  }

  endWithRetry(_retryMs: number): void {
    this.end();
  }
}

/** The acknowledgement that opens every listen stream. */
export function acknowledgement(id: JsonRpcId, honored: SubscriptionFilter): string {
  return JSON.stringify({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honored, _meta: { [META.subscriptionId]: id } } });
}
