// The gateway's config file: LiteLLM's `mcp_servers` block unchanged, plus an
// optional `gateway` block. Errors name the server, the key and the line.
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { z } from 'zod';
import { DEFAULT_SEPARATOR } from './naming.js';

export type Transport = 'stdio' | 'sse' | 'http';
export type SessionMode = 'shared' | 'per_client';
/** Which MCP era the registry speaks to an upstream: `auto` discovers it (`server/discover`, else `initialize`). */
export type UpstreamProtocol = 'auto' | '2025' | '2026';

export interface ServerConfig {
  name: string;
  transport: Transport;
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  /** Static headers plus the one `auth_type`/`auth_value` produce. */
  headers: Record<string, string>;
  allowedTools?: string[];
  disallowedTools?: string[];
  timeoutMs: number;
  maxConcurrency: number;
  session: SessionMode;
  /** per_client: how many client sessions may have their own upstream session at once. */
  maxSessions: number;
  description?: string;
  /** `auth_type: oauth2`: client credentials the registry exchanges for a bearer token. */
  oauth2?: OAuth2Config;
  /** `protocol`: `auto` (default, also when absent) probes `server/discover` on Streamable HTTP and falls back to `initialize`; `2025` skips the probe; `2026` speaks only 2026-07-28. */
  protocol?: UpstreamProtocol;
  /** Per-user credentials (`auth_type` client_header, oauth2_user, token_exchange): upstream sessions per (server, user). */
  userAuth?: UserAuthConfig;
}

/** How a server gets each user's own credential (docs/delegated-identity.md). */
export type UserAuthConfig =
  /** The caller's `x-mcp-<server>-authorization` header (lowercase name here), sent as this server's Authorization only. */
  | { kind: 'client_header'; header: string }
  /** Authorization code with PKCE per user; the authorization server is discovered from the upstream's 401 when absent. */
  | { kind: 'oauth2_user'; clientId?: string; clientSecret?: string; scopes: string[]; authorizationServer?: string }
  /** RFC 8693: the caller's own JWT exchanged at `tokenEndpoint` for one with `audience`. */
  | { kind: 'token_exchange'; tokenEndpoint: string; audience?: string; clientId?: string; clientSecret?: string; scopes: string[] };

/** `gateway.auth.login`: the organisation's OIDC provider that signs users in to the gateway's own authorization server. */
export interface LoginConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  /** Claim of the IdP's ID token naming the user's team (default `team`; a list: the first known team). */
  teamClaim: string;
  /** Claim of the ID token with scopes (`mcpgw:admin`, `server:<glob>`, `tool:<glob>`), default `scope`. */
  scopeClaim: string;
}

export interface OAuth2Config {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  audience?: string;
}

/** Limits a team, key or tool may carry; absent means unlimited. */
export interface Limits {
  /** Requests per minute. */
  rpm?: number;
  /** Calls in flight at once. */
  maxConcurrency?: number;
}

export interface TeamConfig extends Limits {
  name: string;
  /** Server name globs the team may use; absent means all. */
  servers?: string[];
  /** Tool globs (exposed or `server/tool` names), `!glob` excludes; absent means all. */
  tools?: string[];
}

/** A virtual key declared in the config by its sha256 (GitOps); the raw key never appears. */
export interface DeclaredKey extends Limits {
  id: string;
  name: string;
  sha256: string;
  team?: string;
  servers?: string[];
  tools?: string[];
  expiresAt?: string;
  admin: boolean;
}

export interface JwtIssuerConfig {
  issuer: string;
  audiences: string[];
  jwksUrl: string;
  /** Claim naming the principal's team (default `team`). */
  teamClaim: string;
  /** Claim with space-separated (or array) scopes: `mcpgw:admin`, `server:<glob>`, `tool:<glob>` (default `scope`). */
  scopeClaim: string;
  /**
   * The team of a token that names none. Without it, a token with neither a
   * team nor a `server:`/`tool:` scope reaches no server (fail closed).
   */
  defaultTeam?: string;
}

