// The edge in-process (`buildApp(opts)`, never listening) against a fake
// registry link, for pipeline tests with `app.inject()`. The fake answers
// tools/call with the tool's name and arguments and records what it was sent.
import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { parseConfig, type GatewayConfig } from '@mcpgw/common/config';
import { createLogger } from '@mcpgw/common/logger';
import { MemoryEventLog } from '@mcpgw/common/event-log';
import type { CallEvent, CallToolRequest, ForwardRequest, ServerCatalog } from '@mcpgw/proto/registry';
import { buildApp } from '../../services/edge/src/app.js';
import { CatalogView } from '../../services/edge/src/catalog-view.js';
import type { RegistryCalls } from '../../services/edge/src/dispatcher.js';
import { Authenticator } from '../../services/edge/src/identity/authenticate.js';
import { JwtVerifier } from '../../services/edge/src/identity/jwt.js';
import { KeyStore, MemoryKeyBackend } from '../../services/edge/src/identity/keys.js';
import { createEdgeMetrics } from '../../services/edge/src/metrics.js';
import { Limiter } from '../../services/edge/src/pipeline/limits.js';
import { MemorySessionStore } from '../../services/edge/src/sessions/session-store.js';
import { DEFAULT_LIMITS, type ClientLimits } from '../../services/edge/src/settings.js';
import type { StreamTarget } from '../../services/edge/src/transports/sse-writer.js';
import { LocalStreamBus } from '../../services/edge/src/transports/stream-bus.js';

export interface FakeServer {
  name: string;
  tools: string[];
  prompts?: string[];
  resources?: string[];
  /** inputSchema per tool (default `{ type: 'object' }`). */
  schemas?: Record<string, unknown>;
}

export interface FakeRegistry extends RegistryCalls {
  calls: CallToolRequest[];
  forwards: ForwardRequest[];
  /** What Respond and Cancel were sent (MRTR). */
  responses: { id: string; responseJson: string }[];
  cancels: { sessionId: string; requestId: string; reason: string }[];
}

/** A stream the dispatcher reads like a grpc-js ClientReadableStream. */
function answerStream(events: CallEvent[]) {
  const s = Object.assign(new EventEmitter(), { cancel() { s.emit('error', Object.assign(new Error('cancelled'), { code: 1 })); } });
  setImmediate(() => {
    for (const e of events) s.emit('data', e);
    s.emit('end');
  });
  return s as never;
}

const result = (json: unknown, isError = false): CallEvent => ({
  event: { $case: 'result', value: { resultJson: Buffer.from(JSON.stringify(json)), errorJson: Buffer.alloc(0), isError, sessionLost: false } }, eventId: '', messageJson: Buffer.alloc(0),
});

/**
 * Tool `ask`: the upstream elicits (a server-to-client request named `user_name`) and
 * answers "Hello, <name>!" once Respond brings the client's answer; the stream stays open meanwhile.
 */
function askStream(req: CallToolRequest, waiting: Map<string, (answer: { result?: { content?: { name?: string } } }) => void>, n: number) {
  const s = Object.assign(new EventEmitter(), { cancelled: false, cancel() { s.cancelled = true; s.emit('error', Object.assign(new Error('cancelled'), { code: 1 })); } });
  const id = `reg-1.${n}`;
  setImmediate(() => {
    const paramsJson = Buffer.from(JSON.stringify({ message: 'What is your name?', requestedSchema: { type: 'object', properties: { name: { type: 'string' } } }, _meta: { 'mcpgw/inputKey': 'user_name' } }));
    s.emit('data', { event: { $case: 'serverRequest', value: { id, method: 'elicitation/create', paramsJson } }, eventId: '', messageJson: Buffer.alloc(0) });
  });
  waiting.set(id, (answer) => {
    if (s.cancelled) return;
    s.emit('data', result({ content: [{ type: 'text', text: `Hello, ${answer.result?.content?.name ?? 'stranger'}!` }] }));
    s.emit('end');
  });
  void req;
  return s as never;
}

