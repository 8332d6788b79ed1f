// Assembles the gateway's authorization server from settings (index.ts wiring).
import type { Redis } from 'ioredis';
import type { LoginConfig, TeamConfig } from '@mcpgw/common/config';
import { Clients } from './clients.js';
import { LoginFederation } from './federation.js';
import { MemoryOAuthState, RedisOAuthState } from './state.js';
import { GatewayTokens } from './tokens.js';

export function createOAuth(login: LoginConfig, teams: TeamConfig[], publicUrl: string, secret: string, redis: Redis | undefined, prefix: string, devHttpClientIds: boolean) {
  const issuer = new URL(publicUrl).origin;
  const state = redis ? new RedisOAuthState(redis, prefix) : new MemoryOAuthState();
  return {
    state,
    tokens: new GatewayTokens(secret, issuer, publicUrl),
    login: new LoginFederation(login, teams, `${issuer}/oauth/callback`),
    clients: new Clients(state, devHttpClientIds),
  };
}
