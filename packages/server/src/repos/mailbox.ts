/**
 * Envelopes (ciphertext + routing metadata), per-device deliveries and the
 * delivery service's view of MLS groups (epoch, members, latest GroupInfo).
 */
import type { Envelope } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { preparedStatement } from '../storage/prepared.js';
import { toEnvelope, type EnvelopeRow } from './mailbox-pages.js';

export { pendingEnvelopePages, pendingEnvelopes, toEnvelope, type EnvelopeRow, type PageRequest } from './mailbox-pages.js';

// Hot statements, sent as named prepared statements on PostgreSQL (storage/prepared.ts).
const GROUP_MEMBERS_SQL = preparedStatement('mailbox_group_members', 'SELECT group_id, device_id FROM group_members WHERE group_id = ANY($1::text[])');
const CLASSIFY_SQL = preparedStatement('mailbox_classify_acks', 'SELECT id, recipients FROM envelopes WHERE id = ANY($1::bigint[])');
const APPEND_SQL = preparedStatement(
  'mailbox_append',
  `WITH input AS (
       SELECT * FROM unnest(
         string_to_array($1, ','), string_to_array($2, ','), string_to_array($3, ','), string_to_array($4, ','),
         string_to_array($5, ',')::bigint[], string_to_array($6, ','), string_to_array($7, ',')::integer[],
         string_to_array($8, ',')::timestamptz[]
       ) AS t(sender, key, group_id, kind, epoch, payload, payload_bytes, expires_at)
     ), addressed AS (
       SELECT i.*, r.recipients
       FROM input i
       CROSS JOIN LATERAL (
         SELECT COALESCE(array_agg(m.device_id) FILTER (WHERE m.device_id <> i.sender), '{}') AS recipients,
                COALESCE(bool_or(m.device_id = i.sender), false) AS member
         FROM group_members m WHERE m.group_id = i.group_id
       ) r
       WHERE r.member
     ), inserted AS (
       INSERT INTO envelopes (sender_device_id, idempotency_key, part, group_id, kind, epoch, payload, payload_bytes, recipients, pending, expires_at)
       SELECT sender, key, 0, group_id, kind, epoch, decode(payload, 'base64'), payload_bytes, recipients, cardinality(recipients), expires_at
       FROM addressed
       ON CONFLICT (sender_device_id, idempotency_key, part) DO NOTHING
       RETURNING id, sender_device_id, idempotency_key, recipients
     ), mailed AS (
       INSERT INTO deliveries (device_id, envelope_id) SELECT unnest(recipients), id FROM inserted
     )
     SELECT id, sender_device_id, idempotency_key, recipients FROM inserted`,
);
const INSERT_SQL = preparedStatement(
  'mailbox_insert',
  `WITH inserted AS (
       INSERT INTO envelopes (sender_device_id, idempotency_key, part, group_id, kind, epoch, payload, payload_bytes, recipients, pending, expires_at)
       SELECT s, k, p, g, kd, ep, decode(pl, 'base64'), pb, string_to_array(r, ' '), cardinality(string_to_array(r, ' ')), ex
       FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::integer[], $9::text[], $10::timestamptz[])
         AS t(s, k, p, g, kd, ep, pl, pb, r, ex)
       ON CONFLICT (sender_device_id, idempotency_key, part) DO NOTHING
       RETURNING id, sender_device_id, idempotency_key, part, recipients
     ), mailed AS (
       INSERT INTO deliveries (device_id, envelope_id) SELECT unnest(recipients), id FROM inserted
     )
     SELECT id, sender_device_id, idempotency_key, part FROM inserted`,
);
const FIND_SUBMISSIONS_SQL = preparedStatement(
  'mailbox_find_submissions',
  `SELECT e.id, e.part, cardinality(e.recipients) AS recipient_count, e.sender_device_id, e.idempotency_key
     FROM envelopes e JOIN unnest($1::text[], $2::text[]) AS k(s, k) ON e.sender_device_id = k.s AND e.idempotency_key = k.k
     ORDER BY e.part`,
);

const ACK_HEAD = `WITH req AS (
       SELECT * FROM unnest(string_to_array($1, ','), string_to_array($2, ',')::bigint[]) AS r(device_id, envelope_id)
     ), acked AS (
       DELETE FROM deliveries d USING req
       WHERE d.device_id = req.device_id AND d.envelope_id = req.envelope_id
       RETURNING d.device_id, d.envelope_id
     ), counts AS (
       SELECT envelope_id, count(*)::integer AS n FROM acked GROUP BY envelope_id
     ), cleared AS (
       UPDATE envelopes e
       SET pending = e.pending - counts.n,
           payload = CASE WHEN e.pending - counts.n <= 0 THEN NULL ELSE e.payload END
       FROM counts WHERE e.id = counts.envelope_id
     )`;
