// The registry asks a user to connect an account with the 2025-11-25
// URLElicitationRequiredError (-32042, data.elicitations). 2026-07-28 has no
// such error on its wire (nor elicitationId): a modern client gets the same
// request as an InputRequiredResult whose input request is a URL-mode
// `elicitation/create`; it completes the connect and retries the call (no
// requestState: nothing is held).
import { ErrorCode } from '@mcpgw/common/jsonrpc';
import type { Outcome } from '../pipeline/outcome.js';

const URL_ELICITATION_REQUIRED = -32042;

interface UrlElicitation {
  mode: 'url';
  url: string;
  message: string;
  elicitationId?: string;
}

/** Only these methods may answer with an InputRequiredResult (2026-07-28 MRTR). */
const MRTR_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

export function modernUrlElicitation(outcome: Outcome, method: string, clientCapabilities: Record<string, unknown>): Outcome {
  if (outcome.kind !== 'upstream_error') return outcome;
  let error: { code?: unknown; message?: unknown; data?: { server?: unknown; elicitations?: unknown } };
  try {
    error = JSON.parse(outcome.json) as typeof error;
  } catch {
    return outcome;
  }
  if (error.code !== URL_ELICITATION_REQUIRED || !Array.isArray(error.data?.elicitations)) return outcome;
  if (!MRTR_METHODS.has(method)) return { kind: 'error', error: { code: ErrorCode.InvalidParams, message: `${String(error.message)} (call a tool of it first: ${method} cannot ask for input)`, data: { server: error.data.server } } };
  const elicitation = (clientCapabilities as { elicitation?: { url?: unknown } }).elicitation;
  if (!elicitation?.url) {
    return { kind: 'error', error: { code: ErrorCode.MissingRequiredClientCapability, message: `${String(error.message)} (this needs URL-mode elicitation, which the request's clientCapabilities do not declare)`, data: { requiredCapabilities: { elicitation: { url: {} } } } } };
  }
  const inputRequests: Record<string, unknown> = {};
  (error.data.elicitations as UrlElicitation[]).forEach((e, i) => {
    inputRequests[`connect_${String(error.data?.server ?? 'server')}${i ? `_${i}` : ''}`] = { method: 'elicitation/create', params: { mode: 'url', message: e.message, url: e.url } };
  });
  return { kind: 'result', json: JSON.stringify({ resultType: 'input_required', inputRequests }) };
}
