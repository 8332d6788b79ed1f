// resources/subscribe on a shared upstream: reference-counted upstream
// subscriptions, and resources/updated delivered to exactly the subscribed
// client sessions, with or without Redis (then across edges).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { fixtureStdio, startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { connectClient } from '../harness/mcp.js';
import { stopAll, waitFor, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

const WATCHED = 'test://watched-resource';
const text = (r: unknown) => ((r as { content: { text: string }[] }).content[0]!.text);

async function watcher(url: string): Promise<{ client: Client; updates: string[] }> {
  const client = await connectClient(url, 'http');
  const updates: string[] = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => { updates.push(n.params.uri); });
  // Give the SDK client a moment to open its GET stream for server notifications.
  await new Promise((r) => setTimeout(r, 300));
  return { client, updates };
}

for (const mode of ['memory', 'redis'] as const) {
  describe(`resource subscriptions (${mode})`, () => {
    const clients: Client[] = [];
    after(async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await stopAll();
    });

    test('only subscribed sessions get resources/updated; the upstream subscription is reference-counted', async () => {
      const env = mode === 'redis' ? { REDIS_URL: (await startRedis()).url, MCPGW_REDIS_PREFIX: `s${Date.now()}:` } : {};
      const registry = await startRegistry(writeConfig(`mcp_servers:\n${fixtureStdio('conf', 'conformance')}`), env);
      const edges = mode === 'redis' ? await Promise.all([startEdge(registry.url, env), startEdge(registry.url, env)]) : [await startEdge(registry.url, env)];
      await waitForTools(edges[0]!.url, ['conf__']);
      const a = await watcher(`${edges[0]!.url}/mcp`);
      const b = await watcher(`${edges.at(-1)!.url}/mcp`);
      clients.push(a.client, b.client);

      await a.client.subscribeResource({ uri: WATCHED });
      await b.client.subscribeResource({ uri: WATCHED });
      await b.client.unsubscribeResource({ uri: WATCHED });
      // b's unsubscribe was not the last: the upstream still has the subscription.
      assert.equal(text(await b.client.callTool({ name: 'conf__touch_watched_resource', arguments: {} })), 'updated sent');
      await waitFor('the update at the subscribed session', () => a.updates.length > 0 || undefined, 5_000);
      assert.deepEqual(a.updates, [WATCHED]);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(b.updates, [], 'the unsubscribed session got nothing');

      await a.client.unsubscribeResource({ uri: WATCHED });
      assert.equal(text(await a.client.callTool({ name: 'conf__touch_watched_resource', arguments: {} })), 'not subscribed', 'the last unsubscribe reached the upstream');
    });
  });
}