export function fakeRegistry(): FakeRegistry {
  const calls: CallToolRequest[] = [];
  const forwards: ForwardRequest[] = [];
  const responses: FakeRegistry['responses'] = [];
  const cancels: FakeRegistry['cancels'] = [];
  const waiting = new Map<string, (answer: { result?: { content?: { name?: string } } }) => void>();
  return {
    calls,
    forwards,
    responses,
    cancels,
    callTool(req: CallToolRequest) {
      calls.push(req);
      if (req.tool === 'ask') return askStream(req, waiting, calls.length);
      const args = JSON.parse(req.argumentsJson.toString('utf8') || '{}') as Record<string, unknown>;
      const failing = req.tool === 'fail';
      return answerStream([result({ content: [{ type: 'text', text: failing ? 'it failed' : `${req.server}/${req.tool} ${JSON.stringify(args)}` }], ...(failing ? { isError: true } : {}) }, failing)]);
    },
    forward(req: ForwardRequest) {
      forwards.push(req);
      return answerStream([result(req.method === 'resources/read' ? { contents: [{ uri: JSON.parse(req.paramsJson.toString()).uri, text: 'x' }] } : { messages: [] })]);
    },
    respond(r: { id: string; responseJson: Buffer }) {
      responses.push({ id: r.id, responseJson: r.responseJson.toString('utf8') });
      waiting.get(r.id)?.(JSON.parse(r.responseJson.toString('utf8')));
      waiting.delete(r.id);
    },
    cancel(r: { context?: { sessionId: string }; requestId: string; reason: string }) {
      cancels.push({ sessionId: r.context?.sessionId ?? '', requestId: r.requestId, reason: r.reason });
    },
    endSession() {},
    async listServers() {
      return { servers: [] };
    },
  } as unknown as FakeRegistry;
}

export function catalogOf(servers: FakeServer[]): CatalogView {
  const catalog = new CatalogView('__');
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  catalog.apply({
    version: 1, snapshot: true, removedServers: [],
    servers: servers.map((s): ServerCatalog => ({
      name: s.name, hash: s.name, stale: false, description: '', perClient: false, credentialHeader: '', tokenExchangeJson: '', serverInfoJson: Buffer.alloc(0),
      toolsJson: json(s.tools.map((name) => ({ name, description: `${name} of ${s.name}`, inputSchema: s.schemas?.[name] ?? { type: 'object' } }))),
      promptsJson: json((s.prompts ?? []).map((name) => ({ name }))),
      resourcesJson: json((s.resources ?? []).map((uri) => ({ uri, name: uri }))),
      resourceTemplatesJson: json([]),
    })),
  });
  return catalog;
}

export interface TestEdge {
  app: FastifyInstance;
  registry: FakeRegistry;
  catalog: CatalogView;
  keys: KeyStore;
}

/** `gatewayYaml`: the config's `gateway` block (teams, keys, auth), as YAML under `gateway:`. */
export async function testEdge(opts: { servers: FakeServer[]; masterKey?: string; gatewayYaml?: string; limits?: Partial<ClientLimits>; mrtrHoldMs?: number }): Promise<TestEdge> {
  const gateway: GatewayConfig = parseConfig(opts.gatewayYaml ? `gateway:\n${opts.gatewayYaml}` : '{}', 'test.yaml', {}, { gatewayOnly: true }).gateway;
  const log = createLogger('edge-test', 'silent');
  const metrics = createEdgeMetrics();
  const registry = fakeRegistry();
  const catalog = catalogOf(opts.servers);
  const keys = new KeyStore(new MemoryKeyBackend(), gateway.keys, 30_000);
  const streams = new Map<string, StreamTarget>();
  const app = buildApp({
    catalog, registry, sessions: new MemorySessionStore(60_000), metrics, log, instanceId: 'test', streams, bus: new LocalStreamBus(streams),
    events: new MemoryEventLog(60_000), sharedEvents: false, maxBodyBytes: 1 << 20, callTimeoutMs: 10_000, sessionTtlMs: 60_000, limits: { ...DEFAULT_LIMITS, ...opts.limits },
    hosts: { allowedHosts: ['localhost', '127.0.0.1'], allowedOrigins: [] },
    authenticator: new Authenticator({ masterKey: opts.masterKey, keys, jwt: new JwtVerifier(gateway.jwt), teams: gateway.teams, keysEnabled: gateway.keys.length > 0 }),
    keys, limiter: new Limiter({ prefix: 'test:', toolLimits: gateway.toolLimits, metrics, log }), gateway, mrtrHoldMs: opts.mrtrHoldMs,
  });
  await app.ready();
  return { app, registry, catalog, keys };
}
