// JSON-RPC error codes used on the wire. The standard ones come from JSON-RPC
// 2.0; the gateway's own live in the implementation-defined range and always
// carry `data.server` when they concern one upstream.
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The SDK's RequestTimeout code, so SDK clients recognise it. */
  RequestTimeout: -32001,
  /** The upstream server is not connected or failed while answering. */
  UpstreamUnavailable: -32010,
  /** The registry (gRPC) could not be reached. */
  RegistryUnavailable: -32011,
  /** The upstream already runs `max_concurrency` requests from this registry. */
  Overloaded: -32012,
} as const;

export type JsonRpcId = string | number;

export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

export function upstreamError(code: number, server: string, message: string, extra?: Record<string, unknown>): JsonRpcError {
  return { code, message: `upstream '${server}': ${message}`, data: { server, ...extra } };
}