const ACK_SQL = preparedStatement('mailbox_ack', `${ACK_HEAD}
     SELECT device_id, envelope_id FROM acked`);
const ACK_ROUTED_SQL = preparedStatement(
  'mailbox_ack_routed',
  `${ACK_HEAD}, routed AS (
       UPDATE routes r SET acked_at = now()
       FROM acked a JOIN devices dv ON dv.id = a.device_id
       WHERE r.envelope_id = a.envelope_id AND r.identity_id = dv.identity_id AND r.state = 'active' AND r.acked_at IS NULL
       RETURNING r.envelope_id
     )
     SELECT device_id, envelope_id FROM acked
     UNION ALL SELECT NULL, envelope_id FROM routed`,
);

export interface NewEnvelope {
  senderDeviceId: string;
  idempotencyKey: string;
  part: 0 | 1;
  groupId: string;
  kind: 'application' | 'commit' | 'proposal' | 'welcome';
  epoch: bigint | undefined;
  /** Ciphertext as base64 (decoded by the database: cheaper than hex-escaped bytea arrays). */
  payload: string;
  payloadBytes: number;
  expiresAt: Date;
  recipients: readonly string[];
}

/** An application message or proposal whose recipients are the group's other members. */
export interface AppendItem {
  senderDeviceId: string;
  idempotencyKey: string;
  groupId: string;
  kind: 'application' | 'proposal';
  epoch: bigint;
  payload: string;
  payloadBytes: number;
  expiresAt: Date;
}

export interface ExistingSubmission {
  id: string;
  part: number;
  recipient_count: number;
}

/** `${sender}\n${idempotencyKey}\n${part}` */
export function submissionKey(senderDeviceId: string, idempotencyKey: string, part: number): string {
  return `${senderDeviceId}\n${idempotencyKey}\n${part}`;
}

/** Members (device ids) of each of the given groups. */
export async function groupMembers(sql: Sql, groupIds: readonly string[]): Promise<Map<string, Set<string>>> {
  const rows = await sql.query<{ group_id: string; device_id: string }>(
    GROUP_MEMBERS_SQL,
    [groupIds],
  );
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    let set = out.get(r.group_id);
    if (!set) out.set(r.group_id, (set = new Set()));
    set.add(r.device_id);
  }
  return out;
}

/**
 * Appends application messages in ONE statement: each is stored only if its
 * sender is a member of its group, addressed to every other member, and only
 * once per (sender, idempotency key). Returns the inserted ones by
 * `submissionKey(sender, key, 0)`; absent items are duplicates or not members.
 */
export async function appendEnvelopes(sql: Sql, items: readonly AppendItem[]): Promise<Map<string, { id: string; recipients: string[] }>> {
  const out = new Map<string, { id: string; recipients: string[] }>();
  if (items.length === 0) return out;
  const rows = await sql.query<{ id: string; sender_device_id: string; idempotency_key: string; recipients: string[] }>(
    APPEND_SQL,
    // One comma-joined text per column: none of these values can contain a comma
    // (ids, keys and base64 by their patterns), and the driver sends a plain
    // string without the per-element escaping it does for arrays.
    [
      items.map((i) => i.senderDeviceId).join(','),
      items.map((i) => i.idempotencyKey).join(','),
      items.map((i) => i.groupId).join(','),
      items.map((i) => i.kind).join(','),
      items.map((i) => i.epoch.toString()).join(','),
      items.map((i) => i.payload).join(','),
      items.map((i) => String(i.payloadBytes)).join(','),
      items.map((i) => i.expiresAt.toISOString()).join(','),
    ],
  );
  for (const r of rows) out.set(submissionKey(r.sender_device_id, r.idempotency_key, 0), { id: r.id, recipients: r.recipients });
  return out;
}

/**
 * Inserts envelopes with explicit recipients (commits and Welcomes) and their
 * deliveries. Envelopes whose (sender, idempotency key, part) exists already are
 * skipped; the returned map has ids only for the inserted ones.
 */
