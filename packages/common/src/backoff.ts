/**
 * Capped exponential backoff with full jitter: attempt 0 waits up to `baseMs`,
 * each later attempt doubles the cap until `maxMs`.
 */
export function backoffDelay(attempt: number, baseMs = 200, maxMs = 10_000): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}
