// OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`:
// every answer of the /v1 routes that is not a success uses it, so OpenAI
// clients raise their usual errors (NotFoundError, BadRequestError...).
import type { FastifyReply } from 'fastify';

export interface OpenAIErrorBody {
  message: string;
  type: string;
  param?: string | null;
  code?: string | null;
}

export class OpenAIError extends Error {
  constructor(readonly status: number, readonly body: OpenAIErrorBody, readonly headers: Record<string, string> = {}) {
    super(body.message);
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = 'invalid_request'): OpenAIError =>
  new OpenAIError(400, { message, type: 'invalid_request_error', param, code });

export function sendOpenAIError(reply: FastifyReply, err: OpenAIError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return reply.code(err.status).type('application/json').send({ error: { message: err.body.message, type: err.body.type, param: err.body.param ?? null, code: err.body.code ?? null } });
}
