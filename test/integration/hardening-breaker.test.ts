// Issue 10, item 5: only connection failures may open an upstream's circuit
// breaker; timeouts and calls cut by a crash must not keep it open once the
// upstream is back.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { restCall, timeUntil } from '../harness/load.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';

after(stopAll);

test('six tool timeouts in a row do not open the breaker: the next call works at once', async () => {
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n    timeout_ms: 200\n`));
  const edge = await startEdge(registry.url);
  await waitForTools(edge.url, ['demo__']);
  const slow = await Promise.all(Array.from({ length: 6 }, () => restCall(edge.url, 'demo__countdown', { n: 3, delay_ms: 500 })));
  for (const s of slow) assert.equal(s.ok, false, 'the slow tool times out');
  assert.match(slow[0]!.error ?? '', /timed out/);
  const echo = await restCall(edge.url, 'demo__echo', { message: 'still fine' });
  assert.equal(echo.text, 'still fine', `after timeouts: ${echo.status} ${echo.error}`);
});

test('a crash with six calls in flight: once the upstream is back, calls work (no open breaker)', async () => {
  const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('crashy', 'crash')}`));
  const edge = await startEdge(registry.url);
  await waitForTools(edge.url, ['crashy__']);
  const cut = await Promise.all(Array.from({ length: 6 }, () => restCall(edge.url, 'crashy__crash', { delay_ms: 300 })));
  for (const c of cut) assert.equal(c.ok, false);
  // The deadline is generous (a loaded 2-core machine); the breaker itself is judged by its state, not by time:
  // an open breaker shows as "degraded" in /servers while the upstream is up.
  const ms = await timeUntil('echo after the crash', async () => (await restCall(edge.url, 'crashy__echo', { message: 'up' })).text === 'up', 60_000, 100);
  console.log(`# calls work ${ms} ms after the crash`);
  const servers = (await (await fetch(`${edge.url}/servers`)).json()) as { servers: { name: string; state: string }[] };
  assert.equal(servers.servers.find((s) => s.name === 'crashy')?.state, 'ready', 'the breaker is closed once the upstream is back (not "degraded")');
  const last = await restCall(edge.url, 'crashy__echo', { message: 'again' });
  assert.equal(last.text, 'again');
});
