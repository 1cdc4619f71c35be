/**
 * The console's verification view (`GET /console/api/verification`): how many customers
 * verified their business (as their devices reported it, `customer_verifications`), the
 * devices waiting for approval, and the latest key changes as the key log records them
 * (its newest entries: device added, revoked, keys rotated).
 */
import type { KeyChangeKind, VerificationView } from '@parley/core';
import { decodeKeyLogEntry } from '@parley/core/keylog';
import type { Sql } from '../storage/database.js';

export type { KeyChangeKind, VerificationView } from '@parley/core';

export interface VerificationQuery {
  /** The key transparency log's name (`ctx.keyLog.name`). */
  readonly keyLogName: string;
  /** Most pending devices listed (default 100). */
  readonly pendingLimit?: number;
  /** Most key changes listed (default 50); the newest entries of the log are read. */
  readonly changesLimit?: number;
}

const KIND: Readonly<Record<string, KeyChangeKind>> = { 'device-added': 'device-added', 'device-revoked': 'device-revoked', 'device-rotated': 'keys-rotated' };
/** How many of the newest key-log entries are read for key changes (approvals and suite statements are skipped). */
const ENTRIES_READ_FACTOR = 4;

/**
 * The verification view.
 *
 * @example
 * const view = await verificationView(ctx.db, { keyLogName: ctx.keyLog.name });
 * console.log(`${view.customers.verified} of ${view.customers.total} customers verified`);
 */
export async function verificationView(sql: Sql, query: VerificationQuery): Promise<VerificationView> {
  const [counts] = await sql.query<{ total: string; verified: string; qr: string; numeric: string }>(
    `SELECT (SELECT count(*) FROM identities WHERE kind = 'customer') AS total,
       count(*) FILTER (WHERE v.state = 'verified') AS verified,
       count(*) FILTER (WHERE v.state = 'verified' AND v.method = 'qr') AS qr,
       count(*) FILTER (WHERE v.state = 'verified' AND v.method = 'numeric') AS numeric
     FROM customer_verifications v JOIN identities i ON i.id = v.identity_id AND i.kind = 'customer'`,
  );
  const pending = await sql.query<{ id: string; identity_id: string; label: string | null; created_at: Date }>(
    `SELECT id, identity_id, label, created_at FROM devices WHERE status = 'pending' ORDER BY created_at DESC, id LIMIT $1`,
    [query.pendingLimit ?? 100],
  );
  return {
    customers: { total: Number(counts?.total ?? 0), verified: Number(counts?.verified ?? 0) },
    byMethod: { qr: Number(counts?.qr ?? 0), numeric: Number(counts?.numeric ?? 0) },
    pendingDevices: pending.map((d) => ({ deviceId: d.id, identityId: d.identity_id, label: d.label, createdAt: new Date(d.created_at).toISOString() })),
    keyChanges: await keyChanges(sql, query.keyLogName, query.changesLimit ?? 50),
  };
}

/** The newest device changes in the key log (by descending index), with the device's identity from the directory. */
async function keyChanges(sql: Sql, log: string, limit: number): Promise<VerificationView['keyChanges']> {
  const rows = await sql.query<{ entry: Uint8Array }>('SELECT entry FROM tlog_entries WHERE log = $1 ORDER BY idx DESC LIMIT $2', [log, limit * ENTRIES_READ_FACTOR]);
  const changes: { at: string; deviceId: string; kind: KeyChangeKind }[] = [];
  for (const row of rows) {
    if (changes.length >= limit) break;
    let entry;
    try {
      entry = decodeKeyLogEntry(new Uint8Array(row.entry));
    } catch {
      continue; // not a key-directory entry (the engine stores bytes); nothing to show
    }
    const kind = KIND[entry.type];
    if (kind) changes.push({ at: new Date(entry.time).toISOString(), deviceId: entry.deviceId, kind });
  }
  const ids = [...new Set(changes.map((c) => c.deviceId))];
  const owners = new Map<string, string>();
  if (ids.length > 0) {
    for (const d of await sql.query<{ id: string; identity_id: string }>('SELECT id, identity_id FROM devices WHERE id = ANY($1::text[])', [ids])) owners.set(d.id, d.identity_id);
  }
  return changes.map((c) => ({ at: c.at, identityId: owners.get(c.deviceId) ?? null, deviceId: c.deviceId, kind: c.kind }));
}
