/**
 * Token buckets in the database, so every node enforces the same limit.
 * A bucket holds up to `capacity` tokens and refills at `perSecond`.
 */
import type { Sql } from '../storage/database.js';

export interface TakeResult {
  allowed: boolean;
  retryAfterMs: number;
}

export async function takeToken(sql: Sql, bucket: string, capacity: number, perSecond: number): Promise<TakeResult> {
  const refill = 'LEAST($2::float8, rate_limits.tokens + EXTRACT(EPOCH FROM (now() - rate_limits.updated_at)) * $3::float8)';
  const rows = await sql.query<{ tokens: number }>(
    `INSERT INTO rate_limits (bucket, tokens, updated_at) VALUES ($1, $2::float8 - 1, now())
     ON CONFLICT (bucket) DO UPDATE SET tokens = ${refill} - 1, updated_at = now()
     WHERE ${refill} >= 1
     RETURNING tokens`,
    [bucket, capacity, perSecond],
  );
  if (rows.length === 1) return { allowed: true, retryAfterMs: 0 };
  const current = await sql.query<{ tokens: number }>(
    `SELECT ${refill.replaceAll('rate_limits.', '')} AS tokens FROM rate_limits WHERE bucket = $1`,
    [bucket, capacity, perSecond],
  );
  const tokens = Number(current[0]?.tokens ?? 0);
  return { allowed: false, retryAfterMs: Math.max(1, Math.ceil(((1 - tokens) / perSecond) * 1000)) };
}

/** Gives one token back to a bucket (up to its capacity): an attempt that turned out legitimate. */
export async function refundToken(sql: Sql, bucket: string, capacity: number): Promise<void> {
  await sql.query('UPDATE rate_limits SET tokens = LEAST($2::float8, tokens + 1) WHERE bucket = $1', [bucket, capacity]);
}
