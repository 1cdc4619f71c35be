/**
 * Mailbox pages: the pending envelopes of devices, oldest first, read for many devices in
 * ONE statement (the relay's MailboxReader batches the pages asked for in one event-loop
 * turn: WebSocket pages, cross-node wake-ups, HTTP fetches), and the one mapping from a
 * stored row to the wire `Envelope`.
 */
import type { Envelope } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { preparedStatement } from '../storage/prepared.js';

/** A stored envelope as the mailbox reads return it (columns of `toEnvelope`'s input). */
export interface EnvelopeRow {
  id: string;
  group_id: string;
  sender_device_id: string;
  sender_identity_id: string;
  kind: 'application' | 'commit' | 'proposal' | 'welcome';
  epoch: string | null;
  /** base64 (the database's `encode`, which may wrap lines) */
  payload: string;
  created_at: Date;
}

/**
 * The one mapping from a stored envelope row to the wire `Envelope` (mailbox pages, RCS
 * files, app retrieval links). The database's base64 wraps lines; the wire form does not.
 *
 * @example
 * const envelopes = (await pendingEnvelopes(db, deviceId, '0', 100)).map(toEnvelope);
 */
export function toEnvelope(row: EnvelopeRow): Envelope {
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

/** One device's page: envelopes with ids above `after`, at most `limit`. */
export interface PageRequest {
  readonly deviceId: string;
  readonly after: string;
  readonly limit: number;
}

// Per request (kept apart by its ordinal), the same index walk a single page takes:
// deliveries_pkey from (device, after), joined to envelopes by id, at most `limit`.
const PAGES_SQL = preparedStatement(
  'mailbox_pages',
  `SELECT r.ord, x.id, x.group_id, x.sender_device_id, x.sender_identity_id, x.kind, x.epoch, x.payload, x.created_at
     FROM unnest($1::text[], $2::bigint[], $3::integer[]) WITH ORDINALITY AS r(device_id, after_id, lim, ord)
     CROSS JOIN LATERAL (
       SELECT e.id, e.group_id, e.sender_device_id, s.identity_id AS sender_identity_id, e.kind, e.epoch,
              encode(e.payload, 'base64') AS payload, e.created_at
       FROM deliveries d
       JOIN envelopes e ON e.id = d.envelope_id
       JOIN devices s ON s.id = e.sender_device_id
       WHERE d.device_id = r.device_id AND d.envelope_id > r.after_id AND e.expires_at > now() AND e.payload IS NOT NULL
       ORDER BY d.envelope_id
       LIMIT r.lim
     ) x
     ORDER BY r.ord, x.id`,
);

/**
 * Pending (unacknowledged, unexpired) envelopes of several devices in one statement: the
 * i-th result is the i-th request's page, oldest first.
 *
 * @example
 * const [mine, theirs] = await pendingEnvelopePages(db, [{ deviceId: a, after: '0', limit: 100 }, { deviceId: b, after: '17', limit: 10 }]);
 */
export async function pendingEnvelopePages(sql: Sql, requests: readonly PageRequest[]): Promise<EnvelopeRow[][]> {
  const pages = requests.map((): EnvelopeRow[] => []);
  if (requests.length === 0) return pages;
  const rows = await sql.query<EnvelopeRow & { ord: string }>(PAGES_SQL, [
    requests.map((r) => r.deviceId),
    requests.map((r) => r.after),
    requests.map((r) => String(r.limit)),
  ]);
  for (const row of rows) pages[Number(row.ord) - 1]?.push(row);
  return pages;
}

/** Pending (unacknowledged, unexpired) envelopes of a device after envelope id `after`, oldest first. */
export async function pendingEnvelopes(sql: Sql, deviceId: string, after: string, limit: number): Promise<EnvelopeRow[]> {
  return (await pendingEnvelopePages(sql, [{ deviceId, after, limit }]))[0]!;
}
