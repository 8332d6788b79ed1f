// The last step of the policy chain: one structured line per denial, admin
// action and revoke (key id and name, never the key), and a bounded ring of
// recent calls and denials for the admin API.
import type { Logger } from '@mcpgw/common/logger';
import type { Principal } from '../identity/principal.js';
import type { EdgeMetrics } from '../metrics.js';
import type { CallShipper } from './call-log.js';

export type CallOutcome = 'ok' | 'tool_error' | 'error' | 'denied' | 'rate_limited';

export interface Activity {
  at: string;
  server: string;
  tool: string;
  principal: string;
  outcome: CallOutcome;
  ms: number;
}

const RING_SIZE = 1_000;

/** As recorded on the hot path: the time as a number, formatted only when read. */
type Recorded = Omit<Activity, 'at'> & { atMs: number };

export class Audit {
  private readonly ring: Recorded[] = [];
  private next = 0;

  /** `shipper`: the registry's call log (the store), when the edge has one. */
  constructor(private readonly log: Logger, private readonly metrics: EdgeMetrics, readonly shipper?: CallShipper) {}

  /** A tools/call (or get/read) that ran, or was refused by a limit. Cheap: no log line (that is `debug`, in the dispatcher). */
  call(principal: Principal, server: string, tool: string, outcome: CallOutcome, ms: number): void {
    const a: Recorded = { atMs: Date.now(), server, tool, principal: principal.name, outcome, ms: Math.round(ms * 10) / 10 };
    if (this.ring.length < RING_SIZE) this.ring.push(a);
    else this.ring[this.next] = a;
    this.next = (this.next + 1) % RING_SIZE;
    this.shipper?.push({ atMs: a.atMs, principal: a.principal, keyId: principal.keyId ?? '', team: principal.team ?? '', server, tool, outcome, ms: a.ms });
  }

  /** A name outside the principal's scopes: answered like an unknown one, recorded here. */
  denied(principal: Principal, kind: 'tool' | 'prompt' | 'resource' | 'server', name: string, server = ''): void {
    this.metrics.denials.inc({ kind });
    this.log.info({ audit: 'denied', principal: principal.id, principalName: principal.name, keyId: principal.keyId, kind, name }, 'request outside the principal\'s scopes');
    this.call(principal, server, name, 'denied', 0);
  }

  admin(principal: Principal, action: string, details: Record<string, unknown>): void {
    this.log.info({ audit: action, principal: principal.id, principalName: principal.name, keyId: principal.keyId, ...details }, 'admin action');
  }

  authFailure(reason: string, route: string): void {
    this.metrics.authFailures.inc({ reason });
    this.log.info({ audit: 'auth_failed', reason, route }, 'authentication failed');
  }

  /** Newest first. */
  recent(limit: number): Activity[] {
    const ordered = this.ring.length < RING_SIZE ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return ordered.reverse().slice(0, limit).map(({ atMs, ...rest }) => ({ at: new Date(atMs).toISOString(), ...rest }));
  }
}
