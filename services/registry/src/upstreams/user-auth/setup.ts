// Per-user credentials' settings from the environment and config (index.ts wiring):
// MCPGW_TOKEN_KEYS seals tokens, MCPGW_PUBLIC_URL (or gateway.auth.resource) is
// where connect links point, and the system of record keeps the sealed rows
// (its `user_credentials` table: they survive anything Redis does).
import type { Config } from '@mcpgw/common/config';
import { ConfigError } from '@mcpgw/common/config';
import type { UserCredentialStore } from './credential-store.js';
import { TokenSealer } from './sealing.js';
import type { UserAuthOptions } from './user-auth.js';

export function userAuthOptions(env: NodeJS.ProcessEnv, config: Config, store: UserCredentialStore): UserAuthOptions {
  const needed = config.servers.some((s) => s.userAuth?.kind === 'oauth2_user');
  const keys = env.MCPGW_TOKEN_KEYS;
  const publicUrl = env.MCPGW_PUBLIC_URL || config.gateway.resource;
  if (needed && (!keys || !publicUrl)) {
    throw new ConfigError('auth_type oauth2_user needs MCPGW_TOKEN_KEYS (id:base64 of 32 random bytes; the first one seals) and MCPGW_PUBLIC_URL (or gateway.auth.resource) on the registry');
  }
  let sealer: TokenSealer | undefined;
  try {
    sealer = keys ? TokenSealer.fromEnv(keys) : undefined;
  } catch (err) {
    throw new ConfigError(`MCPGW_TOKEN_KEYS: ${(err as Error).message}`);
  }
  return { sealer, publicUrl, store };
}
