// The edge–registry link over mTLS (MCPGW_REGISTRY_TLS_*): an edge with the
// CA and a client certificate works; a plaintext caller or one without a
// client certificate is refused.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { RegistryClient } from '@mcpgw/proto/registry';
import { startEdge, startRegistry, waitForTools } from '../harness/gateway.js';
import { restCall } from '../harness/load.js';
import { DEMO_SERVER, stopAll, writeConfig } from '../harness/processes.js';

after(stopAll);

function makeCerts(): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey', string> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpgw-tls-'));
  const f = (n: string) => join(dir, n);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=mcpgw-test-ca', '-keyout', f('ca.key'), '-out', f('ca.pem'));
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=mcpgw-${name}`, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`));
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f(`${name}.ext`), '-out', f(`${name}.pem`));
  }
  return { ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') };
}

function listServers(url: string, creds: ReturnType<typeof credentials.createInsecure>): Promise<number> {
  const client = new RegistryClient(url, creds);
  return new Promise((resolve) => client.listServers({}, new Metadata(), { deadline: Date.now() + 3_000 }, (err: ServiceError | null) => {
    client.close();
    resolve(err ? err.code : status.OK);
  }));
}

test('mTLS between edge and registry, plus the token', async () => {
  const c = makeCerts();
  const token = 'tls-test-token-8f2a';
  const registry = await startRegistry(writeConfig(`mcp_servers:\n  demo:\n    command: node\n    args: ["${DEMO_SERVER}"]\n`), {
    MCPGW_REGISTRY_TOKEN: token, MCPGW_REGISTRY_TLS_CERT: c.serverCert, MCPGW_REGISTRY_TLS_KEY: c.serverKey, MCPGW_REGISTRY_TLS_CA: c.ca,
  });
  const edge = await startEdge(registry.url, {
    MCPGW_REGISTRY_TOKEN: token, MCPGW_REGISTRY_TLS_CA: c.ca, MCPGW_REGISTRY_TLS_CERT: c.clientCert, MCPGW_REGISTRY_TLS_KEY: c.clientKey,
  });
  await waitForTools(edge.url, ['demo__']);
  assert.equal((await restCall(edge.url, 'demo__echo', { message: 'over mTLS' })).text, 'over mTLS');

  assert.equal(await listServers(registry.url, credentials.createInsecure()), status.UNAVAILABLE, 'plaintext is refused');
  const noClientCert = credentials.createSsl(readFileSync(c.ca));
  assert.notEqual(await listServers(registry.url, noClientCert), status.OK, 'TLS without a client certificate is refused');
});
