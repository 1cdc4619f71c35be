/**
 * Verification of enrollment tokens: short-lived, single-use business-signed JWTs
 * (business-tokens.ts, purpose `enroll`) that let one device of one of a business's
 * customers (or staff) register. Claims besides the common ones:
 * `sub` subject, `kind` (customer | sender | agent | bot), optional `phone` (E.164),
 * `name` and `reset`, and `jti`, a nonce the registration consumes.
 */
import { UnauthorizedError, identityIdOf, type IdentityId, type IdentityKind } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { verifyBusinessToken } from './business-tokens.js';
import { businessDisabledError } from '../business-status.js';

/**
 * The claims of a verified enrollment token.
 *
 * @example
 * const { identityId, kind, jti } = await verifyEnrollmentToken(db, token, 900);
 */
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

/**
 * Verifies an enrollment token (signature, audience, lifetime, purpose: business-tokens.ts)
 * and its enrollment claims; a disabled business's token is refused (403 `business_disabled`). Does not consume its nonce: registration does, in its transaction.
 *
 * @example
 * const claims = await verifyEnrollmentToken(db, body.enrollmentToken, config.auth.maxEnrollmentTokenLifetimeSeconds);
 */
export async function verifyEnrollmentToken(sql: Sql, token: string, maxLifetimeSeconds: number): Promise<EnrollmentClaims> {
  const { businessId, subject, jti, expiresAt, payload, businessDisabled } = await verifyBusinessToken(sql, token, { purpose: 'enroll', maxLifetimeSeconds });
  // An authentic token of a disabled business: refused (read in the same query as its key, never stale).
  if (businessDisabled) throw businessDisabledError();
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
    identityId = identityIdOf(businessId, subject);
  } catch {
    throw invalid('enrollment token subject is invalid');
  }
  return {
    businessId,
    identityId,
    kind: kind as IdentityKind,
    phone: phone as string | undefined,
    name: name as string | undefined,
    jti,
    expiresAt,
    reset: reset === true,
  };
}
