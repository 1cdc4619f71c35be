/** Commitments and receipts behind the audit log's hashes. */
import type { Sql } from '../storage/database.js';

export interface CommitmentRow {
  message_id: string;
  commitment: string;
  commitment_hash: Uint8Array;
  signature: Uint8Array;
  sender_device_id: string;
  sender_identity_id: string;
  recipient_identity_id: string;
  conversation_id: string;
}

export interface ReceiptRow {
  message_id: string;
  device_id: string;
  status: string;
  receipt: string;
  receipt_hash: Uint8Array;
  signature: Uint8Array;
}

/** Inserts commitments; returns the message ids that were new (a repeat inserts nothing). */
export async function insertCommitments(sql: Sql, rows: readonly CommitmentRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await sql.query<{ message_id: string }>(
    `INSERT INTO audit_commitments (message_id, commitment, commitment_hash, signature, sender_device_id, sender_identity_id, recipient_identity_id, conversation_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], $7::text[], $8::text[])
     ON CONFLICT DO NOTHING RETURNING message_id`,
    [
      rows.map((r) => r.message_id),
      rows.map((r) => r.commitment),
      rows.map((r) => r.commitment_hash),
      rows.map((r) => r.signature),
      rows.map((r) => r.sender_device_id),
      rows.map((r) => r.sender_identity_id),
      rows.map((r) => r.recipient_identity_id),
      rows.map((r) => r.conversation_id),
    ],
  );
  return new Set(inserted.map((r) => r.message_id));
}

export async function getCommitment(sql: Sql, messageId: string): Promise<CommitmentRow | undefined> {
  const rows = await sql.query<CommitmentRow>('SELECT * FROM audit_commitments WHERE message_id = $1', [messageId]);
  return rows[0];
}

export async function getCommitments(sql: Sql, messageIds: readonly string[]): Promise<Map<string, CommitmentRow>> {
  if (messageIds.length === 0) return new Map();
  const rows = await sql.query<CommitmentRow>('SELECT * FROM audit_commitments WHERE message_id = ANY($1::text[])', [messageIds]);
  return new Map(rows.map((r) => [r.message_id, r]));
}

/** Inserts a receipt; false when the same (message, device, status) was recorded before. */
export async function insertReceipt(sql: Sql, row: ReceiptRow): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO audit_receipts (message_id, device_id, status, receipt, receipt_hash, signature) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT DO NOTHING RETURNING message_id`,
    [row.message_id, row.device_id, row.status, row.receipt, row.receipt_hash, row.signature],
  );
  return rows.length === 1;
}

export async function receiptsOf(sql: Sql, messageId: string): Promise<ReceiptRow[]> {
  return sql.query<ReceiptRow>('SELECT * FROM audit_receipts WHERE message_id = $1 ORDER BY created_at, device_id, status', [messageId]);
}

export async function getReceipt(sql: Sql, messageId: string, deviceId: string, status: string): Promise<ReceiptRow | undefined> {
  const rows = await sql.query<ReceiptRow>('SELECT * FROM audit_receipts WHERE message_id = $1 AND device_id = $2 AND status = $3', [
    messageId,
    deviceId,
    status,
  ]);
  return rows[0];
}
