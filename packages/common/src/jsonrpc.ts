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

export interface ProgressValues {
  progress: number;
  total?: number;
  message?: string;
}

/**
 * JSON-RPC texts built by concatenation, so payloads that are already JSON
 * (results from upstreams) are never parsed and re-serialised. `idJson` and
 * `tokenJson` are JSON texts (ids may be strings or numbers).
 */
export function responseText(idJson: string, outcome: { result: string } | { error: string }): string {
  return 'result' in outcome
    ? `{"jsonrpc":"2.0","id":${idJson},"result":${outcome.result}}`
    : `{"jsonrpc":"2.0","id":${idJson},"error":${outcome.error}}`;
}

/** A request to the client (server-to-client), `paramsJson` already JSON. */
export function requestText(id: string, method: string, paramsJson: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":${JSON.stringify(method)},"params":${paramsJson || '{}'}}`;
}

export function progressText(tokenJson: string, p: ProgressValues): string {
  const params = { progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}), ...(p.message ? { message: p.message } : {}) };
  return `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":${tokenJson},${JSON.stringify(params).slice(1)}}`;
}
