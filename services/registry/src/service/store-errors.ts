// How store failures cross the wire: a store that cannot be reached is
// UNAVAILABLE (the edge fails closed: 401 for unknown keys, 503 for admin
// writes); anything else is INTERNAL with the message redacted.
import { status, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from '@mcpgw/common/logger';
import { StoreUnavailableError } from '../store/index.js';
import { redact } from '@mcpgw/common/redact';

export function storeError(err: unknown, log: Logger, what: string): Partial<ServiceError> {
  if (err instanceof StoreUnavailableError) {
    log.warn({ err: redact(err.message), what }, 'store unavailable');
    return { code: status.UNAVAILABLE, details: `store unavailable: ${what} failed; nothing was written` };
  }
  log.error({ err: redact((err as Error).message), what }, 'store error');
  return { code: status.INTERNAL, details: `store error: ${what} failed` };
}

/** Answers a unary call from a promise, mapping store failures. */
export function answer<T>(cb: sendUnaryData<T>, log: Logger, what: string, work: Promise<T>): void {
  work.then((res) => cb(null, res), (err: unknown) => cb(storeError(err, log, what)));
}
