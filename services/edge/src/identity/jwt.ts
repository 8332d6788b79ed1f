// JWT bearer tokens from configured issuers, verified with `jose` against a
// cached JWKS per issuer (refetched on an unknown `kid`, at most every 30 s;
// a JWKS endpoint that is down fails only tokens whose key is not cached).
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import type { JwtIssuerConfig } from '@mcpgw/common/config';

export type JwtFailure = 'malformed' | 'unknown_issuer' | 'expired' | 'wrong_audience' | 'wrong_issuer' | 'unknown_kid' | 'bad_signature' | 'jwks_unavailable' | 'invalid_claims';

export type JwtOutcome = { ok: true; payload: JWTPayload; issuer: JwtIssuerConfig } | { ok: false; reason: JwtFailure; message: string };

interface Issuer {
  config: JwtIssuerConfig;
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

export class JwtVerifier {
  private readonly issuers = new Map<string, Issuer>();

  constructor(configs: JwtIssuerConfig[]) {
    for (const config of configs) {
      this.issuers.set(config.issuer, {
        config,
        jwks: createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 }),
      });
    }
  }

  get enabled(): boolean {
    return this.issuers.size > 0;
  }

  async verify(token: string): Promise<JwtOutcome> {
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'malformed', message: 'the bearer token is not a well-formed JWT' };
    }
    const issuer = typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    if (!issuer) return { ok: false, reason: 'unknown_issuer', message: `the token's issuer ${JSON.stringify(iss ?? null).slice(0, 120)} is not one this gateway trusts` };
    try {
      const { payload } = await jwtVerify(token, issuer.jwks, { issuer: issuer.config.issuer, audience: issuer.config.audiences, clockTolerance: 5 });
      return { ok: true, payload, issuer: issuer.config };
    } catch (err) {
      return { ok: false, ...describe(err, issuer.config) };
    }
  }
}

function describe(err: unknown, config: JwtIssuerConfig): { reason: JwtFailure; message: string } {
  if (err instanceof errors.JWTExpired) return { reason: 'expired', message: 'the token has expired' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return { reason: 'wrong_audience', message: `the token's audience does not name this gateway (expected one of ${config.audiences.join(', ')})` };
    if (err.claim === 'iss') return { reason: 'wrong_issuer', message: 'the token\'s issuer does not match' };
    return { reason: 'invalid_claims', message: `the token's "${err.claim}" claim is invalid: ${err.reason}` };
  }
  if (err instanceof errors.JWKSNoMatchingKey) return { reason: 'unknown_kid', message: 'no key of the issuer\'s JWKS matches the token\'s "kid"' };
  if (err instanceof errors.JWSSignatureVerificationFailed) return { reason: 'bad_signature', message: 'the token\'s signature does not verify' };
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || (err instanceof Error && !(err instanceof errors.JOSEError))) {
    return { reason: 'jwks_unavailable', message: 'the issuer\'s JWKS could not be fetched to check this token' };
  }
  return { reason: 'malformed', message: `the token is invalid: ${(err as Error).message}` };
}

/** Space-separated string or array claim → list of strings. */
export function claimList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}