export interface GatewayConfig {
  toolSeparator: string;
  masterKey?: string;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  maxBodyBytes: number;
  teams: TeamConfig[];
  keys: DeclaredKey[];
  jwt: JwtIssuerConfig[];
  /** The gateway's public MCP URL (RFC 9728 `resource`, RFC 8707 audience); default: from the request. */
  resource?: string;
  /** Authorization servers named in the protected-resource metadata; default: the JWT issuers. */
  authorizationServers?: string[];
  /** Sign-in through the gateway's own authorization server, federated to this OIDC provider. */
  login?: LoginConfig;
  /** Per-tool limits by tool glob (exposed names). */
  toolLimits: { pattern: string; limits: Limits }[];
  /** Tool pinning: what a changed tool definition does (default warn). */
  pinning: PinningMode;
  /** Also hold new tools of a server whose tools are already pinned. */
  holdNew: boolean;
  /** Record tool arguments in the admin API's recent calls (default false). */
  logArguments: boolean;
}

export type PinningMode = 'off' | 'warn' | 'hold';

/** One entry of the LiteLLM-style `model_list`: a model name clients use, served by an OpenAI-compatible upstream. */
export interface ModelConfig {
  /** `model_name`: what clients send as `model`. */
  name: string;
  /** The upstream's own model name (`litellm_params.model` without its provider prefix). */
  model: string;
  /** The upstream's OpenAI-compatible base URL, e.g. `https://api.openai.com/v1`. */
  apiBase: string;
  /** Sent to the upstream as `Authorization: Bearer`; never the client's credential. */
  apiKey?: string;
  /** Per-model provider timeout (`litellm_params.timeout`, seconds in the file); default the edge's. */
  timeoutMs?: number;
}

