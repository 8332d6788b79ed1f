// The OpenAI-compatible transport adapter: /v1/chat/completions,
// /v1/responses, /v1/models (and the same without /v1). Models come from the
// config's `model_list`; requests without MCP tools pass through to the
// model's provider (streaming chunk by chunk); requests with
// `{"type": "mcp", "server_url": "mcpgw"}` tools run the caller's MCP tools
// here (tool-loop.ts). Like every adapter it checks no key, scope or tool
// limit itself: the pipeline authenticated the caller, the dispatcher applies
// scopes, limits and audit to each tool call. A model request also counts as
// one request against the caller's key and team rpm (the limiter's step).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@mcpgw/common/logger';
import type { CatalogView } from '../catalog-view.js';
import type { Dispatcher, RequestContext } from '../dispatcher.js';
import type { EdgeMetrics } from '../metrics.js';
import type { Limiter } from '../pipeline/limits.js';
import { traceparentOf } from '../transports/context.js';
import { chatWithMcpTools, type ChunkSink } from './chat-completions.js';
import { OpenAIError, badRequest, sendOpenAIError } from './errors.js';
import type { ProviderEndpoint, Providers } from './provider.js';
import { responseAsEvents, responsesWithMcpTools } from './responses.js';
import { splitTools, type LoopDeps } from './tool-loop.js';

export interface LlmDeps {
  providers: Providers;
  dispatcher: Dispatcher;
  catalog: CatalogView;
  limiter: Limiter;
  metrics: EdgeMetrics;
  log: Logger;
  /** Model calls per request when the edge runs MCP tools. */
  maxSteps: number;
}

type Endpoint = 'chat.completions' | 'responses';

const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

/** Registers the routes in an encapsulated child of `app`, so their errors (bad JSON, too large) are answered in OpenAI's shape. */
export function registerLlm(app: FastifyInstance, deps: LlmDeps, prefixes: string[] = ['/v1', '']): void {
  void app.register(async (llm) => {
    llm.setErrorHandler((err: FastifyError, req, reply) => {
      if (err instanceof OpenAIError) return sendOpenAIError(reply, err);
      const status = err.statusCode ?? 500;
      if (status >= 500) {
        req.log.error({ err }, 'llm route failed');
        return sendOpenAIError(reply, new OpenAIError(500, { message: 'Internal error', type: 'server_error', code: 'internal_error' }));
      }
      const code = err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'body_too_large' : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'unsupported_media_type' : 'invalid_json';
      const message = code === 'invalid_json' ? `We could not parse the JSON body of your request: ${err.message}` : err.message;
      return sendOpenAIError(reply, new OpenAIError(status, { message, type: 'invalid_request_error', code }));
    });

    const created = Math.floor(Date.now() / 1000);
    const modelObject = (name: string) => ({ id: name, object: 'model', created, owned_by: 'mcpgw' });
    for (const prefix of prefixes) {
      llm.get(`${prefix}/models`, async () => ({ object: 'list', data: deps.providers.models.map((m) => modelObject(m.name)) }));
      llm.get(`${prefix}/models/*`, async (req, reply) => {
        const id = (req.params as { '*': string })['*'];
        if (!deps.providers.get(id)) return sendOpenAIError(reply, modelNotFound(id));
        return modelObject(id);
      });
      llm.post(`${prefix}/chat/completions`, (req, reply) => handle(deps, req, reply, 'chat.completions'));
      llm.post(`${prefix}/responses`, (req, reply) => handle(deps, req, reply, 'responses'));
    }
  });
}

const modelNotFound = (model: string) => new OpenAIError(404, {
  message: `The model '${model}' does not exist (models: GET /v1/models)`, type: 'invalid_request_error', param: 'model', code: 'model_not_found',
});

function validate(body: unknown, endpoint: Endpoint): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body must be a JSON object', null, 'invalid_body');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') throw badRequest("Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  if (endpoint === 'chat.completions') {
    if (!Array.isArray(b.messages) || b.messages.length === 0) throw badRequest("'messages' must be a non-empty array of messages.", 'messages', b.messages === undefined ? 'missing_required_parameter' : 'invalid_type');
    if (b.messages.some((m) => !m || typeof m !== 'object' || typeof (m as { role?: unknown }).role !== 'string')) throw badRequest("every message needs a 'role'.", 'messages', 'invalid_type');
  } else if (b.input !== undefined && typeof b.input !== 'string' && !Array.isArray(b.input)) {
    throw badRequest("'input' must be a string or an array of input items.", 'input', 'invalid_type');
  } else if (Array.isArray(b.input)) {
    const bad = b.input.findIndex((item) => !item || typeof item !== 'object' || Array.isArray(item));
    if (bad >= 0) throw badRequest(`'input[${bad}]' must be an input item (an object), not ${String(JSON.stringify(b.input[bad])).slice(0, 60)}.`, `input[${bad}]`, 'invalid_type');
  }
  if (b.stream !== undefined && typeof b.stream !== 'boolean') throw badRequest("'stream' must be a boolean.", 'stream', 'invalid_type');
  return b;
}

