// MCP 2026-07-28 ("modern") at the edge: which era a request belongs to, the
// header rules, server/discover and the result fields every modern result
// carries. Pure functions over headers and parsed bodies; the transport
// adapter calls them once per request (docs/protocol.md, appendix, has the rules
// and where each comes from in the spec).

/** The versions the gateway implements, newest first. Listed here, never taken
 * from an SDK's export: the gateway advertises what it serves. */
export const IMPLEMENTED_VERSIONS = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
/** Versions served statelessly (per-request `_meta`, no session). */
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];
/** Versions served through an `initialize` session (today's edge). */
export const LEGACY_VERSIONS: readonly string[] = IMPLEMENTED_VERSIONS.filter((v) => !MODERN_VERSIONS.includes(v));

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** JSON-RPC codes of the 2026-07-28 wire (schema.ts; -32020..-32099 are the spec's). */
export const MODERN_CODES = {
  invalidParams: -32602,
  methodNotFound: -32601,
  headerMismatch: -32020,
  missingRequiredClientCapability: -32021,
  unsupportedProtocolVersion: -32022,
} as const;

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Methods a 2026-07-28 request may not use: 404 with -32601 (streamable-http "Protocol Version Header"). */
export const REMOVED_IN_MODERN: ReadonlySet<string> = new Set([
  'initialize', 'notifications/initialized', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe',
  'notifications/roots/list_changed',
]);

/** Methods whose results carry `ttlMs` and `cacheScope` (CacheableResult, SEP-2549; DiscoverResult extends it too). */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  'server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read',
]);

/** Methods that may answer with an InputRequiredResult (basic/patterns/mrtr "Supported Requests"). */
export const MRTR_METHODS: ReadonlySet<string> = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Methods whose Mcp-Name header mirrors params.name or params.uri. */
const NAMED_METHODS: Readonly<Record<string, 'name' | 'uri' | 'taskId'>> = {
  'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri',
  // SEP-2663 "Streamable HTTP: Routing Headers": Mcp-Name mirrors params.taskId.
  'tasks/get': 'taskId', 'tasks/update': 'taskId', 'tasks/cancel': 'taskId',
};

export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export interface EraError {
  httpStatus: number;
  code: number;
  message: string;
  data?: unknown;
}

export interface ModernEra {
  era: 'modern';
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo?: { name: string; version: string } & Record<string, unknown>;
  logLevel?: LogLevel;
}

export type EraOutcome = ModernEra | { era: 'legacy' } | { error: EraError };