export interface Config {
  servers: ServerConfig[];
  /** The `model_list` block (read by the edge only; empty for the registry). */
  models: ModelConfig[];
  gateway: GatewayConfig;
  /** Non-fatal findings (unknown keys), for the caller to log. */
  warnings: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

export const serverSchema = z.object({
  command: z.string().min(1).optional().describe('stdio: the command the registry starts (in its own process group)'),
  args: z.array(z.union([z.string(), z.number()]).transform(String)).optional().describe('stdio: arguments; relative paths resolve from the registry\'s working directory'),
  env: stringMap.optional().describe('stdio: environment variables of the process'),
  cwd: z.string().optional().describe('stdio: working directory of the process'),
  url: z.url().optional().describe('HTTP or SSE: the upstream\'s URL; a url ending in /sse is legacy SSE, any other Streamable HTTP'),
  transport: z.enum(['stdio', 'sse', 'http', 'streamable_http', 'streamable-http']).optional().describe('Explicit transport; default: stdio with command, else inferred from url'),
  auth_type: z.enum(['none', 'api_key', 'bearer_token', 'basic', 'authorization', 'oauth2', 'client_header', 'oauth2_user', 'token_exchange']).optional().describe('How the registry authenticates to the upstream: api_key sends X-API-Key, bearer_token and oauth2 Authorization: Bearer, basic and authorization the value as is; per user: client_header (the caller\'s x-mcp-<server>-authorization), oauth2_user (each user\'s own authorization code grant), token_exchange (RFC 8693)'),
  client_header: z.string().regex(/^[A-Za-z0-9-]{1,100}$/, 'an HTTP header name').optional().describe('auth_type client_header: the caller\'s header carrying this server\'s credential (default x-mcp-<server>-authorization)'),
  authorization_server: z.url().optional().describe('auth_type oauth2_user: the upstream\'s authorization server (discovered from its 401 when absent)'),
  token_endpoint: z.url().optional().describe('auth_type token_exchange: the RFC 8693 token endpoint'),
  auth_value: z.string().optional().describe('The credential of auth_type (usually os.environ/NAME)'),
  // auth_type: oauth2 (client credentials), LiteLLM's keys.
  token_url: z.url().optional().describe('auth_type oauth2: the token endpoint (client credentials, client_secret_basic)'),
  client_id: z.string().min(1).optional().describe('auth_type oauth2: the client id'),
  client_secret: z.string().min(1).optional().describe('auth_type oauth2: the client secret (usually os.environ/NAME)'),
  scopes: z.union([z.array(z.string()), z.string().transform((v) => v.split(/[\s,]+/).filter(Boolean))]).optional().describe('auth_type oauth2: scopes to request (a list, or a space- or comma-separated string)'),
  audience: z.string().optional().describe('auth_type oauth2: audience parameter of the token request'),
  headers: stringMap.optional().describe('Extra HTTP headers sent to the upstream'),
  static_headers: stringMap.optional().describe('LiteLLM\'s name for headers; merged with them'),
  allowed_tools: z.array(z.string()).optional().describe('Only these tools of the upstream are served (not with disallowed_tools)'),
  disallowed_tools: z.array(z.string()).optional().describe('These tools of the upstream are not served (not with allowed_tools)'),
  timeout_ms: z.number().int().positive().optional().describe('Per request to this upstream (default 60000); a caller may set its own, up to MCPGW_CALL_TIMEOUT_MS'),
  max_concurrency: z.number().int().positive().optional().describe('Requests in flight to this upstream per registry replica (default 64); beyond, calls queue briefly, then -32012'),
  max_sessions: z.number().int().positive().optional().describe('per_client: client sessions with their own upstream session at once (default 256, stdio 32)'),
  session: z.enum(['shared', 'per_client']).optional().describe('shared (default): one upstream session for everyone; per_client: one per client session'),
  protocol: z.union([z.enum(['auto', '2025', '2026']), z.literal(2025).transform(() => '2025' as const), z.literal(2026).transform(() => '2026' as const)]).optional().describe('auto (default): probe with server/discover; 2025: initialize, no probe; 2026: MCP 2026-07-28 only (not for legacy SSE)'),
  description: z.string().optional().describe('Shown in /servers, the console and the CLI'),
  // Accepted for LiteLLM compatibility; not used by mcpgw.
  spec_version: z.string().optional().describe('LiteLLM compatibility; ignored'),
  alias: z.string().optional().describe('LiteLLM compatibility; ignored'),
  server_id: z.string().optional().describe('LiteLLM compatibility; ignored'),
  mcp_info: z.unknown().optional().describe('LiteLLM compatibility; ignored'),
});
type RawServer = z.infer<typeof serverSchema>;

const limitsShape = {
  rpm: z.number().int().positive().optional().describe('Requests per minute that reach an upstream, shared by every edge'),
  max_concurrency: z.number().int().positive().optional().describe('Calls in flight at once, counted per edge'),
};
const globs = z.array(z.string().min(1)).optional();

export const gatewaySchema = z.object({
  tool_separator: z.string().regex(/^[A-Za-z0-9_-]{1,4}$/, 'must be 1-4 characters of [A-Za-z0-9_-]').optional().describe('Between server and tool in exposed names (default __)'),
  master_key: z.string().optional().describe('The admin master key (MCPGW_MASTER_KEY takes precedence); usually os.environ/NAME'),
  allowed_hosts: z.array(z.string()).optional().describe('Host names the edge answers, besides MCPGW_ALLOWED_HOSTS; * allows any'),
  allowed_origins: z.array(z.string()).optional().describe('Browser Origins allowed, besides MCPGW_ALLOWED_ORIGINS; * allows any'),
  max_body_bytes: z.number().int().positive().optional().describe('Largest request body (default 4194304); beyond, 413'),
  teams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'team names are [A-Za-z0-9_.-]+'), z.strictObject({ servers: globs.describe('Server name globs; !glob excludes; absent: all'), tools: globs.describe('Tool globs over exposed names (server__tool or server/tool); !glob excludes; absent: all'), ...limitsShape })).optional().describe('Teams by name: the servers and tools their keys and tokens may use, and their limits'),
  keys: z.array(z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).describe('Key id, shown in lists and audit lines'),
    name: z.string().min(1).describe('Human name of the key'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex sha256 of the key').describe('Hex sha256 of the key (echo -n "$MCPGW_API_KEY" | sha256sum)'),
    team: z.string().optional().describe('The team the key belongs to (must be defined in teams)'),
    servers: globs.describe('Server globs that narrow the team\'s (never widen them)'),
    tools: globs.describe('Tool globs that narrow the team\'s (never widen them)'),
    expires_at: z.iso.datetime({ offset: true }).optional().describe('ISO date-time after which the key is refused'),
    admin: z.boolean().optional().describe('The key may use the admin API and the console'),
    ...limitsShape,
  })).optional().describe('Virtual keys declared by hash (GitOps); with any, every request needs a credential'),
  auth: z.strictObject({
    jwt: z.array(z.strictObject({
      issuer: z.string().min(1).describe('The token issuer (iss)'),
      audiences: z.array(z.string().min(1)).min(1).describe('Accepted aud values: this gateway\'s resource URL (RFC 8707)'),
      jwks_url: z.url().describe('The issuer\'s JWKS'),
      team_claim: z.string().optional().describe('Claim naming the principal\'s team (default team)'),
      scope_claim: z.string().optional().describe('Claim with scopes: mcpgw:admin, server:<glob>, tool:<glob> (default scope)'),
      default_team: z.string().min(1).optional().describe('Team of a token that names none; without it such a token reaches no server unless it carries server:/tool: scopes'),
    })).optional().describe('Identity providers whose JWTs the edge accepts'),
    resource: z.url().optional().describe('The gateway\'s public MCP URL (RFC 9728 resource); same as MCPGW_PUBLIC_URL'),
    authorization_servers: z.array(z.url()).optional().describe('Authorization servers listed in the RFC 9728 metadata'),
    login: z.strictObject({
      issuer: z.url().describe('The organisation\'s OIDC issuer'),
      client_id: z.string().min(1).describe('The gateway\'s client id at the IdP'),
      client_secret: z.string().min(1).describe('The gateway\'s client secret at the IdP (usually os.environ/NAME)'),
      scopes: z.array(z.string().min(1)).optional().describe('Scopes requested at the IdP (default openid profile email)'),
      team_claim: z.string().min(1).optional().describe('ID token claim naming the user\'s team (default team)'),
      scope_claim: z.string().min(1).optional().describe('ID token claim with mcpgw scopes (default scope)'),
    }).optional().describe('Sign-in: the gateway becomes an OAuth 2.1 authorization server for MCP clients, federated to this OIDC provider'),
  }).optional().describe('Tokens from identity providers, and the RFC 9728 metadata'),
  tool_limits: z.record(z.string().min(1), z.strictObject(limitsShape)).optional().describe('Limits per tool glob (exposed names), for every caller together'),
  pinning: z.enum(['off', 'warn', 'hold']).optional().describe('Tool pinning: warn (default) flags changed tools, hold withholds them until approved, off records nothing'),
  hold_new: z.boolean().optional().describe('With pinning: hold, also hold tools that appear later on an already pinned server'),
  log_arguments: z.boolean().optional().describe('Reserved: accepted and shown in the effective config; tool arguments are not recorded anywhere yet'),
});

