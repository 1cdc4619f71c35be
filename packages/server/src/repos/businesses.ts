/** Businesses and the public keys that verify their enrollment tokens. */
import { BUSINESS_ID_PATTERN, ConflictError } from '@parley/core';
import { isUniqueViolation, type Sql } from '../storage/database.js';

export interface EnrollmentKey {
  kid: string;
  jwk: { kty: string; crv?: string; x?: string };
}

export async function insertBusiness(sql: Sql, business: { id: string; name: string; keys: EnrollmentKey[] }): Promise<void> {
  try {
    await sql.transaction(async (tx) => {
      await tx.query('INSERT INTO businesses (id, name) VALUES ($1, $2)', [business.id, business.name]);
      for (const key of business.keys) {
        await tx.query('INSERT INTO business_keys (business_id, kid, public_jwk) VALUES ($1, $2, $3)', [
          business.id,
          key.kid,
          JSON.stringify(key.jwk),
        ]);
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('business_exists', 'a business with this id exists');
    throw error;
  }
}


const BUSINESS_ID = new RegExp(BUSINESS_ID_PATTERN);
/** The `kid` shape CreateBusinessRequestSchema accepts (wire.ts): no other kid was ever stored. */
const KID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The active (not retired) enrollment key `kid` of business `businessId`, and whether that
 * business is disabled (one query: the token check refuses a disabled business's tokens). Both
 * come from an unverified JWT (its header and `iss`): anything not shaped like a stored id is
 * no key, without a query (a NUL there would fail the query itself).
 */
export async function getEnrollmentKey(sql: Sql, businessId: string, kid: string): Promise<(EnrollmentKey & { businessDisabled: boolean }) | undefined> {
  if (!BUSINESS_ID.test(businessId) || !KID.test(kid)) return undefined;
  const rows = await sql.query<{ kid: string; public_jwk: EnrollmentKey['jwk'] | string; disabled: boolean }>(
    `SELECT k.kid, k.public_jwk, b.disabled_at IS NOT NULL AS disabled
       FROM business_keys k JOIN businesses b ON b.id = k.business_id
      WHERE k.business_id = $1 AND k.kid = $2 AND k.revoked_at IS NULL`,
    [businessId, kid],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { kid: row.kid, jwk: parseJwk(row.public_jwk), businessDisabled: row.disabled === true };
}

/** A `jsonb` column: an object from one driver, text from another. */
function parseJwk(value: EnrollmentKey['jwk'] | string): EnrollmentKey['jwk'] {
  return typeof value === 'string' ? (JSON.parse(value) as EnrollmentKey['jwk']) : value;
}
