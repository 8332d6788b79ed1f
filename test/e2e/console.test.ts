// The console (/ui) in headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the real gateway: registry and edge as processes,
// a master key, a `changing` fixture upstream under `pinning: hold`. Steps run
// in order on one page; each saves a screenshot under test/artifacts/console/.
// Any console error, uncaught page error or CSP violation fails the step.
//
//   npm run test:ui                          # needs `chromium` on PATH (or CHROMIUM_PATH)
//   UPDATE_DOCS_SCREENSHOT=1 npm run test:ui # also refreshes docs/console.png
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { fixtureStdio, startEdge, startRegistry, type EdgeHandle } from '../harness/gateway.js';
import { ROOT, stopAll, waitFor, writeConfig } from '../harness/processes.js';

const MASTER = 'mk-console-e2e-0123456789';
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const ARTIFACTS = join(ROOT, 'test/artifacts/console');

function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    return '/usr/bin/chromium';
  }
}

/** Reports CSP violations as console errors, so the one listener below sees them too. */
const CSP_REPORTER = `
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' at ' + e.sourceFile + ':' + e.lineNumber);
  });
`;

describe('console /ui in headless Chromium', () => {
  let edge: EdgeHandle;
  let browser: Browser;
  let page: Page;
  /** Console errors, page errors and CSP violations since the last check. */
  const problems: string[] = [];
  /** Console errors a step expects (e.g. the browser's own line for a 401 fetch). */
  let expected: RegExp[] = [];
  let createdKey = '';
  let createdId = '';

  const shot = async (name: string) => {
    // From the top, so the sticky header is drawn where it belongs in a full-page capture.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };
  const noProblems = () => assert.deepEqual(problems.splice(0), [], 'console errors, page errors or CSP violations');
  const auth = (key: string) => ({ authorization: `Bearer ${key}` });
  /** Every step after the first needs /admin/api; without it they fail at once, saying so, instead of timing out one by one. */
  let apiProbe: Promise<string | undefined> | undefined;
  const requireApi = async () => {
    apiProbe ??= fetch(`${edge.url}/admin/api/servers`).then((r) => (r.status === 401 ? undefined : `GET /admin/api/servers without a key answered ${r.status}, not 401`));
    const why = await apiProbe;
    if (why) assert.fail(`the admin API is missing or unprotected (${why}); this step needs it`);
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const cfg = writeConfig(`
mcp_servers:
${fixtureStdio('chg', 'changing')}
gateway:
  pinning: hold
  hold_new: true
  teams:
    data: { servers: ["*"], tools: ["*"] }
`);
    const registry = await startRegistry(cfg, { MCPGW_MASTER_KEY: MASTER });
    edge = await startEdge(registry.url, { MCPGW_CONFIG: cfg, MCPGW_MASTER_KEY: MASTER });
    await waitFor('chg tools on the edge', async () => {
      const res = await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(MASTER) });
      const { tools } = (await res.json()) as { tools: { name: string }[] };
      return tools.some((t) => t.name === 'chg__bump') || undefined;
    });

    browser = await chromium.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(CSP_REPORTER);
    page = await context.newPage();
    page.setDefaultTimeout(20_000);
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (expected.some((re) => re.test(m.text()))) return;
      problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await stopAll();
  });

  test('the page loads under its CSP with a login form and no console errors', async () => {
    const res = await page.goto(`${edge.url}/ui`);
    assert.equal(res?.status(), 200);
    const headers = res!.headers();
    assert.equal(headers['content-security-policy'], CSP);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.match(headers['content-type'] ?? '', /^text\/html/);
    for (const [asset, type] of [['app.js', /^text\/javascript/], ['styles.css', /^text\/css/], ['icon.svg', /^image\/svg\+xml/]] as const) {
      const r = await page.request.get(`${edge.url}/ui/${asset}`);
      assert.equal(r.status(), 200, asset);
      assert.match(r.headers()['content-type'] ?? '', type, asset);
      assert.equal(r.headers()['content-security-policy'], CSP, asset);
    }
    assert.equal((await page.request.get(`${edge.url}/ui/../package.json`)).status(), 404);

    await page.locator('#login-key').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#app').isVisible(), false, 'the admin sections stay hidden before login');
    assert.equal(await page.locator('#login-key').getAttribute('type'), 'password');
    await shot('01-login');
    noProblems();
  });

  test('a wrong key is refused with the status and message of the API', async () => {
    await requireApi();
    expected = [/status of 401/];
    await page.fill('#login-key', 'not-the-key');
    await page.click('#login-submit');
    await page.locator('#login-error').filter({ hasText: '401' }).waitFor();
    assert.equal(await page.locator('#app').isVisible(), false);
    await shot('02-wrong-key');
    expected = [];
    noProblems();
  });

  test('the master key logs in and the servers show with health, era and session mode', async () => {
    await requireApi();
    await page.fill('#login-key', MASTER);
    await page.click('#login-submit');
    const card = page.locator('#servers-body article[data-server="chg"]');
    await card.waitFor();
    await card.locator('.badge', { hasText: 'ready' }).waitFor();
    const text = await card.innerText();
    assert.match(text, /stdio/);
    assert.match(text, /era/);
    assert.match(text, /session/);
    assert.equal(await page.inputValue('#login-key'), '', 'the key field is cleared after login');
    // The key lives only in a JS variable: nothing in storage or cookies.
    const stored = await page.evaluate('[localStorage.length, sessionStorage.length, document.cookie]');
    assert.deepEqual(stored, [0, 0, '']);
    await page.locator('#tools-body code', { hasText: 'chg__bump' }).waitFor();
    await shot('03-servers');
    noProblems();
  });

  test('creating a key shows it once, with a copy button', async () => {
    await requireApi();
    await page.fill('#key-form input[name="name"]', 'e2e-bot');
    await page.fill('#key-form input[name="team"]', 'data');
    await page.fill('#key-form input[name="servers"]', 'chg');
    await page.fill('#key-form input[name="rpm"]', '60');
    await page.click('#key-create');
    const shown = page.locator('#created-key');
    await shown.waitFor();
    createdKey = (await shown.innerText()).trim();
    assert.match(createdKey, /^sk-mcpgw-/);
    assert.ok(await page.locator('#copy-key').isVisible());
    const row = page.locator('#keys-body tr', { hasText: 'e2e-bot' });
    await row.waitFor();
    createdId = (await row.getAttribute('data-key-id')) ?? '';
    assert.ok(createdId, 'the key row carries its id');
    await shot('04-key-created');

    // The new key works against the gateway itself.
    const res = await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(createdKey) });
    assert.equal(res.status, 200);

    await page.locator('#key-created button', { hasText: 'Done' }).click();
    assert.equal(await page.locator('#created-key').count(), 0);
    assert.ok(!(await page.content()).includes(createdKey), 'the key is gone from the page after "Done"');
    const listed = await (await fetch(`${edge.url}/admin/api/keys`, { headers: auth(MASTER) })).text();
    assert.ok(!listed.includes(createdKey), 'the list never holds the key itself');
    noProblems();
  });

  test('revoking the key marks it revoked and the gateway refuses it', async () => {
    await requireApi();
    const row = page.locator(`#keys-body tr[data-key-id="${createdId}"]`);
    const revoke = row.locator('button', { hasText: 'Revoke' });
    await revoke.click();
    await row.locator('button', { hasText: 'Confirm revoke' }).click();
    await row.locator('.badge', { hasText: 'revoked' }).waitFor();
    await shot('05-key-revoked');
    await waitFor('the revoked key refused', async () => (await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(createdKey) })).status === 401 || undefined, 5_000);
    noProblems();
  });

  test('a held tool shows its change and approving it releases it', async () => {
    await requireApi();
    // `bump` adds tool v2 to a known server; with hold_new it is held until approved.
    const bump = await fetch(`${edge.url}/mcp/tools/call`, {
      method: 'POST', headers: { ...auth(MASTER), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'chg__bump', arguments: {} }),
    });
    assert.equal(bump.status, 200);
    const pending = page.locator('#pending-body article[data-tool="chg__v2"]');
    await pending.waitFor({ timeout: 30_000 }); // the page refreshes tools every 10 s
    const listed = async () => ((await (await fetch(`${edge.url}/mcp/tools/list`, { headers: auth(MASTER) })).json()) as { tools: { name: string }[] }).tools.map((t) => t.name);
    assert.ok(!(await listed()).includes('chg__v2'), 'a held tool is not listed');
    await page.locator('#pending-count').waitFor(); // the nav badge counts pending changes
    await shot('06-pending');

    await pending.locator('button', { hasText: 'Approve' }).click();
    await pending.waitFor({ state: 'detached' });
    await page.locator('#tools-body tr', { hasText: 'chg__v2' }).locator('.badge', { hasText: 'trusted' }).waitFor();
    await waitFor('chg__v2 listed after approval', async () => (await listed()).includes('chg__v2') || undefined, 5_000);
    await shot('07-approved');
    noProblems();
  });

  test('the effective config opens on demand, without the master key', async () => {
    await requireApi();
    await page.click('#config-details summary');
    await page.locator('#config-body', { hasText: 'gateway' }).waitFor();
    assert.ok(!(await page.locator('#config-body').innerText()).includes(MASTER), 'the master key is redacted');
    await shot('08-config');
    await page.click('#config-details summary');
    noProblems();
  });

  test('recent calls and live rates show, and the page fits a 390 px phone', async () => {
    await requireApi();
    await page.locator('#calls-body', { hasText: 'bump' }).waitFor({ timeout: 20_000 });
    await page.locator('#servers-body article[data-server="chg"] .metric', { hasText: 'calls/s' }).first().waitFor();
    await shot('09-calls');
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(ARTIFACTS, 'docs.png') });
      copyFileSync(join(ARTIFACTS, 'docs.png'), join(ROOT, 'docs/console.png'));
    }
    await page.setViewportSize({ width: 390, height: 844 });
    const width = await page.evaluate('document.documentElement.scrollWidth');
    assert.ok(Number(width) <= 390, `no horizontal scrolling on a phone (scrollWidth ${width})`);
    await shot('10-phone');
    noProblems();
  });

  test('logging out, or reloading, forgets the key', async () => {
    await requireApi();
    await page.click('#logout');
    await page.locator('#login-key').waitFor();
    assert.equal(await page.locator('#app').isVisible(), false);
    assert.equal(await page.locator('#tools-body tr').count(), 0, 'nothing of the session is left in the page');
    await page.fill('#login-key', MASTER);
    await page.click('#login-submit');
    await page.locator('#servers-body article').first().waitFor();
    await page.reload();
    await page.locator('#login-key').waitFor();
    assert.equal(await page.locator('#app').isVisible(), false, 'a reload needs the key again');
    await shot('11-logged-out');
    noProblems();
  });
});
