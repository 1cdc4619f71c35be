/**
 * Cluster-wide periodic jobs (table `cluster_jobs`, migration 006): each interval,
 * exactly one of the nodes sharing a database runs the job. The claim is one
 * UPDATE under the job row's lock, compared on the database clock, so nodes with
 * skewed clocks or timers still agree; `fence` numbers the runs and a node records
 * completion only for the run it claimed. Jobs must be idempotent: a node that dies
 * mid-run leaves the rest to the next interval's claimant.
 */
import type { Sql } from './database.js';

/** A claimed run of a job. */
export interface JobClaim {
  readonly name: string;
  /** Run number (increases by one per claim). */
  readonly fence: string;
}

/**
 * Claims the next run of `name` for `owner` if the last claim is at least
 * `intervalMs` old; resolves undefined when another node holds this interval.
 *
 * @example
 * const claim = await claimJob(db, 'retention-sweep', 54_000, 'node-2');
 * if (claim) { await sweep(); await finishJob(db, claim); }
 */
export async function claimJob(sql: Sql, name: string, intervalMs: number, owner: string): Promise<JobClaim | undefined> {
  await sql.query('INSERT INTO cluster_jobs (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
  const rows = await sql.query<{ fence: string }>(
    `UPDATE cluster_jobs SET fence = fence + 1, owner = $3, claimed_at = clock_timestamp(), finished_at = NULL
     WHERE name = $1 AND claimed_at <= clock_timestamp() - make_interval(secs => $2::float8)
     RETURNING fence`,
    [name, String(intervalMs / 1000), owner],
  );
  const fence = rows[0]?.fence;
  return fence === undefined ? undefined : { name, fence: String(fence) };
}

/** Records that the claimed run finished; false if a later run was claimed meanwhile. */
export async function finishJob(sql: Sql, claim: JobClaim): Promise<boolean> {
  const rows = await sql.query('UPDATE cluster_jobs SET finished_at = clock_timestamp() WHERE name = $1 AND fence = $2::bigint RETURNING name', [claim.name, claim.fence]);
  return rows.length > 0;
}
