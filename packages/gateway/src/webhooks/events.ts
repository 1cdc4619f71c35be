/**
 * The gateway's event log (table `gateway_events`, migration 002): every state change of a
 * bank's message, numbered by `seq` in commit order, and one webhook delivery row per event
 * and target URL (`gateway_webhook_deliveries`, sent by dispatcher.ts). The same events are
 * read back by `GET /v1/events?after=<seq>`, the catch-up feed; both show `webhookBody`.
 */
import { randomBytes } from 'node:crypto';
import type { Sql } from '@parley/server';
import { GatewayError } from '../errors.js';
import { isWebhookUrl } from './webhook-url.js';

/** The event types, in the order a message usually goes through them. */
export const GATEWAY_EVENT_TYPES = ['message.queued', 'message.sent', 'message.delivered', 'message.read', 'message.fallback', 'message.failed'] as const;

export type GatewayEventType = (typeof GATEWAY_EVENT_TYPES)[number];

/** One stored event. */
export interface GatewayEvent {
  /** `evt_` + base64url of 16 random bytes: the `webhook-id` of its webhooks. */
  readonly id: string;
  /** Position in the log (decimal string of an int8), in commit order. */
  readonly seq: string;
  readonly type: GatewayEventType;
  readonly messageId: string;
  /** When it happened, RFC 3339 (UTC, milliseconds). */
  readonly createdAt: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The JSON of a webhook and of an item of `GET /v1/events`: the Standard Webhooks payload shape. */
export interface WebhookBody {
  readonly type: GatewayEventType;
  /** The event's `createdAt` (not the attempt's time: that is `webhook-timestamp`). */
  readonly timestamp: string;
  readonly data: { readonly messageId: string } & Readonly<Record<string, unknown>>;
}

/**
 * Advisory lock key serializing appends (the gateway's migration lock is 7_302_115_012).
 * A bigserial value is drawn when the row is inserted, but becomes visible when its
 * transaction commits: two concurrent writers could commit seq 11 before seq 10, and a reader
 * that saw 11 would move its cursor past 10 for good. Holding this lock from just before the
 * insert until commit makes draw order = commit order, so `seq > after` never skips.
 */
const EVENT_APPEND_LOCK_KEY = 7_302_115_013;

/** Most events one `listEvents` call returns. */
export const MAX_EVENTS_PAGE = 500;

function isEventType(type: string): type is GatewayEventType {
  return (GATEWAY_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * The webhook payload of an event (the one function both the dispatcher and
 * `GET /v1/events` use, so they show the same JSON). `data.messageId` comes first and cannot
 * be overwritten by the event's data.
 *
 * @example
 * const body = JSON.stringify(webhookBody(event)) // {"type":"message.sent","timestamp":"…","data":{"messageId":"msg_…","path":"push"}}
 */
export function webhookBody(event: GatewayEvent): WebhookBody {
  const { messageId: _ignored, ...data } = event.data;
  return { type: event.type, timestamp: event.createdAt, data: { messageId: event.messageId, ...data } };
}

/**
 * Appends one event and a pending delivery per target URL (duplicates dropped), in `tx`'s
 * transaction (or one of its own). Takes the append lock, held until commit: call it as the
 * LAST statement of a transaction, so other writers wait as little as possible.
 *
 * @param targets the webhook URLs: the message's statusCallback, else the gateway's configured
 *   endpoint; may be empty (the event is then only in the feed). Each must pass `isWebhookUrl`.
 * @example
 * await db.transaction(async (tx) => {
 *   await tx.query('UPDATE gateway_messages SET status = $2 WHERE id = $1', [id, 'sent'])
 *   await appendEvent(tx, { type: 'message.sent', messageId: id, data: { path: 'push' } }, [callback])
 * })
 */
export async function appendEvent(
  tx: Sql,
  event: { type: GatewayEventType; messageId: string; data: Record<string, unknown> },
  targets: readonly string[],
): Promise<GatewayEvent> {
  if (!isEventType(event.type)) throw new TypeError('unknown gateway event type');
  if (event.messageId.length === 0) throw new TypeError('an event needs a message id');
  if (!targets.every(isWebhookUrl)) throw new TypeError('webhook targets must be http(s) URLs');
  const urls = [...new Set(targets)];
  const id = `evt_${randomBytes(16).toString('base64url')}`;
  const data = JSON.stringify(event.data);
  return tx.transaction(async (t) => {
    await t.query('SELECT pg_advisory_xact_lock($1)', [String(EVENT_APPEND_LOCK_KEY)]);
    const rows = await t.query<{ seq: string; created_at: Date }>(
      'INSERT INTO gateway_events (id, message_id, type, data) VALUES ($1, $2, $3, $4) RETURNING seq, created_at',
      [id, event.messageId, event.type, data],
    );
    const row = rows[0]!;
    if (urls.length > 0) {
      await t.query(
        `INSERT INTO gateway_webhook_deliveries (event_id, url, message_id, seq)
         SELECT $1, u, $2, $3::bigint FROM unnest($4::text[]) AS u`,
        [id, event.messageId, String(row.seq), urls],
      );
    }
    return { id, seq: String(row.seq), type: event.type, messageId: event.messageId, createdAt: row.created_at.toISOString(), data: JSON.parse(data) as Record<string, unknown> };
  });
}

/** A `gateway_events` row as the driver returns it. */
export interface GatewayEventRow {
  seq: string;
  id: string;
  message_id: string;
  type: string;
  data: string;
  created_at: Date;
}

/**
 * Maps a `gateway_events` row (seq, id, message_id, type, data, created_at) to an event.
 *
 * @example
 * const events = (await sql.query<GatewayEventRow>('SELECT seq, id, message_id, type, data, created_at FROM gateway_events')).map(eventFromRow)
 */
export function eventFromRow(row: GatewayEventRow): GatewayEvent {
  if (!isEventType(row.type)) throw new Error('unknown event type in gateway_events');
  return {
    id: row.id,
    seq: String(row.seq),
    type: row.type,
    messageId: row.message_id,
    createdAt: row.created_at.toISOString(),
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}

/**
 * One page of the log after `after` (a seq; '0' from the start), oldest first, optionally one
 * message's only; `next` is the cursor for the following page (`after` itself when empty).
 *
 * @throws GatewayError `invalid_request` (400) when `after` is not a seq or `limit` not 1..500.
 * @example
 * let after = '0'
 * for (;;) { const page = await listEvents(db, { after, limit: 100 }); if (!page.events.length) break; after = page.next }
 */
export async function listEvents(
  sql: Sql,
  query: { after: string; limit: number; messageId?: string },
): Promise<{ events: GatewayEvent[]; next: string }> {
  if (!/^(0|[1-9]\d{0,18})$/.test(query.after) || BigInt(query.after) > 9_223_372_036_854_775_807n) {
    throw new GatewayError('invalid_request', 'after must be an event seq (a non-negative integer)');
  }
  if (!Number.isSafeInteger(query.limit) || query.limit < 1 || query.limit > MAX_EVENTS_PAGE) {
    throw new GatewayError('invalid_request', `limit must be an integer from 1 to ${MAX_EVENTS_PAGE}`);
  }
  const rows =
    query.messageId === undefined
      ? await sql.query<GatewayEventRow>(
          'SELECT seq, id, message_id, type, data, created_at FROM gateway_events WHERE seq > $1::bigint ORDER BY seq LIMIT $2',
          [query.after, query.limit],
        )
      : await sql.query<GatewayEventRow>(
          'SELECT seq, id, message_id, type, data, created_at FROM gateway_events WHERE message_id = $3 AND seq > $1::bigint ORDER BY seq LIMIT $2',
          [query.after, query.limit, query.messageId],
        );
  const events = rows.map(eventFromRow);
  return { events, next: events.length === 0 ? query.after : events[events.length - 1]!.seq };
}
