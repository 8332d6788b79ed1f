// The one place where transport failures between edge and registry become
// JSON-RPC errors (HTTP statuses come from pipeline/outcome.ts).
import { status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';

export function fromGrpcError(err: unknown, server: string): JsonRpcError {
  const e = err as Partial<ServiceError>;
  switch (e.code) {
    case status.DEADLINE_EXCEEDED:
      return { code: ErrorCode.RequestTimeout, message: `upstream '${server}': no answer before the gateway's deadline`, data: { server } };
    case status.UNAVAILABLE:
      // grpc-js details name the registry's internal address: not for clients.
      return { code: ErrorCode.RegistryUnavailable, message: `registry unavailable while calling '${server}'; retry shortly`, data: { server } };
    case status.CANCELLED:
      return { code: ErrorCode.Cancelled, message: `call to '${server}' was cancelled`, data: { server } };
    default:
      return { code: ErrorCode.InternalError, message: `gateway error while calling '${server}': ${e.details ?? e.message ?? String(err)}`, data: { server } };
  }
}
