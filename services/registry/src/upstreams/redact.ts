// Upstream error text reaches /servers, client errors and logs. Upstreams and
// their libraries echo credentials (a URL with a password, a 401 body with
// the token, a stack trace with headers), so every such text passes here:
// configured secret values, URL userinfo, secret-looking query parameters,
// Authorization schemes and token-shaped strings become `***`.
import type { ServerConfig } from '@mcpgw/common/config';

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
  const values = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH);
  return (text: string) => {
    if (!text) return text;
    let out = text;
    for (const s of values) if (out.includes(s)) out = out.split(s).join(MASK);
    for (const [re, by] of PATTERNS) out = out.replace(re, by);
    return out;
  };
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