// LiteLLM prefixes of providers that speak the OpenAI wire format; a model without a prefix is OpenAI's.
const OPENAI_COMPATIBLE = ['openai', 'hosted_vllm', 'litellm_proxy', 'openai_like'];
export const modelSchema = z.object({
  model_name: z.string().min(1).max(256).describe('What clients send as model'),
  litellm_params: z.object({
    model: z.string().min(1).describe('openai/, hosted_vllm/, litellm_proxy/ or openai_like/ and the upstream\'s model name'),
    api_base: z.url().optional().describe('The provider\'s base URL (default https://api.openai.com/v1, openai/ only)'),
    api_key: z.string().optional().describe('Sent to the provider, never the client\'s credential (usually os.environ/NAME)'),
    timeout: z.number().positive().optional().describe('Seconds; default MCPGW_LLM_TIMEOUT_MS'),
  }).describe('Where and how the model is called (LiteLLM\'s format)'),
  model_info: z.unknown().optional().describe('LiteLLM compatibility; ignored'),
});

const SERVER_NAME = /^[A-Za-z0-9_-]+$/;
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_CONCURRENCY = 64;
const DEFAULT_MAX_BODY = 4 * 1024 * 1024;

export interface ParseOptions {
  /** Read only the `gateway` block (the edge): server settings and their secrets are the registry's. */
  gatewayOnly?: boolean;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  return parseConfig(text, path, env, opts);
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? `${source}:${e.linePos[0].line}` : source;
    throw new ConfigError(`${at}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  /** The line of the key at `path` (or of its nearest existing ancestor). */
  const where = (path: (string | number)[]): string => {
    for (let p = path; p.length > 0; p = p.slice(0, -1)) {
      const parent = p.length > 1 ? doc.getIn(p.slice(0, -1), true) : doc.contents;
      const items = (parent as { items?: { key?: { value?: unknown; range?: [number] } | null }[] } | null)?.items;
      const pair = items?.find((i) => i.key?.value === p[p.length - 1]);
      if (pair?.key?.range) return `${source}:${lines.linePos(pair.key.range[0]).line}`;
      const node = doc.getIn(p, true);
      if (isNode(node) && node.range) return `${source}:${lines.linePos(node.range[0]).line}`;
    }
    return source;
  };
  const fail = (path: (string | number)[], message: string): never => {
    throw new ConfigError(`${where(path)}: ${message}`);
  };

  const js: unknown = doc.toJS();
  if (js === null || typeof js !== 'object' || Array.isArray(js)) fail([], 'the config must be a mapping with an `mcp_servers` key');
  const raw = js as Record<string, unknown>;
  // The model list (and its api keys) is the edge's; the registry leaves it alone, the edge reads nothing else but `gateway`.
  const { model_list: rawModels, ...rest } = raw;
  const top = opts.gatewayOnly
    ? { gateway: substituteEnv(raw.gateway, ['gateway'], env, fail), model_list: substituteEnv(rawModels, ['model_list'], env, fail) }
    : substituteEnv(rest, [], env, fail) as Record<string, unknown>;
  const warnings: string[] = [];

  const gatewayParsed = gatewaySchema.safeParse(top.gateway ?? {});
  if (!gatewayParsed.success) {
    const issue = gatewayParsed.error.issues[0]!;
    fail(['gateway', ...issue.path.map(keyOf)], `gateway.${issue.path.join('.')}: ${issue.message}`);
  }
  const g = gatewayParsed.data!;
  warnUnknownKeys(top.gateway, gatewaySchema, ['gateway'], where, warnings);
  const separator = g.tool_separator ?? DEFAULT_SEPARATOR;

  const rawServers = top.mcp_servers ?? {};
  if (typeof rawServers !== 'object' || Array.isArray(rawServers)) fail(['mcp_servers'], '`mcp_servers` must be a mapping of server name to server settings');
  const servers: ServerConfig[] = [];
  for (const [name, raw] of Object.entries(rawServers as Record<string, unknown>)) {
    const path = ['mcp_servers', name];
    if (!SERVER_NAME.test(name)) fail(path, `server '${name}': the name must match [A-Za-z0-9_-]+`);
    if (name.includes(separator)) fail(path, `server '${name}': the name contains the tool separator '${separator}' (gateway.tool_separator)`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, `server '${name}': settings must be a mapping with \`command\` or \`url\``);
    const parsed = serverSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const key = issue.path.join('.');
      fail([...path, ...issue.path.map(keyOf)], `server '${name}', key '${key}': ${issue.message}`);
    }
    warnUnknownKeys(raw, serverSchema, path, where, warnings);
    servers.push(toServerConfig(name, parsed.data!, (key, msg) => fail([...path, key], `server '${name}', key '${key}': ${msg}`)));
  }

  const models = opts.gatewayOnly ? parseModels(top.model_list, fail) : [];

  return {
    servers,
    models,
    gateway: {
      toolSeparator: separator,
      masterKey: g.master_key || undefined,
      allowedHosts: g.allowed_hosts,
      allowedOrigins: g.allowed_origins,
      maxBodyBytes: g.max_body_bytes ?? DEFAULT_MAX_BODY,
      teams: Object.entries(g.teams ?? {}).map(([name, t]) => ({ name, servers: t.servers, tools: t.tools, rpm: t.rpm, maxConcurrency: t.max_concurrency })),
      keys: (g.keys ?? []).map((k, i) => {
        if (k.team && !(g.teams ?? {})[k.team]) fail(['gateway', 'keys', i, 'team'], `gateway.keys[${i}].team: unknown team '${k.team}'`);
        return { id: k.id, name: k.name, sha256: k.sha256, team: k.team, servers: k.servers, tools: k.tools, expiresAt: k.expires_at, admin: k.admin ?? false, rpm: k.rpm, maxConcurrency: k.max_concurrency };
      }),
      jwt: (g.auth?.jwt ?? []).map((j, i) => {
        if (j.default_team && !(g.teams ?? {})[j.default_team]) fail(['gateway', 'auth', 'jwt', i, 'default_team'], `gateway.auth.jwt[${i}].default_team: unknown team '${j.default_team}'`);
        return { issuer: j.issuer, audiences: j.audiences, jwksUrl: j.jwks_url, teamClaim: j.team_claim ?? 'team', scopeClaim: j.scope_claim ?? 'scope', defaultTeam: j.default_team };
      }),
      resource: g.auth?.resource,
      authorizationServers: g.auth?.authorization_servers,
      login: g.auth?.login && {
        issuer: g.auth.login.issuer, clientId: g.auth.login.client_id, clientSecret: g.auth.login.client_secret,
        scopes: g.auth.login.scopes ?? ['openid', 'profile', 'email'], teamClaim: g.auth.login.team_claim ?? 'team', scopeClaim: g.auth.login.scope_claim ?? 'scope',
      },
      toolLimits: Object.entries(g.tool_limits ?? {}).map(([pattern, l]) => ({ pattern, limits: { rpm: l.rpm, maxConcurrency: l.max_concurrency } })),
      pinning: g.pinning ?? 'warn',
      holdNew: g.hold_new ?? false,
      logArguments: g.log_arguments ?? false,
    },
    warnings,
  };
}

