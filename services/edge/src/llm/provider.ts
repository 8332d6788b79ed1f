// The OpenAI-compatible upstreams of the config's `model_list`: one pooled
// undici Agent (keep-alive connections per provider origin), the upstream's
// own api key (never the client's credential), bounded waits. Failures become
// ProviderError with the status and OpenAI-shaped body the client will see.
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors, request } from 'undici';
import type { ModelConfig } from '@mcpgw/common/config';
import { createRedactor } from '@mcpgw/common/redact';
import { OpenAIError, type OpenAIErrorBody } from './errors.js';

export type ProviderEndpoint = 'chat/completions' | 'responses';

export interface ProviderOptions {
  /** Time to the provider's headers, and between two body chunks. */
  timeoutMs: number;
  maxConnections: number;
}

export interface ProviderStream {
  status: number;
  contentType: string;
  body: Readable;
}

/** An OpenAI-compatible provider's non-2xx answer, or a failure to get one, as the client sees it. */
export class ProviderError extends OpenAIError {}

export class Providers {
  private readonly agent: Agent;
  private byName: Map<string, ModelConfig>;

  constructor(private current: ModelConfig[], private readonly opts: ProviderOptions) {
    this.byName = new Map(current.map((m) => [m.name, m]));
    this.agent = new Agent({ connections: opts.maxConnections, keepAliveTimeout: 30_000, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs });
  }

  get models(): readonly ModelConfig[] {
    return this.current;
  }

  get(name: string): ModelConfig | undefined {
    return this.byName.get(name);
  }

  /** A reloaded model_list: requests under way keep the model they looked up. */
  replace(models: ModelConfig[]): void {
    this.current = models;
    this.byName = new Map(models.map((m) => [m.name, m]));
  }

  /** The request as it goes upstream: the upstream's model name, streaming or not. */
  private async send(model: ModelConfig, endpoint: ProviderEndpoint, body: Record<string, unknown>, signal?: AbortSignal): Promise<{ status: number; contentType: string; body: Readable }> {
    const timeout = model.timeoutMs ?? this.opts.timeoutMs;
    try {
      const res = await request(`${model.apiBase}/${endpoint}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/json', accept: body.stream ? 'text/event-stream' : 'application/json', ...(model.apiKey ? { authorization: `Bearer ${model.apiKey}` } : {}) },
        body: JSON.stringify({ ...body, model: model.model }),
        signal,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), body: res.body as unknown as Readable };
    } catch (err) {
      throw this.failure(model, err, timeout);
    }
  }

  /** A failure to reach the provider or to hear from it in time, in OpenAI's error shape. */
  failure(model: ModelConfig, err: unknown, timeout = model.timeoutMs ?? this.opts.timeoutMs): OpenAIError {
    if (err instanceof OpenAIError) return err;
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || (err as Error).name === 'TimeoutError') {
      return new ProviderError(504, { message: `model '${model.name}': the provider did not answer within ${timeout} ms`, type: 'timeout', code: 'provider_timeout' });
    }
    if ((err as Error).name === 'AbortError') return new ProviderError(499, { message: 'the client closed the request', type: 'cancelled', code: 'client_closed' });
    // Only a network failure is the provider's; anything else is the gateway's own fault and says so.
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (err instanceof undiciErrors.UndiciError || typeof code === 'string') {
      return new ProviderError(502, { message: `model '${model.name}': the provider could not be reached (${code ?? (err as Error).message})`, type: 'api_error', code: 'provider_unavailable' });
    }
    return new OpenAIError(500, { message: `the gateway failed on this request (${(err as Error)?.message ?? String(err)})`, type: 'server_error', code: 'internal_error' });
  }

  /** A non-streaming call: the parsed JSON answer, or ProviderError with the provider's status and error. */
  async json(model: ModelConfig, endpoint: ProviderEndpoint, body: Record<string, unknown>, signal?: AbortSignal): Promise<Record<string, unknown>> {
    const res = await this.send(model, endpoint, { ...body, stream: false }, signal);
    let text: string;
    try {
      text = await readText(res.body);
    } catch (err) {
      throw this.failure(model, err);
    }
    if (res.status < 200 || res.status >= 300) throw providerAnswerError(model, res.status, text);
    try {
      const value: unknown = JSON.parse(text);
      if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch { /* answered below */ }
    throw new ProviderError(502, { message: `model '${model.name}': the provider's answer is not a JSON object`, type: 'api_error', code: 'bad_provider_response' });
  }

  /**
   * A call whose answer is passed through as it comes (streaming or not).
   * A non-2xx answer throws ProviderError (its body read), so callers only
   * pass through successes and errors keep OpenAI's shape.
   */
  async stream(model: ModelConfig, endpoint: ProviderEndpoint, body: Record<string, unknown>, signal?: AbortSignal): Promise<ProviderStream> {
    const res = await this.send(model, endpoint, body, signal);
    if (res.status >= 200 && res.status < 300) return res;
    let text = '';
    try {
      text = await readText(res.body);
    } catch { /* the status still says what happened */ }
    throw providerAnswerError(model, res.status, text);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

async function readText(body: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

/**
 * A provider's error answer, as the gateway's client sees it. The provider
 * speaks to the gateway, not to the client: its text is redacted (it may echo
 * the gateway's provider key), and its refusal of the gateway's own
 * credentials (401/403) is a bad gateway (502: the caller's key is fine).
 * Any other status is kept, so OpenAI clients raise (and retry) as usual.
 */
function providerAnswerError(model: ModelConfig, status: number, text: string): ProviderError {
  const redact = createRedactor(model.apiKey ? [model.apiKey] : []);
  const said = errorBodyOf(text, status);
  const message = redact(said.message).slice(0, 500);
  if (status === 401 || status === 403) {
    return new ProviderError(502, { message: `model '${model.name}': the provider refused the gateway's credentials (HTTP ${status}): ${message}`, type: 'api_error', param: null, code: 'provider_auth_failed' });
  }
  return new ProviderError(status, { message, type: said.type, param: said.param ?? null, code: said.code ?? null });
}

/** The provider's `{"error": {...}}` as it sent it; anything else wrapped so the client still gets OpenAI's shape. */
function errorBodyOf(text: string, status: number): OpenAIErrorBody {
  try {
    const v = JSON.parse(text) as { error?: Partial<OpenAIErrorBody> | string };
    if (v.error && typeof v.error === 'object' && typeof v.error.message === 'string') {
      return { message: v.error.message, type: typeof v.error.type === 'string' ? v.error.type : 'api_error', param: typeof v.error.param === 'string' ? v.error.param : null, code: typeof v.error.code === 'string' ? v.error.code : null };
    }
    if (typeof v.error === 'string') return { message: v.error, type: 'api_error', param: null, code: null };
  } catch { /* not JSON: the text itself */ }
  return { message: `the provider answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`, type: 'api_error', param: null, code: null };
}
