/**
 * A named lease in the gateway's database with a fencing token. At most one instance
 * holds a lease at a time; `fence` grows at every change of holder, so work done under
 * an old lease (a paused or partitioned instance) is recognised and refused: every write
 * made under the lease checks holder and fence in its own transaction (`checkFence`).
 * The database's clock decides expiry: instances need no synchronised clocks.
 */
import type { Sql } from '@parley/server';
import { GatewayError } from '../errors.js';

/** Who holds a lease, and since which change of holder. */
export interface FenceToken {
  readonly name: string;
  readonly holder: string;
  readonly fence: string;
}

/**
 * Takes the lease if it is free or expired; the new fence, or undefined when another holds it.
 *
 * @example
 * const token = await acquireLease(db, 'sender', instanceId, 5000)
 */
export async function acquireLease(sql: Sql, name: string, holder: string, ttlMs: number): Promise<FenceToken | undefined> {
  const rows = await sql.query<{ fence: string }>(
    `INSERT INTO gateway_leases (name, holder, fence, expires_at)
     VALUES ($1, $2, 1, now() + ($3::integer * interval '1 millisecond'))
     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, fence = gateway_leases.fence + 1, expires_at = EXCLUDED.expires_at
       WHERE gateway_leases.expires_at < now()
     RETURNING fence`,
    [name, holder, ttlMs],
  );
  const row = rows[0];
  return row ? { name, holder, fence: String(row.fence) } : undefined;
}

/**
 * Extends a held lease; false when it was lost (expired and taken, or released).
 *
 * @example
 * if (!(await renewLease(db, token, 5000))) stopWorking()
 */
export async function renewLease(sql: Sql, token: FenceToken, ttlMs: number): Promise<boolean> {
  const rows = await sql.query(
    `UPDATE gateway_leases SET expires_at = now() + ($4::integer * interval '1 millisecond')
     WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now() RETURNING 1`,
    [token.name, token.holder, token.fence, ttlMs],
  );
  return rows.length > 0;
}

/**
 * Gives a held lease up at once (a graceful stop), so another instance need not wait for it to expire.
 *
 * @example
 * await releaseLease(db, token)
 */
export async function releaseLease(sql: Sql, token: FenceToken): Promise<void> {
  await sql.query(`UPDATE gateway_leases SET expires_at = now() - interval '1 second' WHERE name = $1 AND holder = $2 AND fence = $3`, [
    token.name,
    token.holder,
    token.fence,
  ]);
}

/**
 * Inside a transaction: throws `lease_lost` unless `token` still holds its lease. Takes a
 * share lock on the lease row, so a takeover (which updates the row) waits for writes made
 * under the old fence to commit, and every write after it sees the new fence.
 *
 * @example
 * await db.transaction(async (tx) => { await checkFence(tx, token); await tx.query('UPDATE …') })
 */
export async function checkFence(tx: Sql, token: FenceToken): Promise<void> {
  const rows = await tx.query(
    `SELECT 1 FROM gateway_leases WHERE name = $1 AND holder = $2 AND fence = $3 AND expires_at > now() FOR SHARE`,
    [token.name, token.holder, token.fence],
  );
  if (rows.length === 0) throw new GatewayError('lease_lost', `this instance no longer holds the ${token.name} lease`);
}
