// Issue 20 fixtures as processes: the per-user upstream (test/fixtures/oidc/user-upstream.ts)
// and oidc-provider authorization servers (test/fixtures/oidc/provider.ts).
import { fileURLToPath } from 'node:url';
import { startProcess, waitForLine, type Proc } from './processes.js';

const TSX = import.meta.resolve('tsx');
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/oidc/${name}`, import.meta.url));

/** The upstream that acts as the user its token names; `url` is its /mcp endpoint, `origin` serves /seen and /revoke. */
export async function startUserUpstream(args: string[]): Promise<{ proc: Proc; url: string; origin: string; seen(): Promise<string[]> }> {
  const proc = startProcess(process.execPath, ['--import', TSX, fixture('user-upstream.ts'), '--port', '0', ...args]);
  const m = await waitForLine(proc, /^listening (\d+)/, 'user upstream');
  const origin = `http://127.0.0.1:${m[1]}`;
  return { proc, url: `${origin}/mcp`, origin, seen: async () => (await (await fetch(`${origin}/seen`)).json()) as string[] };
}
