// One upstream MCP server: one long-lived SDK client, reconnected with capped
// backoff when it drops. Calls never re-initialize and never list first.
import { createHash } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  McpError,
  ErrorCode as SdkErrorCode,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { backoffDelay } from '@mcpgw/common/backoff';
import { ErrorCode, upstreamError, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import type { ServerConfig } from '@mcpgw/common/config';
import type { Logger } from '@mcpgw/common/logger';
import { createTransport } from './transports.js';

/** Upstream results pass through untouched: their shape is the upstream's business. */
const PassthroughResult = z.looseObject({});

export type UpstreamState = 'connecting' | 'up' | 'down';

export interface CatalogContents {
  name: string;
  hash: string;
  tools: unknown[];
  resources: unknown[];
  resourceTemplates: unknown[];
  prompts: unknown[];
  description: string;
  serverInfo: unknown;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onProgress?: (p: Progress) => void;
}

/** A failed upstream request, already shaped as the JSON-RPC error the client gets. */
export class UpstreamCallError extends Error {
  constructor(readonly error: JsonRpcError) {
    super(error.message);
  }
}

const CLIENT_INFO = { name: 'mcpgw', version: '0.1.0' };
const LIST_TIMEOUT_MS = 30_000;
const MAX_PAGES = 100;

export class Upstream {
  state: UpstreamState = 'connecting';
  lastError = '';
  lastSeenMs = 0;
  toolCount = 0;
  private inFlight = 0;
  private client?: Client;
  private stopped = false;
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private refreshAgain = false;

  constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly onContents: (c: CatalogContents) => void,
    private readonly onStateChange: (u: Upstream) => void = () => {},
  ) {}

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => {});
  }

  async request(method: string, params: Record<string, unknown> | undefined, opts: CallOptions = {}): Promise<Record<string, unknown>> {
    const client = this.client;
    if (!client || this.state !== 'up') {
      throw new UpstreamCallError(upstreamError(ErrorCode.UpstreamUnavailable, this.config.name,
        `not connected${this.lastError ? ` (${this.lastError})` : ''}`));
    }
    // A bounded upstream: past the limit the caller hears it at once instead of queueing without bound.
    if (this.inFlight >= this.config.maxConcurrency) {
      throw new UpstreamCallError(upstreamError(ErrorCode.Overloaded, this.config.name, `busy: ${this.inFlight} requests in flight (max_concurrency)`));
    }
    const timeout = Math.min(opts.timeoutMs || this.config.timeoutMs, this.config.timeoutMs);
    this.inFlight++;
    try {
      const result = await client.request({ method, params } as never, PassthroughResult, {
        signal: opts.signal,
        timeout,
        onprogress: opts.onProgress,
        resetTimeoutOnProgress: false,
      });
      this.lastSeenMs = Date.now();
      return result;
    } catch (err) {
      throw new UpstreamCallError(this.toJsonRpcError(err, timeout));
    } finally {
      this.inFlight--;
    }
  }

  private toJsonRpcError(err: unknown, timeout: number): JsonRpcError {
    const name = this.config.name;
    if (err instanceof McpError) {
      if (err.code === SdkErrorCode.RequestTimeout) return upstreamError(ErrorCode.RequestTimeout, name, `timed out after ${timeout} ms`);
      if (err.code === SdkErrorCode.ConnectionClosed) return upstreamError(ErrorCode.UpstreamUnavailable, name, 'connection closed during the request');
      // The upstream's own JSON-RPC error: code, message and data pass through.
      return { code: err.code, message: err.message.replace(/^MCP error -?\d+: /, ''), data: err.data };
    }
    const message = err instanceof Error ? err.message : String(err);
    return upstreamError(ErrorCode.UpstreamUnavailable, name, message);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    const transport = createTransport(this.config);
    if (transport instanceof StdioClientTransport) this.captureStderr(transport);
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    client.onerror = (err) => this.log.debug({ server: this.config.name, err: err.message }, 'upstream transport error');
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => this.refresh());
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => this.refresh());
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => this.refresh());
    try {
      await client.connect(transport, { timeout: LIST_TIMEOUT_MS });
    } catch (err) {
      this.fail(`connect failed: ${(err as Error).message}`);
      await client.close().catch(() => {});
      return;
    }
    if (this.stopped) {
      await client.close().catch(() => {});
      return;
    }
    // Registered after connect so a failed connect does not schedule twice.
    client.onclose = () => {
      if (this.client === client) {
        this.client = undefined;
        this.fail('connection closed');
      }
    };
    this.client = client;
    this.attempt = 0;
    this.lastSeenMs = Date.now();
    this.lastError = '';
    this.setState('up');
    this.log.info({ server: this.config.name, transport: this.config.transport }, 'upstream connected');
    this.refresh();
  }

  private fail(reason: string): void {
    this.lastError = reason;
    this.setState('down');
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt++);
    this.log.warn({ server: this.config.name, reason, retryInMs: delay }, 'upstream down');
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref();
  }

  private setState(state: UpstreamState): void {
    if (this.state === state) return;
    this.state = state;
    this.onStateChange(this);
  }

  private captureStderr(transport: StdioClientTransport): void {
    let buffered = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trimEnd();
        buffered = buffered.slice(nl + 1);
        if (line) this.log.info({ server: this.config.name, stderr: line.slice(0, 2000) }, 'upstream stderr');
      }
      if (buffered.length > 64 * 1024) buffered = '';
    });
  }

  /** Re-read the upstream's lists; coalesces bursts of list_changed notifications. */
  refresh(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = this.readContents()
      .then((c) => {
        this.toolCount = c.tools.length;
        this.onContents(c);
      })
      .catch((err: unknown) => this.log.warn({ server: this.config.name, err: (err as Error).message }, 'catalog refresh failed'))
      .finally(() => {
        this.refreshing = undefined;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refresh();
        }
      });
  }

  private async readContents(): Promise<CatalogContents> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    const caps = client.getServerCapabilities() ?? {};
    const tools = caps.tools ? await this.listAll(client, 'tools/list', 'tools') : [];
    const resources = caps.resources ? await this.listAll(client, 'resources/list', 'resources') : [];
    const resourceTemplates = caps.resources ? await this.listAll(client, 'resources/templates/list', 'resourceTemplates').catch(() => []) : [];
    const prompts = caps.prompts ? await this.listAll(client, 'prompts/list', 'prompts') : [];
    const filtered = tools.filter((t) => this.isToolAllowed((t as { name?: unknown }).name));
    const serverInfo = { serverInfo: client.getServerVersion(), capabilities: caps, instructions: client.getInstructions() };
    const body = JSON.stringify([filtered, resources, resourceTemplates, prompts]);
    return {
      name: this.config.name,
      hash: createHash('sha256').update(body).digest('hex'),
      tools: filtered,
      resources,
      resourceTemplates,
      prompts,
      description: this.config.description ?? '',
      serverInfo,
    };
  }

  private isToolAllowed(name: unknown): boolean {
    if (typeof name !== 'string') return false;
    const { allowedTools, disallowedTools } = this.config;
    if (allowedTools) return allowedTools.includes(name);
    if (disallowedTools) return !disallowedTools.includes(name);
    return true;
  }

  /** Follows nextCursor through every page. */
  private async listAll(client: Client, method: string, key: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await client.request({ method, params: cursor ? { cursor } : {} } as never, PassthroughResult, { timeout: LIST_TIMEOUT_MS });
      const list = result[key];
      if (Array.isArray(list)) items.push(...list);
      cursor = typeof result.nextCursor === 'string' && result.nextCursor ? result.nextCursor : undefined;
      if (!cursor) break;
    }
    return items;
  }
}
