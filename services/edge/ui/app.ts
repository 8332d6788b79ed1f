// The mcpgw console: one page over the admin API. The credential lives only
// in the Api object below (memory of this tab), never in storage or cookies;
// reloading the page or "Log out" forgets it.
import { Api, ApiError, type Call, type Key, type Server, type Stat, type Tool } from './api.js';
import { lineDiff, toLines } from './diff.js';
import { $, ago, h, replace, sparkline } from './dom.js';

const STATS_MS = 3_000;
const CALLS_MS = 5_000;
const CATALOG_MS = 10_000;
const HISTORY = 40;

let api: Api | undefined;
/** Bumped at every login and logout, so a poll that was in flight across them stops instead of doubling up. */
let session = 0;
let timers: number[] = [];
let lastToolsJson = '';
let servers: Server[] = [];
let tools: Tool[] = [];
let keys: Key[] = [];
let calls: Call[] = [];
const stats = new Map<string, Stat>();
/** Rows shown before "Show all" (a long list makes the phone view a scroll marathon). */
const PAGE = { tools: 50, calls: 25 };
const showAll = { tools: false, calls: false };
const rate = new Map<string, number[]>();

// ---------------------------------------------------------------- session

async function login(key: string): Promise<void> {
  const candidate = new Api(key);
  // The servers list doubles as the credential check (401 / 403 come back as ApiError).
  const first = await candidate.servers();
  api = candidate;
  // Out of the page as soon as it is accepted, not after the first refresh of every panel.
  ($('login-key') as HTMLInputElement).value = '';
  session++;
  servers = first.servers;
  $('login').hidden = true;
  $('app').hidden = false;
  $('nav').hidden = false;
  $('logout').hidden = false;
  $('live').hidden = false;
  renderServers();
  await Promise.allSettled([refreshCatalog(), refreshKeys(), refreshCalls(), refreshStats(), refreshTeams()]);
  every(STATS_MS, refreshStats);
  every(CALLS_MS, refreshCalls);
  every(CATALOG_MS, refreshCatalog);
}

function logout(message = ''): void {
  api = undefined;
  session++;
  lastToolsJson = '';
  for (const t of timers) clearTimeout(t);
  timers = [];
  servers = [];
  tools = [];
  keys = [];
  calls = [];
  stats.clear();
  rate.clear();
  ($('config-details') as HTMLDetailsElement).open = false;
  for (const id of ['config-body', 'servers-body', 'pending-body', 'tools-body', 'keys-body', 'calls-body', 'key-created']) replace($(id));
  $('key-created').hidden = true;
  $('app').hidden = true;
  $('nav').hidden = true;
  $('logout').hidden = true;
  $('live').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  ($('login-key') as HTMLInputElement).focus();
}

/** Runs `fn` every `ms` without overlapping runs; stops at logout. */
function every(ms: number, fn: () => Promise<void>): void {
  const mine = session;
  const loop = async () => {
    if (mine !== session) return;
    await fn();
    if (api && mine === session) timers.push(window.setTimeout(loop, ms));
  };
  timers.push(window.setTimeout(loop, ms));
}

/**
 * Calls the API; a rejected credential ends the session. Other errors go to
 * the panel the data was for (`panel`: its body's id and what it shows), or
 * to the banner. A panel's own failure is shown in the panel, so another
 * request's success cannot clear it (the Tools panel once failed as an empty
 * table while the servers' answer cleared the banner).
 */
async function guarded<T>(fn: (a: Api) => Promise<T>, panel?: { id: string; what: string }): Promise<T | undefined> {
  const a = api;
  if (!a) return undefined;
  try {
    const out = await fn(a);
    if (!panel) setBanner('');
    return out;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403) && a === api) {
      logout(`${err.message}. Log in again.`);
      return undefined;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (panel) replace($(panel.id), h('p', { class: 'error', role: 'alert' }, `${panel.what} could not be loaded: ${message}`));
    else setBanner(message);
    return undefined;
  }
}

