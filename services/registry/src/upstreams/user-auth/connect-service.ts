// The gRPC handlers of issue 20 (ConnectStart, ConnectFinish, ListConnections,
// Disconnect), spread into the registry's service (server.ts wiring).
import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type {
  ConnectFinishRequest, ConnectFinishResponse, ConnectStartRequest, ConnectStartResponse, DisconnectRequest, DisconnectResponse,
  ListConnectionsRequest, ListConnectionsResponse,
} from '@mcpgw/proto/registry';
import type { UpstreamSet } from '../upstream-set.js';
import { ConnectError } from './user-auth.js';

export function connectService(upstreams: UpstreamSet) {
  const configs = (name: string) => upstreams.get(name)?.config;
  const fail = (err: unknown) => ({ code: status.INTERNAL, details: (err as Error).message });
  return {
    connectStart(call: ServerUnaryCall<ConnectStartRequest, ConnectStartResponse>, cb: sendUnaryData<ConnectStartResponse>) {
      const r = call.request;
      const answer = r.ticket
        ? upstreams.userAuth.connectStart(configs, r.ticket, r.redirectUri).then((s) => ({ ...s, error: '', connectUrl: '' }))
        : upstreams.userAuth.connectLink(configs, r.principal, r.server).then((connectUrl) => ({ authorizationUrl: '', server: r.server, principal: r.principal, error: '', connectUrl }));
      answer.then(
        (out) => cb(null, out),
        (err: unknown) => (err instanceof ConnectError ? cb(null, { authorizationUrl: '', server: '', principal: '', error: err.message, connectUrl: '' }) : cb(fail(err))),
      );
    },
    connectFinish(call: ServerUnaryCall<ConnectFinishRequest, ConnectFinishResponse>, cb: sendUnaryData<ConnectFinishResponse>) {
      const r = call.request;
      upstreams.userAuth.connectFinish(configs, r.state, r.code, r.error, r.redirectUri).then(
        (done) => cb(null, { ...done, error: '' }),
        (err: unknown) => (err instanceof ConnectError ? cb(null, { server: '', principal: '', elicitationId: '', error: err.message }) : cb(fail(err))),
      );
    },
    listConnections(call: ServerUnaryCall<ListConnectionsRequest, ListConnectionsResponse>, cb: sendUnaryData<ListConnectionsResponse>) {
      upstreams.userAuth.listConnections(call.request.principal).then(
        (rows) => cb(null, { connections: rows.map((c) => ({ server: c.server, expiresAtMs: c.expiresAtMs, updatedAtMs: c.updatedAtMs })) }),
        (err: unknown) => cb({ code: status.UNAVAILABLE, details: `credential store unavailable: ${(err as Error).message}` }),
      );
    },
    disconnect(call: ServerUnaryCall<DisconnectRequest, DisconnectResponse>, cb: sendUnaryData<DisconnectResponse>) {
      upstreams.userAuth.disconnect(call.request.principal, call.request.server).then(
        (removed) => cb(null, { removed }),
        (err: unknown) => cb({ code: status.UNAVAILABLE, details: `credential store unavailable: ${(err as Error).message}` }),
      );
    },
  };
}
