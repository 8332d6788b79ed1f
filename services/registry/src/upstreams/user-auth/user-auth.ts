// Which upstream session a call of a per-user server goes to, and with which
// credential: the caller's own `x-mcp-<server>-authorization` header
// (client_header), the user's stored OAuth tokens (oauth2_user), or a token
// exchanged for the caller's (token_exchange). The edge sends only the
// principal's id and, for client_header, that one server's header value; the
// caller's gateway credential never reaches the registry.
import type { Registry } from 'prom-client';
import { ErrorCode, upstreamError } from '@mcpgw/common/jsonrpc';
import type { Logger } from '@mcpgw/common/logger';
import { UpstreamCallError, type CatalogContents, type Upstream } from '../upstream.js';
import { DEFAULT_POOL_OPTIONS, UserSessionError, UserSessionPool, type UserPoolOptions } from './pool.js';

/** Who calls, as the registry knows it from the call context. */
export interface CallerIdentity {
  /** The principal's id (`key:…`, `jwt:iss#sub`, `user:…`); '' when unknown. */
  principal: string;
  /** client_header servers: the caller's header value for this server; '' when absent. */
  credential: string;
}

/** A per-user server answered without a usable credential: the call fails with this error, the client is told what to do. */
export class CredentialRequired extends UpstreamCallError {}

export interface UserAuthOptions {
  pool?: UserPoolOptions;
}

export class UserAuth {
  readonly pool: UserSessionPool;

  constructor(private readonly log: Logger, registry: Registry, feedCatalog: (contents: CatalogContents) => void, opts: UserAuthOptions = {}) {
    this.pool = new UserSessionPool(log, registry, feedCatalog, opts.pool ?? DEFAULT_POOL_OPTIONS);
  }

  /** The caller's own upstream session of `shared`'s server (started on first use). */
  async sessionFor(shared: Upstream, caller: CallerIdentity | undefined): Promise<Upstream> {
    const cfg = shared.config;
    const auth = cfg.userAuth!;
    const principal = caller?.principal ?? '';
    if (!principal || principal === 'anonymous') {
      throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, 'acts as each user with their own credential: call it with your own key or sign-in, not anonymously'));
    }
    switch (auth.kind) {
      case 'client_header': {
        const value = caller?.credential ?? '';
        if (!value) {
          throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, `needs your own credential for it: send it in the '${auth.header}' request header`, { header: auth.header }));
        }
        try {
          return await this.pool.acquire(cfg, principal, { kind: 'header', value });
        } catch (err) {
          if (err instanceof UserSessionError && err.unauthorized) {
            throw new CredentialRequired(upstreamError(ErrorCode.Unauthorized, cfg.name, `refused the credential in your '${auth.header}' header (HTTP 401)`, { header: auth.header }));
          }
          throw err;
        }
      }
      default:
        throw new UpstreamCallError(upstreamError(ErrorCode.InternalError, cfg.name, `auth_type ${auth.kind} is not available in this build`));
    }
  }

  dropServers(names: string[]): Promise<void> {
    return this.pool.dropServers(names);
  }

  stop(): Promise<void> {
    return this.pool.stop();
  }
}