function setBanner(msg: string): void {
  const b = $('banner');
  b.textContent = msg;
  b.hidden = !msg;
  $('live').classList.toggle('stale', Boolean(msg));
}

// ---------------------------------------------------------------- servers and stats

async function refreshStats(): Promise<void> {
  const out = await guarded((a) => a.stats());
  if (!out) return;
  for (const s of out.servers) {
    stats.set(s.name, s);
    const hist = rate.get(s.name) ?? [];
    hist.push(s.callsPerSec);
    if (hist.length > HISTORY) hist.shift();
    rate.set(s.name, hist);
  }
  renderServers();
}

async function refreshCatalog(): Promise<void> {
  const [s, t] = await Promise.all([guarded((a) => a.servers()), guarded((a) => a.tools(), { id: 'tools-body', what: 'Tools and pins' })]);
  if (s) servers = s.servers;
  renderServers();
  if (!t) {
    lastToolsJson = '';
    return;
  }
  // Re-render tools only on a change, so a diff being read (or a button being pressed) is not rebuilt under the reader.
  const json = JSON.stringify(t.tools);
  if (json === lastToolsJson) return;
  lastToolsJson = json;
  tools = t.tools;
  renderTools();
}

const pct = (r: number | undefined) => (r === undefined || Number.isNaN(r) ? '–' : `${(r * 100).toFixed(r > 0 && r < 0.01 ? 2 : 1)}%`);
const num = (n: number | undefined, unit = '') => (n === undefined || n === null || Number.isNaN(n) ? '–' : `${Math.round(n * 10) / 10}${unit}`);

