// Other registry replicas, reached by address: the owner of a per_client
// session, the replica running a task. Every call to a peer presents this
// replica's own link token, whatever the caller sent: a call that came over
// the multiplexed Calls stream carries no per-call metadata, and forwarding
// that metadata as it was once made every per_client hand-over fail.
import { Metadata, credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { RegistryClient } from '@mcpgw/proto/registry';

export class Peers {
  private readonly clients = new Map<string, RegistryClient>();

  constructor(private readonly token: string | undefined, private readonly channelCredentials: ChannelCredentials | undefined) {}

  /** One client per peer address, kept for the replica's life (keepalive on). */
  client(address: string): RegistryClient {
    let c = this.clients.get(address);
    if (!c) this.clients.set(address, (c = new RegistryClient(address, this.channelCredentials ?? credentials.createInsecure(), { 'grpc.keepalive_time_ms': 20_000 })));
    return c;
  }

  /** Metadata for a peer call: `from` (trace context, marks) when given, with this replica's link token. */
  metadata(from?: Metadata, marks: Record<string, string> = {}): Metadata {
    const md = from ? from.clone() : new Metadata();
    if (this.token) md.set('authorization', `Bearer ${this.token}`);
    for (const [k, v] of Object.entries(marks)) md.set(k, v);
    return md;
  }
}
