// REST for tools (the seed's endpoints, and LiteLLM's /mcp-rest aliases):
// GET .../tools/list, POST .../tools/call {"name", "arguments"}. A client that
// disconnects before the answer cancels the call.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';
import { httpStatusOf } from '../errors.js';
import type { SessionRecord } from '../sessions/session-store.js';
import type { TransportDeps } from '../transports/context.js';

/** REST calls have no MCP session; this stands in for one in call contexts. */
const REST_SESSION: SessionRecord = { id: '', v: LATEST_PROTOCOL_VERSION, t: 'http', p: '' };

interface ToolDef {
  name: string;
  description?: string;
  inputSchema?: unknown;
}

function restError(reply: FastifyReply, status: number, error: JsonRpcError): FastifyReply {
  return reply.code(status).send({ error });
}

export function registerRest(app: FastifyInstance, deps: TransportDeps, prefixes: string[]): void {
  const list = async (req: FastifyRequest, reply: FastifyReply) => {
    const view = deps.catalog.view()!;
    if ((req.query as { format?: string }).format === 'openai') {
      const { tools } = JSON.parse(view.toolsList) as { tools: ToolDef[] };
      return reply.send(tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.inputSchema ?? { type: 'object' } } })));
    }
    return reply.type('application/json').send(view.toolsList);
  };

  const call = async (req: FastifyRequest, reply: FastifyReply) => {
    const body = req.body as { name?: unknown; arguments?: unknown } | null;
    if (!body || typeof body !== 'object' || typeof body.name !== 'string') {
      return restError(reply, 400, { code: ErrorCode.InvalidParams, message: 'body must be {"name": "<tool>", "arguments": {...}}' });
    }
    if (!deps.catalog.view()!.tools.has(body.name)) {
      return restError(reply, 404, { code: ErrorCode.InvalidParams, message: `unknown tool '${body.name}'`, data: { tool: body.name } });
    }
    const abort = new AbortController();
    const onClose = () => { if (!reply.raw.writableFinished) abort.abort(); };
    reply.raw.on('close', onClose);
    const traceparent = typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined;
    const answer = await deps.dispatcher.callTool({ session: REST_SESSION, signal: abort.signal, traceparent }, `rest-${req.id}`, body.name, body.arguments ?? {});
    reply.raw.off('close', onClose);
    if ('result' in answer) return reply.type('application/json').send(answer.result);
    const error = typeof answer.error === 'string' ? (JSON.parse(answer.error) as JsonRpcError) : answer.error;
    return restError(reply, httpStatusOf(error), error);
  };

  for (const prefix of prefixes) {
    app.get(`${prefix}/tools/list`, list);
    app.post(`${prefix}/tools/call`, call);
  }
}