function renderServers(): void {
  $('servers-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  const body = $('servers-body');
  if (!servers.length) {
    replace(body, h('p', { class: 'muted' }, 'No upstream servers are configured.'));
    return;
  }
  replace(body, ...servers.map((s) => {
    const st = stats.get(s.name);
    const errClass = st && st.errorRatio >= 0.05 ? 'bad' : '';
    return h('article', { class: `server state-${s.state}`, 'data-server': s.name },
      h('div', { class: 'server-head' },
        h('h3', {}, s.name),
        h('span', { class: `badge ${stateClass(s.state)}` }, s.state)),
      h('dl', { class: 'facts' },
        fact('transport', s.transport),
        fact('era', s.era ?? '–'),
        fact('session', s.session ?? 'shared'),
        fact('tools', String(s.tools)),
        fact('latency', num(s.lastLatencyMs, ' ms')),
        fact('pin changes', String(s.pinChanges ?? 0))),
      h('div', { class: 'live-row' },
        h('div', {},
          h('div', { class: 'metric' }, h('strong', {}, num(st?.callsPerSec)), ' calls/s'),
          h('div', { class: `metric ${errClass}` }, h('strong', {}, pct(st?.errorRatio)), ' errors'),
          h('div', { class: 'metric muted small' }, `p50 ${num(st?.p50Ms, ' ms')} · p99 ${num(st?.p99Ms, ' ms')}`)),
        sparkline(rate.get(s.name) ?? [], `calls per second of ${s.name}, last ${HISTORY} samples`)),
      s.lastError ? h('p', { class: 'last-error' }, h('span', { class: 'muted' }, 'last error: '), s.lastError) : null);
  }));
}

function fact(k: string, v: string): HTMLElement {
  return h('div', {}, h('dt', {}, k), h('dd', {}, v));
}

const stateClass = (s: string) => (s === 'ready' ? 'ok' : s === 'down' ? 'bad' : 'warn');

// ---------------------------------------------------------------- tools and pins

const isPending = (t: Tool) => Boolean(t.pending) || t.pin === 'held' || t.pin === 'new' || t.pin === 'changed';

function renderTools(): void {
  const q = ($('tool-search') as HTMLInputElement).value.trim().toLowerCase();
  const filter = ($('tool-filter') as HTMLSelectElement).value;
  const pending = tools.filter((t) => t.pending);
  const count = $('pending-count');
  count.textContent = String(pending.length);
  count.hidden = pending.length === 0;

  replace($('pending-body'), ...pending.map(renderPending));

  const shown = tools.filter((t) => {
    if (filter === 'pending' && !isPending(t)) return false;
    if (filter === 'trusted' && t.pin !== 'trusted') return false;
    return !q || `${t.name} ${t.server} ${t.tool} ${t.description ?? ''}`.toLowerCase().includes(q);
  });
  if (!shown.length) {
    replace($('tools-body'), h('p', { class: 'muted' }, tools.length ? 'No tool matches.' : 'No tools yet.'));
    return;
  }
  replace($('tools-body'), table(['Tool', 'Server', 'Pin', 'Description'], capped('tools', shown).map((t) => [
    h('code', {}, t.name),
    t.server,
    h('span', { class: `badge ${t.pin === 'trusted' ? 'ok' : t.pin === 'held' ? 'bad' : 'warn'}`, title: `fingerprint ${t.fingerprint}` }, t.pin),
    h('span', { class: 'desc' }, t.description ?? ''),
  ]), 'tools-table'), more('tools', shown.length, renderTools));
}

function renderPending(t: Tool): HTMLElement {
  const p = t.pending!;
  const error = h('p', { class: 'error', role: 'alert' });
  const act = (what: 'approve' | 'reject') => async (ev: Event) => {
    const btn = ev.currentTarget as HTMLButtonElement;
    btn.disabled = true;
    error.textContent = '';
    try {
      if (!api) return;
      if (what === 'approve') await api.approve(t.name, p.fingerprint);
      else await api.reject(t.name);
      lastToolsJson = '';
      await refreshCatalog();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 409
        ? `${err.message} — the tool changed again; review the new diff.`
        : err instanceof Error ? err.message : String(err);
      btn.disabled = false;
      if (err instanceof ApiError && err.status === 409) void refreshCatalog();
    }
  };
  const fields = Object.entries(p.diff ?? {}).filter(([, d]) => d);
  return h('article', { class: 'pending', 'data-tool': t.name },
    h('div', { class: 'server-head' },
      h('h3', {}, h('code', {}, t.name)),
      h('span', { class: `badge ${t.pin === 'held' ? 'bad' : 'warn'}` }, t.pin)),
    h('p', { class: 'muted small' }, `server ${t.server} · upstream tool ${t.tool} · seen ${ago(p.seenAt)} · new fingerprint `, h('code', {}, p.fingerprint.slice(0, 16))),
    fields.length
      ? h('div', {}, ...fields.map(([field, d]) => h('div', { class: 'diff-block' }, h('h4', {}, FIELD_LABELS[field] ?? field), renderDiff(d!.old, d!.new))))
      : h('p', { class: 'muted' }, t.pin === 'new' ? 'A new tool of a known server.' : 'No field-level diff was reported.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'approve', onclick: act('approve') }, 'Approve'),
      h('button', { type: 'button', class: 'danger', onclick: act('reject') }, 'Reject')),
    error);
}

const FIELD_LABELS: Record<string, string> = { description: 'description', inputSchema: 'input schema', outputSchema: 'output schema', annotations: 'annotations' };

function renderDiff(oldV: unknown, newV: unknown): HTMLElement {
  const lines = lineDiff(toLines(oldV), toLines(newV));
  return h('pre', { class: 'diff', 'aria-label': 'old and new, removed lines marked -, added lines marked +' },
    ...lines.map((l) => h('span', { class: l.op === '-' ? 'del' : l.op === '+' ? 'add' : 'same' }, `${l.op} ${l.text}\n`)));
}

// ---------------------------------------------------------------- keys

async function refreshKeys(): Promise<void> {
  const out = await guarded((a) => a.keys());
  if (!out) return;
  keys = out.keys;
  renderKeys();
}

async function refreshTeams(): Promise<void> {
  const out = await guarded((a) => a.teams());
  if (out) replace($('team-list'), ...out.teams.map((t) => h('option', { value: t.name })));
}

const globs = (v: FormDataEntryValue | null) => String(v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

async function createKey(form: HTMLFormElement): Promise<void> {
  const data = new FormData(form);
  const body: Record<string, unknown> = { name: String(data.get('name')).trim(), team: String(data.get('team')).trim() };
  const servers = globs(data.get('servers'));
  const toolGlobs = globs(data.get('tools'));
  if (servers.length) body.servers = servers;
  if (toolGlobs.length) body.tools = toolGlobs;
  for (const f of ['rpm', 'max_concurrency']) if (data.get(f)) body[f] = Number(data.get(f));
  const exp = String(data.get('expires_at') ?? '');
  if (exp) body.expires_at = new Date(exp).toISOString();
  if (data.get('admin')) body.admin = true;
  const err = $('key-error');
  err.textContent = '';
  const button = $('key-create') as HTMLButtonElement;
  button.disabled = true;
  try {
    if (!api) return;
    const created = await api.createKey(body);
    form.reset();
    showCreated(created.key, created.name);
    await refreshKeys();
  } catch (e) {
    err.textContent = e instanceof Error ? e.message : String(e);
  } finally {
    button.disabled = false;
  }
}

/** The new key, once: a copy button, and "Done" removes it from the page. */
function showCreated(key: string, name: string): void {
  const box = $('key-created');
  const code = h('code', { id: 'created-key', class: 'secret' }, key);
  const status = h('span', { class: 'muted small', role: 'status' });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(key);
      status.textContent = 'Copied.';
    } catch {
      // Clipboard API missing (plain http on a non-local host): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = window.getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
      status.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
    }
  };
  replace(box,
    h('p', {}, h('strong', {}, `Key for ${name} created.`), ' Copy it now: it will not be shown again.'),
    h('div', { class: 'secret-row' }, code,
      h('button', { type: 'button', id: 'copy-key', onclick: () => void copy() }, 'Copy'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { replace(box); box.hidden = true; } }, 'Done')),
    status);
  box.hidden = false;
}