function parseModels(raw: unknown, fail: (path: (string | number)[], msg: string) => never): ModelConfig[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) fail(['model_list'], '`model_list` must be a list of {model_name, litellm_params}');
  const seen = new Set<string>();
  return (raw as unknown[]).map((entry, i) => {
    const parsed = modelSchema.safeParse(entry);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      fail(['model_list', i, ...issue.path.map(keyOf)], `model_list[${i}].${issue.path.join('.')}: ${issue.message}`);
    }
    const m = parsed.data!;
    const at = (key: string) => ['model_list', i, 'litellm_params', key];
    if (seen.has(m.model_name)) fail(['model_list', i, 'model_name'], `model_list[${i}].model_name: '${m.model_name}' is listed twice`);
    seen.add(m.model_name);
    const slash = m.litellm_params.model.indexOf('/');
    const provider = slash > 0 ? m.litellm_params.model.slice(0, slash) : 'openai';
    if (!OPENAI_COMPATIBLE.includes(provider)) {
      fail(at('model'), `model_list[${i}].litellm_params.model: provider '${provider}' is not OpenAI-compatible (use ${OPENAI_COMPATIBLE.map((p) => `${p}/`).join(', ')} and api_base)`);
    }
    if (!m.litellm_params.api_base && provider !== 'openai') fail(at('model'), `model_list[${i}].litellm_params: '${provider}/' models need \`api_base\``);
    return {
      name: m.model_name,
      model: slash > 0 ? m.litellm_params.model.slice(slash + 1) : m.litellm_params.model,
      apiBase: (m.litellm_params.api_base ?? 'https://api.openai.com/v1').replace(/\/+$/, ''),
      apiKey: m.litellm_params.api_key || undefined,
      timeoutMs: m.litellm_params.timeout === undefined ? undefined : Math.round(m.litellm_params.timeout * 1000),
    };
  });
}

