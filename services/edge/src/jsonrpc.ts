// The edge's thin JSON-RPC layer: classify incoming messages and build
// responses as text, so results from the registry (already JSON bytes) are
// spliced in without a parse/serialise round trip.
import { ErrorCode, responseText, type JsonRpcError, type JsonRpcId } from '@mcpgw/common/jsonrpc';

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export type Classified =
  | { kind: 'request'; msg: JsonRpcRequest }
  | { kind: 'notification'; msg: JsonRpcNotification }
  | { kind: 'response'; msg: { id: JsonRpcId; result?: unknown; error?: unknown } }
  | { kind: 'invalid'; id: JsonRpcId | null; error: JsonRpcError };

const isId = (v: unknown): v is JsonRpcId => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** Says what kind of JSON-RPC message `body` is, or what is wrong with it. */
export function classify(body: unknown): Classified {
  const invalid = (message: string, id: JsonRpcId | null = null): Classified => ({ kind: 'invalid', id, error: { code: ErrorCode.InvalidRequest, message } });
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return invalid('Invalid Request: a JSON-RPC message must be a JSON object');
  const m = body as Record<string, unknown>;
  const id = isId(m.id) ? m.id : null;
  if (m.jsonrpc !== '2.0') return invalid('Invalid Request: "jsonrpc" must be "2.0"', id);
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') return invalid('Invalid Request: "method" must be a non-empty string', id);
    if (m.params !== undefined && (m.params === null || typeof m.params !== 'object' || Array.isArray(m.params))) {
      return { kind: 'invalid', id, error: { code: ErrorCode.InvalidParams, message: 'Invalid params: "params" must be an object' } };
    }
    if (!('id' in m)) return { kind: 'notification', msg: m as unknown as JsonRpcNotification };
    if (!isId(m.id)) return invalid('Invalid Request: "id" must be a string or a number');
    return { kind: 'request', msg: m as unknown as JsonRpcRequest };
  }
  if (isId(m.id) && ('result' in m || 'error' in m)) return { kind: 'response', msg: m as { id: JsonRpcId } };
  return invalid('Invalid Request: missing "method" (or "result"/"error" for a response)', id);
}

export function resultText(id: JsonRpcId | null, result: string): string {
  return responseText(JSON.stringify(id), { result });
}

export function errorText(id: JsonRpcId | null, error: JsonRpcError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

export function notificationText(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}

/** The id of a single JSON-RPC message body, when it has a usable one (errors answer it). */
export function idOfBody(body: unknown): JsonRpcId | null {
  const id = (body as { id?: unknown } | null | undefined)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}
