// The MRTR `requestState` the edge hands a modern client when a 2025-era
// upstream asks for input during its call (basic/patterns/mrtr: the state is
// attacker-controlled input, so integrity-protect it and bind it to the
// principal, the originating request and a short expiry). AES-256-GCM with a
// key derived by HKDF from the gateway secret: the client can neither read
// nor change it, and any edge with the same secret can open it. The payload
// names the registry instance holding the still-running upstream call and
// the pending server-to-client request id, so the retry can be routed there.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'mcpgw1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from('mcpgw/mrtr-request-state/v1');
const HKDF_SALT = Buffer.from('mcpgw');
const HKDF_INFO = Buffer.from('mcpgw/mrtr-request-state/aes-256-gcm/v1');
/** Long enough for a person to answer an elicitation, short enough that a held upstream call is not pinned for long. */
export const DEFAULT_STATE_TTL_MS = 5 * 60_000;

export interface RequestStateBinding {
  /** The authenticated principal's stable id (key id, JWT subject…), never the credential. */
  principal: string;
  /** The original JSON-RPC request: its id and method (the retry has a new id, the same method). */
  requestId: string | number;
  method: string;
  /** Digest of the salient params (tool name / prompt name / uri), so the state cannot be replayed on another call. */
  target?: string;
  /** Registry instance that holds the upstream call (where `Respond` must go). */
  registry: string;
  /** The upstream's pending server-to-client request id(s), keyed by the inputRequests key given to the client. */
  pending: Record<string, string | number>;
  /** The pending requests themselves, so a retry that leaves some unanswered can be asked them again. */
  asks?: Record<string, { method: string; params: Record<string, unknown> }>;
  /** Where the held call's events continue: any edge reads them from the event log after `cursor`. */
  call?: HeldCallLocator;
  /** A task's MRTR round (docs/tasks.md): the registry holds the call under this task id. */
  task?: string;
}

export interface HeldCallLocator {
  /** The principal's modern session id (registry context and event log key). */
  session: string;
  /** The registry's id of the call (its event stream id is this, JSON-encoded). */
  callId: string;
  /** The event id of the last input request handed out: the retry reads what follows. */
  cursor: string;
  /** The upstream server running the call. */
  server: string;
}

export interface RequestState extends RequestStateBinding {
  /** Expiry, ms since the epoch. */
  exp: number;
}

export type OpenFailure = 'malformed' | 'tampered' | 'expired' | 'foreign-principal' | 'wrong-request';
export type OpenOutcome =
  | { ok: true; state: RequestState }
  | { ok: false; reason: OpenFailure; message: string };

export interface StateSealer {
  seal(binding: RequestStateBinding, ttlMs?: number): string;
  /** Opens a client-returned state for this principal and (when given) this method and target. */
  open(token: unknown, expect: { principal: string; method?: string; target?: string }): OpenOutcome;
}

const deriveKey = (secret: string | Buffer): Buffer =>
  Buffer.from(hkdfSync('sha256', typeof secret === 'string' ? Buffer.from(secret) : secret, HKDF_SALT, HKDF_INFO, 32));

const fail = (reason: OpenFailure, message: string): OpenOutcome => ({ ok: false, reason, message });

/**
 * `secrets[0]` seals; every secret opens (so a rotated gateway secret keeps
 * the states already handed out valid until they expire).
 */
export function createStateSealer(secrets: readonly (string | Buffer)[], opts: { now?: () => number; ttlMs?: number } = {}): StateSealer {
  if (secrets.length === 0 || secrets.some((s) => s.length < 16)) throw new Error('request-state secrets must be at least 16 bytes each');
  const keys = secrets.map(deriveKey);
  const now = opts.now ?? Date.now;
  const defaultTtl = opts.ttlMs ?? DEFAULT_STATE_TTL_MS;

  return {
    seal(binding, ttlMs = defaultTtl) {
      const state: RequestState = { ...binding, exp: now() + ttlMs };
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', keys[0]!, iv);
      cipher.setAAD(AAD);
      const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
      return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },

    open(token, expect) {
      if (typeof token !== 'string') return fail('malformed', `requestState must be a string, got ${token === null ? 'null' : typeof token}`);
      if (!token.startsWith(PREFIX)) return fail('malformed', 'requestState was not issued by this gateway (unknown format)');
      const b64 = token.slice(PREFIX.length);
      if (!/^[A-Za-z0-9_-]+$/.test(b64)) return fail('malformed', 'requestState is not valid base64url');
      const raw = Buffer.from(b64, 'base64url');
      if (raw.length <= IV_BYTES + TAG_BYTES) return fail('malformed', 'requestState is truncated');
      const iv = raw.subarray(0, IV_BYTES);
      const tag = raw.subarray(raw.length - TAG_BYTES);
      const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
      let plain: string | undefined;
      for (const key of keys) {
        try {
          const decipher = createDecipheriv('aes-256-gcm', key, iv);
          decipher.setAAD(AAD);
          decipher.setAuthTag(tag);
          plain = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
          break;
        } catch { /* try the next (older) key */ }
      }
      if (plain === undefined) return fail('tampered', 'requestState failed its integrity check (modified, or sealed with another secret)');
      let state: RequestState;
      try { state = JSON.parse(plain) as RequestState; } catch { return fail('tampered', 'requestState payload is unreadable'); }
      if (typeof state.principal !== 'string' || typeof state.exp !== 'number' || typeof state.method !== 'string') {
        return fail('tampered', 'requestState payload is incomplete');
      }
      // Principal first: another principal learns nothing about the state, not even whether it expired.
      if (state.principal !== expect.principal) return fail('foreign-principal', 'requestState belongs to another principal');
      if (expect.method !== undefined && state.method !== expect.method) {
        return fail('wrong-request', `requestState was issued for ${state.method}, not ${expect.method}`);
      }
      if (expect.target !== undefined && state.target !== undefined && state.target !== expect.target) {
        return fail('wrong-request', `requestState was issued for another ${state.method} target`);
      }
      if (now() > state.exp) return fail('expired', `requestState expired ${new Date(state.exp).toISOString()}; re-issue the original request`);
      return { ok: true, state };
    },
  };
}

/** JSON-RPC error for a failed open: Invalid Params (-32602), the spec's code for a rejected requestState. */
export function openFailureError(outcome: Extract<OpenOutcome, { ok: false }>): { httpStatus: number; code: number; message: string; data: { reason: OpenFailure } } {
  return { httpStatus: 400, code: -32602, message: `Invalid requestState: ${outcome.message}`, data: { reason: outcome.reason } };
}
