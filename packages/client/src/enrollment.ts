/**
 * For business backends: issue a short-lived, single-use enrollment token
 * (JWT, RFC 7519; EdDSA/Ed25519, RFC 8037) that lets one device of a customer or
 * staff member register. The private key stays in the backend (or its HSM).
 */
import { SignJWT, type CryptoKey, type KeyObject } from 'jose';
import { randomBytes, toBase64Url, type IdentityKind } from '@parley/core';

/**
 * The claims of an enrollment token (`issueEnrollmentToken`).
 *
 * @example
 * const claims: EnrollmentTokenClaims = { businessId: 'example-bank', subject: 'c-1001', kind: 'customer', phone: '+15555550100', lifetimeSeconds: 120 }
 */
export interface EnrollmentTokenClaims {
  /** Business id (`iss`). */
  readonly businessId: string;
  /** Customer or staff subject (`sub`), e.g. `c-1001`. */
  readonly subject: string;
  readonly kind: IdentityKind;
  /** E.164 phone number, for customers. */
  readonly phone?: string;
  /** Display name (brand name for senders). */
  readonly name?: string;
  /** Default 300 s; the server accepts at most 900 s. */
  readonly lifetimeSeconds?: number;
  /**
   * The customer lost every device: revoke the identity's keys and approve this
   * device without another device (its contacts will see "keys changed").
   */
  readonly reset?: boolean;
}

/**
 * Signs an enrollment token (EdDSA) for one device; hand it to the device, which passes it to `Device.enroll`.
 *
 * @example
 * const token = await issueEnrollmentToken(businessKey, 'k1', { businessId: 'example-bank', subject: 'c-1001', kind: 'customer', phone: '+15555550100' })
 */
export async function issueEnrollmentToken(
  privateKey: CryptoKey | KeyObject | Uint8Array,
  kid: string,
  claims: EnrollmentTokenClaims,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    kind: claims.kind,
    ...(claims.phone ? { phone: claims.phone } : {}),
    ...(claims.name ? { name: claims.name } : {}),
    ...(claims.reset ? { reset: true } : {}),
  })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setIssuer(claims.businessId)
    .setSubject(claims.subject)
    .setAudience('parley')
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.lifetimeSeconds ?? 300))
    .setJti(toBase64Url(randomBytes(16)))
    .sign(privateKey);
}
