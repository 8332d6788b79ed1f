import { createHash } from 'node:crypto';

export const DEFAULT_SEPARATOR = '__';
const SAFE_NAME = /^[A-Za-z0-9_-]+$/;
const MAX_NAME = 64;

/**
 * The name a tool (or prompt) of `server` has on aggregate views. Names that
 * are too long or carry characters some clients reject become a readable
 * prefix plus a short hash, so they stay unique and stable. Callers resolve
 * names by lookup in the catalog, never by splitting on the separator.
 */
export function exposedName(server: string, name: string, separator = DEFAULT_SEPARATOR): string {
  const joined = `${server}${separator}${name}`;
  if (joined.length <= MAX_NAME && SAFE_NAME.test(joined)) return joined;
  const digest = createHash('sha256').update(`${server}\0${name}`).digest('hex').slice(0, 8);
  return `${joined.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 55)}_${digest}`;
}