/** A header's single value (node lower-cases names; repeated headers become arrays or joined strings). */
export function header(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function unsupportedVersionError(requested: string): EraError {
  return {
    httpStatus: 400,
    code: MODERN_CODES.unsupportedProtocolVersion,
    message: `Unsupported protocol version: ${JSON.stringify(requested)}; this gateway supports ${IMPLEMENTED_VERSIONS.join(', ')}`,
    data: { supported: [...IMPLEMENTED_VERSIONS], requested },
  };
}

const headerMismatch = (message: string): EraError => ({ httpStatus: 400, code: MODERN_CODES.headerMismatch, message: `Header mismatch: ${message}` });
const invalidMeta = (message: string): EraError => ({ httpStatus: 400, code: MODERN_CODES.invalidParams, message: `Invalid params: ${message}` });

/**
 * Decides the era of one POSTed JSON-RPC message.
 *
 * Modern when it claims 2026 semantics: the `MCP-Protocol-Version` header
 * names a modern version, or the body carries `_meta`
 * io.modelcontextprotocol/protocolVersion while the header does not name a
 * legacy version, or the method exists only in the modern era. Everything
 * else (an `initialize`, any request of a 2025 session, a 2025-03-26 client
 * without the header) is legacy and goes down today's path unchanged.
 *
 * A modern claim is then validated: no `Mcp-Session-Id` (400 -32020),
 * `_meta` with protocolVersion and clientCapabilities (400 -32602), the
 * header present and equal to the `_meta` version (400 -32020), a version
 * we implement (400 -32022 with the supported list), a known log level.
 */
export function classifyEra(headers: HeaderBag, body: unknown): EraOutcome {
  const msg = isObject(body) ? body : {};
  const method = typeof msg.method === 'string' ? msg.method : undefined;
  const params = isObject(msg.params) ? msg.params : undefined;
  const meta = params && isObject(params._meta) ? params._meta : undefined;
  const metaVersion = meta?.[META.protocolVersion];
  const headerVersion = header(headers, 'mcp-protocol-version')?.trim();
  const sessionId = header(headers, 'mcp-session-id');

  const headerIsLegacy = headerVersion !== undefined && LEGACY_VERSIONS.includes(headerVersion);
  const claimsModern =
    (headerVersion !== undefined && MODERN_VERSIONS.includes(headerVersion)) ||
    (metaVersion !== undefined && !headerIsLegacy) ||
    method === 'server/discover' || method === 'subscriptions/listen';
  if (!claimsModern || (method === 'initialize' && !MODERN_VERSIONS.includes(headerVersion ?? ''))) return { era: 'legacy' };

  if (sessionId !== undefined) {
    return {
      error: headerMismatch(
        `Mcp-Session-Id is not part of protocol ${headerVersion ?? String(metaVersion)}: a 2026-07-28 request is stateless ` +
        `and must not carry a session; drop the header, or use the session with MCP-Protocol-Version of the version it negotiated`,
      ),
    };
  }
  if (!meta) return { error: invalidMeta(`params._meta is required in protocol 2026-07-28 (with ${META.protocolVersion} and ${META.clientCapabilities})`) };
  if (typeof metaVersion !== 'string' || metaVersion === '') return { error: invalidMeta(`params._meta["${META.protocolVersion}"] is required and must be a string`) };
  const caps = meta[META.clientCapabilities];
  if (!isObject(caps)) return { error: invalidMeta(`params._meta["${META.clientCapabilities}"] is required and must be an object`) };
  if (headerVersion === undefined) return { error: headerMismatch(`MCP-Protocol-Version header is required and must equal params._meta["${META.protocolVersion}"] (${JSON.stringify(metaVersion)})`) };
  if (headerVersion !== metaVersion) {
    return { error: headerMismatch(`MCP-Protocol-Version header value '${headerVersion}' does not match body value '${metaVersion}' (params._meta["${META.protocolVersion}"])`) };
  }
  if (!MODERN_VERSIONS.includes(metaVersion)) return { error: unsupportedVersionError(metaVersion) };

  const level = meta[META.logLevel];
  if (level !== undefined && !(typeof level === 'string' && (LOG_LEVELS as readonly string[]).includes(level))) {
    return { error: invalidMeta(`params._meta["${META.logLevel}"] must be one of ${LOG_LEVELS.join(', ')}`) };
  }
  const info = meta[META.clientInfo];
  const clientInfo = isObject(info) && typeof info.name === 'string' && typeof info.version === 'string'
    ? (info as ModernEra['clientInfo']) : undefined;
  return {
    era: 'modern',
    protocolVersion: metaVersion,
    clientCapabilities: caps,
    ...(clientInfo ? { clientInfo } : {}),
    ...(level !== undefined ? { logLevel: level as LogLevel } : {}),
  };
}

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;
// RFC 9110 field values as the spec restricts them: visible ASCII, space, tab.
const SAFE_VALUE = /^[\x20-\x7e\t]*$/;

/** A header value after the spec's Base64 sentinel decoding, or undefined when it is not decodable. */
export function decodeHeaderValue(raw: string): string | undefined {
  if (!SAFE_VALUE.test(raw)) return undefined;
  const m = SENTINEL.exec(raw);
  if (!m) return raw.startsWith('=?base64?') && raw.endsWith('?=') ? undefined : raw;
  // Canonical Base64 only: padded to a multiple of 4 (SEP-2243 rejects "=?base64?SGVsbG8?=").
  if (m[1]!.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(m[1]!, 'base64');
  if (bytes.toString('base64') !== m[1]) return undefined;
  const text = new TextDecoder('utf-8', { fatal: true });
  try { return text.decode(bytes); } catch { return undefined; }
}

/**
 * The standard request headers of a modern POST (streamable-http "Standard
 * Request Headers" and "Server Validation"): MCP-Protocol-Version present and
 * implemented, Mcp-Method equal to the body's method, Mcp-Name equal to
 * params.name / params.uri for tools/call, prompts/get and resources/read
 * (after Base64 sentinel decoding). Any failure is 400 with -32020, except an
 * unimplemented version (400 -32022 with the supported list).
 * `Mcp-Param-*` needs the tool's inputSchema and is checked by the dispatcher.
 */
export function checkModernHeaders(headers: HeaderBag, msg: unknown): EraError | undefined {
  const body = isObject(msg) ? msg : {};
  const version = header(headers, 'mcp-protocol-version')?.trim();
  if (version === undefined || version === '') return headerMismatch('MCP-Protocol-Version header is required');
  if (!MODERN_VERSIONS.includes(version)) return unsupportedVersionError(version);
  const method = typeof body.method === 'string' ? body.method : undefined;
  const mcpMethod = header(headers, 'mcp-method');
  if (mcpMethod === undefined) return headerMismatch(`Mcp-Method header is required (body method '${method ?? ''}')`);
  if (!SAFE_VALUE.test(mcpMethod)) return headerMismatch('Mcp-Method header value contains invalid characters');
  if (mcpMethod !== method) return headerMismatch(`Mcp-Method header value '${mcpMethod}' does not match body value '${method ?? ''}'`);
  const field = method !== undefined ? NAMED_METHODS[method] : undefined;
  if (field) {
    const params = isObject(body.params) ? body.params : {};
    const expected = params[field];
    const raw = header(headers, 'mcp-name');
    if (raw === undefined) return headerMismatch(`Mcp-Name header is required for ${method} (body params.${field} '${String(expected ?? '')}')`);
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined) return headerMismatch('Mcp-Name header value contains invalid characters or a malformed =?base64?…?= encoding');
    if (decoded !== expected) return headerMismatch(`Mcp-Name header value '${decoded}' does not match body value '${String(expected ?? '')}' (params.${field})`);
  }
  return undefined;
}

/**
 * `Mcp-Param-{Name}` headers of a tools/call (SEP-2243): every argument whose
 * `inputSchema` property carries `x-mcp-header: Name` must be mirrored in that
 * header (after Base64 sentinel decoding; numbers compare numerically), and a
 * header may not name an argument the body lacks. Failures are 400 -32020.
 */
export function checkParamHeaders(headers: HeaderBag, inputSchema: unknown, args: unknown): EraError | undefined {
  const props = isObject(inputSchema) && isObject(inputSchema.properties) ? inputSchema.properties : undefined;
  if (!props) return undefined;
  const body = isObject(args) ? args : {};
  for (const [prop, schema] of Object.entries(props)) {
    const name = isObject(schema) ? schema['x-mcp-header'] : undefined;
    if (typeof name !== 'string' || name === '') continue;
    const raw = header(headers, `mcp-param-${name}`);
    const value = body[prop];
    if (value === undefined || value === null) {
      if (raw !== undefined) return headerMismatch(`Mcp-Param-${name} header is present but the body has no arguments.${prop}`);
      continue;
    }
    if (raw === undefined) return headerMismatch(`Mcp-Param-${name} header is required: the body sets arguments.${prop}`);
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined) return headerMismatch(`Mcp-Param-${name} header value contains invalid characters or a malformed =?base64?…?= encoding`);
    const same = typeof value === 'number' ? decoded.trim() !== '' && Number(decoded) === value : decoded === (typeof value === 'string' ? value : JSON.stringify(value));
    if (!same) return headerMismatch(`Mcp-Param-${name} header value '${decoded}' does not match body value '${typeof value === 'string' ? value : JSON.stringify(value)}' (arguments.${prop})`);
  }
  return undefined;
}

