// The edge's copy of the catalog, kept current by WatchCatalog. Lists are
// answered from bytes serialised here once per catalog change, never per
// request; names are resolved by lookup, never by splitting strings.
import type { CatalogEvent, ServerCatalog } from '@mcpgw/proto/registry';
import { exposedName } from '@mcpgw/common/naming';

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

interface View {
  /** JSON text of the `result` of tools/list, prompts/list, ... */
  toolsList: string;
  promptsList: string;
  resourcesList: string;
  resourceTemplatesList: string;
  tools: Map<string, ToolRoute>;
  prompts: Map<string, ToolRoute>;
  /** Resource URI -> server. URIs are not renamed (yet); the first server wins. */
  resources: Map<string, string>;
  /** Resource template URI pattern -> server (for completion/complete by ref/resource). */
  templates: Map<string, string>;
}

const EMPTY_VIEW: View = {
  toolsList: '{"tools":[]}', promptsList: '{"prompts":[]}', resourcesList: '{"resources":[]}', resourceTemplatesList: '{"resourceTemplates":[]}',
  tools: new Map(), prompts: new Map(), resources: new Map(), templates: new Map(),
};

export class CatalogView {
  private readonly servers = new Map<string, ServerCatalog>();
  private aggregate: View = EMPTY_VIEW;
  private readonly perServer = new Map<string, View>();
  /** Per server: its tools with their aggregate names, as a tools/list result (REST `?server=`). */
  private readonly aggregateToolsByServer = new Map<string, string>();
  private readonly listeners = new Set<(changed: ListName[]) => void>();
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
    const before = this.aggregate;
    this.rebuild();
    const after = this.aggregate;
    const changed = (['tools', 'prompts', 'resources'] as const).filter((n) => before[`${n}List`] !== after[`${n}List`]);
    if (changed.length > 0) for (const l of this.listeners) l(changed);
  }

  /** Called with the aggregate lists whose contents changed. */
  onChange(listener: (changed: ListName[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  serverNames(): string[] {
    return [...this.servers.keys()];
  }

  hasServer(name: string): boolean {
    return this.servers.has(name);
  }

  aggregateToolsListOf(server: string): string {
    return this.aggregateToolsByServer.get(server) ?? '{"tools":[]}';
  }

  /** `session: per_client` servers: their calls may carry server-to-client traffic. */
  isPerClient(name: string): boolean {
    return this.servers.get(name)?.perClient ?? false;
  }

  /** The aggregate view, or one server's unprefixed view. */
  view(server?: string): View | undefined {
    return server === undefined ? this.aggregate : this.perServer.get(server);
  }

  /**
   * Adds a server's named items (tools, prompts) to the aggregate under their
   * exposed names; returns the server's own routes (its per-server view).
   */
  private addNamed(server: string, items: Named[], aggregate: Map<string, ToolRoute>, out: Named[]): Map<string, ToolRoute> {
    const own = new Map<string, ToolRoute>();
    for (const item of items) {
      if (typeof item.name !== 'string') continue;
      const route = { server, name: item.name };
      const exposed = exposedName(server, item.name, this.separator);
      aggregate.set(exposed, route);
      own.set(item.name, route);
      out.push({ ...item, name: exposed });
    }
    return own;
  }

  private rebuild(): void {
    const names = [...this.servers.keys()].sort();
    const all = { tools: [] as Named[], prompts: [] as Named[], resources: [] as Named[], templates: [] as Named[] };
    const tools = new Map<string, ToolRoute>();
    const prompts = new Map<string, ToolRoute>();
    const resources = new Map<string, string>();
    const templates = new Map<string, string>();
    this.perServer.clear();
    this.aggregateToolsByServer.clear();
    for (const server of names) {
      const s = this.servers.get(server)!;
      const own = {
        tools: parseList(s.toolsJson), prompts: parseList(s.promptsJson),
        resources: parseList(s.resourcesJson), templates: parseList(s.resourceTemplatesJson),
      };
      const ownResources = new Map<string, string>();
      const firstTool = all.tools.length;
      const ownTools = this.addNamed(server, own.tools, tools, all.tools);
      this.aggregateToolsByServer.set(server, JSON.stringify({ tools: all.tools.slice(firstTool) }));
      const ownPrompts = this.addNamed(server, own.prompts, prompts, all.prompts);
      for (const r of own.resources) {
        if (typeof r.uri !== 'string') continue;
        if (!resources.has(r.uri)) resources.set(r.uri, server);
        ownResources.set(r.uri, server);
        all.resources.push(r);
      }
      const ownTemplates = new Map<string, string>();
      for (const t of own.templates) {
        if (typeof t.uriTemplate !== 'string') continue;
        if (!templates.has(t.uriTemplate)) templates.set(t.uriTemplate, server);
        ownTemplates.set(t.uriTemplate, server);
      }
      all.templates.push(...own.templates);
      this.perServer.set(server, {
        toolsList: `{"tools":${s.toolsJson.length ? s.toolsJson.toString('utf8') : '[]'}}`,
        promptsList: JSON.stringify({ prompts: own.prompts }),
        resourcesList: JSON.stringify({ resources: own.resources }),
        resourceTemplatesList: JSON.stringify({ resourceTemplates: own.templates }),
        tools: ownTools,
        prompts: ownPrompts,
        resources: ownResources,
        templates: ownTemplates,
      });
    }
    this.aggregate = {
      toolsList: JSON.stringify({ tools: all.tools }),
      promptsList: JSON.stringify({ prompts: all.prompts }),
      resourcesList: JSON.stringify({ resources: all.resources }),
      resourceTemplatesList: JSON.stringify({ resourceTemplates: all.templates }),
      tools,
      prompts,
      resources,
      templates,
    };
  }
}

function parseList(bytes: Buffer): Named[] {
  if (bytes.length === 0) return [];
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  return Array.isArray(value) ? (value.filter((v) => v && typeof v === 'object') as Named[]) : [];
}
