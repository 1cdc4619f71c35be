/**
 * The operator's view of businesses (admin API): listing, one business with its enrollment
 * keys, disabling and enabling, adding and retiring keys. Rows are mapped to the wire views
 * here, once. The tables are `businesses` and `business_keys` (repos/businesses.ts creates them).
 */
import { ConflictError, InvalidInputError, NotFoundError, type BusinessSummary, type BusinessView, type EnrollmentKeyRequest, type EnrollmentKeyView } from '@parley/core';
import { isUniqueViolation, type Sql } from '../storage/database.js';

interface BusinessRow {
  id: string;
  name: string;
  created_at: Date | string;
  disabled_at: Date | string | null;
}

interface KeyRow {
  kid: string;
  public_jwk: EnrollmentKeyView['jwk'] | string;
  created_at: Date | string;
  revoked_at: Date | string | null;
}

const KEY_COLUMNS = 'kid, public_jwk, created_at, revoked_at';
const iso = (value: Date | string) => new Date(value).toISOString();

function toKeyView(row: KeyRow): EnrollmentKeyView {
  // Stored keys passed Ed25519JwkSchema at the create or add call (jsonb: an object or text by driver).
  const jwk = typeof row.public_jwk === 'string' ? (JSON.parse(row.public_jwk) as EnrollmentKeyView['jwk']) : row.public_jwk;
  return { kid: row.kid, createdAt: iso(row.created_at), ...(row.revoked_at !== null ? { retiredAt: iso(row.revoked_at) } : {}), jwk };
}

const unknownBusiness = () => new NotFoundError('unknown_business', 'no such business');

/**
 * The public members of an Ed25519 JWK, the only ones stored; a JWK holding a private key
 * (`d`) is refused (400 `invalid_key`), never stored or echoed.
 *
 * @example
 * const stored = publicJwk(request.body.jwk); // { kty: 'OKP', crv: 'Ed25519', x }
 */
export function publicJwk(jwk: EnrollmentKeyRequest['jwk']): EnrollmentKeyRequest['jwk'] {
  if (Object.hasOwn(jwk, 'd')) throw new InvalidInputError('this JWK holds a private key: send only the public key (kty, crv, x)', { code: 'invalid_key' });
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
}

/**
 * Up to `limit` businesses with ids after `after` (all when empty), by id in byte order (the
 * same on every database's collation), each with its number of active keys.
 *
 * @example
 * const page = await listBusinesses(db, '', 101); // one more than the page: is there a next one?
 */
export async function listBusinesses(sql: Sql, after: string, limit: number): Promise<BusinessSummary[]> {
  const rows = await sql.query<BusinessRow & { keys: number | string }>(
    `SELECT b.id, b.name, b.created_at, b.disabled_at,
            (SELECT count(*) FROM business_keys k WHERE k.business_id = b.id AND k.revoked_at IS NULL) AS keys
       FROM businesses b WHERE b.id COLLATE "C" > $1 ORDER BY b.id COLLATE "C" LIMIT $2`,
    [after, limit],
  );
  return rows.map((r) => ({ id: r.id, name: r.name, status: r.disabled_at === null ? 'active' : 'disabled', createdAt: iso(r.created_at), keys: Number(r.keys) }));
}

/**
 * One business and all its enrollment keys (retired ones too), oldest key first; 404 `unknown_business`.
 *
 * @example
 * const view = await getBusinessView(db, 'example-bank');
 */
export async function getBusinessView(sql: Sql, id: string): Promise<BusinessView> {
  const [row] = await sql.query<BusinessRow>('SELECT id, name, created_at, disabled_at FROM businesses WHERE id = $1', [id]);
  if (!row) throw unknownBusiness();
  const keys = await sql.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM business_keys WHERE business_id = $1 ORDER BY created_at, kid`, [id]);
  return {
    id: row.id,
    name: row.name,
    status: row.disabled_at === null ? 'active' : 'disabled',
    createdAt: iso(row.created_at),
    ...(row.disabled_at !== null ? { disabledAt: iso(row.disabled_at) } : {}),
    keys: keys.map(toKeyView),
  };
}

/**
 * Disables (`disabled` true; the first time stays the recorded one) or enables a business; 404 `unknown_business`.
 *
 * @example
 * await setBusinessDisabled(db, 'example-bank', true);
 */
export async function setBusinessDisabled(sql: Sql, id: string, disabled: boolean): Promise<void> {
  const rows = await sql.query<{ id: string }>(
    disabled
      ? 'UPDATE businesses SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 RETURNING id'
      : 'UPDATE businesses SET disabled_at = NULL WHERE id = $1 RETURNING id',
    [id],
  );
  if (rows.length === 0) throw unknownBusiness();
}

/**
 * Adds an enrollment key to a business; 404 `unknown_business`, 409 `key_exists` when the kid is taken (retired kids too: a kid names one key forever).
 *
 * @example
 * const view = await addEnrollmentKey(db, 'example-bank', { kid: 'k2', jwk });
 */
export async function addEnrollmentKey(sql: Sql, businessId: string, key: EnrollmentKeyRequest): Promise<EnrollmentKeyView> {
  try {
    return await sql.transaction(async (tx) => {
      const [business] = await tx.query<{ id: string }>('SELECT id FROM businesses WHERE id = $1', [businessId]);
      if (!business) throw unknownBusiness();
      const [row] = await tx.query<KeyRow>(
        `INSERT INTO business_keys (business_id, kid, public_jwk) VALUES ($1, $2, $3) RETURNING ${KEY_COLUMNS}`,
        [businessId, key.kid, JSON.stringify(publicJwk(key.jwk))],
      );
      return toKeyView(row!);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('key_exists', 'this business has a key with this kid');
    throw error;
  }
}

/**
 * Retires an enrollment key (tokens signed with it are refused from now on; retiring again
 * keeps the first time); 404 `unknown_business` or `unknown_key`.
 *
 * @example
 * const view = await retireEnrollmentKey(db, 'example-bank', 'k1');
 */
export async function retireEnrollmentKey(sql: Sql, businessId: string, kid: string): Promise<EnrollmentKeyView> {
  const [row] = await sql.query<KeyRow>(
    `UPDATE business_keys SET revoked_at = coalesce(revoked_at, now()) WHERE business_id = $1 AND kid = $2 RETURNING ${KEY_COLUMNS}`,
    [businessId, kid],
  );
  if (row) return toKeyView(row);
  const [business] = await sql.query<{ id: string }>('SELECT id FROM businesses WHERE id = $1', [businessId]);
  throw business ? new NotFoundError('unknown_key', 'this business has no key with this kid') : unknownBusiness();
}

/**
 * Whether business `id` is disabled (an unknown business is not).
 *
 * @example
 * if (await isBusinessDisabled(db, device.businessId)) refuse();
 */
export async function isBusinessDisabled(sql: Sql, id: string): Promise<boolean> {
  const [row] = await sql.query<{ disabled: boolean }>('SELECT disabled_at IS NOT NULL AS disabled FROM businesses WHERE id = $1', [id]);
  return row?.disabled === true;
}
