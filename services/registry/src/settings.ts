// The registry's own settings from the environment (issue 10 hardening), read
// in one place: the edge–registry link secret, optional TLS, drain time.
import { readFileSync } from 'node:fs';

export interface RegistrySettings {
  /** MCPGW_REGISTRY_TOKEN: callers must send `authorization: Bearer <token>`; unset: no check (loopback default of old setups). */
  token?: string;
  /** MCPGW_REGISTRY_TLS_CERT/KEY (PEM files): serve TLS; with MCPGW_REGISTRY_TLS_CA also require client certificates (mTLS). */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** MCPGW_DRAIN_TIMEOUT_MS: on SIGTERM, how long in-flight calls may finish before they are cut. */
  drainTimeoutMs: number;
  /** MCPGW_DRAIN_DELAY_MS: on SIGTERM, how long new calls are refused (edges move away) before the listener closes. */
  drainDelayMs: number;
  /** MCPGW_CALL_LOG_ROWS: the store's call log keeps the newest this many calls. */
  callLogRows: number;
  /** Tasks: MCPGW_TASK_TTL_MS (lifetime), MCPGW_TASK_MAX_TTL_MS, MCPGW_TASK_RESULT_MAX_BYTES (larger results fail the task), MCPGW_TASK_POLL_INTERVAL_MS. */
  tasks: { defaultTtlMs?: number; maxTtlMs?: number; maxResultBytes?: number; pollIntervalMs?: number };
}

/** A positive integer from the environment; `fallback` when unset (undefined: the consumer's own default). */
function positive(raw: string | undefined, name: string): number | undefined;
function positive(raw: string | undefined, name: string, fallback: number): number;
function positive(raw: string | undefined, name: string, fallback?: number): number | undefined {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return n;
}

export function registrySettings(env: NodeJS.ProcessEnv = process.env): RegistrySettings {
  const file = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  const cert = file(env.MCPGW_REGISTRY_TLS_CERT);
  const key = file(env.MCPGW_REGISTRY_TLS_KEY);
  if (Boolean(cert) !== Boolean(key)) throw new Error('MCPGW_REGISTRY_TLS_CERT and MCPGW_REGISTRY_TLS_KEY go together');
  return {
    token: env.MCPGW_REGISTRY_TOKEN || undefined,
    tls: cert && key ? { cert, key, ca: file(env.MCPGW_REGISTRY_TLS_CA) } : undefined,
    drainTimeoutMs: Number(env.MCPGW_DRAIN_TIMEOUT_MS ?? 30_000),
    drainDelayMs: Number(env.MCPGW_DRAIN_DELAY_MS ?? 500),
    callLogRows: positive(env.MCPGW_CALL_LOG_ROWS, 'MCPGW_CALL_LOG_ROWS', 100_000),
    tasks: {
      defaultTtlMs: positive(env.MCPGW_TASK_TTL_MS, 'MCPGW_TASK_TTL_MS'), maxTtlMs: positive(env.MCPGW_TASK_MAX_TTL_MS, 'MCPGW_TASK_MAX_TTL_MS'),
      maxResultBytes: positive(env.MCPGW_TASK_RESULT_MAX_BYTES, 'MCPGW_TASK_RESULT_MAX_BYTES'), pollIntervalMs: positive(env.MCPGW_TASK_POLL_INTERVAL_MS, 'MCPGW_TASK_POLL_INTERVAL_MS'),
    },
  };
}
