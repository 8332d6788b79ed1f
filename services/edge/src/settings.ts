// The edge's settings: one validated object, built from the environment and
// the config file's `gateway` block in this one place. No other module of the
// edge reads process.env.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, loadConfigFile, type GatewayConfig, type ModelConfig } from '@mcpgw/common/config';
import { DEFAULT_SEPARATOR } from '@mcpgw/common/naming';
import { DEFAULT_PREFIX } from '@mcpgw/common/redis';

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

const list = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const int = (min: number) => z.coerce.number().int().min(min);

/** Environment variables the edge reads, with their defaults (README "Environment"). */
const envSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: int(0).default(4000),
  REGISTRY_URL: z.string().default('127.0.0.1:50051'),
  REDIS_URL: z.string().optional(),
  MCPGW_REDIS_PREFIX: z.string().default(DEFAULT_PREFIX),
  MCPGW_CONFIG: z.string().optional(),
  MCPGW_MASTER_KEY: z.string().optional(),
  MCPGW_ALLOWED_HOSTS: list.optional(),
  MCPGW_ALLOWED_ORIGINS: list.optional(),
  MCPGW_PUBLIC_URL: z.url().optional(),
  MCPGW_SESSION_TTL_SECONDS: int(1).default(3600),
  MCPGW_CALL_TIMEOUT_MS: int(1).default(300_000),
  MCPGW_SSE_MAX_BUFFER_BYTES: int(1024).default(4 * 1024 * 1024),
  MCPGW_REGISTRY_TOKEN: z.string().optional(),
  MCPGW_REGISTRY_MUX: z.enum(['0', '1']).default('1'),
  MCPGW_REGISTRY_TLS_CA: z.string().optional(),
  MCPGW_REGISTRY_TLS_CERT: z.string().optional(),
  MCPGW_REGISTRY_TLS_KEY: z.string().optional(),
  MCPGW_KEY_CACHE_MS: int(0).default(30_000),
  MCPGW_MAX_JSON_DEPTH: int(2).default(64),
  MCPGW_MAX_BATCH_ITEMS: int(1).default(50),
  MCPGW_REQUEST_TIMEOUT_MS: int(1000).default(30_000),
  MCPGW_HEADERS_TIMEOUT_MS: int(1000).default(10_000),
  MCPGW_MAX_SSE_STREAMS: int(1).default(20_000),
  MCPGW_MAX_SSE_PER_PRINCIPAL: int(1).default(1_000),
  MCPGW_MAX_CALLS_PER_SESSION: int(1).default(64),
  MCPGW_STATE_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  MCPGW_MRTR_TTL_SECONDS: int(1).default(300),
  MCPGW_TASKS: z.enum(['declared', 'all', 'off']).default('declared'),
  MCPGW_TASK_WINDOW_MS: int(0).default(250),
  MCPGW_LLM_TIMEOUT_MS: int(1).default(120_000),
  MCPGW_LLM_MAX_STEPS: int(1).default(8),
  MCPGW_LLM_MAX_CONNECTIONS: int(1).default(64),
});

export interface EdgeSettings {
  host: string;
  port: number;
  registryUrl: string;
  registryToken?: string;
  /** Calls to the registry ride one multiplexed stream per target (MCPGW_REGISTRY_MUX, default on). */
  registryMux: boolean;
  /** PEM file paths: the registry's CA, and this edge's certificate and key for mTLS. */
  registryTls: { ca?: string; cert?: string; key?: string };
  redisUrl?: string;
  redisPrefix: string;
  sessionTtlMs: number;
  callTimeoutMs: number;
  sseMaxBufferBytes: number;
  /** How long an edge trusts a cached key record without a revoke message (pub/sub drops it sooner). */
  keyCacheMs: number;
  limits: ClientLimits;
  masterKey?: string;
  allowedHosts: string[];
  allowedOrigins: string[];
  /** The gateway's public URL when it is known; else derived from each request's Host. */
  publicUrl?: string;
  gateway: GatewayConfig;
  /**
   * Seals MRTR `requestState` (2026-07-28 clients). Generated at start when
   * MCPGW_STATE_SECRET is unset: fine for one edge; edges behind one load
   * balancer must share it (a retry may reach any of them).
   */
  stateSecret: string;
  /** Lifetime of an MRTR requestState and of the upstream call held for it. */
  /** Tasks (docs/tasks.md): which tools may become tasks (MCPGW_TASKS) and how long a call runs before it does (MCPGW_TASK_WINDOW_MS). */
  tasks: { mode: 'declared' | 'all' | 'off'; windowMs: number };
  mrtrHoldMs: number;
  /** True when stateSecret was generated here (the edge warns when it has Redis, i.e. may have siblings). */
  stateSecretGenerated: boolean;
  /** The config's `model_list`, served on /v1 (OpenAI-compatible). */
  models: ModelConfig[];
  llm: LlmSettings;
}

