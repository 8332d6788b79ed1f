// The console at /ui: a fixed set of static files (the page, its stylesheet,
// its icon and the ES modules tsc built into ui/dist), read once at start and
// served from memory with a strict CSP. No directory walking at request time,
// so no path can reach outside this list.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
  + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** services/edge/ui, from services/edge/dist/routes/ui.js (and from src/ under tsx). */
const DEFAULT_ROOT = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset { body: Buffer; type: string; etag: string }

function load(root: string): Map<string, Asset> {
  const files = new Map<string, Asset>();
  const add = (name: string, path: string) => {
    const ext = name.slice(name.lastIndexOf('.'));
    const body = readFileSync(path);
    files.set(name, { body, type: TYPES[ext]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  };
  for (const name of ['index.html', 'styles.css', 'icon.svg']) {
    if (existsSync(join(root, name))) add(name, join(root, name));
  }
  const dist = join(root, 'dist');
  if (existsSync(dist)) {
    for (const name of readdirSync(dist)) if (/^[a-z0-9-]+\.js$/.test(name)) add(name, join(dist, name));
  }
  return files;
}

export function registerUi(app: FastifyInstance, opts: { root?: string } = {}): void {
  const root = opts.root ?? DEFAULT_ROOT;
  const files = load(root);
  const built = files.has('index.html') && files.has('app.js');
  if (!built) app.log.warn({ root }, 'console not built: /ui answers 503 until `npm run build` has run');

  const send = (req: FastifyRequest, reply: FastifyReply, name: string) => {
    reply.header('content-security-policy', UI_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');
    if (!built) return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('The console is not built: run `npm run build`.\n');
    const asset = files.get(name);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').header('cache-control', 'no-store').send('Not found\n');
    // Names are not content-hashed, so browsers revalidate every time; the ETag keeps that to a 304.
    reply.header('cache-control', 'no-cache').header('etag', asset.etag).type(asset.type);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.send(asset.body);
  };

  app.get('/ui', (req, reply) => send(req, reply, 'index.html'));
  app.get('/ui/', (req, reply) => send(req, reply, 'index.html'));
  // A wildcard so every path under /ui gets the same headers, a 404 included; only exact names in `files` match.
  app.get<{ Params: { '*': string } }>('/ui/*', (req, reply) => send(req, reply, req.params['*']));
}
