import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

export interface DemoServerOptions {
  /** Prefix for every tool's description, so tests can tell two instances apart. */
  label?: string;
}

/** The demo upstream: a few real tools, one prompt and one resource. */
export function createDemoServer(opts: DemoServerOptions = {}): McpServer {
  const label = opts.label ? `[${opts.label}] ` : '';
  const server = new McpServer({ name: 'mcpgw-demo', version: '0.1.0' }, { capabilities: { logging: {} } });

  server.registerTool('echo', {
    description: `${label}Echoes the message back.`,
    inputSchema: { message: z.string().describe('Text to echo') },
  }, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));

  server.registerTool('add', {
    description: `${label}Adds two numbers.`,
    inputSchema: { a: z.number(), b: z.number() },
    outputSchema: { sum: z.number() },
  }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }));

  server.registerTool('current_time', {
    description: `${label}The server's current time (ISO 8601, UTC).`,
    inputSchema: {},
  }, async () => ({ content: [{ type: 'text', text: new Date().toISOString() }] }));

  server.registerTool('countdown', {
    description: `${label}Counts down from n, reporting progress every delay_ms milliseconds.`,
    inputSchema: { n: z.number().int().min(1).max(100).default(3), delay_ms: z.number().int().min(0).max(10_000).default(10) },
  }, async ({ n, delay_ms }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= n; i++) {
      await new Promise((r) => setTimeout(r, delay_ms));
      if (extra.signal.aborted) throw new Error('cancelled');
      if (token !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: n, message: `${n - i} left` } });
      }
    }
    return { content: [{ type: 'text', text: 'liftoff' }] };
  });

  server.registerTool('fail', {
    description: `${label}Always fails with the given reason (a tool error, isError: true).`,
    inputSchema: { reason: z.string().default('failed on purpose') },
  }, async ({ reason }) => ({ isError: true, content: [{ type: 'text', text: reason }] }));

  server.registerPrompt('greet', {
    description: 'A greeting for someone.',
    argsSchema: { name: z.string() },
  }, ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}.` } }] }));

  server.registerResource('readme', 'demo://readme', { mimeType: 'text/plain', description: 'About the demo server' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'mcpgw demo server' }] }));

  return server;
}