export interface LlmSettings {
  /** A provider that sends no headers (or, streaming, no chunk) for this long is answered 504. */
  timeoutMs: number;
  /** Model calls per request when the edge runs MCP tools for the model. */
  maxSteps: number;
  /** Pooled connections per provider origin. */
  maxConnections: number;
}

/** Bounds on what one client can make this edge hold (README "Limits"). */
export interface ClientLimits {
  maxJsonDepth: number;
  maxBatchItems: number;
  /** Whole request (headers and body) must arrive within this; streamed responses are not cut. */
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  /** Open SSE streams on this edge, and per principal. */
  maxSseStreams: number;
  maxSsePerPrincipal: number;
  /** Calls in flight per session on this edge. */
  maxCallsPerSession: number;
}

export const DEFAULT_LIMITS: ClientLimits = {
  maxJsonDepth: 64, maxBatchItems: 50, requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, maxSseStreams: 20_000, maxSsePerPrincipal: 1_000, maxCallsPerSession: 64,
};

export const EMPTY_GATEWAY: GatewayConfig = {
  toolSeparator: DEFAULT_SEPARATOR, maxBodyBytes: 4 * 1024 * 1024, teams: [], keys: [], jwt: [], toolLimits: [], pinning: 'warn', holdNew: false, logArguments: false,
};

/** Throws ConfigError with the variable's name when a value is invalid. */
export function loadEdgeSettings(env: NodeJS.ProcessEnv = process.env): EdgeSettings {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`environment variable ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  const config = e.MCPGW_CONFIG ? loadConfigFile(e.MCPGW_CONFIG, env, { gatewayOnly: true }) : undefined;
  const gateway = config?.gateway ?? EMPTY_GATEWAY;
  return {
    host: e.HOST,
    port: e.PORT,
    registryUrl: e.REGISTRY_URL,
    registryToken: e.MCPGW_REGISTRY_TOKEN || undefined,
    registryMux: e.MCPGW_REGISTRY_MUX === '1',
    registryTls: { ca: e.MCPGW_REGISTRY_TLS_CA, cert: e.MCPGW_REGISTRY_TLS_CERT, key: e.MCPGW_REGISTRY_TLS_KEY },
    redisUrl: e.REDIS_URL || undefined,
    redisPrefix: e.MCPGW_REDIS_PREFIX,
    sessionTtlMs: e.MCPGW_SESSION_TTL_SECONDS * 1000,
    callTimeoutMs: e.MCPGW_CALL_TIMEOUT_MS,
    sseMaxBufferBytes: e.MCPGW_SSE_MAX_BUFFER_BYTES,
    keyCacheMs: e.MCPGW_KEY_CACHE_MS,
    limits: {
      maxJsonDepth: e.MCPGW_MAX_JSON_DEPTH, maxBatchItems: e.MCPGW_MAX_BATCH_ITEMS, requestTimeoutMs: e.MCPGW_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.MCPGW_HEADERS_TIMEOUT_MS, maxSseStreams: e.MCPGW_MAX_SSE_STREAMS, maxSsePerPrincipal: e.MCPGW_MAX_SSE_PER_PRINCIPAL,
      maxCallsPerSession: e.MCPGW_MAX_CALLS_PER_SESSION,
    },
    masterKey: e.MCPGW_MASTER_KEY || gateway.masterKey,
    allowedHosts: e.MCPGW_ALLOWED_HOSTS ?? gateway.allowedHosts ?? LOOPBACK_HOSTS,
    allowedOrigins: e.MCPGW_ALLOWED_ORIGINS ?? gateway.allowedOrigins ?? [],
    publicUrl: e.MCPGW_PUBLIC_URL ?? gateway.resource,
    gateway,
    stateSecret: e.MCPGW_STATE_SECRET ?? randomBytes(32).toString('base64url'),
    stateSecretGenerated: e.MCPGW_STATE_SECRET === undefined,
    mrtrHoldMs: e.MCPGW_MRTR_TTL_SECONDS * 1000,
    tasks: { mode: e.MCPGW_TASKS, windowMs: e.MCPGW_TASK_WINDOW_MS },
    models: config?.models ?? [],
    llm: { timeoutMs: e.MCPGW_LLM_TIMEOUT_MS, maxSteps: e.MCPGW_LLM_MAX_STEPS, maxConnections: e.MCPGW_LLM_MAX_CONNECTIONS },
  };
}

/** The settings as the admin API shows them: every secret replaced. */
export function redactSettings(s: EdgeSettings): Record<string, unknown> {
  const secret = (v: string | undefined) => (v ? '[redacted]' : null);
  const url = (v: string | undefined) => {
    if (!v) return null;
    try {
      const u = new URL(v);
      if (u.password) u.password = 'redacted';
      return u.toString();
    } catch {
      return '[redacted]';
    }
  };
  const { gateway: _gateway, ...rest } = s;
  return { ...rest, masterKey: secret(s.masterKey), registryToken: secret(s.registryToken), stateSecret: secret(s.stateSecret), redisUrl: url(s.redisUrl), models: s.models.map((m) => ({ ...m, apiKey: secret(m.apiKey) })) };
}
