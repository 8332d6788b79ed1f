// Registry behaviour a platform engineer relies on: hot reload that touches
// only what changed, and stdio upstreams that leave nothing behind.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, renameSync, symlinkSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StdioUpstreamTransport } from '../../services/registry/src/upstreams/stdio.js';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { DEMO_SERVER, stopAll, waitFor } from '../harness/processes.js';

const server = (name: string, label = name) => `  ${name}:\n    command: node\n    args: ["${DEMO_SERVER}", "--label", "${label}"]\n`;

describe('hot reload', () => {
  after(stopAll);

  test('a ConfigMap-style symlink swap adds, changes and removes only the affected upstreams', async () => {
    // Kubernetes mounts config.yaml -> ..data/config.yaml and swaps ..data atomically.
    const dir = mkdtempSync(join(tmpdir(), 'mcpgw-reload-'));
    const version = (n: number, body: string) => {
      const d = join(dir, `v${n}`);
      execFileSync('mkdir', ['-p', d]);
      writeFileSync(join(d, 'config.yaml'), `mcp_servers:\n${body}`);
      const tmp = join(dir, `..data_tmp${n}`);
      symlinkSync(`v${n}`, tmp);
      renameSync(tmp, join(dir, '..data'));
    };
    version(1, server('steady') + server('doomed') + server('changing', 'before'));
    symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
    const registry = await startRegistry(join(dir, 'config.yaml'), { MCPGW_CONFIG_POLL_MS: '200' });
    const edge = await startEdge(registry.url);
    await waitForTools(edge.url, ['steady__', 'doomed__', 'changing__']);
    const connects = (name: string) => registry.proc.lines.filter((l) => l.includes('"upstream connected"') && l.includes(`"server":"${name}"`)).length;
    assert.equal(connects('steady'), 1);

    version(2, server('steady') + server('changing', 'after') + server('newcomer'));
    await waitFor('the reloaded catalog at the edge', async () => {
      const { tools } = await (await fetch(`${edge.url}/mcp/tools/list`)).json() as { tools: { name: string; description: string }[] };
      const names = tools.map((t) => t.name);
      const changed = tools.find((t) => t.name === 'changing__echo')?.description ?? '';
      return names.includes('newcomer__echo') && !names.some((n) => n.startsWith('doomed__')) && changed.includes('[after]') ? true : undefined;
    });
    assert.equal(connects('steady'), 1, 'the unchanged upstream kept its connection');
    assert.equal(connects('changing'), 2, 'the changed upstream was restarted');

    // A broken edit is rejected and the running config stays.
    version(3, '  bad:\n    url: not a url\n');
    await waitFor('the rejection in the log', () => registry.proc.lines.some((l) => l.includes('config reload rejected')) || undefined);
    const call = await fetch(`${edge.url}/mcp/tools/call`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'steady__echo', arguments: { message: 'still' } }) });
    assert.equal(call.status, 200);
  });
});

describe('stdio upstreams', () => {
  test('100 start/stop cycles leave no child, grandchild or zombie behind', async () => {
    // The server forks a grandchild into its process group; stopping must take both.
    const cfg = {
      name: 'forky', transport: 'stdio' as const, command: 'sh',
      args: ['-c', `sleep 300 & exec "${process.execPath}" "${DEMO_SERVER}"`],
      env: {}, headers: {}, timeoutMs: 5000, maxConcurrency: 4, maxSessions: 4, session: 'shared' as const,
    };
    const pids: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t = new StdioUpstreamTransport(cfg, () => {});
      await t.start();
      pids.push(t.pid!);
      await t.close();
    }
    const left = () => execFileSync('ps', ['-eo', 'pid,pgid,stat,args'], { encoding: 'utf8' }).split('\n')
      .filter((line) => pids.some((p) => line.trim().split(/\s+/)[1] === String(p)));
    const running = left().filter((line) => !/^\s*\d+\s+\d+\s+Z/.test(line));
    assert.deepEqual(running, [], `processes still running in the upstreams' groups:\n${running.join('\n')}`);
    // Killed grandchildren are reaped by PID 1 (init, or tini in the image), not by us; give it a moment.
    await waitFor('no zombies left from the upstreams\' groups', () => left().length === 0 || undefined, 15_000);
  });
});
