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

/** An oidc-provider process (test/fixtures/oidc/provider.ts); `issuer` is its URL. */
export async function startOidcProvider(opts: { clients?: string[]; accounts?: Record<string, Record<string, unknown>>; accessTtlS?: number } = {}): Promise<{ proc: Proc; issuer: string }> {
  const proc = startProcess(process.execPath, ['--import', TSX, fixture('provider.ts'), '--port', '0', '--client', (opts.clients ?? []).join(','),
    '--accounts', JSON.stringify(opts.accounts ?? {}), '--access-ttl', String(opts.accessTtlS ?? 60)]);
  const m = await waitForLine(proc, /^listening (\d+)/, 'oidc-provider');
  return { proc, issuer: `http://127.0.0.1:${m[1]}` };
}

/** A tiny cookie-keeping browser over fetch: follows redirects by hand so tests see each hop. */
export class Browser {
  private readonly cookies = new Map<string, Map<string, string>>();

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(url);
    const jar = this.cookies.get(u.host);
    const headers: Record<string, string> = {};
    if (jar?.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(u, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const m = this.cookies.get(u.host) ?? new Map<string, string>();
      if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') m.delete(name); else m.set(name, value);
      this.cookies.set(u.host, m);
    }
    return res;
  }

  /**
   * Follows redirects from `url` until one leaves for `stopAt` (returned, not
   * fetched) or a page answers 200 (returned with its text).
   */
  async follow(url: string, stopAt: (u: URL) => boolean, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ stopped?: URL; page?: { url: string; html: string } }> {
    let next = url;
    let first = true;
    for (let hops = 0; hops < 20; hops++) {
      const u = new URL(next);
      if (!first && stopAt(u)) return { stopped: u };
      const res = await this.request(next, first ? init : {});
      first = false;
      if (res.status >= 300 && res.status < 400) {
        next = new URL(res.headers.get('location')!, next).toString();
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) throw new Error(`${next} answered ${res.status}: ${html.slice(0, 500)}`);
      return { page: { url: next, html } };
    }
    throw new Error('too many redirects');
  }
}

/** The first form's action and hidden inputs of an HTML page. */
export function formOf(html: string, baseUrl: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form in page ${baseUrl}: ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const m of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(m[0])?.[1];
    const value = /value="([^"]*)"/.exec(m[0])?.[1] ?? '';
    if (name) fields[name] = value.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
  }
  return { action: new URL(form[1]!.replace(/&amp;/g, '&'), baseUrl).toString(), fields };
}

/** Drives oidc-provider's dev login (any account name) and consent pages until the flow leaves the provider. */
export async function signInAt(browser: Browser, issuer: string, startUrl: string, account: string): Promise<URL> {
  let step = await browser.follow(startUrl, (u) => u.origin !== new URL(issuer).origin || false);
  for (let i = 0; i < 4 && step.page; i++) {
    const { action, fields } = formOf(step.page.html, step.page.url);
    const form = fields.prompt === 'login' ? { ...fields, login: account, password: 'x' } : fields;
    step = await browser.follow(action, (u) => u.origin !== new URL(issuer).origin, { method: 'POST', form });
  }
  if (!step.stopped) throw new Error(`the provider did not redirect back: ${step.page?.html.slice(0, 300)}`);
  return step.stopped;
}
