// The edge's settings: one validated object, built from the environment and
// the config file's `gateway` block in this one place. No other module of the
// edge reads process.env.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, loadConfigFile, type GatewayConfig, type ModelConfig } from '@mcpgw/common/config';
import { DEFAULT_SEPARATOR } from '@mcpgw/common/naming';
import { DEFAULT_PREFIX } from '@mcpgw/common/redis';
import { DEFAULT_MAX_SESSIONS_PER_PRINCIPAL } from './sessions/session-store.js';

export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

const list = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const int = (min: number) => z.coerce.number().int().min(min);

/** Environment variables the edge reads, with their defaults; docs/configuration.md is generated from these descriptions (npm run docs:gen). */
export const envSchema = z.object({
  HOST: z.string().default('127.0.0.1').describe('Address the edge\'s HTTP server binds (images set 0.0.0.0)'),
  PORT: int(0).default(4000).describe('HTTP port of the edge: MCP, REST, /v1, /ui, /metrics'),
  REGISTRY_URL: z.string().default('127.0.0.1:50051').describe('Where the registry is: host:port, dns:///name:port (round robin over every address) or a comma list'),
  REDIS_URL: z.string().optional().describe('Shared state; unset: in-process state, one replica of each service. redis://, rediss://, redis+cluster://, redis+sentinel:// (see operating.md)'),
  MCPGW_REDIS_PREFIX: z.string().default(DEFAULT_PREFIX).describe('Prefix of every Redis key and channel'),
  MCPGW_CONFIG: z.string().optional().describe('The config file; the edge reads its gateway block and model_list'),
  MCPGW_MASTER_KEY: z.string().optional().describe('The admin master key; clients send it as Authorization: Bearer or X-API-Key. Unset (and no declared keys or JWT issuers): no authentication, with a loud warning beyond loopback'),
  MCPGW_ALLOWED_HOSTS: list.optional().describe('Comma list of Host names the edge answers (DNS rebinding protection); * allows any. Default: the loopback names, plus gateway.allowed_hosts'),
  MCPGW_ALLOWED_ORIGINS: list.optional().describe('Comma list of browser Origins allowed; * allows any. Plus gateway.allowed_origins'),
  MCPGW_PUBLIC_URL: z.url().optional().describe('The gateway\'s public MCP URL (RFC 9728 resource); unset: derived from each request\'s Host'),
  MCPGW_SESSION_TTL_SECONDS: int(1).default(3600).describe('Idle lifetime of a session record'),
  MCPGW_CALL_TIMEOUT_MS: int(1).default(300_000).describe('Cap on a caller\'s own per-call timeout (without one, the server\'s timeout_ms applies)'),
  MCPGW_SSE_MAX_BUFFER_BYTES: int(1024).default(4 * 1024 * 1024).describe('An SSE client this far behind is cut off (it can resume with Last-Event-ID)'),
  MCPGW_REGISTRY_TOKEN: z.string().optional().describe('Edge–registry link secret, sent on every gRPC call; must equal the registry\'s (npm start generates one per run)'),
  MCPGW_REGISTRY_MUX: z.enum(['0', '1']).default('1').describe('1: tool calls ride one multiplexed Calls stream per registry; 0: one gRPC call per tool call'),
  MCPGW_REGISTRY_TLS_CA: z.string().optional().describe('PEM file: the CA of the registry\'s certificate; set, the link uses TLS'),
  MCPGW_REGISTRY_TLS_CERT: z.string().optional().describe('PEM file: the edge\'s client certificate for mTLS (with MCPGW_REGISTRY_TLS_KEY)'),
  MCPGW_REGISTRY_TLS_KEY: z.string().optional().describe('PEM file: the key of MCPGW_REGISTRY_TLS_CERT'),
  MCPGW_KEY_CACHE_MS: int(0).default(30_000).describe('How long an edge trusts a cached key record (revokes drop it at once over pub/sub)'),
  MCPGW_MAX_JSON_DEPTH: int(2).default(64).describe('Deepest JSON nesting accepted in a request body (400, -32019 beyond)'),
  MCPGW_MAX_BATCH_ITEMS: int(1).default(50).describe('Items of a 2025-03-26 JSON-RPC batch (400, -32019 beyond, before any item runs)'),
  MCPGW_REQUEST_TIMEOUT_MS: int(1000).default(30_000).describe('Time to receive a whole request; a body trickled in slower is cut (SSE responses are not affected)'),
  MCPGW_HEADERS_TIMEOUT_MS: int(1000).default(10_000).describe('Time to receive a request\'s headers'),
  MCPGW_MAX_SSE_STREAMS: int(1).default(20_000).describe('Open SSE streams per edge (503, -32019 beyond)'),
  MCPGW_MAX_SSE_PER_PRINCIPAL: int(1).default(1_000).describe('Open SSE streams per principal per edge (429, -32019 beyond)'),
  MCPGW_MAX_CALLS_PER_SESSION: int(1).default(64).describe('Calls in flight per session per edge (429, -32019 beyond)'),
  MCPGW_MAX_SESSIONS_PER_PRINCIPAL: int(1).default(DEFAULT_MAX_SESSIONS_PER_PRINCIPAL).describe('Sessions one principal may hold at once; the oldest ends to make room for a new one'),
  MCPGW_STATE_SECRET: z.string().min(16, 'must be at least 16 characters').optional().describe('Seals MCP 2026-07-28 requestState (at least 16 characters). Every edge behind one load balancer must share it; unset: random per process'),
  MCPGW_MRTR_TTL_SECONDS: int(1).default(300).describe('Lifetime of a requestState and of the upstream call held for it; a call nobody resumes is cancelled upstream'),
  MCPGW_LLM_TIMEOUT_MS: int(1).default(120_000).describe('A model provider that sends no headers (or, streaming, no chunk) for this long is 504 provider_timeout'),
  MCPGW_LLM_MAX_STEPS: int(1).default(8).describe('Model calls per request when the gateway runs MCP tools'),
  MCPGW_LLM_MAX_CONNECTIONS: int(1).default(64).describe('Pooled connections per model provider origin'),
  MCPGW_OAUTH_DEV_HTTP_CLIENT_IDS: z.enum(['0', '1']).default('0').describe('Development only: 1 accepts OAuth client ID metadata documents on plain-http loopback URLs'),
  MCPGW_TASKS: z.enum(['declared', 'all', 'off']).default('declared').describe('Which tools/call may become a task (docs/tasks.md): declared (tools with execution.taskSupport), all (any tool: slow calls become durable), off'),
  MCPGW_TASK_WINDOW_MS: int(0).default(250).describe('How long a task-eligible call runs before the client gets a task to poll instead of the result'),
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
  /** Accept client ID metadata documents on plain-http loopback URLs (development). */
  oauthDevHttpClientIds: boolean;
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
  /** Sessions one principal holds (across edges); the oldest end to make room. */
  maxSessionsPerPrincipal: number;
}

export const DEFAULT_LIMITS: ClientLimits = {
  maxJsonDepth: 64, maxBatchItems: 50, requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, maxSseStreams: 20_000, maxSsePerPrincipal: 1_000, maxCallsPerSession: 64,
  maxSessionsPerPrincipal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
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
  if (gateway.login && !(e.MCPGW_PUBLIC_URL ?? gateway.resource)) {
    throw new ConfigError('gateway.auth.login needs the gateway\'s public URL (MCPGW_PUBLIC_URL or gateway.auth.resource): it is the issuer of its tokens and their audience');
  }
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
      maxCallsPerSession: e.MCPGW_MAX_CALLS_PER_SESSION, maxSessionsPerPrincipal: e.MCPGW_MAX_SESSIONS_PER_PRINCIPAL,
    },
    masterKey: e.MCPGW_MASTER_KEY || gateway.masterKey,
    allowedHosts: e.MCPGW_ALLOWED_HOSTS ?? gateway.allowedHosts ?? LOOPBACK_HOSTS,
    allowedOrigins: e.MCPGW_ALLOWED_ORIGINS ?? gateway.allowedOrigins ?? [],
    publicUrl: e.MCPGW_PUBLIC_URL ?? gateway.resource,
    gateway,
    stateSecret: e.MCPGW_STATE_SECRET ?? randomBytes(32).toString('base64url'),
    stateSecretGenerated: e.MCPGW_STATE_SECRET === undefined,
    oauthDevHttpClientIds: e.MCPGW_OAUTH_DEV_HTTP_CLIENT_IDS === '1',
    mrtrHoldMs: e.MCPGW_MRTR_TTL_SECONDS * 1000,
    tasks: { mode: e.MCPGW_TASKS, windowMs: e.MCPGW_TASK_WINDOW_MS },
    models: config?.models ?? [],
    llm: { timeoutMs: e.MCPGW_LLM_TIMEOUT_MS, maxSteps: e.MCPGW_LLM_MAX_STEPS, maxConnections: e.MCPGW_LLM_MAX_CONNECTIONS },
  };
}

const SECRET_QUERY = /token|key|secret|pass|auth|sig/i;

/** A URL as the admin API shows it: password and secret-looking query values replaced. */
export function redactUrl(v: string): string;
export function redactUrl(v: string | undefined): string | null;
export function redactUrl(v: string | undefined): string | null {
  if (!v) return null;
  try {
    const u = new URL(v);
    if (u.password) u.password = 'redacted';
    for (const k of [...u.searchParams.keys()]) if (SECRET_QUERY.test(k)) u.searchParams.set(k, 'redacted');
    return u.toString();
  } catch {
    return '[redacted]';
  }
}

/** The settings as the admin API shows them: every secret replaced. */
export function redactSettings(s: EdgeSettings): Record<string, unknown> {
  const secret = (v: string | undefined) => (v ? '[redacted]' : null);
  const { gateway: _gateway, ...rest } = s;
  return {
    ...rest, masterKey: secret(s.masterKey), registryToken: secret(s.registryToken), stateSecret: secret(s.stateSecret), redisUrl: redactUrl(s.redisUrl),
    models: s.models.map((m) => ({ ...m, apiKey: secret(m.apiKey), apiBase: redactUrl(m.apiBase) })),
  };
}
