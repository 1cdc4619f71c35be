/** Devices: public identity key, MLS signature key, status. */
import { ConflictError, toBase64, type DeviceRecord } from '@parley/core';
import { isUniqueViolation, type Sql } from '../storage/database.js';

export interface DeviceRow {
  id: string;
  identity_id: string;
  identity_key: Uint8Array;
  signature_key: Uint8Array;
  suite: string;
  /** Every suite the device supports (null: only `suite`, a device from before negotiation). */
  suites: string[] | null;
  suites_seq: number;
  label: string | null;
  status: 'active' | 'pending' | 'revoked';
  created_at: Date;
}

const COLUMNS = 'id, identity_id, identity_key, signature_key, suite, suites, suites_seq, label, status, created_at';

export async function insertDevice(
  sql: Sql,
  device: {
    id: string;
    identityId: string;
    identityKey: Uint8Array;
    signatureKey: Uint8Array;
    suite: string;
    suites?: readonly string[];
    status?: 'active' | 'pending';
    label?: string;
  },
): Promise<void> {
  try {
    await sql.query(
      'INSERT INTO devices (id, identity_id, identity_key, signature_key, suite, label, status, suites) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [device.id, device.identityId, device.identityKey, device.signatureKey, device.suite, device.label ?? null, device.status ?? 'active', device.suites ?? null],
    );
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('device_exists', 'a device with this id is registered');
    throw error;
  }
}

/** The suites a device supports, most preferred first. */
export function suitesOf(row: Pick<DeviceRow, 'suite' | 'suites'>): readonly string[] {
  return row.suites ?? [row.suite];
}

/**
 * Records a device's newer suites statement (`seq` above the stored one; a revoked device
 * cannot), inside the caller's transaction; false when the statement is stale or the device gone.
 */
export async function setDeviceSuites(sql: Sql, id: string, suites: readonly string[], seq: number): Promise<boolean> {
  const rows = await sql.query<{ id: string }>(
    "UPDATE devices SET suites = $2, suites_seq = $3 WHERE id = $1 AND suites_seq < $3 AND status <> 'revoked' RETURNING id",
    [id, suites, seq],
  );
  return rows.length === 1;
}

export async function getDevice(sql: Sql, id: string): Promise<DeviceRow | undefined> {
  const rows = await sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE id = $1`, [id]);
  return rows[0];
}

export async function setDeviceStatus(sql: Sql, id: string, status: 'active' | 'pending' | 'revoked'): Promise<void> {
  await sql.query(
    "UPDATE devices SET status = $2, revoked_at = CASE WHEN $2 = 'revoked' THEN now() ELSE revoked_at END WHERE id = $1",
    [id, status],
  );
}

/**
 * Replaces an active device's keys if they are still `previousIdentityKey` (a concurrent
 * rotation of the same device loses: false), inside the caller's transaction.
 */
export async function rotateDeviceKeys(
  sql: Sql,
  input: { id: string; previousIdentityKey: Uint8Array; identityKey: Uint8Array; signatureKey: Uint8Array },
): Promise<boolean> {
  const rows = await sql.query<{ id: string }>(
    "UPDATE devices SET identity_key = $3, signature_key = $4 WHERE id = $1 AND identity_key = $2 AND status = 'active' RETURNING id",
    [input.id, input.previousIdentityKey, input.identityKey, input.signatureKey],
  );
  return rows.length === 1;
}

export async function getDevices(sql: Sql, ids: readonly string[]): Promise<DeviceRow[]> {
  if (ids.length === 0) return [];
  return sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE id = ANY($1::text[])`, [ids]);
}

export async function listDevicesOfIdentity(sql: Sql, identityId: string): Promise<DeviceRow[]> {
  return sql.query<DeviceRow>(`SELECT ${COLUMNS} FROM devices WHERE identity_id = $1 ORDER BY created_at, id`, [identityId]);
}

export function toDeviceRecord(row: DeviceRow): DeviceRecord {
  return {
    deviceId: row.id,
    identityId: row.identity_id,
    identityKey: toBase64(row.identity_key),
    signatureKey: toBase64(row.signature_key),
    suite: row.suite,
    suites: [...suitesOf(row)],
    ...(row.label ? { label: row.label } : {}),
    status: row.status,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
