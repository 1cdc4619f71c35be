/** Reads one stored envelope for the routing paths that carry it outside the WebSocket (RCS file, app link). */
import type { Envelope } from '@parley/core';
import type { Sql } from '../storage/database.js';

/**
 * The envelope `envelopeId` with its ciphertext, or undefined once every recipient acknowledged it
 * (its payload is cleared). With `recipientDeviceId`, only if it is still in that device's mailbox.
 */
export async function storedEnvelope(sql: Sql, envelopeId: string, recipientDeviceId?: string): Promise<Envelope | undefined> {
  const [row] = await sql.query<{ id: string; group_id: string; sender_device_id: string; sender_identity_id: string; kind: Envelope['kind']; epoch: string | null; payload: string | null; created_at: Date }>(
    `SELECT e.id, e.group_id, e.sender_device_id, s.identity_id AS sender_identity_id, e.kind, e.epoch, encode(e.payload, 'base64') AS payload, e.created_at
     FROM envelopes e JOIN devices s ON s.id = e.sender_device_id
     WHERE e.id = $1::bigint
       AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM deliveries d WHERE d.envelope_id = e.id AND d.device_id = $2::text))`,
    [envelopeId, recipientDeviceId ?? null],
  );
  if (!row?.payload) return undefined;
  return {
    id: row.id,
    conversationId: row.group_id,
    senderDeviceId: row.sender_device_id,
    senderIdentityId: row.sender_identity_id,
    kind: row.kind,
    ...(row.epoch !== null ? { epoch: row.epoch } : {}),
    payload: row.payload.replace(/\n/g, ''),
    createdAt: new Date(row.created_at).toISOString(),
  };
}
