/**
 * The console's decrypt-failure view (`GET /console/api/decrypt-failures?hours=N`): the hourly
 * counts devices reported (`decrypt_failures_hourly`, written by `POST /v1/diagnostics`), by
 * reason code, by SDK version and platform, and per hour.
 */
import type { DecryptFailuresView } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { hourIso, hourWindow } from './read-delivery.js';

export type { DecryptFailuresView } from '@parley/core';

/**
 * Decrypt failures reported over the last `hours` hours (counted by the hour they were reported in).
 *
 * @example
 * const { total, byReason } = await decryptFailuresView(ctx.db, { hours: 168 });
 */
export async function decryptFailuresView(sql: Sql, query: { readonly hours: number; readonly now?: Date }): Promise<DecryptFailuresView> {
  const { firstHour, lastHour } = hourWindow(query.hours, query.now ?? new Date());
  // Whole hours: the bucket the window starts in counts in full.
  const rows = await sql.query<{ hour: string; reason: string; sdk_version: string; platform: string; n: string }>(
    `SELECT floor(extract(epoch FROM hour) / 3600)::bigint AS hour, reason, sdk_version, platform, sum(count) AS n
     FROM decrypt_failures_hourly WHERE hour >= $1 AND hour <= $2 GROUP BY 1, 2, 3, 4`,
    [new Date(firstHour * 3_600_000), new Date(lastHour * 3_600_000)],
  );
  const buckets = new Map<number, number>();
  for (let h = firstHour; h <= lastHour; h++) buckets.set(h, 0);
  const reasons = new Map<string, number>();
  const versions = new Map<string, { sdkVersion: string; platform: string; count: number }>();
  let total = 0;
  for (const row of rows) {
    const n = Number(row.n);
    total += n;
    const hour = Number(row.hour);
    buckets.set(hour, (buckets.get(hour) ?? 0) + n);
    reasons.set(row.reason, (reasons.get(row.reason) ?? 0) + n);
    const key = `${row.sdk_version}\0${row.platform}`;
    const v = versions.get(key) ?? { sdkVersion: row.sdk_version, platform: row.platform, count: 0 };
    v.count += n;
    versions.set(key, v);
  }
  const byCount = <T extends { count: number }>(a: T, b: T) => b.count - a.count;
  return {
    total,
    byReason: [...reasons].map(([reason, count]) => ({ reason, count })).sort((a, b) => byCount(a, b) || a.reason.localeCompare(b.reason)),
    byVersion: [...versions.values()].sort((a, b) => byCount(a, b) || a.sdkVersion.localeCompare(b.sdkVersion) || a.platform.localeCompare(b.platform)),
    buckets: [...buckets].sort(([a], [b]) => a - b).map(([hour, count]) => ({ at: hourIso(hour), count })),
  };
}
