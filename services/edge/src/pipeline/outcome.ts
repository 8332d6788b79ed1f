// What the dispatcher answers, typed: transports serialize it for their wire
// and choose the HTTP status from it, never by looking into payload bytes.
import { ErrorCode, responseText, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';

interface Stored {
  /** Id of the event under which the registry stored this answer (resumable streams). */
  eventId?: string;
}

export type Outcome = Stored & (
  /** `json`: the JSON text of `result`. `toolError`: the tool reported failure (`isError: true`). */
  | { kind: 'result'; json: string; toolError?: boolean }
  /** An error the gateway made. `retryAfterMs` for limits. */
  | { kind: 'error'; error: JsonRpcError; retryAfterMs?: number }
  /** An upstream's JSON-RPC error, passed through as it came (JSON text of `error`). */
  | { kind: 'upstream_error'; json: string; sessionLost: boolean }
);

export const ok = (json: string): Outcome => ({ kind: 'result', json });
export const fail = (error: JsonRpcError): Outcome => ({ kind: 'error', error });

export function outcomeText(id: JsonRpcId | null, o: Outcome): string {
  const idJson = JSON.stringify(id);
  switch (o.kind) {
    case 'result': return responseText(idJson, { result: o.json });
    case 'error': return responseText(idJson, { error: JSON.stringify(o.error) });
    case 'upstream_error': return responseText(idJson, { error: o.json });
  }
}

/** The JSON-RPC error object of a failed outcome (parsed for upstream errors), for REST and OpenAI shapes. */
export function errorOf(o: Outcome): JsonRpcError | undefined {
  if (o.kind === 'error') return o.error;
  if (o.kind === 'upstream_error') return JSON.parse(o.json) as JsonRpcError;
  return undefined;
}

/** HTTP status of a JSON-RPC answer sent as plain JSON (not on a stream). */
export function httpStatusOf(o: Outcome): number {
  if (o.kind === 'upstream_error') return o.sessionLost ? 404 : 200;
  if (o.kind === 'error') {
    if (o.error.code === ErrorCode.RateLimited) return 429;
    if (o.error.code === ErrorCode.SessionNotFound || o.error.code === ErrorCode.SessionLost) return 404;
  }
  return 200;
}

/** HTTP status on the REST surface, where errors are not JSON-RPC envelopes. */
export function restStatusOf(error: JsonRpcError): number {
  switch (error.code) {
    case ErrorCode.InvalidParams:
    case ErrorCode.InvalidRequest:
    case ErrorCode.ParseError:
    case ErrorCode.LimitExceeded: return 400;
    case ErrorCode.MethodNotFound:
    case ErrorCode.ResourceNotFound:
    case ErrorCode.SessionNotFound:
    case ErrorCode.SessionLost: return 404;
    case ErrorCode.Unauthorized: return 401;
    case ErrorCode.Forbidden: return 403;
    case ErrorCode.RateLimited: return 429;
    case ErrorCode.RequestTimeout: return 504;
    case ErrorCode.UpstreamUnavailable:
    case ErrorCode.RegistryUnavailable: return 502;
    case ErrorCode.Overloaded: return 503;
    case ErrorCode.Cancelled: return 499;
    default: return 500;
  }
}
