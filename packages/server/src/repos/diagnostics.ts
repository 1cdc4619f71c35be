/**
 * Device diagnostics as stored (migration 020): hourly decrypt-failure counts by reason, SDK
 * version and platform, and each customer's verification state of their business. Every
 * value is normalized to a fixed list here (`other` otherwise), so nothing a device wrote
 * freely reaches a row.
 */
import {
  normalizeDiagnosticsPlatform,
  normalizeSdkVersion,
  normalizeUndecryptableReason,
  type DiagnosticsReport,
} from '@parley/core';
import type { Sql } from '../storage/database.js';

/**
 * Adds a report's decrypt failures to the current hour's counts and, for a customer, records
 * their verification state; in one transaction. `identityKind` is the reporting identity's kind
 * (only a customer's verification of their business is recorded).
 *
 * @example
 * await recordDiagnostics(db, { identityId: me.identityId, identityKind: 'customer' }, report);
 */
export async function recordDiagnostics(sql: Sql, reporter: { identityId: string; identityKind: string | undefined }, report: DiagnosticsReport): Promise<void> {
  const sdkVersion = normalizeSdkVersion(report.sdkVersion);
  const platform = normalizeDiagnosticsPlatform(report.platform);
  // Several entries may name the same (normalized) reason: one row each.
  const counts = new Map<string, number>();
  for (const f of report.decryptFailures ?? []) {
    const reason = normalizeUndecryptableReason(f.reason);
    counts.set(reason, (counts.get(reason) ?? 0) + f.count);
  }
  const verification = reporter.identityKind === 'customer' ? report.verification : undefined;
  if (counts.size === 0 && !verification) return;
  await sql.transaction(async (tx) => {
    if (counts.size > 0) {
      await tx.query(
        `INSERT INTO decrypt_failures_hourly (hour, reason, sdk_version, platform, count)
         SELECT to_timestamp(floor(extract(epoch FROM now()) / 3600) * 3600), r, $2, $3, c
         FROM unnest($1::text[], $4::text[]::bigint[]) AS u(r, c)
         ON CONFLICT (hour, reason, sdk_version, platform) DO UPDATE SET count = decrypt_failures_hourly.count + EXCLUDED.count`,
        [[...counts.keys()], sdkVersion, platform, [...counts.values()].map(String)],
      );
    }
    if (verification) {
      await tx.query(
        `INSERT INTO customer_verifications (identity_id, state, method, updated_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (identity_id) DO UPDATE SET state = EXCLUDED.state, method = EXCLUDED.method, updated_at = now()`,
        [reporter.identityId, verification.state, verification.state === 'verified' ? (verification.method ?? null) : null],
      );
    }
  });
}
