// Ships every call and denial this edge recorded to the registry's store
// (issue 19): the console's Calls and stats views then show the whole
// gateway, and the history outlives edges and Redis. Batched once a second
// off the hot path; bounded: if the registry cannot take them, the oldest
// unsent records are dropped (counted in the log), never the request.
import type { CallRecord } from '@mcpgw/proto/registry';
import type { Logger } from '@mcpgw/common/logger';
import type { RegistryLink } from '../registry-client.js';

/** The registry calls the call log and the admin views use (a fake of it drives tests). */
export type RecordCalls = Pick<RegistryLink, 'recordCalls' | 'listCalls' | 'listAudit' | 'listPinHistory' | 'listUsage'>;

const FLUSH_MS = 1_000;
const MAX_PENDING = 10_000;
const MAX_BATCH = 2_000;

export class CallShipper {
  private pending: CallRecord[] = [];
  private inFlight = false;
  private dropped = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly registry: Pick<RecordCalls, 'recordCalls'>, private readonly log: Logger, private readonly edge: string) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  push(rec: Omit<CallRecord, 'edge'>): void {
    if (this.pending.length >= MAX_PENDING) {
      this.pending.shift();
      this.dropped++;
    }
    this.pending.push({ ...rec, edge: this.edge });
  }

  /** Not yet shipped, newest first: the admin views add them so this edge reads its own calls at once. */
  unsent(): CallRecord[] {
    return [...this.pending].reverse();
  }

  async flush(): Promise<void> {
    if (this.inFlight || this.pending.length === 0) return;
    this.inFlight = true;
    const batch = this.pending.slice(0, MAX_BATCH);
    try {
      await this.registry.recordCalls(batch);
      this.pending.splice(0, batch.length);
      if (this.dropped) {
        this.log.warn({ dropped: this.dropped }, 'call log records dropped while the registry could not take them');
        this.dropped = 0;
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message, pending: this.pending.length }, 'call log shipping failed; retrying');
    } finally {
      this.inFlight = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
