// The events of one call, written to its gRPC stream in order. When the call is
// resumable, each event is first stored in the session's event log (so the
// stream carries its event id); events that queue up while a store is in
// flight go to the log together, in one round trip.
import type { CallEvent } from '@mcpgw/proto/registry';
import type { EventLog } from '@mcpgw/common/event-log';

interface Pending {
  event: CallEvent;
  /** The exact JSON-RPC message to store (absent: not stored, e.g. progress without a client token). */
  text?: () => string;
  final: boolean;
}

export class CallEvents {
  private readonly queue: Pending[] = [];
  private draining?: Promise<void>;

  constructor(
    private readonly write: (event: CallEvent) => void,
    private readonly log?: { store: EventLog; sessionId: string; streamId: string; onError: (err: Error) => void },
  ) {}

  emit(event: CallEvent, text: (() => string) | undefined, final: boolean): void {
    if (!this.log) return this.write(event);
    this.queue.push({ event, text, final });
    this.draining ??= this.drain();
  }

  /** Resolves once every event emitted so far is written. */
  async flushed(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.queue.length);
      await this.store(batch.filter((b) => b.text));
      for (const b of batch) this.write(b.event);
    }
    // Same turn as the empty-queue check: the next emit starts a new drain.
    this.draining = undefined;
  }

  private async store(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    const { store, sessionId, streamId, onError } = this.log!;
    const texts = batch.map((b) => b.text!());
    try {
      const ids = await store.appendMany(sessionId, streamId, texts.map((text, i) => ({ text, final: batch[i]!.final })));
      batch.forEach((b, i) => {
        b.event.eventId = ids[i]!;
        b.event.messageJson = Buffer.from(texts[i]!);
      });
    } catch (err) {
      onError(err as Error);
    }
  }
}