function keyOf(k: PropertyKey): string | number {
  return typeof k === 'symbol' ? String(k) : k;
}

function toServerConfig(name: string, s: RawServer, fail: (key: string, msg: string) => never): ServerConfig {
  const transport = inferTransport(s);
  if (transport === 'stdio' && !s.command) fail(s.url ? 'transport' : 'command', s.url ? 'transport stdio needs `command`' : 'needs `command` (stdio) or `url` (sse/http)');
  if (transport !== 'stdio' && !s.url) fail('url', `transport ${transport} needs \`url\``);
  // The legacy SSE transport predates 2026-07-28.
  if (s.protocol === '2026' && transport === 'sse') fail('protocol', 'protocol 2026 needs transport http or stdio (legacy SSE is 2024-11-05 only); use auto or 2025');
  if (s.allowed_tools && s.disallowed_tools) fail('disallowed_tools', 'set `allowed_tools` or `disallowed_tools`, not both');
  const headers: Record<string, string> = { ...s.static_headers, ...s.headers };
  const auth = authHeader(s.auth_type, s.auth_value);
  if (s.auth_type === 'oauth2') {
    if (transport === 'stdio') fail('auth_type', 'auth_type oauth2 is for sse/http upstreams');
    for (const key of ['token_url', 'client_id', 'client_secret'] as const) if (!s[key]) fail(key, `auth_type oauth2 needs \`${key}\``);
  } else if (s.auth_type === 'client_header' || s.auth_type === 'oauth2_user' || s.auth_type === 'token_exchange') {
    if (transport === 'stdio') fail('auth_type', `auth_type ${s.auth_type} is for sse/http upstreams (a stdio process has no per-request credential)`);
    if (s.session === 'per_client') fail('session', `auth_type ${s.auth_type} keeps upstream sessions per user; session per_client is not supported with it`);
    if (s.auth_type === 'token_exchange' && !s.token_endpoint) fail('token_endpoint', 'auth_type token_exchange needs `token_endpoint`');
  } else if (s.auth_type && s.auth_type !== 'none' && !s.auth_value) fail('auth_value', `auth_type ${s.auth_type} needs \`auth_value\``);
  if (auth) headers[auth[0]] = auth[1];
  const url = s.url ? withoutUserinfo(s.url, headers) : undefined;
  return {
    name,
    transport,
    command: s.command,
    args: s.args ?? [],
    env: s.env ?? {},
    cwd: s.cwd,
    url,
    headers,
    allowedTools: s.allowed_tools,
    disallowedTools: s.disallowed_tools,
    timeoutMs: s.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    maxConcurrency: s.max_concurrency ?? DEFAULT_MAX_CONCURRENCY,
    session: s.session ?? 'shared',
    // stdio sessions are processes: a lower default cap.
    maxSessions: s.max_sessions ?? (transport === 'stdio' ? 32 : 256),
    description: s.description,
    protocol: s.protocol ?? 'auto',
    userAuth: userAuthOf(name, s),
    oauth2: s.auth_type === 'oauth2' ? { tokenUrl: s.token_url!, clientId: s.client_id!, clientSecret: s.client_secret!, scopes: s.scopes ?? [], audience: s.audience } : undefined,
  };
}

