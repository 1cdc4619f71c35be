/**
 * Verification of enrollment tokens: short-lived, single-use JWTs (RFC 7519,
 * EdDSA/Ed25519 per RFC 8037) that a business backend signs to let one device
 * of one of its customers (or staff) register. Claims:
 * `iss` business id, `sub` subject, `aud` "parley", `exp`, `iat`, `jti` nonce,
 * `kind` (customer | sender | agent | bot), optional `phone` (E.164) and `name`.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify } from 'jose';
import { UnauthorizedError, identityIdOf, type IdentityId, type IdentityKind } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { getEnrollmentKey } from '../repos/businesses.js';

export const ENROLLMENT_AUDIENCE = 'parley';

export interface EnrollmentClaims {
  businessId: string;
  identityId: IdentityId;
  kind: IdentityKind;
  phone: string | undefined;
  name: string | undefined;
  jti: string;
  expiresAt: Date;
  /** The identity lost every device: revoke its keys and approve this one. */
  reset: boolean;
}

const KINDS = new Set(['customer', 'sender', 'agent', 'bot']);
const E164 = /^\+[1-9][0-9]{6,14}$/;
/** Control characters (U+0000 cannot even be stored): not in a nonce or a display name. */
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(message: string): UnauthorizedError {
  return new UnauthorizedError('enrollment_token_invalid', message);
}

export async function verifyEnrollmentToken(sql: Sql, token: string, maxLifetimeSeconds: number): Promise<EnrollmentClaims> {
  let kid: string | undefined;
  let issuer: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
    issuer = decodeJwt(token).iss;
  } catch {
    throw invalid('enrollment token is malformed');
  }
  if (typeof kid !== 'string' || typeof issuer !== 'string') throw invalid('enrollment token lacks kid or iss');
  const key = await getEnrollmentKey(sql, issuer, kid);
  if (!key) throw invalid('enrollment token is signed by an unknown key');

  let payload;
  try {
    const publicKey = await importJWK({ ...key.jwk, alg: 'EdDSA' }, 'EdDSA');
    ({ payload } = await jwtVerify(token, publicKey, {
      algorithms: ['EdDSA'],
      audience: ENROLLMENT_AUDIENCE,
      issuer,
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError('enrollment_token_expired', 'enrollment token expired');
    throw invalid('enrollment token signature or claims are invalid');
  }
  const { exp, iat, jti, sub } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number' || typeof jti !== 'string' || typeof sub !== 'string') {
    throw invalid('enrollment token claims have wrong types');
  }
  if (exp - iat > maxLifetimeSeconds) throw invalid(`enrollment tokens may live at most ${maxLifetimeSeconds} s`);
  if (iat > Date.now() / 1000 + 60) throw invalid('enrollment token is issued in the future');
  if (jti.length < 16 || jti.length > 128 || CONTROL.test(jti)) throw invalid('enrollment token nonce must be 16-128 printable characters');
  const kind = payload['kind'];
  if (typeof kind !== 'string' || !KINDS.has(kind)) throw invalid('enrollment token kind is invalid');
  const phone = payload['phone'];
  if (phone !== undefined && (typeof phone !== 'string' || !E164.test(phone))) throw invalid('enrollment token phone is not E.164');
  const reset = payload['reset'];
  if (reset !== undefined && typeof reset !== 'boolean') throw invalid('enrollment token reset claim must be a boolean');
  const name = payload['name'];
  if (name !== undefined && (typeof name !== 'string' || name.length > 200 || CONTROL.test(name))) throw invalid('enrollment token name is invalid');
  let identityId: IdentityId;
  try {
    identityId = identityIdOf(issuer, sub);
  } catch {
    throw invalid('enrollment token subject is invalid');
  }
  return {
    businessId: issuer,
    identityId,
    kind: kind as IdentityKind,
    phone: phone as string | undefined,
    name: name as string | undefined,
    jti,
    expiresAt: new Date(exp * 1000),
    reset: reset === true,
  };
}
