import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The W3C `traceparent` of the call being made, for HTTP upstream requests:
 * the SDK transports take fixed headers, so their fetch reads it from here.
 */
export const traceContext = new AsyncLocalStorage<string>();

export function fetchWithTrace(url: string | URL, init?: RequestInit): Promise<Response> {
  const traceparent = traceContext.getStore();
  if (!traceparent) return fetch(url, init);
  const headers = new Headers(init?.headers);
  headers.set('traceparent', traceparent);
  return fetch(url, { ...init, headers });
}