async function handle(deps: LlmDeps, req: FastifyRequest, reply: FastifyReply, endpoint: Endpoint): Promise<FastifyReply> {
  const body = validate(req.body, endpoint);
  const model = deps.providers.get(body.model as string);
  if (!model) throw modelNotFound(body.model as string);
  const split = splitTools(body.tools);

  const count = (status: number) => deps.metrics.llmRequests.inc({ model: model.name, endpoint, status });
  // Each model call counts against rpm; its concurrency slot is not held for the whole
  // model call, or a key with max_concurrency 1 could never run the tool calls it asks for.
  const chargeModelCall = async (): Promise<void> => {
    const limited = deps.limiter.applies(req.principal) ? await deps.limiter.acquire(req.principal) : undefined;
    if (!limited) return;
    if (limited.ok) return limited.release();
    count(429);
    throw new OpenAIError(429, { message: `Rate limited: ${limited.message}; retry in ${Math.ceil(limited.retryAfterMs / 1000)} s`, type: 'requests', code: 'rate_limit_exceeded' }, { 'retry-after': String(Math.ceil(limited.retryAfterMs / 1000)) });
  };
  await chargeModelCall();
  // The client going away cancels the provider request and any tool calls in flight.
  const abort = new AbortController();
  const onClose = () => { if (!reply.raw.writableFinished) abort.abort(); };
  reply.raw.on('close', onClose);
  const started = performance.now();
  const path: ProviderEndpoint = endpoint === 'chat.completions' ? 'chat/completions' : 'responses';
  // A streaming tool loop starts its SSE response with the first text it forwards; until then errors keep their status.
  let streaming = false;
  const sink: ChunkSink = {
    includeUsage: (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true,
    write(text) {
      if (!streaming) {
        streaming = true;
        reply.hijack();
        reply.raw.writeHead(200, SSE_HEADERS);
      }
      reply.raw.write(text);
    },
  };
  try {
    if (split.mcp.length === 0) {
      // Pass-through: the provider's answer as it comes, streamed or not.
      const up = await deps.providers.stream(model, path, body, abort.signal);
      count(up.status);
      reply.code(up.status);
      if (body.stream === true) reply.headers(SSE_HEADERS);
      else reply.type(up.contentType || 'application/json');
      return reply.send(up.body);
    }
    const ctx: RequestContext = { principal: req.principal, era: 'legacy', signal: abort.signal, traceparent: traceparentOf(req), headers: req.headers };
    const loopDeps: LoopDeps & { providers: Providers } = { ...deps, chargeModelCall };
    let events: string[] = [];
    let json: Record<string, unknown>;
    if (endpoint === 'chat.completions') {
      const run = await chatWithMcpTools(loopDeps, ctx, model, `llm-${req.id}`, body, split, abort.signal, body.stream === true ? sink : undefined);
      count(200);
      if (streaming) {
        reply.raw.end();
        return reply;
      }
      reply.header('x-mcpgw-tool-steps', String(run.steps)).header('x-mcpgw-stop-reason', run.stoppedReason);
      json = run.completion;
    } else {
      const run = await responsesWithMcpTools(loopDeps, ctx, model, `llm-${req.id}`, body, split, abort.signal);
      reply.header('x-mcpgw-tool-steps', String(run.steps));
      json = run.response;
      events = body.stream === true ? responseAsEvents(json) : [];
      count(200);
    }
    if (deps.log.isLevelEnabled('debug')) deps.log.debug({ model: model.name, endpoint, principal: req.principal.id, ms: Math.round(performance.now() - started) }, 'llm request');
    if (body.stream !== true) return reply.type('application/json').send(json);
    reply.headers(SSE_HEADERS);
    return reply.send(events.join(''));
  } catch (err) {
    const inStream = (err as { streamError?: { message?: unknown; type?: unknown; code?: unknown } }).streamError;
    const e = err instanceof OpenAIError ? err
      : inStream ? new OpenAIError(502, { message: String(inStream.message ?? 'the provider failed mid-stream'), type: String(inStream.type ?? 'api_error'), code: typeof inStream.code === 'string' ? inStream.code : null })
      : err instanceof SyntaxError ? new OpenAIError(502, { message: `model '${model.name}': the provider streamed something that is not JSON`, type: 'api_error', code: 'bad_provider_response' })
      : deps.providers.failure(model, err);
    count(e.status);
    if (e.status >= 500 && e.status !== 504) deps.log.warn({ model: model.name, endpoint, status: e.status, message: e.body.message }, 'model request failed');
    if (!streaming) throw e;
    // Headers went out with the first chunk: the error is the stream's last event, as OpenAI sends it.
    reply.raw.end(`data: ${JSON.stringify({ error: { message: e.body.message, type: e.body.type, param: e.body.param ?? null, code: e.body.code ?? null } })}\n\n`);
    return reply;
  } finally {
    reply.raw.off('close', onClose);
  }
}