/** 404 with -32601 for a method the modern era removed or nobody implements. */
export function methodNotFound(method: string): EraError {
  const why = REMOVED_IN_MODERN.has(method) ? ` (removed in protocol 2026-07-28)` : '';
  return { httpStatus: 404, code: MODERN_CODES.methodNotFound, message: `Method not found: ${method}${why}` };
}

/** 400 with -32021: serving the request needs a capability the client did not declare in `_meta`. */
export function missingCapability(capability: 'sampling' | 'elicitation' | 'roots', what: string): EraError {
  return {
    httpStatus: 400,
    code: MODERN_CODES.missingRequiredClientCapability,
    message: `Missing required client capability '${capability}': ${what} needs it, and params._meta["${META.clientCapabilities}"] does not declare it`,
    data: { requiredCapabilities: { [capability]: {} } },
  };
}

export interface ServerInfo { name: string; version: string; title?: string }
export const GATEWAY_SERVER_INFO: ServerInfo = { name: 'mcpgw', title: 'mcpgw MCP gateway', version: '0.1.0' };

/** What the gateway implements for modern clients (never a union of upstream capabilities). */
export const MODERN_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
} as const;

/** How long a client may cache the gateway's DiscoverResult: it changes only when the gateway is upgraded. */
export const DISCOVER_TTL_MS = 3_600_000;

