#!/usr/bin/env node
// Runs the demo server over stdio (default) or Streamable HTTP:
//   mcpgw-demo-server [--label L]
//   mcpgw-demo-server --http [--port N] [--host H] [--label L] [--require-token T]   (prints "listening <port>")
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createDemoServer } from './server.js';

const { values } = parseArgs({
  options: {
    http: { type: 'boolean', default: false },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    label: { type: 'string' },
    // HTTP only: answer 401 unless `Authorization: Bearer <token>` (to test upstream credentials).
    'require-token': { type: 'string' },
  },
});

if (!values.http) {
  await createDemoServer({ label: values.label }).connect(new StdioServerTransport());
} else {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!req.url?.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    if (values['require-token'] && req.headers.authorization !== `Bearer ${values['require-token']}`) {
      res.writeHead(401).end();
      return;
    }
    // Trace context seen from the gateway, for tests (one line per traced request).
    if (req.headers.traceparent) console.log(`traceparent ${String(req.headers.traceparent)}`);
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const id = req.headers['mcp-session-id'];
    let transport = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!transport && req.method === 'POST' && isInitializeRequest(body)) {
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => { sessions.set(sid, created); },
      });
      created.onclose = () => { if (created.sessionId) sessions.delete(created.sessionId); };
      await createDemoServer({ label: values.label }).connect(created);
      transport = created;
    }
    if (!transport) {
      res.writeHead(id ? 404 : 400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: id ? 'Session not found' : 'Missing session' } }));
      return;
    }
    await transport.handleRequest(req, res, body);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    });
  });
  server.listen(Number(values.port), values.host, () => {
    const addr = server.address();
    console.log(`listening ${typeof addr === 'object' && addr ? addr.port : values.port}`);
  });
  const stop = (): void => { server.close(); for (const t of sessions.values()) void t.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
