// What the gateway itself says in initialize: the fixed set of capabilities it
// implements (never a blind union of upstream capabilities).
import { LEGACY_VERSIONS } from './era/modern.js';

/**
 * The versions a 2025-era session may negotiate: the gateway's own list
 * (era/modern.ts), never the SDK's export, so the gateway advertises what it
 * implements. 2026-07-28 is served statelessly, not through initialize.
 */
export const SUPPORTED_VERSIONS: readonly string[] = LEGACY_VERSIONS;
const LATEST_PROTOCOL_VERSION = LEGACY_VERSIONS[0]!;
export const GATEWAY_INFO = { name: 'mcpgw', title: 'mcpgw MCP gateway', version: '0.1.0' };

export const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  completions: {},
  logging: {},
};

/** The client's version when we support it, else our latest (the spec's rule). */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && SUPPORTED_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** `upstream`: on a per-server view, the upstream's own serverInfo and instructions (a transparent endpoint). */
export function initializeResult(version: string, instructions?: string, upstream?: { serverInfo: object; instructions?: string }, capabilities: object = CAPABILITIES): string {
  const said = instructions ?? upstream?.instructions;
  return JSON.stringify({ protocolVersion: version, capabilities, serverInfo: upstream?.serverInfo ?? GATEWAY_INFO, ...(said ? { instructions: said } : {}) });
}

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
