// REST for tools (the seed's endpoints, and LiteLLM's /mcp-rest aliases):
// GET .../tools/list, POST .../tools/call {"name", "arguments"}. A client that
// disconnects before the answer cancels the call.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import { fromGrpcError } from '../errors.js';
import { errorOf, restStatusOf } from '../pipeline/outcome.js';
import { traceparentOf, type TransportDeps } from '../transports/context.js';
import { openApiDocument } from './openapi.js';
import { serverStatusView } from './server-status.js';


interface ToolDef {
  name: string;
  description?: string;
  inputSchema?: unknown;
}

function restError(reply: FastifyReply, status: number, error: JsonRpcError): FastifyReply {
  return reply.code(status).send({ error });
}

export function registerRest(app: FastifyInstance, deps: TransportDeps, prefixes: string[]): void {
  /** `?server=` (or LiteLLM's `?server_id=`): one server's tools, still with their aggregate names. */
  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const query = req.query as { format?: string; server?: string; server_id?: string };
    const server = query.server ?? query.server_id;
    const access = req.principal.access;
    if (server !== undefined && !deps.catalog.visibleServer(server, access)) {
      return restError(reply, 404, { code: ErrorCode.InvalidParams, message: `unknown server '${server}'`, data: { server } });
    }
    const text = server === undefined ? deps.catalog.view(undefined, access)!.toolsList : deps.catalog.aggregateToolsListOf(server, access);
    if (query.format === 'openai') {
      const { tools } = JSON.parse(text) as { tools: ToolDef[] };
      return reply.send(tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.inputSchema ?? { type: 'object' } } })));
    }
    return reply.type('application/json').send(text);
  };

  /** `{"name", "arguments"}` with an aggregate name, or LiteLLM's `{"server_id", "name", "arguments"}` with the server's own name. */
  const call = async (req: FastifyRequest, reply: FastifyReply) => {
    const body = req.body as { name?: unknown; arguments?: unknown; server_id?: unknown; timeout_ms?: unknown } | null;
    if (!body || typeof body !== 'object' || typeof body.name !== 'string' || (body.server_id !== undefined && typeof body.server_id !== 'string')) {
      return restError(reply, 400, { code: ErrorCode.InvalidParams, message: 'body must be {"name": "<tool>", "arguments": {...}} (optionally with "server_id")' });
    }
    const server = body.server_id as string | undefined;
    if (server !== undefined && !deps.catalog.visibleServer(server, req.principal.access)) {
      return restError(reply, 404, { code: ErrorCode.InvalidParams, message: `unknown server '${server}'`, data: { server } });
    }
    const abort = new AbortController();
    const onClose = () => { if (!reply.raw.writableFinished) abort.abort(); };
    reply.raw.on('close', onClose);
    const outcome = await deps.dispatcher.callTool({
      principal: req.principal, era: 'legacy', server, signal: abort.signal, traceparent: traceparentOf(req), headers: req.headers,
      timeoutMs: typeof body.timeout_ms === 'number' ? body.timeout_ms : undefined,
    }, `rest-${req.id}`, body.name, body.arguments ?? {});
    reply.raw.off('close', onClose);
    const error = errorOf(outcome);
    if (!error) return reply.type('application/json').send((outcome as { json: string }).json);
    const status = restStatusOf(error);
    if (status === 429 && outcome.kind === 'error') reply.header('retry-after', Math.ceil((outcome.retryAfterMs ?? 1000) / 1000));
    // An unknown tool on REST is a missing resource.
    return restError(reply, error.code === ErrorCode.InvalidParams && (error.data as { tool?: string } | undefined)?.tool ? 404 : status, error);
  };

  for (const prefix of prefixes) {
    app.get(`${prefix}/tools/list`, list);
    app.post(`${prefix}/tools/call`, call);
  }
  app.get('/openapi.json', async (_req, reply) => reply.send(openApiDocument(prefixes)));

  // Operators: each upstream's state as the registry sees it.
  app.get('/servers', async (req, reply) => {
    try {
      const { servers } = await deps.registry.listServers();
      return reply.send({
        servers: servers.filter((s) => req.principal.access.allowsServer(s.name)).map(serverStatusView),
      });
    } catch (err) {
      return restError(reply, 502, fromGrpcError(err, 'registry'));
    }
  });
}
