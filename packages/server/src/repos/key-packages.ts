/**
 * The KeyPackage directory. One-time KeyPackages are handed out at most once:
 * a claim deletes the row it returns (`FOR UPDATE SKIP LOCKED`, so concurrent
 * claimers never get the same one); the last-resort KeyPackage is returned, not
 * deleted, when the one-time stock is empty.
 */
import { isUniqueViolation, type Sql } from '../storage/database.js';
import { ConflictError } from '@parley/core';

export interface NewKeyPackage {
  ref: Uint8Array;
  keyPackage: Uint8Array;
  notAfter: Date;
}

export async function insertKeyPackages(
  sql: Sql,
  deviceId: string,
  oneTime: readonly NewKeyPackage[],
  lastResort: NewKeyPackage | undefined,
): Promise<void> {
  try {
    await sql.transaction(async (tx) => {
      if (oneTime.length > 0) {
        await tx.query(
          `INSERT INTO key_packages (device_id, ref, key_package, last_resort, not_after)
           SELECT $1, r, k, false, n FROM unnest($2::bytea[], $3::bytea[], $4::timestamptz[]) AS t(r, k, n)`,
          [deviceId, oneTime.map((k) => k.ref), oneTime.map((k) => k.keyPackage), oneTime.map((k) => k.notAfter.toISOString())],
        );
      }
      if (lastResort) {
        await tx.query('DELETE FROM key_packages WHERE device_id = $1 AND last_resort', [deviceId]);
        await tx.query(
          'INSERT INTO key_packages (device_id, ref, key_package, last_resort, not_after) VALUES ($1, $2, $3, true, $4)',
          [deviceId, lastResort.ref, lastResort.keyPackage, lastResort.notAfter],
        );
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('key_package_exists', 'a KeyPackage with this reference was uploaded before');
    throw error;
  }
}

/** Withdraws every KeyPackage of a device (its signature key was rotated: they carry the old one). */
export async function deleteKeyPackagesOf(sql: Sql, deviceId: string): Promise<void> {
  await sql.query('DELETE FROM key_packages WHERE device_id = $1', [deviceId]);
}

export interface Stock {
  oneTime: number;
  lastResort: boolean;
}

export async function keyPackageStock(sql: Sql, deviceId: string): Promise<Stock> {
  const rows = await sql.query<{ one_time: string; last_resort: string }>(
    `SELECT count(*) FILTER (WHERE NOT last_resort) AS one_time, count(*) FILTER (WHERE last_resort) AS last_resort
     FROM key_packages WHERE device_id = $1 AND not_after > now()`,
    [deviceId],
  );
  return { oneTime: Number(rows[0]?.one_time ?? 0), lastResort: Number(rows[0]?.last_resort ?? 0) > 0 };
}

/** Claims one KeyPackage of `deviceId`: a one-time one if any is left, else the last-resort one. */
export async function claimKeyPackage(sql: Sql, deviceId: string): Promise<{ keyPackage: Uint8Array; lastResort: boolean } | undefined> {
  const oneTime = await sql.query<{ key_package: Uint8Array }>(
    `DELETE FROM key_packages WHERE id = (
       SELECT id FROM key_packages
       WHERE device_id = $1 AND NOT last_resort AND not_after > now()
       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
     ) RETURNING key_package`,
    [deviceId],
  );
  if (oneTime[0]) return { keyPackage: oneTime[0].key_package, lastResort: false };
  const last = await sql.query<{ key_package: Uint8Array }>(
    'SELECT key_package FROM key_packages WHERE device_id = $1 AND last_resort AND not_after > now() ORDER BY id DESC LIMIT 1',
    [deviceId],
  );
  return last[0] ? { keyPackage: last[0].key_package, lastResort: true } : undefined;
}