export async function insertEnvelopes(sql: Sql, envelopes: readonly NewEnvelope[]): Promise<Map<string, string>> {
  const inserted = new Map<string, string>();
  if (envelopes.length === 0) return inserted;
  const rows = await sql.query<{ id: string; sender_device_id: string; idempotency_key: string; part: number }>(
    INSERT_SQL,
    [
      envelopes.map((e) => e.senderDeviceId),
      envelopes.map((e) => e.idempotencyKey),
      envelopes.map((e) => String(e.part)),
      envelopes.map((e) => e.groupId),
      envelopes.map((e) => e.kind),
      envelopes.map((e) => (e.epoch === undefined ? null : e.epoch.toString())),
      envelopes.map((e) => e.payload),
      envelopes.map((e) => String(e.payloadBytes)),
      // Device ids never contain spaces (DEVICE_ID_PATTERN), so a space-joined list is unambiguous.
      envelopes.map((e) => e.recipients.join(' ')),
      envelopes.map((e) => e.expiresAt.toISOString()),
    ],
  );
  for (const r of rows) inserted.set(submissionKey(r.sender_device_id, r.idempotency_key, Number(r.part)), r.id);
  return inserted;
}

/** Earlier submissions of (sender, idempotency key) pairs, keyed `${sender}\n${key}`. */
export async function findSubmissions(
  sql: Sql,
  keys: readonly { senderDeviceId: string; idempotencyKey: string }[],
): Promise<Map<string, ExistingSubmission[]>> {
  const out = new Map<string, ExistingSubmission[]>();
  if (keys.length === 0) return out;
  const rows = await sql.query<{ id: string; part: number; recipient_count: number; sender_device_id: string; idempotency_key: string }>(
    FIND_SUBMISSIONS_SQL,
    [keys.map((k) => k.senderDeviceId), keys.map((k) => k.idempotencyKey)],
  );
  for (const r of rows) {
    const key = `${r.sender_device_id}\n${r.idempotency_key}`;
    const list = out.get(key) ?? [];
    list.push({ id: r.id, part: Number(r.part), recipient_count: Number(r.recipient_count) });
    out.set(key, list);
  }
  return out;
}

/**
 * The envelope `envelopeId` with its ciphertext, for the routing paths that carry it outside
 * the WebSocket (RCS file, app link); undefined once every recipient acknowledged it (its
 * payload is cleared). With `recipientDeviceId`, only if it is still in that device's mailbox.
 *
 * @example
 * const envelope = await storedEnvelope(db, route.envelope_id);
 */
export async function storedEnvelope(sql: Sql, envelopeId: string, recipientDeviceId?: string): Promise<Envelope | undefined> {
  const [row] = await sql.query<Omit<EnvelopeRow, 'payload'> & { payload: string | null }>(
    `SELECT e.id, e.group_id, e.sender_device_id, s.identity_id AS sender_identity_id, e.kind, e.epoch, encode(e.payload, 'base64') AS payload, e.created_at
     FROM envelopes e JOIN devices s ON s.id = e.sender_device_id
     WHERE e.id = $1::bigint
       AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM deliveries d WHERE d.envelope_id = e.id AND d.device_id = $2::text))`,
    [envelopeId, recipientDeviceId ?? null],
  );
  if (!row?.payload) return undefined;
  return toEnvelope({ ...row, payload: row.payload });
}

/**
 * Acknowledges (device, envelope) pairs in ONE statement: deletes the delivery
 * rows, decrements each envelope's pending count and clears its ciphertext when
 * nobody waits for it any more. Returns the pairs that were pending.
 *
 * With `routed` (routing enabled), the same statement also marks the route of every
 * business message acknowledged by a device of its recipient (`routes.acked_at`), so
 * that no fallback step can follow an ack even if the process dies before the router
 * finishes the route; the envelope ids of the routes it marked are added to `routed`.
 */
export async function acknowledge(sql: Sql, pairs: readonly { deviceId: string; envelopeId: string }[], routed?: Set<string>): Promise<Set<string>> {
  const done = new Set<string>();
  if (pairs.length === 0) return done;
  const rows = await sql.query<{ device_id: string | null; envelope_id: string }>(
    routed ? ACK_ROUTED_SQL : ACK_SQL,
    [pairs.map((p) => p.deviceId).join(','), pairs.map((p) => p.envelopeId).join(',')],
  );
  for (const r of rows) {
    if (r.device_id === null) routed?.add(String(r.envelope_id));
    else done.add(`${r.device_id}\n${r.envelope_id}`);
  }
  return done;
}

export type AckClass = 'repeated' | 'forbidden' | 'unknown';

/** For pairs that were not pending: acknowledged before, someone else's, or no such envelope. */
export async function classifyNotPending(
  sql: Sql,
  pairs: readonly { deviceId: string; envelopeId: string }[],
): Promise<Map<string, AckClass>> {
  const out = new Map<string, AckClass>();
  if (pairs.length === 0) return out;
  const rows = await sql.query<{ id: string; recipients: string[] }>(CLASSIFY_SQL, [
    [...new Set(pairs.map((p) => p.envelopeId))],
  ]);
  const byId = new Map(rows.map((r) => [r.id, r.recipients]));
  for (const p of pairs) {
    const recipients = byId.get(p.envelopeId);
    out.set(`${p.deviceId}\n${p.envelopeId}`, recipients === undefined ? 'unknown' : recipients.includes(p.deviceId) ? 'repeated' : 'forbidden');
  }
  return out;
}

