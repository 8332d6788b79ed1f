// Issue 10, item 10: upstream error text reaches /servers, client errors and
// logs only with credentials masked, and with its root cause.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { configSecrets, createRedactor, describeError } from '@mcpgw/common/redact';
import { startEdge, startRegistry } from '../harness/gateway.js';
import { waitFor, freePort, stopAll, writeConfig } from '../harness/processes.js';

after(stopAll);

describe('redactor', () => {
  const r = createRedactor(configSecrets({
    url: 'http://u:pw-in-url@h/x?api_key=qk-12345', env: { GITHUB_TOKEN: 'envsecret-999' },
    headers: { Authorization: 'Bearer tok-abcdef', 'X-Api-Key': 'hdr-value-42' },
  }));

  test('masks configured values, URL userinfo, query secrets, auth schemes and token shapes', () => {
    const text = [
      'GET http://alice:hunter2@example.com/mcp?token=abc123&x=1 failed',
      'upstream said: invalid key hdr-value-42 (env envsecret-999, raw tok-abcdef)',
      'Authorization: Bearer zzzzzzzzzzzz',
      '{"password":"p4ss","ok":1}',
      'key sk-proj-ABCDEFGH12345678 and ghp_abcdefghijklmnopqrstuvwx and eyJhbGciOi.eyJzdWIiOi.sig_part',
      'qk-12345 pw-in-url',
    ].join('\n');
    const out = r(text);
    for (const secret of ['hunter2', 'abc123', 'hdr-value-42', 'envsecret-999', 'tok-abcdef', 'zzzzzzzzzzzz', 'p4ss', 'sk-proj-ABCDEFGH12345678', 'ghp_abcdef', 'eyJhbGciOi', 'qk-12345', 'pw-in-url']) {
      assert.ok(!out.includes(secret), `${secret} still in:\n${out}`);
    }
    assert.match(out, /http:\/\/\*\*\*@example\.com\/mcp\?token=\*\*\*&x=1/);
    assert.match(out, /"ok":1/, 'the rest of the text stays');
  });

  test('describeError keeps the root cause of "fetch failed"', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const err = new TypeError('fetch failed', { cause });
    assert.equal(describeError(err), 'fetch failed: connect ECONNREFUSED 127.0.0.1:9');
  });
});

describe('upstream errors through the registry', () => {
  test('/servers and the logs show the cause without URL credentials, auth values or echoed tokens', async () => {
    // An upstream that refuses us with a 401 whose body echoes what we sent.
    const echo = createServer((req, res) => {
      res.writeHead(401, { 'content-type': 'text/plain' }).end(`unauthorized: got authorization=${req.headers.authorization} x-team=${req.headers['x-team']}`);
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const port = (echo.address() as { port: number }).port;
    const closed = await freePort();
    try {
      const registry = await startRegistry(writeConfig([
        'mcp_servers:',
        '  echoing:',
        `    url: http://127.0.0.1:${port}/mcp`,
        '    transport: http',
        '    auth_type: bearer_token',
        '    auth_value: authval-SECRET-5521',
        '    headers: { X-Team: headerval-SECRET-9912 }',
        '  withcreds:',
        `    url: http://admin:urlpass-7781@127.0.0.1:${port}/mcp`,
        '    transport: http',
        '  refused:',
        `    url: http://127.0.0.1:${closed}/mcp?api_key=qsecret-3318`,
        '    transport: http',
        '',
      ].join('\n')));
      const edge = await startEdge(registry.url, {}, false);
      const servers = await waitFor('both servers down with an error', async () => {
        const res = await fetch(`${edge.url}/servers`);
        const body = (await res.json()) as { servers?: { name: string; lastError?: string }[] };
        return body.servers?.every((s) => s.lastError) ? body.servers : undefined;
      });
      const text = JSON.stringify(servers);
      const logs = registry.proc.lines.join('\n') + edge.proc.lines.join('\n');
      for (const secret of ['urlpass-7781', 'authval-SECRET-5521', 'headerval-SECRET-9912', 'qsecret-3318']) {
        assert.ok(!text.includes(secret), `${secret} in /servers: ${text}`);
        assert.ok(!logs.includes(secret), `${secret} in the logs`);
      }
      const refused = servers.find((s) => s.name === 'refused')!;
      assert.match(refused.lastError!, /ECONNREFUSED/, `root cause kept: ${refused.lastError}`);
      const echoing = servers.find((s) => s.name === 'echoing')!;
      assert.match(echoing.lastError!, /401/, `status kept: ${echoing.lastError}`);
    } finally {
      echo.close();
    }
  });
});
