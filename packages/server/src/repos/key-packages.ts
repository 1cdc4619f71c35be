/**
 * The KeyPackage directory. One-time KeyPackages are handed out at most once:
 * a claim deletes the row it returns (`FOR UPDATE SKIP LOCKED`, so concurrent
 * claimers never get the same one); the last-resort KeyPackage is returned, not
 * deleted, when the one-time stock is empty. A KeyPackage whose lifetime ended
 * (`not_after`, from its leaf node: RFC 9420 §7.2) is never handed out nor
 * counted, and the retention sweep deletes it.
 */
import { isUniqueViolation, type Sql } from '../storage/database.js';
import { ConflictError } from '@parley/core';

export interface NewKeyPackage {
  /** The cipher suite, by name (a device keeps one stock per suite). */
  suite: string;
  ref: Uint8Array;
  keyPackage: Uint8Array;
  notAfter: Date;
}

/**
 * Stores a device's new KeyPackages in one transaction. With `replace` (rotation), every
 * one-time KeyPackage stored before in the suites of `oneTime` is withdrawn first; a new
 * last-resort one always replaces the old one of its suite.
 */
export async function insertKeyPackages(
  sql: Sql,
  deviceId: string,
  oneTime: readonly NewKeyPackage[],
  lastResort: readonly NewKeyPackage[],
  options: { replace?: boolean } = {},
): Promise<void> {
  try {
    await sql.transaction(async (tx) => {
      if (options.replace) {
        const suites = [...new Set(oneTime.map((k) => k.suite))];
        await tx.query('DELETE FROM key_packages WHERE device_id = $1 AND NOT last_resort AND suite = ANY($2::text[])', [deviceId, suites]);
      }
      if (oneTime.length > 0) {
        await tx.query(
          `INSERT INTO key_packages (device_id, ref, key_package, last_resort, not_after, suite)
           SELECT $1, r, k, false, n, s FROM unnest($2::bytea[], $3::bytea[], $4::timestamptz[], $5::text[]) AS t(r, k, n, s)`,
          [deviceId, oneTime.map((k) => k.ref), oneTime.map((k) => k.keyPackage), oneTime.map((k) => k.notAfter.toISOString()), oneTime.map((k) => k.suite)],
        );
      }
      for (const kp of lastResort) {
        await tx.query('DELETE FROM key_packages WHERE device_id = $1 AND last_resort AND suite = $2', [deviceId, kp.suite]);
        await tx.query(
          'INSERT INTO key_packages (device_id, ref, key_package, last_resort, not_after, suite) VALUES ($1, $2, $3, true, $4, $5)',
          [deviceId, kp.ref, kp.keyPackage, kp.notAfter, kp.suite],
        );
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('key_package_exists', 'a KeyPackage with this reference was uploaded before');
    throw error;
  }
}

/** Withdraws a device's KeyPackages of the suites it no longer states (a newer suites statement). */
export async function deleteKeyPackagesOutside(sql: Sql, deviceId: string, suites: readonly string[]): Promise<void> {
  await sql.query('DELETE FROM key_packages WHERE device_id = $1 AND NOT (suite = ANY($2::text[]))', [deviceId, suites]);
}

/** Withdraws every KeyPackage of a device (its signature key was rotated: they carry the old one). */
export async function deleteKeyPackagesOf(sql: Sql, deviceId: string): Promise<void> {
  await sql.query('DELETE FROM key_packages WHERE device_id = $1', [deviceId]);
}

export interface Stock {
  suite: string;
  oneTime: number;
  lastResort: boolean;
  /** When the first of these KeyPackages expires (none: undefined). */
  oldestNotAfter: Date | undefined;
}

/** The device's usable KeyPackages of one suite: expired ones are not counted, so the stock runs low and the device tops it up. */
export async function keyPackageStock(sql: Sql, deviceId: string, suite: string): Promise<Stock> {
  const rows = await sql.query<{ one_time: string; last_resort: string; oldest: Date | string | null }>(
    `SELECT count(*) FILTER (WHERE NOT last_resort) AS one_time, count(*) FILTER (WHERE last_resort) AS last_resort,
            min(not_after) AS oldest
     FROM key_packages WHERE device_id = $1 AND suite = $2 AND not_after > now()`,
    [deviceId, suite],
  );
  const oldest = rows[0]?.oldest;
  return {
    suite,
    oneTime: Number(rows[0]?.one_time ?? 0),
    lastResort: Number(rows[0]?.last_resort ?? 0) > 0,
    oldestNotAfter: oldest === null || oldest === undefined ? undefined : new Date(oldest),
  };
}

const KEY_PACKAGE_SWEEP_BATCH = 10_000;

/** Retention sweep: deletes KeyPackages whose lifetime has ended, in bounded batches (index on `not_after`); returns how many. */
export async function sweepExpiredKeyPackages(sql: Sql): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await sql.query<{ n: string }>(
      `WITH gone AS (
         DELETE FROM key_packages WHERE id IN (SELECT id FROM key_packages WHERE not_after <= now() LIMIT ${KEY_PACKAGE_SWEEP_BATCH})
         RETURNING id
       ) SELECT count(*) AS n FROM gone`,
    );
    const n = Number(rows[0]?.n ?? 0);
    total += n;
    if (n < KEY_PACKAGE_SWEEP_BATCH) return total;
  }
}

/** Claims one KeyPackage of `deviceId` in `suite`: a one-time one if any is left, else the last-resort one. */
export async function claimKeyPackage(sql: Sql, deviceId: string, suite: string): Promise<{ keyPackage: Uint8Array; lastResort: boolean } | undefined> {
  const oneTime = await sql.query<{ key_package: Uint8Array }>(
    `DELETE FROM key_packages WHERE id = (
       SELECT id FROM key_packages
       WHERE device_id = $1 AND suite = $2 AND NOT last_resort AND not_after > now()
       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
     ) RETURNING key_package`,
    [deviceId, suite],
  );
  if (oneTime[0]) return { keyPackage: oneTime[0].key_package, lastResort: false };
  const last = await sql.query<{ key_package: Uint8Array }>(
    'SELECT key_package FROM key_packages WHERE device_id = $1 AND suite = $2 AND last_resort AND not_after > now() ORDER BY id DESC LIMIT 1',
    [deviceId, suite],
  );
  return last[0] ? { keyPackage: last[0].key_package, lastResort: true } : undefined;
}
