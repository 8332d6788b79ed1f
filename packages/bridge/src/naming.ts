import { createHash } from 'node:crypto';

// The same rule the gateway uses for names on its aggregate views
// (packages/common/src/naming.ts, `exposedName`), copied so that this package
// can be published on its own. test/bridge/naming.test.ts checks both agree.
const SAFE_NAME = /^[A-Za-z0-9_-]+$/;
/** The longest function name OpenAI, Anthropic and most OpenAI-compatible servers accept. */
export const MAX_TOOL_NAME_LENGTH = 64;

function shorten(joined: string, hashed: string): string {
  if (joined.length <= MAX_TOOL_NAME_LENGTH && SAFE_NAME.test(joined)) return joined;
  const digest = createHash('sha256').update(hashed).digest('hex').slice(0, 8);
  return `${joined.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 55)}_${digest}`;
}

/**
 * The gateway's name for tool `name` of `server`: `<server><separator><name>`,
 * or, when that is longer than 64 characters or has characters outside
 * `[A-Za-z0-9_-]`, its first 55 characters (others replaced by `_`), `_` and
 * 8 hex digits of sha256(server + "\0" + name).
 */
export function exposedName(server: string, name: string, separator = '__'): string {
  return shorten(`${server}${separator}${name}`, `${server}\0${name}`);
}

/**
 * The name an LLM provider sees for the MCP tool `name`: unchanged when it is
 * valid (as every name the gateway exposes is), otherwise shortened by the
 * gateway's rule with sha256(name) as the hash.
 */
export function providerToolName(name: string): string {
  return shorten(name, name);
}

/**
 * Remembers which MCP tool a provider-facing name stands for, so a tool call
 * naming a shortened name resolves back to the MCP tool. Only names that
 * changed are stored; any other name resolves to itself.
 */
export class ToolNameMap {
  readonly #toMcp = new Map<string, string>();

  /** Records `mcpName` and returns the name to show the provider. */
  add(mcpName: string): string {
    const provider = providerToolName(mcpName);
    if (provider !== mcpName) this.#toMcp.set(provider, mcpName);
    return provider;
  }

  /** The MCP tool name for a name the provider used. */
  toMcp(providerName: string): string {
    return this.#toMcp.get(providerName) ?? providerName;
  }

  get size(): number {
    return this.#toMcp.size;
  }
}

/**
 * The map used when a call does not pass its own. The shortened names carry a
 * hash of the original, so one shared map cannot confuse two tools; it holds
 * only names that had to be shortened.
 */
export const defaultToolNames = new ToolNameMap();