/**
 * The server/discover result (DiscoverResult in schema.ts: a CacheableResult,
 * so `ttlMs` and `cacheScope` are required; the Python SDK rejects it without
 * them). It is the same for every principal, hence `public`.
 */
export function discoverResult(opts: { serverInfo?: ServerInfo; instructions?: string; capabilities?: Record<string, unknown>; ttlMs?: number } = {}): Record<string, unknown> {
  return {
    resultType: 'complete',
    ttlMs: opts.ttlMs ?? DISCOVER_TTL_MS,
    cacheScope: 'public',
    supportedVersions: [...IMPLEMENTED_VERSIONS],
    capabilities: opts.capabilities ?? MODERN_CAPABILITIES,
    ...(opts.instructions ? { instructions: opts.instructions } : {}),
    _meta: { [META.serverInfo]: opts.serverInfo ?? GATEWAY_SERVER_INFO },
  };
}

export type CacheScope = 'public' | 'private';
export interface CacheHints { cacheScope: CacheScope; ttlMs: number }

/**
 * Honest cache hints: a result that depends on who asks (a principal's
 * scopes filtered it, or a per_client upstream answered it) is `private`.
 */
export function cacheHints(opts: { variesByPrincipal: boolean; ttlMs: number }): CacheHints {
  return { cacheScope: opts.variesByPrincipal ? 'private' : 'public', ttlMs: Math.max(0, Math.floor(opts.ttlMs)) };
}

const RESULT_KEYS = /"(resultType|ttlMs|cacheScope)"\s*:/;

/**
 * Adds `resultType` (and, for list and read results, `ttlMs`/`cacheScope`)
 * to a result's JSON text. The common case is a splice after the opening
 * brace, without parsing the (possibly large) result; only a text that
 * already names one of these keys somewhere is parsed, so that an upstream's
 * own `resultType: "input_required"` is kept and no key appears twice.
 * Input-required results never get cache hints.
 */
export function decorateResult(method: string, resultJsonText: string, hints: CacheHints): string {
  const cacheable = CACHEABLE_METHODS.has(method);
  const start = resultJsonText.indexOf('{');
  if (start < 0 || resultJsonText.slice(0, start).trim() !== '') throw new TypeError('decorateResult: a result must be a JSON object');
  if (RESULT_KEYS.test(resultJsonText)) {
    const result = JSON.parse(resultJsonText) as Record<string, unknown>;
    // An InputRequiredResult and a CreateTaskResult (tasks extension) keep their own fields.
    if (result.resultType === 'input_required' || result.resultType === 'task') return JSON.stringify(result);
    if (!cacheable) {
      // Only cacheable results have the gateway's hints; others (a task's ttlMs) keep what they say.
      const { resultType: _r, ...own } = result;
      return JSON.stringify({ resultType: 'complete', ...own });
    }
    const { resultType: _r, ttlMs: _t, cacheScope: _c, ...rest } = result;
    return JSON.stringify({ resultType: 'complete', ttlMs: hints.ttlMs, cacheScope: hints.cacheScope, ...rest });
  }
  let fields = '"resultType":"complete"';
  if (cacheable) fields += `,"ttlMs":${Math.max(0, Math.floor(hints.ttlMs))},"cacheScope":${JSON.stringify(hints.cacheScope)}`;
  const rest = resultJsonText.slice(start + 1);
  return `{${fields}${rest.trimStart().startsWith('}') ? '' : ','}${rest}`;
}

/** A JSON-RPC error response's text for an EraError (the id is echoed; null when the request had none). */
export function errorResponseText(id: string | number | null | undefined, err: EraError): string {
  const error = { code: err.code, message: err.message, ...(err.data !== undefined ? { data: err.data } : {}) };
  return JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error });
}
