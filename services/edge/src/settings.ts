// The edge's settings: one validated object, built from the environment and
// the config file's `gateway` block in this one place. No other module of the
// edge reads process.env.
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
  MCPGW_KEY_CACHE_MS: int(0).default(30_000),
  MCPGW_LLM_TIMEOUT_MS: int(1).default(120_000),
  MCPGW_LLM_MAX_STEPS: int(1).default(8),
  MCPGW_LLM_MAX_CONNECTIONS: int(1).default(64),
});

export interface EdgeSettings {
  host: string;
  port: number;
  registryUrl: string;
  registryToken?: string;
  redisUrl?: string;
  redisPrefix: string;
  sessionTtlMs: number;
  callTimeoutMs: number;
  sseMaxBufferBytes: number;
  /** How long an edge trusts a cached key record without a revoke message (pub/sub drops it sooner). */
  keyCacheMs: number;
  masterKey?: string;
  allowedHosts: string[];
  allowedOrigins: string[];
  /** The gateway's public URL when it is known; else derived from each request's Host. */
  publicUrl?: string;
  gateway: GatewayConfig;
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

export const EMPTY_GATEWAY: GatewayConfig = {
  toolSeparator: DEFAULT_SEPARATOR, maxBodyBytes: 4 * 1024 * 1024, teams: [], keys: [], jwt: [], toolLimits: [],
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
    redisUrl: e.REDIS_URL || undefined,
    redisPrefix: e.MCPGW_REDIS_PREFIX,
    sessionTtlMs: e.MCPGW_SESSION_TTL_SECONDS * 1000,
    callTimeoutMs: e.MCPGW_CALL_TIMEOUT_MS,
    sseMaxBufferBytes: e.MCPGW_SSE_MAX_BUFFER_BYTES,
    keyCacheMs: e.MCPGW_KEY_CACHE_MS,
    masterKey: e.MCPGW_MASTER_KEY || gateway.masterKey,
    allowedHosts: e.MCPGW_ALLOWED_HOSTS ?? gateway.allowedHosts ?? LOOPBACK_HOSTS,
    allowedOrigins: e.MCPGW_ALLOWED_ORIGINS ?? gateway.allowedOrigins ?? [],
    publicUrl: e.MCPGW_PUBLIC_URL ?? gateway.resource,
    gateway,
    models: config?.models ?? [],
    llm: { timeoutMs: e.MCPGW_LLM_TIMEOUT_MS, maxSteps: e.MCPGW_LLM_MAX_STEPS, maxConnections: e.MCPGW_LLM_MAX_CONNECTIONS },
  };
}
