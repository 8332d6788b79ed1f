// 2026-07-28 over Streamable HTTP: tool parameters annotated `x-mcp-header`
// are mirrored into `Mcp-Param-{name}` headers on every call, so that
// intermediaries can route on them; the server checks header against body.
import { headerValue } from './http-call.js';

export interface ParamHeader {
  /** The chain of `properties` keys from the schema root. */
  path: string[];
  /** The `{name}` of `Mcp-Param-{name}`. */
  name: string;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean']);

/** The annotated parameters of one tool's inputSchema; throws (naming the rule) when an annotation is invalid. */
export function paramHeadersOf(schema: unknown): ParamHeader[] {
  const out: ParamHeader[] = [];
  const seen = new Set<string>();
  const walk = (node: unknown, path: string[]): void => {
    const props = (node as { properties?: unknown } | undefined)?.properties;
    if (!props || typeof props !== 'object') return;
    for (const [key, sub] of Object.entries(props as Record<string, unknown>)) {
      if (!sub || typeof sub !== 'object') continue;
      const header = (sub as Record<string, unknown>)['x-mcp-header'];
      if (header !== undefined) {
        if (typeof header !== 'string' || !TOKEN.test(header)) throw new Error(`x-mcp-header of '${[...path, key].join('.')}' is not an HTTP token`);
        const lower = header.toLowerCase();
        if (seen.has(lower)) throw new Error(`x-mcp-header '${header}' is used twice`);
        const type = (sub as { type?: unknown }).type;
        if (typeof type !== 'string' || !PRIMITIVE.has(type)) throw new Error(`x-mcp-header '${header}' is on a parameter of type ${JSON.stringify(type)} (string, integer or boolean only)`);
        seen.add(lower);
        out.push({ path: [...path, key], name: header });
      }
      walk(sub, [...path, key]);
    }
  };
  walk(schema, []);
  return out;
}

/** The `Mcp-Param-*` headers of one call; a parameter absent or null sends no header. */
export function mcpParamHeaders(params: ParamHeader[], args: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const p of params) {
    let value: unknown = args;
    for (const key of p.path) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (value === undefined || value === null) continue;
    headers[`mcp-param-${p.name.toLowerCase()}`] = typeof value === 'string' ? headerValue(value) : String(value);
  }
  return headers;
}
