// The REST surface described for tooling (OpenAPI 3.1). MCP itself is
// described by the MCP spec, not here.
const toolCallBody = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', description: 'Aggregate tool name (<server>__<tool>), or the server\'s own name when server_id is given' },
    server_id: { type: 'string', description: 'LiteLLM style: the server whose own tool name `name` is' },
    arguments: { type: 'object', additionalProperties: true },
    timeout_ms: { type: 'integer', minimum: 1, description: 'This call\'s timeout; default the server\'s timeout_ms, at most the gateway\'s MCPGW_CALL_TIMEOUT_MS' },
  },
};

const error = {
  description: 'A JSON-RPC error object naming what was wrong (and the server, for upstream failures)',
  content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'integer' }, message: { type: 'string' }, data: {} } } } } } },
};

export function openApiDocument(prefixes: string[]) {
  const paths: Record<string, unknown> = {};
  for (const prefix of prefixes) {
    paths[`${prefix}/tools/list`] = {
      get: {
        summary: 'List tools (all servers, or one)',
        parameters: [
          { name: 'server', in: 'query', schema: { type: 'string' } },
          { name: 'server_id', in: 'query', schema: { type: 'string' }, description: 'Alias of server (LiteLLM)' },
          { name: 'format', in: 'query', schema: { enum: ['mcp', 'openai'] }, description: 'openai: OpenAI function tool definitions' },
        ],
        responses: { 200: { description: 'A tools/list result, or OpenAI tools', content: { 'application/json': { schema: { type: 'object' } } } }, 404: error },
      },
    };
    paths[`${prefix}/tools/call`] = {
      post: {
        summary: 'Call a tool; a client that disconnects cancels the call',
        requestBody: { required: true, content: { 'application/json': { schema: toolCallBody } } },
        responses: {
          200: { description: 'The MCP CallToolResult (isError: true for tool failures)', content: { 'application/json': { schema: { type: 'object' } } } },
          400: error, 404: error, 502: error, 503: error, 504: error,
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'mcpgw REST', version: '0.1.0', description: 'REST access to the tools behind the gateway. MCP clients use /mcp.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }, {}],
    paths,
  };
}
