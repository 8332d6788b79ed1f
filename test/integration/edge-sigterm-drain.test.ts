// SIGTERM (podman stop, a Kubernetes rollout) with a client connected: the edge
// finishes the call in flight, hands the client's standing GET stream a retry
// hint, and exits 0 well before its 10 s force-exit. The images smoke test found
// the edge waiting for that GET stream until the force-exit (exit code 1):
// it was ended in onClose, which fastify runs only after the server closed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { connectClient } from '../harness/mcp.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';
import { startRedis } from '../harness/redis.js';

after(stopAll);

test('SIGTERM with an open GET stream and a call in flight: the call completes and the edge exits 0 promptly', async () => {
  const redis = await startRedis();
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), { REDIS_URL: redis.url });
  const edge = await startEdge(registry.url, { REDIS_URL: redis.url });
  await waitForTools(edge.url, ['demo__']);
  const client = await connectClient(`${edge.url}/mcp`, 'http');
  try {
    // The SDK client opens its standing GET stream after initialize; wait until the edge holds it.
    await new Promise((r) => setTimeout(r, 500));
    let progress = 0;
    const call = client.callTool({ name: 'demo__countdown', arguments: { n: 4, delay_ms: 500 } }, undefined, { timeout: 30_000, onprogress: () => { progress++; } });
    while (progress < 1) await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    edge.proc.child.kill('SIGTERM');
    const result = await call;
    assert.equal((result.content as { text: string }[])[0]!.text, 'liftoff', 'the call in flight completed');
    const code = await edge.proc.exited;
    const took = Date.now() - t0;
    assert.equal(code, 0, `edge exit code after SIGTERM (took ${took} ms; 1 means the 10 s force-exit fired); output:\n${edge.proc.lines.slice(-20).join('\n')}`);
    assert.ok(took < 8_000, `edge took ${took} ms to exit after SIGTERM`);
  } finally {
    await client.close().catch(() => {});
  }
});
