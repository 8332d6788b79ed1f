// The gateway's own failures while it waits on an upstream: the request timed
// out here, or the connection closed before an answer came. They are distinct
// from an upstream's JSON-RPC error, which may carry the same numbers (-32001,
// -32000): an upstream that answers -32001 in 1 ms did not time out, so its
// code, message and data pass through untouched (redacted) instead.
import { McpError, ErrorCode as SdkErrorCode } from '@modelcontextprotocol/sdk/types.js';

export type LocalFailureKind = 'timeout' | 'closed';

export class LocalCallFailure extends Error {
  constructor(readonly kind: LocalFailureKind, message = kind === 'timeout' ? 'Request timed out' : 'Connection closed') {
    super(message);
    this.name = 'LocalCallFailure';
  }
}

/**
 * The SDK's Client reports its own timeout and a closed transport with the
 * same McpError codes an upstream may answer with; facts tell them apart:
 * a timeout took the whole timeout, and a closed connection has no transport.
 */
export function sdkLocalFailure(err: unknown, elapsedMs: number, timeoutMs: number, transportOpen: boolean): LocalCallFailure | undefined {
  if (!(err instanceof McpError)) return undefined;
  if (err.code === SdkErrorCode.RequestTimeout && elapsedMs >= timeoutMs - 1) return new LocalCallFailure('timeout');
  if (err.code === SdkErrorCode.ConnectionClosed && !transportOpen) return new LocalCallFailure('closed');
  return undefined;
}
