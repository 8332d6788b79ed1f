// Upstream and provider error text reaches /servers, client errors and logs. Upstreams and
// their libraries echo credentials (a URL with a password, a 401 body with
// the token, a stack trace with headers), so every such text passes here:
// configured secret values, URL userinfo, secret-looking query parameters,
// Authorization schemes and token-shaped strings become `***`.
import type { ServerConfig } from './config.js';

const MASK = '***';
/** Secret values shorter than this are not searched for (they would mask ordinary words). */
const MIN_SECRET_LENGTH = 4;

const PATTERNS: [RegExp, string][] = [
  // scheme://user:password@host → scheme://***@host
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi, `$1${MASK}@`],
  // ?token=…, &api_key=…, access_token=…, password=…
  [/([?&;\s"'](?:access_token|refresh_token|id_token|token|api[_-]?key|apikey|key|secret|client_secret|password|passwd|pwd|auth|sig|signature)=)[^&\s"'#]+/gi, `$1${MASK}`],
  // Authorization: Bearer xyz / Basic xyz / Token xyz
  [/\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${MASK}`],
  // "password": "…", "api_key": "…" in echoed JSON bodies
  [/("(?:access_token|refresh_token|token|api[_-]?key|secret|client_secret|password|authorization)"\s*:\s*")[^"]*"/gi, `$1${MASK}"`],
  // Well-known token shapes: OpenAI/Anthropic/mcpgw keys, GitHub, Slack, AWS, JWTs.
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, MASK],
  [/\bgh[pousr]_[A-Za-z0-9]{16,}/g, MASK],
  [/\bxox[abprs]-[A-Za-z0-9-]{8,}/g, MASK],
  [/\bAKIA[0-9A-Z]{16}\b/g, MASK],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, MASK],
  // Long opaque strings mixing letters and digits (API keys without a known prefix).
  [/\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}\b/g, MASK],
];

export type Redactor = (text: string) => string;

/** The secret values of one server's config: auth/header values, env values, URL credentials. */
export function configSecrets(cfg: Pick<ServerConfig, 'headers' | 'env' | 'url'>): string[] {
  const out = new Set<string>();
  for (const v of Object.values(cfg.headers ?? {})) {
    out.add(v);
    // "Bearer abc" → also "abc"; "Basic base64" → also the base64 part.
    const m = /^\S+\s+(.+)$/.exec(v);
    if (m) out.add(m[1]!);
  }
  for (const v of Object.values(cfg.env ?? {})) out.add(v);
  if (cfg.url) {
    try {
      const u = new URL(cfg.url);
      if (u.password) out.add(decodeURIComponent(u.password));
      for (const [k, v] of u.searchParams) if (/token|key|secret|pass|auth|sig/i.test(k)) out.add(v);
    } catch { /* not a URL: nothing to add */ }
  }
  return [...out].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

export function createRedactor(secrets: string[] = []): Redactor {
  const mask = secretMasker(secrets);
  return (text: string) => {
    if (!text) return text;
    let out = mask(text);
    for (const [re, by] of PATTERNS) out = out.replace(re, by);
    return out;
  };
}

/** Masks the configured secret values only, as they appear raw and inside JSON text. */
function secretMasker(secrets: string[]): Redactor {
  const values = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    values.add(s);
    values.add(JSON.stringify(s).slice(1, -1));
  }
  const list = [...values].sort((a, b) => b.length - a.length);
  if (list.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  };
}

/**
 * The one place upstream-originated content is made safe for a client: tool
 * results, JSON-RPC errors, log and other notifications, server requests.
 * The server's configured secrets (auth_value, header and env values, URL
 * passwords) are masked in all of it. Error texts (an `isError` result, an
 * error, a log message) are also searched for credential shapes; a
 * successful result is not, because it may rightly hold such a string (a
 * commit sha, a token the tool was asked to mint). Errors are walked value by
 * value, so the JSON stays valid whatever a pattern matches.
 */
export class ClientRedactor {
  private readonly full: Redactor;
  private readonly secretsOnly: Redactor;

  constructor(secrets: string[]) {
    this.full = createRedactor(secrets);
    this.secretsOnly = secretMasker(secrets);
  }

  /** Error and log texts: secrets and credential shapes. */
  text(text: string): string {
    return this.full(text);
  }

  /** JSON text of `value` as a client may see it; `errorText` for failures and logs. */
  json(value: unknown, errorText: boolean): string {
    return errorText ? JSON.stringify(redactStrings(value, this.full)) : this.secretsOnly(JSON.stringify(value));
  }

  /** `value` with every string (keys included) redacted as error text. */
  value(value: unknown): unknown {
    return redactStrings(value, this.full);
  }
}

function redactStrings(value: unknown, redactor: Redactor, depth = 0): unknown {
  if (typeof value === 'string') return redactor(value);
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => redactStrings(v, redactor, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[redactor(k)] = redactStrings(v, redactor, depth + 1);
  return out;
}

export const redact: Redactor = createRedactor();

/**
 * An error's message plus its causes (`fetch failed` says nothing; its cause
 * `ECONNREFUSED 127.0.0.1:8080` does), redacted.
 */
export function describeError(err: unknown, redactor: Redactor = redact): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e && depth < 4; depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      const text = typeof code === 'string' && !e.message.includes(code) ? `${code} ${e.message}`
        // The SDK's StreamableHTTPError carries the HTTP status as a number.
        : typeof code === 'number' && code >= 100 && code < 600 && !e.message.includes(String(code)) ? `HTTP ${code}: ${e.message}`
          : e.message;
      if (text && !parts.some((p) => p.includes(text))) parts.push(text);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return redactor(parts.join(': ') || 'unknown error');
}
