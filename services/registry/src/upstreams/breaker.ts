/**
 * A circuit breaker per upstream: after `threshold` consecutive failures of
 * the connection (not tool errors) it opens and callers fail fast; after
 * `openMs` one trial call is let through (half-open) and decides.
 */
export type BreakerState = 'closed' | 'half_open' | 'open';

export class Breaker {
  state: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private trialInFlight = false;

  constructor(private readonly onChange: (s: BreakerState) => void, private readonly threshold = 5, private readonly openMs = 15_000) {}

  /** Whether a call may go ahead now; undefined, or the milliseconds until the next trial. */
  admit(now = Date.now()): number | undefined {
    if (this.state === 'closed') return undefined;
    if (this.state === 'open') {
      const wait = this.openedAt + this.openMs - now;
      if (wait > 0) return wait;
      this.set('half_open');
    }
    if (this.trialInFlight) return 1_000;
    this.trialInFlight = true;
    return undefined;
  }

  success(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.set('closed');
  }

  failure(now = Date.now()): void {
    this.trialInFlight = false;
    this.failures++;
    if (this.state === 'half_open' || this.failures >= this.threshold) {
      this.openedAt = now;
      this.set('open');
    }
  }

  private set(s: BreakerState): void {
    if (s === this.state) return;
    this.state = s;
    this.onChange(s);
  }
}
