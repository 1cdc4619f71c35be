/**
 * Short-lived session tokens. A device proves possession of its identity key by
 * signing a one-time server challenge; the server answers with a JWT (HS256,
 * RFC 7519) under a secret all nodes derive from the shared key directory (crypto/server-secrets.ts).
 */
import { jose } from '../util/jose.js';
import { UnauthorizedError } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';

const AUDIENCE = 'parley-session';
const TYPE = 'parley-session+jwt';
/** Tokens remembered after a successful check (a device presents the same token on every request). */
const VERIFIED_CACHE_SIZE = 10_000;

type Verified = AuthDevice & { expiresAt: Date };

export class SessionIssuer {
  /**
   * Tokens whose signature and claims were checked, in check order (oldest first). Only a
   * token that passed the full check gets here, and its expiry is checked again on every
   * use, so a hit answers exactly what the check would; revocation is checked by the
   * caller on every request (http/context.ts, ws/gateway.ts), never cached here.
   */
  private readonly verified = new Map<string, Verified>();

  constructor(
    private readonly secret: Uint8Array,
    private readonly ttlSeconds: number,
  ) {}

  async issue(device: AuthDevice): Promise<{ token: string; expiresAt: Date }> {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.ttlSeconds;
    const { SignJWT } = await jose();
    const token = await new SignJWT({ idn: device.identityId, bid: device.businessId })
      .setProtectedHeader({ alg: 'HS256', typ: TYPE })
      .setSubject(device.deviceId)
      .setAudience(AUDIENCE)
      .setIssuedAt(now)
      .setExpirationTime(exp)
      .sign(this.secret);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /** The device a token was issued to; throws 401 `session_expired` / `session_invalid`. */
  async verify(token: string): Promise<Verified> {
    const known = this.verified.get(token);
    if (known !== undefined) {
      // As jose's `exp` check (RFC 7519 §4.1.4, no clock tolerance): expired once now ≥ exp.
      if (known.expiresAt.getTime() <= Math.floor(Date.now() / 1000) * 1000) {
        this.verified.delete(token);
        throw new UnauthorizedError('session_expired', 'session expired; authenticate again');
      }
      return known;
    }
    const device = await this.check(token);
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, Object.freeze(device));
    return device;
  }

  private async check(token: string): Promise<Verified> {
    const { jwtVerify, errors: joseErrors } = await jose();
    try {
      const { payload, protectedHeader } = await jwtVerify(token, this.secret, { algorithms: ['HS256'], audience: AUDIENCE });
      if (protectedHeader.typ !== TYPE || typeof payload.sub !== 'string' || typeof payload['idn'] !== 'string' || typeof payload['bid'] !== 'string' || typeof payload.exp !== 'number') {
        throw new UnauthorizedError('session_invalid', 'invalid session token');
      }
      return { deviceId: payload.sub, identityId: payload['idn'], businessId: payload['bid'], expiresAt: new Date(payload.exp * 1000) };
    } catch (error) {
      if (error instanceof UnauthorizedError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('session_expired', 'session expired; authenticate again');
      throw new UnauthorizedError('session_invalid', 'invalid session token');
    }
  }
}

/** The bearer token of an Authorization header, if any. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
  return match?.[1];
}
