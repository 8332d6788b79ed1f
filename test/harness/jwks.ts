// A local OAuth issuer for tests: a JWKS endpoint on loopback and a signer of
// tokens with the key it publishes (plus a key it does not publish).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface TestIssuer {
  issuer: string;
  jwksUrl: string;
  /** Signs with the published key (or the unpublished one: `unknownKid`). */
  sign(claims: Record<string, unknown>, opts?: { audience?: string; expiresIn?: string | number; unknownKid?: boolean; issuer?: string }): Promise<string>;
  /** Makes the JWKS endpoint answer 503 (the issuer is down). */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function startIssuer(audience: string): Promise<TestIssuer> {
  const published = await generateKeyPair('RS256');
  const unpublished = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let down = false;
  const server: Server = createServer((req, res) => {
    if (down) { res.writeHead(503).end(); return; }
    if (req.url === '/jwks.json') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })); return; }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer: base,
    jwksUrl: `${base}/jwks.json`,
    async sign(claims, opts = {}) {
      const key: CryptoKey = opts.unknownKid ? unpublished.privateKey : published.privateKey;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: opts.unknownKid ? 'k-unknown' : 'k1' })
        .setIssuer(opts.issuer ?? base).setAudience(opts.audience ?? audience).setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '10m').sign(key);
    },
    setDown(d) { down = d; },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
