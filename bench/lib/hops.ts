// Which hop of a gateway call a CPU profile sample belongs to (issue 14's
// breakdown): HTTP in, pipeline, gRPC out, registry dispatch, HTTP to the
// upstream, gRPC back, HTTP out. A sample's stack is read from the leaf up and
// the first frame that names a hop decides; gRPC frames are told apart by what
// drives them (a call being written, or a frame being read). What no frame
// names (the event loop, promise plumbing, GC, syscalls issued from native
// code such as HTTP/2 writes) is "runtime".

export const HOPS = ['HTTP in', 'pipeline', 'gRPC out', 'registry dispatch', 'HTTP to upstream', 'gRPC back', 'HTTP out', 'runtime'] as const;
export type Hop = (typeof HOPS)[number];

export interface Frame { functionName: string; url: string }
/** Frames of one sample, leaf first. */
export type Classifier = (stack: Frame[]) => Hop;

const GRPC = ['/@grpc/grpc-js/', 'node:internal/http2', '/@bufbuild/protobuf/', '/proto/dist/'];
const isGrpc = (f: Frame) => GRPC.some((p) => f.url.includes(p));
const inFile = (f: Frame, file: string) => f.url.includes(file);
/** The frame batcher both ends of the `Calls` stream use (its flush runs in a setImmediate of its own). */
const BATCHER = '/packages/common/dist/calls-stream.js';

/** The edge: HTTP in → pipeline → gRPC out; gRPC back → HTTP out. */
export const edgeHop: Classifier = (stack) => {
  // A gRPC frame is "out" when an edge call is being started or cancelled, or a batch of them flushed.
  const writing = stack.some((f) => (inFile(f, '/services/edge/dist/calls-mux.js') && ['start', 'sendCancel', 'callTool', 'forward', 'send'].includes(f.functionName))
    || inFile(f, BATCHER));
  for (const f of stack) {
    if (inFile(f, BATCHER)) return 'gRPC out';
    if (inFile(f, 'node:_http_outgoing') || inFile(f, '/fastify/lib/reply.js') || inFile(f, '/transports/sse-writer.js')) return 'HTTP out';
    if (isGrpc(f)) return writing ? 'gRPC out' : 'gRPC back';
    if (inFile(f, '/services/edge/dist/calls-mux.js')) return f.functionName === 'onFrame' ? 'gRPC back' : 'gRPC out';
    if (['node:_http_server', 'node:_http_common', 'node:_http_incoming', '/fastify/', '/find-my-way/', '/light-my-request/', '/pipeline/bounds.js'].some((p) => inFile(f, p))) return 'HTTP in';
    if (['/services/edge/dist/', '/packages/common/dist/', '/prom-client/', '/pino/', '/ioredis/', '/rate-limiter-flexible/', '/jose/'].some((p) => inFile(f, p))) return 'pipeline';
  }
  return 'runtime';
};

/** The registry: gRPC out (a call frame read) → dispatch → HTTP to upstream → gRPC back (the result written). */
export const registryHop: Classifier = (stack) => {
  const writing = stack.some((f) => (inFile(f, '/services/registry/dist/calls-mux.js') && ['send', 'write', 'end', 'flushResult'].includes(f.functionName))
    || (inFile(f, '/@grpc/grpc-js/') && ['sendMessage', '_write', 'write'].includes(f.functionName) && inFile(f, 'server'))
    || inFile(f, BATCHER));
  for (const f of stack) {
    if (inFile(f, BATCHER)) return 'gRPC back';
    if (inFile(f, '/undici/') || inFile(f, '/upstreams/http-call.js')) return 'HTTP to upstream';
    if (isGrpc(f)) return writing ? 'gRPC back' : 'gRPC out';
    if (['/services/registry/dist/', '/packages/common/dist/', '/prom-client/', '/pino/', '/ioredis/', '/cockatiel/', '/@modelcontextprotocol/'].some((p) => inFile(f, p))) return 'registry dispatch';
  }
  return 'runtime';
};
