// The edge's copy of the catalog, kept current by WatchCatalog. Lists are
// answered from bytes serialised here once per catalog change, never per
// request; names are resolved by lookup, never by splitting strings.
import type { CatalogEvent, ServerCatalog } from '@mcpgw/proto/registry';
import { exposedName } from '@mcpgw/common/naming';
import { Access } from './identity/access.js';
import { mapResourceTemplate, mapResourceUri } from './catalog/resource-uris.js';

export type ListName = 'tools' | 'prompts' | 'resources';

export interface ToolRoute {
  server: string;
  /** The upstream's own name. */
  name: string;
}

interface Named {
  name?: unknown;
  [key: string]: unknown;
}

/** One item of the aggregate, with where it comes from (scoped views filter these). */
interface Entry {
  server: string;
  /** The upstream's own name (tools, prompts). */
  name?: string;
  /** The item as the aggregate lists it. */
  item: Named;
  /** The upstream's own URI (or template) when the aggregate lists it renamed (catalog/resource-uris.ts). */
  raw?: string;
}

interface Built {
  separator: string;
  aggregate: View;
  tools: Entry[];
  prompts: Entry[];
  resources: Entry[];
  templates: Entry[];
  perServer: Map<string, View>;
  /** Per server: the item arrays of its own view (unprefixed names). */
  perServerItems: Map<string, { tools: Named[]; prompts: Named[]; resources: Named[]; templates: Named[] }>;
}

/** How many distinct scope sets keep a cached filtered view. */
const SCOPED_CACHE_MAX = 256;

export interface View {
  /** JSON text of the `result` of tools/list, prompts/list, ... */
  toolsList: string;
  promptsList: string;
  resourcesList: string;
  resourceTemplatesList: string;
  tools: Map<string, ToolRoute>;
  /** Tool name -> the tool as listed (its inputSchema: 2026 Mcp-Param-* headers mirror marked arguments). */
  toolDefs: Map<string, Named>;
  prompts: Map<string, ToolRoute>;
  /**
   * Resource URI -> server: as listed (a URI two servers list is renamed per
   * server on the aggregate, catalog/resource-uris.ts), plus the upstream's own
   * URI of a renamed one, which reads from the first server by name.
   */
  resources: Map<string, string>;
  /** Resource template URI pattern -> server (for completion/complete by ref/resource). */
  templates: Map<string, string>;
}

const EMPTY_VIEW: View = {
  toolsList: '{"tools":[]}', promptsList: '{"prompts":[]}', resourcesList: '{"resources":[]}', resourceTemplatesList: '{"resourceTemplates":[]}',
  tools: new Map(), toolDefs: new Map(), prompts: new Map(), resources: new Map(), templates: new Map(),
};

export class CatalogView {
  private readonly servers = new Map<string, ServerCatalog>();
  private built: Built = { separator: '', aggregate: EMPTY_VIEW, tools: [], prompts: [], resources: [], templates: [], perServer: new Map(), perServerItems: new Map() };
  /** Filtered views by `${server ?? ''}\0${access.key}`; dropped on every catalog change. */
  private scoped = new Map<string, View>();
  private readonly listeners = new Set<(changed: ChangeSet) => void>();
  /** Parsed upstream serverInfo by server, with the catalog hash it was parsed from. */
  private readonly infos = new Map<string, { hash: string; info: UpstreamInfo | undefined }>();
  version = 0;
  /** True once the first snapshot arrived; never goes back (readiness). */
  ready = false;

  constructor(private readonly separator: string) {}

  apply(event: CatalogEvent): void {
    if (event.snapshot) this.servers.clear();
    for (const s of event.servers) this.servers.set(s.name, s);
    for (const name of event.removedServers) this.servers.delete(name);
    this.version = Number(event.version);
    if (event.snapshot) this.ready = true;
    const before = this.built;
    this.built = this.rebuild();
    this.scoped = new Map();
    const after = this.built;
    // Which lists changed, as a given principal sees them: a change outside
    // someone's scopes is not announced to them.
    const memo = new Map<string, ListName[]>();
    const changedFor = (access: Access): ListName[] => {
      let c = memo.get(access.key);
      if (!c) {
        const b = filterView(before, undefined, access);
        const a = filterView(after, undefined, access);
        c = LIST_NAMES.filter((n) => b[`${n}List`] !== a[`${n}List`]);
        memo.set(access.key, c);
      }
      return c;
    };
    if (changedFor(Access.ALL).length > 0) for (const l of this.listeners) l({ changedFor });
  }

