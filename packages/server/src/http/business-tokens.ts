/**
 * The one verifier of business-signed tokens: short-lived JWTs (RFC 7519) that a business
 * backend signs with one of its registered enrollment keys (EdDSA/Ed25519, RFC 8037), for
 * one purpose each:
 *
 * - `enroll` — lets one device of a customer or staff member register (enrollment.ts).
 *   Tokens issued by the SDK's `issueEnrollmentToken` carry no `purpose` claim, so a
 *   token without one counts as an enrollment token;
 * - `revoke-device` — the business revokes one device (`sub` is its id; routes/directory.ts).
 *
 * Every token: the key is found by `iss` + `kid`; EdDSA only; `aud` "parley"; `exp`,
 * `iat`, `jti` and `sub` present; not expired; a declared lifetime (`exp − iat`) of at most
 * the configured maximum; `iat` at most 60 s ahead of this server's clock; and a `purpose`
 * that is exactly the expected one, so a token made for one purpose never serves another.
 */
import type { JWTPayload } from 'jose';
import { jose } from '../util/jose.js';
import { UnauthorizedError } from '@parley/core';
import type { ServerErrorCode } from '../error-codes.js';
import { getEnrollmentKey } from '../repos/businesses.js';
import type { Sql } from '../storage/database.js';

/**
 * The audience of every business-signed token.
 *
 * @example
 * new SignJWT({ kind: 'customer' }).setAudience(ENROLLMENT_AUDIENCE) // …
 */
export const ENROLLMENT_AUDIENCE = 'parley';

/**
 * What a business-signed token is for (its `purpose` claim; absent means `enroll`).
 *
 * @example
 * const purpose: BusinessTokenPurpose = 'revoke-device';
 */
export type BusinessTokenPurpose = 'enroll' | 'revoke-device';

/** How far ahead of this server's clock a token's `iat` may be (clock skew). */
const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * Per purpose: the codes of a refused token, and the one message every refusal gets
 * (enrollment refusals say what is wrong; a revocation refusal says nothing more).
 */
const REFUSALS: Readonly<Record<BusinessTokenPurpose, { invalid: ServerErrorCode; expired: ServerErrorCode; label: string; message?: string }>> = {
  enroll: { invalid: 'enrollment_token_invalid', expired: 'enrollment_token_expired', label: 'enrollment token' },
  'revoke-device': { invalid: 'business_token_invalid', expired: 'business_token_expired', label: 'business revocation token', message: 'invalid business revocation token' },
};

/**
 * A verified business-signed token.
 *
 * @example
 * const { businessId, subject, payload } = await verifyBusinessToken(db, token, { purpose: 'enroll', maxLifetimeSeconds: 900 });
 */
export interface VerifiedBusinessToken {
  /** The business that signed it (`iss`). */
  readonly businessId: string;
  /** `sub`: a customer or staff subject (enroll), a device id (revoke-device). */
  readonly subject: string;
  /** The nonce (`jti`). */
  readonly jti: string;
  readonly expiresAt: Date;
  /** Every claim, for the purpose's own ones (`kind`, `phone` …). */
  readonly payload: JWTPayload;
  /** The business is disabled (admin API). Enrollment refuses it; a revocation still works (it only takes access away). */
  readonly businessDisabled: boolean;
}

/**
 * Verifies a business-signed token for `purpose`; with `subject`, its `sub` must be that.
 * Throws `UnauthorizedError` with the purpose's codes: `enrollment_token_invalid` /
 * `enrollment_token_expired`, `business_token_invalid` / `business_token_expired`.
 *
 * @example
 * const { businessId } = await verifyBusinessToken(db, token, { purpose: 'revoke-device', subject: deviceId, maxLifetimeSeconds: 900 });
 */
export async function verifyBusinessToken(
  sql: Sql,
  token: string,
  expected: { readonly purpose: BusinessTokenPurpose; readonly maxLifetimeSeconds: number; readonly subject?: string },
): Promise<VerifiedBusinessToken> {
  const refusal = REFUSALS[expected.purpose];
  const invalid = (detail: string) => new UnauthorizedError(refusal.invalid, refusal.message ?? detail);
  const { decodeJwt, decodeProtectedHeader, errors: joseErrors, importJWK, jwtVerify } = await jose();
  let kid: string | undefined;
  let issuer: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
    issuer = decodeJwt(token).iss;
  } catch {
    throw invalid(`${refusal.label} is malformed`);
  }
  if (typeof kid !== 'string' || typeof issuer !== 'string') throw invalid(`${refusal.label} lacks kid or iss`);
  const key = await getEnrollmentKey(sql, issuer, kid);
  if (!key) throw invalid(`${refusal.label} is signed by an unknown key`);

  let payload: JWTPayload;
  try {
    const publicKey = await importJWK({ ...key.jwk, alg: 'EdDSA' }, 'EdDSA');
    ({ payload } = await jwtVerify(token, publicKey, {
      algorithms: ['EdDSA'],
      audience: ENROLLMENT_AUDIENCE,
      issuer,
      ...(expected.subject === undefined ? {} : { subject: expected.subject }),
      requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw new UnauthorizedError(refusal.expired, `${refusal.label} expired`);
    throw invalid(`${refusal.label} signature or claims are invalid`);
  }
  const { exp, iat, jti, sub } = payload;
  if (typeof exp !== 'number' || typeof iat !== 'number' || typeof jti !== 'string' || typeof sub !== 'string') {
    throw invalid(`${refusal.label} claims have wrong types`);
  }
  if (exp - iat > expected.maxLifetimeSeconds) throw invalid(`${refusal.label}s may live at most ${expected.maxLifetimeSeconds} s`);
  if (iat > Date.now() / 1000 + MAX_CLOCK_SKEW_SECONDS) throw invalid(`${refusal.label} is issued in the future`);
  // Today's SDK enrollment tokens carry no purpose: absent means `enroll`, and nothing else.
  const purpose = payload['purpose'] === undefined ? 'enroll' : payload['purpose'];
  if (purpose !== expected.purpose) throw invalid(`${refusal.label} is for another purpose`);
  return { businessId: issuer, subject: sub, jti, expiresAt: new Date(exp * 1000), payload, businessDisabled: key.businessDisabled };
}