function userAuthOf(name: string, s: RawServer): UserAuthConfig | undefined {
  switch (s.auth_type) {
    case 'client_header': return { kind: 'client_header', header: (s.client_header ?? `x-mcp-${name}-authorization`).toLowerCase() };
    case 'oauth2_user': return { kind: 'oauth2_user', clientId: s.client_id, clientSecret: s.client_secret, scopes: s.scopes ?? [], authorizationServer: s.authorization_server };
    case 'token_exchange': return { kind: 'token_exchange', tokenEndpoint: s.token_endpoint!, audience: s.audience, clientId: s.client_id, clientSecret: s.client_secret, scopes: s.scopes ?? [] };
    default: return undefined;
  }
}

/**
 * `https://user:pass@host/mcp`: fetch refuses a URL with credentials, so such
 * an upstream could never connect. The userinfo becomes Basic auth (unless an
 * Authorization header is configured) and leaves the URL, which then shows up
 * in logs and status pages without it.
 */
function withoutUserinfo(raw: string, headers: Record<string, string>): string {
  const u = new URL(raw);
  if (!u.username && !u.password) return raw;
  const hasAuth = Object.keys(headers).some((h) => h.toLowerCase() === 'authorization');
  if (!hasAuth) headers.Authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  return u.toString();
}

