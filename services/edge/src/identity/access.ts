// What a principal may use: server and tool globs, in layers (the team's, then
// the key's or token's own). Every layer must allow an item, so a key narrows
// its team and can never widen it. Compiled once per principal; views of the
// catalog are cached by `Access.key`, so equal scopes share one filtered list.
import picomatch from 'picomatch';

export interface ScopeLayer {
  /** Server name globs; absent: every server. */
  servers?: string[];
  /** Tool globs over exposed names (`server__tool`) or `server/tool`; `!glob` excludes; absent: every tool. */
  tools?: string[];
}

type Match = (s: string) => boolean;

interface CompiledLayer {
  server?: Match;
  toolInclude?: Match;
  toolExclude?: Match;
}

const compileGlobs = (globs: string[]): Match | undefined => (globs.length > 0 ? picomatch(globs, { dot: true, nocase: false }) : undefined);

function compileLayer(layer: ScopeLayer): CompiledLayer {
  const tools = layer.tools ?? [];
  const include = tools.filter((g) => !g.startsWith('!'));
  const exclude = tools.filter((g) => g.startsWith('!')).map((g) => g.slice(1));
  return {
    server: layer.servers ? compileGlobs(layer.servers) ?? (() => false) : undefined,
    // `tools: ["!x"]` alone means "everything but x".
    toolInclude: layer.tools && include.length > 0 ? compileGlobs(include) : undefined,
    toolExclude: compileGlobs(exclude),
  };
}

export class Access {
  /** Equal keys mean equal scopes: the cache key of filtered catalog views. */
  readonly key: string;
  /** True when nothing is restricted (views need no filtering). */
  readonly all: boolean;
  private readonly compiled: CompiledLayer[];

  constructor(readonly layers: ScopeLayer[]) {
    const effective = layers.filter((l) => l.servers !== undefined || l.tools !== undefined);
    this.all = effective.length === 0;
    this.key = this.all ? '*' : JSON.stringify(effective.map((l) => [l.servers ?? null, l.tools ?? null]));
    this.compiled = effective.map(compileLayer);
  }

  static readonly ALL = new Access([]);

  allowsServer(server: string): boolean {
    for (const l of this.compiled) if (l.server && !l.server(server)) return false;
    return true;
  }

  /** `exposed`: the aggregate name (`server__tool`); `name`: the upstream's own. */
  allowsTool(server: string, name: string, exposed: string): boolean {
    if (this.all) return true;
    const slashed = `${server}/${name}`;
    for (const l of this.compiled) {
      if (l.server && !l.server(server)) return false;
      if (l.toolInclude && !l.toolInclude(exposed) && !l.toolInclude(slashed)) return false;
      if (l.toolExclude && (l.toolExclude(exposed) || l.toolExclude(slashed))) return false;
    }
    return true;
  }
}