  /** Called when some list changed; `changedFor` says which, as one principal sees them. */
  onChange(listener: (changed: ChangeSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  serverNames(): string[] {
    return [...this.servers.keys()];
  }

  hasServer(name: string): boolean {
    return this.servers.has(name);
  }

  /** A server exists and the principal may use it (else it is answered like an unknown server). */
  visibleServer(name: string, access: Access): boolean {
    return this.servers.has(name) && access.allowsServer(name);
  }

  /** Per server: its tools with their aggregate names, as a tools/list result (REST `?server=`). */
  aggregateToolsListOf(server: string, access: Access = Access.ALL): string {
    // Cached with the scoped views (same key space, distinct prefix), so a REST `?server=` list is built once per catalog version.
    const key = `rest\0${server}\0${access.key}`;
    let v = this.scoped.get(key);
    if (!v) {
      const tools = this.built.tools.filter((e) => e.server === server && access.allowsTool(e.server, e.name!, e.item.name as string));
      v = viewOf(tools, [], [], []);
      if (this.scoped.size >= SCOPED_CACHE_MAX) this.scoped.delete(this.scoped.keys().next().value!);
      this.scoped.set(key, v);
    }
    return v.toolsList;
  }

  /**
   * The upstream's own serverInfo (name, version, title) and instructions, from
   * its initialize (or discover) result: a per-server view is a transparent
   * endpoint of that server, so it says who it is (issue 22).
   */
  upstreamInfo(name: string): UpstreamInfo | undefined {
    const s = this.servers.get(name);
    if (!s || s.serverInfoJson.length === 0) return undefined;
    const cached = this.infos.get(name);
    if (cached && cached.hash === s.hash) return cached.info;
    const info = parseUpstreamInfo(s.serverInfoJson);
    this.infos.set(name, { hash: s.hash, info });
    return info;
  }

  /** A 2026-07-28 upstream: its calls may ask the client for input (reverse MRTR), so a 2025 client's call to it streams. */
  isModern(name: string): boolean {
    return this.upstreamInfo(name)?.protocolVersion === '2026-07-28';
  }

  /** `session: per_client` servers: their calls may carry server-to-client traffic. */
  isPerClient(name: string): boolean {
    return this.servers.get(name)?.perClient ?? false;
  }

  /** `auth_type: client_header` servers: the request header holding the caller's credential for this server ('' = none). */
  credentialHeader(name: string): string {
    return this.servers.get(name)?.credentialHeader ?? '';
  }

  /** `auth_type: token_exchange` servers: the RFC 8693 parameters (JSON, no secret); '' = not such a server. */
  tokenExchange(name: string): string {
    return this.servers.get(name)?.tokenExchangeJson ?? '';
  }

  /**
   * The aggregate view, or one server's unprefixed view, as `access` may see
   * it: filtered once per (catalog version, scope set), then served from the
   * cache, so a filtered list costs what an unfiltered one does.
   */
  view(server?: string, access: Access = Access.ALL): View | undefined {
    if (server !== undefined && !access.allowsServer(server)) return undefined;
    const base = server === undefined ? this.built.aggregate : this.built.perServer.get(server);
    if (!base || access.all) return base;
    const key = `${server ?? ''}\0${access.key}`;
    let v = this.scoped.get(key);
    if (!v) {
      v = filterView(this.built, server, access);
      if (this.scoped.size >= SCOPED_CACHE_MAX) this.scoped.delete(this.scoped.keys().next().value!);
      this.scoped.set(key, v);
    }
    return v;
  }

  private rebuild(): Built {
    const names = [...this.servers.keys()].sort();
    const b: Built = { separator: this.separator, aggregate: EMPTY_VIEW, tools: [], prompts: [], resources: [], templates: [], perServer: new Map(), perServerItems: new Map() };
    for (const server of names) {
      const s = this.servers.get(server)!;
      const own = {
        tools: parseList(s.toolsJson), prompts: parseList(s.promptsJson),
        resources: parseList(s.resourcesJson).filter((r) => typeof r.uri === 'string'),
        templates: parseList(s.resourceTemplatesJson).filter((t) => typeof t.uriTemplate === 'string'),
      };
      own.tools = own.tools.filter((t) => typeof t.name === 'string');
      own.prompts = own.prompts.filter((t) => typeof t.name === 'string');
      for (const t of own.tools) b.tools.push({ server, name: t.name as string, item: { ...t, name: exposedName(server, t.name as string, this.separator) } });
      for (const p of own.prompts) b.prompts.push({ server, name: p.name as string, item: { ...p, name: exposedName(server, p.name as string, this.separator) } });
      for (const r of own.resources) b.resources.push({ server, item: r });
      for (const t of own.templates) b.templates.push({ server, item: t });
      b.perServerItems.set(server, own);
      b.perServer.set(server, viewOf(
        own.tools.map((t) => ({ server, name: t.name as string, item: t })),
        own.prompts.map((p) => ({ server, name: p.name as string, item: p })),
        own.resources.map((r) => ({ server, item: r })),
        own.templates.map((t) => ({ server, item: t })),
        // The per-server tools list is the upstream's bytes as they came.
        `{"tools":${s.toolsJson.length ? s.toolsJson.toString('utf8') : '[]'}}`,
      ));
    }
    renameCollisions(b.resources, 'uri', mapResourceUri);
    renameCollisions(b.templates, 'uriTemplate', mapResourceTemplate);
    b.aggregate = viewOf(b.tools, b.prompts, b.resources, b.templates);
    return b;
  }
}

export interface ChangeSet {
  changedFor(access: Access): ListName[];
}

const LIST_NAMES: ListName[] = ['tools', 'prompts', 'resources'];

/** A view of the given entries: list texts and name routes (the first server wins a resource URI). */
function viewOf(tools: Entry[], prompts: Entry[], resources: Entry[], templates: Entry[], toolsList?: string): View {
  const routes = (entries: Entry[]) => new Map(entries.map((e) => [e.item.name as string, { server: e.server, name: e.name! }]));
  const byKey = (entries: Entry[], key: 'uri' | 'uriTemplate') => {
    const m = new Map<string, string>();
    for (const e of entries) if (!m.has(e.item[key] as string)) m.set(e.item[key] as string, e.server);
    // The upstream's own URI of a renamed one: the first server by name, as before renaming.
    for (const e of entries) if (e.raw !== undefined && !m.has(e.raw)) m.set(e.raw, e.server);
    return m;
  };
  return {
    toolsList: toolsList ?? JSON.stringify({ tools: tools.map((e) => e.item) }),
    promptsList: JSON.stringify({ prompts: prompts.map((e) => e.item) }),
    resourcesList: JSON.stringify({ resources: resources.map((e) => e.item) }),
    resourceTemplatesList: JSON.stringify({ resourceTemplates: templates.map((e) => e.item) }),
    tools: routes(tools),
    toolDefs: new Map(tools.map((e) => [e.item.name as string, e.item])),
    prompts: routes(prompts),
    resources: byKey(resources, 'uri'),
    templates: byKey(templates, 'uriTemplate'),
  };
}

/** Tools by tool scopes; prompts, resources and templates by server scopes. */
function filterView(b: Built, server: string | undefined, access: Access): View {
  if (server !== undefined) {
    const own = b.perServerItems.get(server);
    if (!own || !access.allowsServer(server)) return EMPTY_VIEW;
    const entries = (items: Named[], named: boolean) => items.map((item) => ({ server, name: named ? item.name as string : undefined, item }));
    const tools = entries(own.tools, true).filter((e) => access.allowsTool(server, e.name!, exposedName(server, e.name!, b.separator)));
    return viewOf(tools, entries(own.prompts, true), entries(own.resources, false), entries(own.templates, false));
  }
  const byServer = (e: Entry) => access.allowsServer(e.server);
  return viewOf(
    b.tools.filter((e) => access.allowsTool(e.server, e.name!, e.item.name as string)),
    b.prompts.filter(byServer), b.resources.filter(byServer), b.templates.filter(byServer),
  );
}

function parseList(bytes: Buffer): Named[] {
  if (bytes.length === 0) return [];
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  return Array.isArray(value) ? (value.filter((v) => v && typeof v === 'object') as Named[]) : [];
}

export interface UpstreamInfo {
  serverInfo: { name: string; version: string; title?: string };
  instructions?: string;
  /** Set by the registry for 2026-07-28 upstreams. */
  protocolVersion?: string;
}

/** serverInfo from an initialize result (`serverInfo`) or a 2026 discover result (`_meta["io.modelcontextprotocol/serverInfo"]`). */
export function parseUpstreamInfo(json: Buffer): UpstreamInfo | undefined {
  try {
    const r = JSON.parse(json.toString('utf8')) as { serverInfo?: Record<string, unknown>; instructions?: unknown; protocolVersion?: unknown; _meta?: Record<string, Record<string, unknown> | undefined> };
    const si = r.serverInfo ?? r._meta?.['io.modelcontextprotocol/serverInfo'];
    if (!si || typeof si.name !== 'string' || typeof si.version !== 'string') return undefined;
    return {
      serverInfo: { name: si.name, version: si.version, ...(typeof si.title === 'string' ? { title: si.title } : {}) },
      ...(typeof r.instructions === 'string' && r.instructions ? { instructions: r.instructions } : {}),
      ...(typeof r.protocolVersion === 'string' ? { protocolVersion: r.protocolVersion } : {}),
    };
  } catch {
    return undefined;
  }
}

/** URIs (or templates) that more than one server lists are renamed on the aggregate, one per server (reversibly). */
function renameCollisions(entries: Entry[], key: 'uri' | 'uriTemplate', rename: (server: string, uri: string) => string): void {
  const servers = new Map<string, Set<string>>();
  for (const e of entries) {
    const k = e.item[key] as string;
    let s = servers.get(k);
    if (!s) servers.set(k, (s = new Set()));
    s.add(e.server);
  }
  for (const e of entries) {
    const k = e.item[key] as string;
    if (servers.get(k)!.size < 2) continue;
    e.raw = k;
    e.item = { ...e.item, [key]: rename(e.server, k) };
  }
}
