/**
 * resources/subscribe on shared upstreams, reference-counted: the upstream
 * hears the first subscribe and the last unsubscribe of a URI; its
 * resources/updated goes to exactly the client sessions that subscribed.
 */
export class Subscriptions {
  /** By (server, uri): the subscribed sessions, each with the URI it subscribed by when the aggregate renamed it. */
  private readonly byResource = new Map<string, Map<string, string | undefined>>();

  private key(server: string, uri: string): string {
    return `${server}\0${uri}`;
  }

  /** true when this is the first subscriber (the upstream must be told). */
  add(server: string, uri: string, sessionId: string, alias?: string): boolean {
    const k = this.key(server, uri);
    let set = this.byResource.get(k);
    if (!set) this.byResource.set(k, (set = new Map()));
    const first = set.size === 0;
    set.set(sessionId, alias);
    return first;
  }

  /** true when that was the last subscriber (the upstream must be told). */
  remove(server: string, uri: string, sessionId: string): boolean {
    const k = this.key(server, uri);
    const set = this.byResource.get(k);
    if (!set?.delete(sessionId)) return false;
    if (set.size > 0) return false;
    this.byResource.delete(k);
    return true;
  }

  sessions(server: string, uri: string): string[] {
    return [...(this.byResource.get(this.key(server, uri))?.keys() ?? [])];
  }

  /** The subscribed sessions with the URI each subscribed by (undefined: the upstream's own). */
  subscribers(server: string, uri: string): [string, string | undefined][] {
    return [...(this.byResource.get(this.key(server, uri)) ?? [])];
  }

  /** Drops a session everywhere; returns the (server, uri) pairs that lost their last subscriber. */
  dropSession(sessionId: string): { server: string; uri: string }[] {
    const emptied: { server: string; uri: string }[] = [];
    for (const [k, set] of this.byResource) {
      if (!set.delete(sessionId) || set.size > 0) continue;
      this.byResource.delete(k);
      const sep = k.indexOf('\0');
      emptied.push({ server: k.slice(0, sep), uri: k.slice(sep + 1) });
    }
    return emptied;
  }
}
