// Who is calling. Every request gets exactly one principal, or a 401.
import type { Limits } from '@mcpgw/common/config';
import { Access } from './access.js';

export type PrincipalKind = 'anonymous' | 'master' | 'key' | 'jwt' | 'user';

/** A limit and the bucket it counts in (`key:<id>`, `team:<name>`), shared across edges. */
export interface LimitRule extends Limits {
  bucket: string;
}

export interface Principal {
  /** Stable id: sessions record it, limits and audit lines use it. Never a secret. */
  id: string;
  /** For people: the key's name, the token's subject. */
  name: string;
  kind: PrincipalKind;
  admin: boolean;
  team?: string;
  /** Key id, for audit lines (virtual keys only). */
  keyId?: string;
  access: Access;
  /** The key's and the team's limits (tool limits are the gateway's, by tool). */
  limits: LimitRule[];
}

export const ANONYMOUS: Principal = { id: 'anonymous', name: 'anonymous', kind: 'anonymous', admin: true, access: Access.ALL, limits: [] };
export const MASTER: Principal = { id: 'master', name: 'master key', kind: 'master', admin: true, access: Access.ALL, limits: [] };
