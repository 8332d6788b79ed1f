// The one place where transport failures between edge and registry become
// JSON-RPC errors (and HTTP statuses for REST).
import { status, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, type JsonRpcError } from '@mcpgw/common/jsonrpc';

export function fromGrpcError(err: unknown, server: string): JsonRpcError {
  const e = err as Partial<ServiceError>;
  switch (e.code) {
    case status.DEADLINE_EXCEEDED:
      return { code: ErrorCode.RequestTimeout, message: `upstream '${server}': no answer before the gateway's deadline`, data: { server } };
    case status.UNAVAILABLE:
      return { code: ErrorCode.RegistryUnavailable, message: `registry unavailable while calling '${server}': ${e.details ?? 'no connection'}`, data: { server } };
    case status.CANCELLED:
      return { code: ErrorCode.RequestTimeout, message: `call to '${server}' was cancelled`, data: { server } };
    default:
      return { code: ErrorCode.InternalError, message: `gateway error while calling '${server}': ${e.details ?? e.message ?? String(err)}`, data: { server } };
  }
}

/** HTTP status for a JSON-RPC error on the REST surface. */
export function httpStatusOf(error: JsonRpcError): number {
  switch (error.code) {
    case ErrorCode.InvalidParams:
    case ErrorCode.InvalidRequest:
    case ErrorCode.ParseError: return 400;
    case ErrorCode.RequestTimeout: return 504;
    case ErrorCode.UpstreamUnavailable:
    case ErrorCode.RegistryUnavailable: return 502;
    case ErrorCode.Overloaded: return 503;
    default: return 500;
  }
}
