// JSON-RPC error codes used on the wire: the one table for both services
// (README "Error codes" mirrors it; a unit test checks both agree and that no
// code has two meanings). The standard ones come from JSON-RPC 2.0 and the MCP
// spec; the gateway's own live in -32010..-32019 and carry `data.server` when
// they concern one upstream.
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** The SDK's RequestTimeout code: the upstream or the gateway's deadline ran out. Only that. */
  RequestTimeout: -32001,
  /** MCP 2025: a resource URI no server serves. */
  ResourceNotFound: -32002,
  /** The upstream server is not connected or failed while answering. */
  UpstreamUnavailable: -32010,
  /** The registry (gRPC) could not be reached. */
  RegistryUnavailable: -32011,
  /** The upstream already runs `max_concurrency` requests from this registry, or the breaker is open. */
  Overloaded: -32012,
  /** The Mcp-Session-Id (or legacy sessionId) is unknown, ended, or belongs to another principal (HTTP 404). */
  SessionNotFound: -32013,
  /** The session's per_client upstream session is gone (its registry replica died or it idled out): re-initialize (HTTP 404). */
  SessionLost: -32014,
  /** A rate limit or concurrency limit of the key, team or tool was hit; `data.retryAfterMs` (HTTP 429). */
  RateLimited: -32015,
  /** No valid credential (HTTP 401 with WWW-Authenticate). */
  Unauthorized: -32016,
  /** Host or Origin not allowed, or the principal lacks admin rights (HTTP 403). */
  Forbidden: -32017,
  /** The call was cancelled (by the client, or because its stream closed under protocol 2026-07-28). */
  Cancelled: -32018,
  /** A bound on client input was exceeded: batch items, JSON depth, queued calls (HTTP 400/413/429/503). */
  LimitExceeded: -32019,
  /** MCP 2026-07-28 (spec): a required header is missing or malformed, or differs from the body (HTTP 400). */
  HeaderMismatch: -32020,
  /** MCP 2026-07-28 (spec): the request needs a client capability its `_meta` did not declare (HTTP 400, data.requiredCapabilities). */
  MissingRequiredClientCapability: -32021,
  /** MCP 2026-07-28 (spec): the protocol version is not implemented (HTTP 400, data.supported and data.requested). */
  UnsupportedProtocolVersion: -32022,
} as const;

/** One line per code, for docs and the uniqueness test. */
export const ERROR_CODE_MEANING: Record<keyof typeof ErrorCode, string> = {
  ParseError: 'malformed JSON (HTTP 400)',
  InvalidRequest: 'not a valid JSON-RPC message or not allowed in this state (HTTP 400)',
  MethodNotFound: 'unknown method',
  InvalidParams: 'bad params, unknown tool or prompt (also a name outside the caller\'s scopes)',
  InternalError: 'a gateway bug; the log has the details',
  RequestTimeout: 'the upstream or the gateway\'s deadline ran out',
  ResourceNotFound: 'no server serves this resource URI',
  UpstreamUnavailable: 'the upstream is down or failed while answering',
  RegistryUnavailable: 'no registry replica could be reached',
  Overloaded: 'the upstream\'s concurrency limit or breaker refused the call',
  SessionNotFound: 'unknown, ended or foreign session (HTTP 404)',
  SessionLost: 'the session\'s per_client upstream session is gone (HTTP 404; re-initialize)',
  RateLimited: 'a rate or concurrency limit was hit (HTTP 429, data.retryAfterMs)',
  Unauthorized: 'no valid credential (HTTP 401)',
  Forbidden: 'Host/Origin not allowed, or not an admin (HTTP 403)',
  Cancelled: 'the call was cancelled',
  LimitExceeded: 'a bound on client input was exceeded',
  HeaderMismatch: '2026-07-28: MCP-Protocol-Version, Mcp-Method or Mcp-Name missing or not matching the body, or a session header on a stateless request (HTTP 400)',
  MissingRequiredClientCapability: '2026-07-28: the upstream asked for sampling, elicitation or roots and the request did not declare it (HTTP 400)',
  UnsupportedProtocolVersion: '2026-07-28: a protocol version the gateway does not implement (HTTP 400, data.supported)',
};

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

/**
 * Takes the gateway's own `_meta[key]` out of request params before they go
 * upstream: the value, and a copy of the params without it (`_meta` dropped
 * when nothing else is left in it). The params given are not changed.
 */
export function takeMeta(params: Record<string, unknown>, key: string): { value: unknown; params: Record<string, unknown> } {
  const meta = params._meta;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta) || !(key in meta)) return { value: undefined, params };
  const { [key]: value, ...rest } = meta as Record<string, unknown>;
  const { _meta: _dropped, ...others } = params;
  return { value, params: Object.keys(rest).length > 0 ? { ...others, _meta: rest } : others };
}