/** LiteLLM's rule: explicit `transport`, else a `url` ending in /sse is SSE, any other url is HTTP. */
function inferTransport(s: RawServer): Transport {
  if (s.transport === 'streamable_http' || s.transport === 'streamable-http') return 'http';
  if (s.transport) return s.transport;
  if (s.command) return 'stdio';
  if (s.url) return new URL(s.url).pathname.replace(/\/$/, '').endsWith('/sse') ? 'sse' : 'http';
  return 'stdio';
}

function authHeader(type: RawServer['auth_type'], value: string | undefined): [string, string] | undefined {
  if (!value || !type || type === 'none' || type === 'oauth2' || type === 'client_header' || type === 'oauth2_user' || type === 'token_exchange') return undefined;
  switch (type) {
    case 'bearer_token': return ['Authorization', `Bearer ${value}`];
    case 'api_key': return ['X-API-Key', value];
    // LiteLLM passes an already-encoded value; `user:password` is encoded for convenience.
    case 'basic': return ['Authorization', `Basic ${value.includes(':') ? Buffer.from(value).toString('base64') : value}`];
    case 'authorization': return ['Authorization', value];
  }
}

const ENV_WHOLE = /^os\.environ\/([A-Za-z_][A-Za-z0-9_]*)$/;
const ENV_INLINE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** `os.environ/NAME` (a whole value, LiteLLM's form) and `${NAME}` (inline) read the environment. */
function substituteEnv(value: unknown, at: (string | number)[], env: NodeJS.ProcessEnv, fail: (path: (string | number)[], msg: string) => never): unknown {
  const visit = (value: unknown, path: (string | number)[]): unknown => {
    if (typeof value === 'string') {
      const whole = ENV_WHOLE.exec(value);
      if (whole) return lookup(whole[1]!, path);
      return value.replace(ENV_INLINE, (_, name: string) => lookup(name, path));
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, [...path, i]));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visit(v, [...path, k])]));
    }
    return value;
  };
  const lookup = (name: string, path: (string | number)[]): string => {
    const v = env[name];
    if (v === undefined) fail(path, `${describe(path)}: environment variable ${name} is not set`);
    return v!;
  };
  return visit(value, at);
}

function describe(path: (string | number)[]): string {
  if (path[0] === 'mcp_servers' && path.length > 2) return `server '${path[1]}', key '${path.slice(2).join('.')}'`;
  return `key '${path.join('.')}'`;
}

function warnUnknownKeys(raw: unknown, schema: z.ZodObject, path: (string | number)[], where: (p: (string | number)[]) => string, out: string[]): void {
  if (!raw || typeof raw !== 'object') return;
  const known = new Set(Object.keys(schema.shape));
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) out.push(`${where([...path, key])}: unknown key '${path.slice(1).concat(key).join('.')}' ignored`);
  }
}
