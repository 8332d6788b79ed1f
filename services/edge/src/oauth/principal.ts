// A signed-in user (the gateway's own access token) as a principal, like a
// key or an external JWT: team, scopes, limits and audit all apply.
import type { TeamConfig } from '@mcpgw/common/config';
import { Access } from '../identity/access.js';
import { layersOf, limitsOf } from '../identity/authenticate.js';
import type { Principal } from '../identity/principal.js';
import type { SignedInUser } from './tokens.js';

export function userPrincipal(user: SignedInUser, teams: Map<string, TeamConfig>): Principal {
  const team = user.team ? teams.get(user.team) : undefined;
  const servers = user.scopes.filter((s) => s.startsWith('server:')).map((s) => s.slice(7));
  const tools = user.scopes.filter((s) => s.startsWith('tool:')).map((s) => s.slice(5));
  const id = `user:${user.sub}`;
  return {
    id, name: user.name, kind: 'user', admin: user.scopes.includes('mcpgw:admin'), team: team?.name,
    access: new Access(layersOf(team, { servers: servers.length ? servers : undefined, tools: tools.length ? tools : undefined })),
    limits: limitsOf(team, { bucket: id }),
  };
}
