// The gateway's own access tokens: short-lived JWTs (HS256 with a key derived
// from MCPGW_STATE_SECRET, which every edge shares), bound to the gateway's
// resource URL (RFC 8707 audience) and verified on any edge without a round
// trip. They name the user and what the IdP's claims mapped to (team,
// scopes); the registry only ever sees the principal id.
import { hkdfSync, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';

export interface SignedInUser {
  /** The IdP's subject. */
  sub: string;
  name: string;
  team?: string;
  /** `mcpgw:admin`, `server:<glob>`, `tool:<glob>` from the IdP's scope claim. */
  scopes: string[];
}

export interface AccessClaims extends SignedInUser {
  clientId: string;
  /** The refresh-token family this token was issued in. */
  family: string;
}

export const ACCESS_TOKEN_TTL_S = 300;

export class GatewayTokens {
  private readonly key: Uint8Array;

  /** `issuer`: the gateway's origin; `resource`: its MCP URL, every token's audience. */
  constructor(secret: string | Buffer, readonly issuer: string, readonly resource: string, readonly ttlS = ACCESS_TOKEN_TTL_S) {
    this.key = new Uint8Array(hkdfSync('sha256', secret, Buffer.alloc(0), 'mcpgw oauth access tokens v1', 32));
  }

  async mint(c: AccessClaims): Promise<string> {
    return new SignJWT({ name: c.name, team: c.team, scope: c.scopes.join(' '), client_id: c.clientId, sid: c.family })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(this.issuer).setAudience(this.resource).setSubject(c.sub)
      .setIssuedAt().setExpirationTime(`${this.ttlS}s`).setJti(randomBytes(12).toString('base64url'))
      .sign(this.key);
  }

  /** Is this token one of ours (by its issuer), without verifying it. */
  issued(payload: JWTPayload): boolean {
    return payload.iss === this.issuer;
  }

  async verify(token: string): Promise<{ ok: true; claims: AccessClaims } | { ok: false; reason: 'expired' | 'wrong_audience' | 'bad_signature' | 'malformed'; message: string }> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: this.issuer, audience: this.resource, algorithms: ['HS256'], typ: 'at+jwt', clockTolerance: 5 });
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
      return {
        ok: true,
        claims: {
          sub: String(payload.sub), name: typeof payload.name === 'string' ? payload.name : String(payload.sub),
          team: typeof payload.team === 'string' ? payload.team : undefined, scopes,
          clientId: String(payload.client_id ?? ''), family: String(payload.sid ?? ''),
        },
      };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return { ok: false, reason: 'expired', message: 'the access token has expired; refresh it' };
      if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud') return { ok: false, reason: 'wrong_audience', message: `the token is not for this resource (${this.resource})` };
      if (err instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad_signature', message: 'the token\'s signature does not verify' };
      return { ok: false, reason: 'malformed', message: `the token is invalid: ${(err as Error).message}` };
    }
  }
}
