import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ServerConfig } from '@mcpgw/common/config';

import { fetchWithToken, type TokenSource } from './oauth2.js';
import { StdioUpstreamTransport } from './stdio.js';
import { fetchWithTrace } from './trace-context.js';

/** A fresh client transport for one upstream, as its config says; `auth` adds its OAuth token to every request. */
export function createTransport(cfg: ServerConfig, onStderr: (line: string) => void, auth?: TokenSource): Transport {
  const traced = auth ? fetchWithToken(fetchWithTrace, auth) : fetchWithTrace;
  const plain = auth ? fetchWithToken(fetch, auth) : fetch;
  switch (cfg.transport) {
    case 'stdio':
      return new StdioUpstreamTransport(cfg, onStderr);
    case 'sse':
      return new SSEClientTransport(new URL(cfg.url!), {
        requestInit: { headers: cfg.headers },
        fetch: traced,
        eventSourceInit: { fetch: (url, init) => plain(url, { ...init, headers: { ...init?.headers as Record<string, string>, ...cfg.headers } }) },
      });
    case 'http':
      return new StreamableHTTPClientTransport(new URL(cfg.url!), { requestInit: { headers: cfg.headers }, fetch: traced });
  }
}
