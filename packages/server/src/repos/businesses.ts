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

export async function getBusiness(sql: Sql, id: string): Promise<{ id: string; name: string } | undefined> {
  const rows = await sql.query<{ id: string; name: string }>('SELECT id, name FROM businesses WHERE id = $1', [id]);
  return rows[0];
}

const BUSINESS_ID = new RegExp(BUSINESS_ID_PATTERN);
/** The `kid` shape CreateBusinessRequestSchema accepts (wire.ts): no other kid was ever stored. */
const KID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The active enrollment key `kid` of business `businessId`. Both come from an unverified
 * JWT (its header and `iss`): anything not shaped like a stored id is no key, without a
 * query (a NUL there would fail the query itself).
 */
export async function getEnrollmentKey(sql: Sql, businessId: string, kid: string): Promise<EnrollmentKey | undefined> {
  if (!BUSINESS_ID.test(businessId) || !KID.test(kid)) return undefined;
  const rows = await sql.query<{ kid: string; public_jwk: EnrollmentKey['jwk'] | string }>(
    'SELECT kid, public_jwk FROM business_keys WHERE business_id = $1 AND kid = $2 AND revoked_at IS NULL',
    [businessId, kid],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { kid: row.kid, jwk: typeof row.public_jwk === 'string' ? JSON.parse(row.public_jwk) : row.public_jwk };
}
