/** Social recovery (migration 013): holder keys, recovery sets and their sealed shares, requests and holders' answers. */
import { isUniqueViolation, type Sql } from '../storage/database.js';

export interface HolderKeyRow {
  device_id: string;
  hpke_key: Uint8Array;
  signature: Uint8Array;
  updated_at: Date;
}

export interface RecoverySetRow {
  set_id: string;
  identity_id: string;
  threshold: number;
  manifest: string;
  signature: Uint8Array;
  created_at: Date;
}

export interface RecoveryRequestRow {
  request_id: string;
  set_id: string;
  identity_id: string;
  device_id: string;
  binding: string;
  signature: Uint8Array;
  expires_at: Date;
  created_at: Date;
  threshold: number;
}

export interface AnswerRow {
  holder_device_id: string;
  share_index: number;
  decision: 'released' | 'declined';
  sealed: Uint8Array | null;
}

export async function upsertHolderKey(sql: Sql, deviceId: string, hpkeKey: Uint8Array, signature: Uint8Array): Promise<HolderKeyRow> {
  const [row] = await sql.query<HolderKeyRow>(
    `INSERT INTO recovery_holder_keys (device_id, hpke_key, signature) VALUES ($1, $2, $3)
     ON CONFLICT (device_id) DO UPDATE SET hpke_key = EXCLUDED.hpke_key, signature = EXCLUDED.signature, updated_at = now()
     RETURNING device_id, hpke_key, signature, updated_at`,
    [deviceId, hpkeKey, signature],
  );
  return row!;
}

/** Holder keys of an identity's active devices. */
export function holderKeysOf(sql: Sql, identityId: string): Promise<HolderKeyRow[]> {
  return sql.query<HolderKeyRow>(
    `SELECT k.device_id, k.hpke_key, k.signature, k.updated_at FROM recovery_holder_keys k JOIN devices d ON d.id = k.device_id
     WHERE d.identity_id = $1 AND d.status = 'active' ORDER BY k.device_id`,
    [identityId],
  );
}

/** Replaces the identity's set (its shares, requests and answers go with it); the caller holds the identity's row lock. */
export async function replaceSet(
  tx: Sql,
  set: { setId: string; identityId: string; deviceId: string; threshold: number; manifest: string; signature: Uint8Array; shares: readonly { deviceId: string; index: number; sealed: Uint8Array }[] },
): Promise<RecoverySetRow> {
  await tx.query('DELETE FROM recovery_sets WHERE identity_id = $1', [set.identityId]);
  const [row] = await tx.query<RecoverySetRow>(
    `INSERT INTO recovery_sets (set_id, identity_id, device_id, threshold, manifest, signature) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING set_id, identity_id, threshold, manifest, signature, created_at`,
    [set.setId, set.identityId, set.deviceId, set.threshold, set.manifest, set.signature],
  );
  for (const s of set.shares) {
    await tx.query('INSERT INTO recovery_shares (set_id, holder_device_id, share_index, sealed) VALUES ($1, $2, $3, $4)', [set.setId, s.deviceId, s.index, s.sealed]);
  }
  return row!;
}

export async function setOfIdentity(sql: Sql, identityId: string): Promise<RecoverySetRow | undefined> {
  const rows = await sql.query<RecoverySetRow>('SELECT set_id, identity_id, threshold, manifest, signature, created_at FROM recovery_sets WHERE identity_id = $1', [identityId]);
  return rows[0];
}

/** Inserts a request; false when its id is taken. */
export async function insertRequest(
  sql: Sql,
  request: { requestId: string; setId: string; identityId: string; deviceId: string; binding: string; signature: Uint8Array; expiresAt: Date },
): Promise<boolean> {
  try {
    await sql.query(
      'INSERT INTO recovery_requests (request_id, set_id, identity_id, device_id, binding, signature, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [request.requestId, request.setId, request.identityId, request.deviceId, request.binding, request.signature, request.expiresAt],
    );
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

/** Drops an identity's expired requests (with their answers). */
export async function deleteExpiredRequests(sql: Sql, identityId: string): Promise<void> {
  await sql.query('DELETE FROM recovery_requests WHERE identity_id = $1 AND expires_at < now()', [identityId]);
}

const REQUEST_COLUMNS = 'r.request_id, r.set_id, r.identity_id, r.device_id, r.binding, r.signature, r.expires_at, r.created_at, s.threshold';

/** One request, if `deviceId` (of `identityId`) may see it: a device of the owner identity, or a holder of a share of its set. */
export async function requestVisibleTo(sql: Sql, requestId: string, me: { deviceId: string; identityId: string }): Promise<RecoveryRequestRow | undefined> {
  const rows = await sql.query<RecoveryRequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM recovery_requests r JOIN recovery_sets s ON s.set_id = r.set_id
     WHERE r.request_id = $1
       AND (r.identity_id = $2 OR EXISTS (SELECT 1 FROM recovery_shares h WHERE h.set_id = r.set_id AND h.holder_device_id = $3))`,
    [requestId, me.identityId, me.deviceId],
  );
  return rows[0];
}

/** Open requests of `me`'s identity, and those on sets where `me` holds a share (newest first, at most 100). */
export function requestsVisibleTo(sql: Sql, me: { deviceId: string; identityId: string }): Promise<RecoveryRequestRow[]> {
  return sql.query<RecoveryRequestRow>(
    `SELECT ${REQUEST_COLUMNS} FROM recovery_requests r JOIN recovery_sets s ON s.set_id = r.set_id
     WHERE r.expires_at > now()
       AND (r.identity_id = $1 OR EXISTS (SELECT 1 FROM recovery_shares h WHERE h.set_id = r.set_id AND h.holder_device_id = $2))
     ORDER BY r.created_at DESC, r.request_id LIMIT 100`,
    [me.identityId, me.deviceId],
  );
}

export async function shareOf(sql: Sql, setId: string, deviceId: string): Promise<{ share_index: number; sealed: Uint8Array } | undefined> {
  const rows = await sql.query<{ share_index: number; sealed: Uint8Array }>('SELECT share_index, sealed FROM recovery_shares WHERE set_id = $1 AND holder_device_id = $2', [setId, deviceId]);
  return rows[0];
}

export function answersOf(sql: Sql, requestId: string): Promise<AnswerRow[]> {
  return sql.query<AnswerRow>('SELECT holder_device_id, share_index, decision, sealed FROM recovery_answers WHERE request_id = $1 ORDER BY answered_at, holder_device_id', [requestId]);
}

/** Records a holder's answer; false when that holder already answered. */
export async function insertAnswer(sql: Sql, answer: { requestId: string; deviceId: string; index: number; decision: 'released' | 'declined'; sealed: Uint8Array | null }): Promise<boolean> {
  const rows = await sql.query<{ request_id: string }>(
    `INSERT INTO recovery_answers (request_id, holder_device_id, share_index, decision, sealed) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (request_id, holder_device_id) DO NOTHING RETURNING request_id`,
    [answer.requestId, answer.deviceId, answer.index, answer.decision, answer.sealed],
  );
  return rows.length === 1;
}
