/** Escrow keys, the sealed copies of escrowed messages, requests and approvals (migration 010). */
import type { Sql } from '../storage/database.js';

export interface EscrowKeyRow {
  key_id: string;
  business_id: string;
  record: string;
  record_hash: Uint8Array;
  threshold: number;
}

export interface EscrowRequestRow {
  request_id: string;
  message_id: string;
  key_id: string;
  request: string;
  request_hash: Uint8Array;
  created_at: Date | string;
  opened_at: Date | string | null;
}

export interface EscrowApprovalRow {
  request_id: string;
  officer_id: string;
  approval: string;
  approval_hash: Uint8Array;
  signature: Uint8Array;
  released: Uint8Array;
  created_at: Date | string;
}

/** Inserts a key record; false when the key id is already registered. */
export async function insertEscrowKey(sql: Sql, row: EscrowKeyRow): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO escrow_keys (key_id, business_id, record, record_hash, threshold) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING key_id`,
    [row.key_id, row.business_id, row.record, row.record_hash, row.threshold],
  );
  return rows.length === 1;
}

export async function getEscrowKey(sql: Sql, keyId: string): Promise<EscrowKeyRow | undefined> {
  const rows = await sql.query<EscrowKeyRow>('SELECT key_id, business_id, record, record_hash, threshold FROM escrow_keys WHERE key_id = $1', [keyId]);
  return rows[0];
}

export async function getEscrowKeys(sql: Sql, keyIds: readonly string[]): Promise<Map<string, EscrowKeyRow>> {
  if (keyIds.length === 0) return new Map();
  const rows = await sql.query<EscrowKeyRow>('SELECT key_id, business_id, record, record_hash, threshold FROM escrow_keys WHERE key_id = ANY($1::text[])', [keyIds]);
  return new Map(rows.map((r) => [r.key_id, r]));
}

/** Stores the sealed copies of newly stored escrowed messages (caller's transaction). */
export async function insertEscrowBlobs(sql: Sql, rows: readonly { message_id: string; key_id: string; blob: Uint8Array }[]): Promise<void> {
  if (rows.length === 0) return;
  await sql.query(
    `INSERT INTO escrow_blobs (message_id, key_id, blob) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[]) ON CONFLICT DO NOTHING`,
    [rows.map((r) => r.message_id), rows.map((r) => r.key_id), rows.map((r) => r.blob)],
  );
}

export async function getEscrowBlob(sql: Sql, messageId: string): Promise<{ key_id: string; blob: Uint8Array } | undefined> {
  const rows = await sql.query<{ key_id: string; blob: Uint8Array }>('SELECT key_id, blob FROM escrow_blobs WHERE message_id = $1', [messageId]);
  return rows[0];
}

export async function insertEscrowRequest(sql: Sql, row: Omit<EscrowRequestRow, 'created_at' | 'opened_at'>): Promise<void> {
  await sql.query(`INSERT INTO escrow_requests (request_id, message_id, key_id, request, request_hash) VALUES ($1, $2, $3, $4, $5)`, [
    row.request_id,
    row.message_id,
    row.key_id,
    row.request,
    row.request_hash,
  ]);
}

const REQUEST_COLUMNS = 'request_id, message_id, key_id, request, request_hash, created_at, opened_at';

export async function getEscrowRequest(sql: Sql, requestId: string, forUpdate = false): Promise<EscrowRequestRow | undefined> {
  const rows = await sql.query<EscrowRequestRow>(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests WHERE request_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [requestId]);
  return rows[0];
}

/** Requests, newest first (of one message, or all; at most `limit`). */
export async function listEscrowRequests(sql: Sql, messageId: string | undefined, limit: number): Promise<EscrowRequestRow[]> {
  return messageId === undefined
    ? sql.query<EscrowRequestRow>(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests ORDER BY created_at DESC, request_id LIMIT $1`, [limit])
    : sql.query<EscrowRequestRow>(`SELECT ${REQUEST_COLUMNS} FROM escrow_requests WHERE message_id = $1 ORDER BY created_at DESC, request_id LIMIT $2`, [messageId, limit]);
}

export async function markEscrowOpened(sql: Sql, requestId: string): Promise<void> {
  await sql.query('UPDATE escrow_requests SET opened_at = now() WHERE request_id = $1 AND opened_at IS NULL', [requestId]);
}

/** Inserts an approval; false when this officer already approved this request. */
export async function insertEscrowApproval(sql: Sql, row: Omit<EscrowApprovalRow, 'created_at'>): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO escrow_approvals (request_id, officer_id, approval, approval_hash, signature, released) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING RETURNING officer_id`,
    [row.request_id, row.officer_id, row.approval, row.approval_hash, row.signature, row.released],
  );
  return rows.length === 1;
}

export async function approvalsOf(sql: Sql, requestIds: readonly string[]): Promise<EscrowApprovalRow[]> {
  if (requestIds.length === 0) return [];
  return sql.query<EscrowApprovalRow>(
    'SELECT request_id, officer_id, approval, approval_hash, signature, released, created_at FROM escrow_approvals WHERE request_id = ANY($1::text[]) ORDER BY created_at, officer_id',
    [requestIds],
  );
}
