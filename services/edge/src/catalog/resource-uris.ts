// Resource URIs on aggregate views (issue 22, docs/tasks.md "Resource URIs"):
// two upstreams may list the same URI (`file:///README.md`), and the aggregate
// must list both without one hiding the other. A URI listed by more than one
// server is listed once per server in a reversible form,
//
//   mcpgw://<server>/<percent-encoded upstream URI>
//
// (templates: the literal parts percent-encoded, `{…}` expressions kept, so an
// expanded template is a mapped URI). A URI that only one server lists stays as
// the upstream wrote it, so links in tool results keep matching resources/list.
// Any mapped URI of a server the caller may see is readable, listed or not,
// and the upstream's own URI of a collision still reads from the first server
// by name (as before). Per-server views never rename anything.
export const MAPPED_PREFIX = 'mcpgw://';

/** The aggregate's name for `uri` of `server`. */
export function mapResourceUri(server: string, uri: string): string {
  return `${MAPPED_PREFIX}${server}/${encodeURIComponent(uri)}`;
}

/** The aggregate's name for a template: literal parts encoded, expressions kept (RFC 6570). */
export function mapResourceTemplate(server: string, template: string): string {
  const parts = template.split(/(\{[^}]*\})/);
  return `${MAPPED_PREFIX}${server}/${parts.map((p) => (p.startsWith('{') && p.endsWith('}') ? p : encodeURIComponent(p))).join('')}`;
}

/** The server and upstream URI a mapped URI stands for; undefined for any other URI. */
export function unmapResourceUri(uri: string): { server: string; uri: string } | undefined {
  if (!uri.startsWith(MAPPED_PREFIX)) return undefined;
  const rest = uri.slice(MAPPED_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const server = rest.slice(0, slash);
  if (!/^[A-Za-z0-9_-]+$/.test(server)) return undefined;
  try {
    return { server, uri: decodeURIComponent(rest.slice(slash + 1)) };
  } catch {
    return undefined;
  }
}