// --- Groups ---------------------------------------------------------------------

export interface GroupRow {
  id: string;
  epoch: string;
}

/** Locks the group row for a commit; undefined when the group is new. */
export async function lockGroup(sql: Sql, groupId: string): Promise<GroupRow | undefined> {
  const rows = await sql.query<GroupRow>('SELECT id, epoch FROM groups WHERE id = $1 FOR UPDATE', [groupId]);
  return rows[0];
}

/** Creates a group at `epoch`; false when it already exists (lost a creation race). */
export async function createGroupRow(sql: Sql, groupId: string, epoch: bigint, groupInfo: Uint8Array, createdBy: string): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO groups (id, epoch, group_info, created_by) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [groupId, epoch.toString(), groupInfo, createdBy],
  );
  return rows.length === 1;
}

export async function advanceGroup(sql: Sql, groupId: string, epoch: bigint, groupInfo: Uint8Array): Promise<void> {
  await sql.query('UPDATE groups SET epoch = $2, group_info = $3, updated_at = now() WHERE id = $1', [
    groupId,
    epoch.toString(),
    groupInfo,
  ]);
}

/** Replaces the member set of a group. */
export async function setGroupMembers(sql: Sql, groupId: string, members: readonly string[]): Promise<void> {
  await sql.query('DELETE FROM group_members WHERE group_id = $1 AND NOT (device_id = ANY($2::text[]))', [groupId, members]);
  await sql.query(
    `INSERT INTO group_members (group_id, device_id) SELECT $1, d FROM unnest($2::text[]) AS t(d)
     ON CONFLICT DO NOTHING`,
    [groupId, members],
  );
}

export async function groupInfoFor(
  sql: Sql,
  groupId: string,
  deviceId: string,
): Promise<{ epoch: string; group_info: Uint8Array } | undefined> {
  const rows = await sql.query<{ epoch: string; group_info: Uint8Array }>(
    `SELECT g.epoch, g.group_info FROM groups g
     JOIN group_members m ON m.group_id = g.id AND m.device_id = $2
     WHERE g.id = $1 AND g.group_info IS NOT NULL`,
    [groupId, deviceId],
  );
  return rows[0];
}

// --- Retention --------------------------------------------------------------------

export interface SweepCounts {
  expired: number;
  forgotten: number;
}

const SWEEP_BATCH = 20_000;

/**
 * Retention sweep: drops unacknowledged messages past their TTL (with their
 * deliveries), and forgets acknowledged envelopes past the idempotency window.
 * Works in bounded batches; `created_at` has a BRIN index.
 */
export async function sweepEnvelopes(sql: Sql, idempotencyWindowSeconds: number): Promise<SweepCounts> {
  let expired = 0;
  for (;;) {
    const rows = await sql.query<{ n: string }>(
      `WITH gone AS (
         DELETE FROM envelopes WHERE id IN (SELECT id FROM envelopes WHERE expires_at < now() LIMIT ${SWEEP_BATCH})
         RETURNING id, recipients
       ), mail AS (
         DELETE FROM deliveries d USING (SELECT unnest(recipients) AS device_id, id FROM gone) g
         WHERE d.device_id = g.device_id AND d.envelope_id = g.id
       )
       SELECT count(*) AS n FROM gone`,
    );
    const n = Number(rows[0]?.n ?? 0);
    expired += n;
    if (n < SWEEP_BATCH) break;
  }
  let forgotten = 0;
  for (;;) {
    const rows = await sql.query<{ n: string }>(
      `WITH gone AS (
         DELETE FROM envelopes WHERE id IN (
           SELECT id FROM envelopes
           WHERE created_at < now() - make_interval(secs => $1::float8) AND pending <= 0
           LIMIT ${SWEEP_BATCH})
         RETURNING id
       ) SELECT count(*) AS n FROM gone`,
      [String(idempotencyWindowSeconds)],
    );
    const n = Number(rows[0]?.n ?? 0);
    forgotten += n;
    if (n < SWEEP_BATCH) break;
  }
  await sql.query('DELETE FROM auth_challenges WHERE expires_at < now()');
  await sql.query("DELETE FROM enrollment_token_uses WHERE expires_at < now() - interval '1 day'");
  await sql.query("DELETE FROM rate_limits WHERE updated_at < now() - interval '1 hour'");
  return { expired, forgotten };
}