function renderKeys(): void {
  if (!keys.length) {
    replace($('keys-body'), h('p', { class: 'muted' }, 'No virtual keys yet.'));
    return;
  }
  const sorted = [...keys].sort((a, b) => Number(a.revoked) - Number(b.revoked) || String(b.created_at).localeCompare(String(a.created_at)));
  replace($('keys-body'), table(['Name', 'Team', 'Scope', 'Limits', 'Expires', 'Created', ''], sorted.map((k) => [
    h('span', {}, k.name, k.admin ? h('span', { class: 'badge warn' }, 'admin') : null),
    k.team,
    h('span', { class: 'small' }, `servers: ${(k.servers?.length ? k.servers : ['team']).join(', ')}`, h('br'), `tools: ${(k.tools?.length ? k.tools : ['team']).join(', ')}`),
    h('span', { class: 'small' }, `${k.rpm ?? '–'} rpm · ${k.max_concurrency ?? '–'} concurrent`),
    k.expires_at ? new Date(k.expires_at).toLocaleString() : 'never',
    ago(k.created_at ?? undefined),
    k.revoked ? h('span', { class: 'badge bad' }, 'revoked')
      : k.expires_at && Date.parse(k.expires_at) < Date.now() ? h('span', {}, h('span', { class: 'badge warn' }, 'expired'), ' ', revokeButton(k))
        : revokeButton(k),
  ]), 'keys-table', (k) => ({ 'data-key-id': sorted[k]!.id })));
}

/** Two clicks: "Revoke", then "Confirm revoke" within 5 s. */
function revokeButton(k: Key): HTMLButtonElement {
  let armed: number | undefined;
  const b = h('button', { type: 'button', class: 'danger small-btn', 'aria-label': `Revoke key ${k.name}` }, 'Revoke');
  b.addEventListener('click', async () => {
    if (armed === undefined) {
      b.textContent = 'Confirm revoke';
      armed = window.setTimeout(() => { armed = undefined; b.textContent = 'Revoke'; }, 5_000);
      return;
    }
    clearTimeout(armed);
    b.disabled = true;
    const out = await guarded((a) => a.revokeKey(k.id));
    if (out) await refreshKeys();
    else b.disabled = false;
  });
  return b;
}

// ---------------------------------------------------------------- calls

async function refreshCalls(): Promise<void> {
  const out = await guarded((a) => a.calls(100));
  if (!out) return;
  calls = out.calls;
  renderCalls();
}

function renderCalls(): void {
  const only = ($('calls-denied') as HTMLInputElement).checked;
  const shown = only ? calls.filter((c) => c.outcome !== 'ok') : calls;
  if (!shown.length) {
    replace($('calls-body'), h('p', { class: 'muted' }, only ? 'No denials or errors among the recent calls.' : 'No calls yet.'));
    return;
  }
  replace($('calls-body'), table(['When', 'Server', 'Tool', 'Principal', 'Outcome', 'ms'], capped('calls', shown).map((c) => [
    h('time', { datetime: c.at, title: c.at }, new Date(c.at).toLocaleTimeString()),
    c.server,
    h('code', {}, c.tool),
    c.principal,
    h('span', { class: `badge ${c.outcome === 'ok' ? 'ok' : c.outcome === 'tool_error' ? 'warn' : 'bad'}` }, c.outcome),
    String(Math.round(c.ms)),
  ]), 'calls-table'), more('calls', shown.length, renderCalls));
}

// ---------------------------------------------------------------- shared

const capped = <T>(what: keyof typeof PAGE, rows: T[]): T[] => (showAll[what] ? rows : rows.slice(0, PAGE[what]));

function more(what: keyof typeof PAGE, total: number, render: () => void): HTMLElement | null {
  if (total <= PAGE[what]) return null;
  const label = showAll[what] ? `Show the first ${PAGE[what]}` : `Show all ${total}`;
  return h('button', { type: 'button', class: 'secondary more', onclick: () => { showAll[what] = !showAll[what]; render(); } }, label);
}

/** A table whose cells carry their column name, so narrow screens can show rows as cards. */
function table(cols: string[], rows: (Node | string)[][], cls: string, rowAttrs?: (i: number) => Record<string, string>): HTMLTableElement {
  return h('table', { class: cls },
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ...rows.map((r, i) => h('tr', rowAttrs?.(i) ?? {}, ...r.map((cell, j) => h('td', { 'data-label': cols[j] ?? '' }, cell))))));
}

// ---------------------------------------------------------------- wiring

function init(): void {
  const form = $('login-form') as HTMLFormElement;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('login-key') as HTMLInputElement;
    const key = input.value.trim();
    const err = $('login-error');
    err.textContent = '';
    const btn = $('login-submit') as HTMLButtonElement;
    btn.disabled = true;
    try {
      await login(key);
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 401 ? `${e.message} — the key was not accepted.`
        : e instanceof ApiError && e.status === 403 ? `${e.message} — this key is not an admin key.`
          : e instanceof Error ? e.message : String(e);
    } finally {
      btn.disabled = false;
    }
  });
  $('logout').addEventListener('click', () => logout());
  $('tool-search').addEventListener('input', renderTools);
  $('tool-filter').addEventListener('change', renderTools);
  $('calls-denied').addEventListener('change', renderCalls);
  // Loaded when opened (and again at each opening), not polled.
  $('config-details').addEventListener('toggle', async (ev) => {
    if (!(ev.currentTarget as HTMLDetailsElement).open) return;
    const cfg = await guarded((a) => a.config());
    if (cfg !== undefined) $('config-body').textContent = JSON.stringify(cfg, null, 2);
  });
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void createKey(ev.currentTarget as HTMLFormElement);
  });
  ($('login-key') as HTMLInputElement).focus();
}

init();
