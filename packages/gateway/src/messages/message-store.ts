/**
 * The messages the bank's services handed to the gateway (`gateway_messages`). A message is
 * committed — with its `message.queued` event — before the API answers 202; its body and
 * phone are sealed under the data key while it waits and the body is erased once it left.
 * Idempotency: a key names one request; the same key with another request is refused.
 */
import { createHmac } from 'node:crypto';
import { newMessageId } from '@parley/core';
import { isUniqueViolation, type Sql } from '@parley/server';
import { openAesGcm, sealAesGcm } from '../custody/key-wrapper.js';
import { GatewayError } from '../errors.js';
import { appendEvent, type GatewayEventType } from '../webhooks/events.js';

/** What `POST /v1/messages` accepts (validated by its schema first). */
export interface MessageRequest {
  readonly to: string;
  readonly class: string;
  readonly body: string;
  readonly idempotencyKey?: string;
  readonly statusCallback?: string;
  readonly phone?: string;
}

/** A message's row as the gateway keeps it. */
export interface MessageRow {
  id: string;
  idempotency_key: string | null;
  customer_id: string;
  class: string;
  status: MessageStatus;
  path: string | null;
  reason: string | null;
  mode: 'app' | 'web' | null;
  status_callback: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  route_status: string | null;
  reported: string | null;
  settled: boolean;
}

/** queued → sending → sent → delivered → read, or failed; `invited` when the customer was invited to the app instead. */
export type MessageStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'read' | 'invited' | 'failed';

/** A claimed message with its secrets opened, for the worker only. */
export interface ClaimedMessage {
  readonly id: string;
  readonly customerId: string;
  readonly class: string;
  readonly body: string;
  readonly phone: string | undefined;
  readonly attempts: number;
  readonly createdAt: Date;
}

/** One change of a message's row (`MessageStore.transition`). */
export interface MessageChange {
  readonly status: MessageStatus;
  readonly path?: string | null;
  readonly reason?: string | null;
  readonly mode?: 'app' | 'web';
  /** Due again in this many seconds (a retry). */
  readonly retryInSeconds?: number;
  /** Erase the sealed body and phone: the message left, or failed for good. */
  readonly erase?: boolean;
  /** Final here, with no route on the server: the follower need not ask. */
  readonly settled?: boolean;
  /** The route state this change already reported: the follower reports only later changes. */
  readonly reportedState?: string;
}

const COLUMNS = 'id, idempotency_key, customer_id, class, status, path, reason, mode, status_callback, attempts, created_at, updated_at, route_status, reported, settled';

/**
 * The gateway's message table, sealing secrets under the data key.
 *
 * @example
 * const { id } = await messages.accept(db, apiKeyId, { to: 'c-1001', class: 'otp', body: 'Your code is 123456' })
 */
export class MessageStore {
  readonly #dataKey: Uint8Array;
  readonly #hmacKey: Buffer;
  readonly #defaultWebhook: string | undefined;
  readonly #onEvent: () => void;

  constructor(dataKey: Uint8Array, options: { defaultWebhookUrl?: string; onEvent?: () => void } = {}) {
    this.#dataKey = dataKey;
    this.#hmacKey = createHmac('sha256', dataKey).update('parley/gateway/request-hash').digest();
    this.#defaultWebhook = options.defaultWebhookUrl;
    this.#onEvent = options.onEvent ?? (() => {});
  }

  /** Events were committed: the webhook dispatcher may send them now rather than at its next poll. */
  eventsCommitted(): void {
    this.#onEvent();
  }

  /** Where a message's status events go: its own callback, else the gateway's endpoint. */
  targets(statusCallback: string | null | undefined): string[] {
    const url = statusCallback ?? this.#defaultWebhook;
    return url ? [url] : [];
  }

  /**
   * Stores a new message with its `message.queued` event (one transaction), or returns the
   * message an earlier request with the same idempotency key created (`replayed: true`).
   */
  async accept(sql: Sql, apiKeyId: string, request: MessageRequest): Promise<{ row: MessageRow; replayed: boolean }> {
    // Keyed: a bare hash of a 6-digit code would be a dictionary away from the code.
    const requestHash = createHmac('sha256', this.#hmacKey)
      .update(JSON.stringify([request.to, request.class, request.body, request.phone ?? null, request.statusCallback ?? null]))
      .digest();
    if (request.idempotencyKey !== undefined) {
      const earlier = await this.#byIdempotencyKey(sql, request.idempotencyKey, requestHash);
      if (earlier) return { row: earlier, replayed: true };
    }
    const id = newMessageId();
    try {
      const row = await sql.transaction(async (tx) => {
        const [inserted] = await tx.query<MessageRow>(
          `INSERT INTO gateway_messages (id, idempotency_key, request_hash, api_key_id, customer_id, class, body_sealed, phone_sealed, status_callback, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued') RETURNING ${COLUMNS}`,
          [
            id,
            request.idempotencyKey ?? null,
            new Uint8Array(requestHash),
            apiKeyId,
            request.to,
            request.class,
            sealAesGcm(this.#dataKey, new TextEncoder().encode(request.body), `parley/gateway/message/${id}/body`),
            request.phone === undefined ? null : sealAesGcm(this.#dataKey, new TextEncoder().encode(request.phone), `parley/gateway/message/${id}/phone`),
            request.statusCallback ?? null,
          ],
        );
        await appendEvent(tx, { type: 'message.queued', messageId: id, data: { to: request.to, class: request.class } }, this.targets(request.statusCallback));
        return inserted!;
      });
      this.eventsCommitted();
      return { row, replayed: false };
    } catch (error) {
      // Two requests with one new key at once: the loser answers like a later repeat.
      if (isUniqueViolation(error) && request.idempotencyKey !== undefined) {
        const earlier = await this.#byIdempotencyKey(sql, request.idempotencyKey, requestHash);
        if (earlier) return { row: earlier, replayed: true };
      }
      throw error;
    }
  }

  async #byIdempotencyKey(sql: Sql, key: string, requestHash: Buffer): Promise<MessageRow | undefined> {
    const [row] = await sql.query<MessageRow & { request_hash: Uint8Array }>(`SELECT ${COLUMNS}, request_hash FROM gateway_messages WHERE idempotency_key = $1`, [key]);
    if (!row) return undefined;
    if (!Buffer.from(row.request_hash).equals(requestHash)) {
      throw new GatewayError('idempotency_key_reused', 'this idempotency key was used for a different request');
    }
    return row;
  }

  /** One message, or undefined. */
  async get(sql: Sql, id: string): Promise<MessageRow | undefined> {
    const [row] = await sql.query<MessageRow>(`SELECT ${COLUMNS} FROM gateway_messages WHERE id = $1`, [id]);
    return row;
  }

  /**
   * Claims up to `limit` due messages for sending (oldest first) and opens their secrets. A
   * claim lasts `leaseSeconds`; a new leader makes every claimed message due at once (`releaseClaims`).
   */
  async claimDue(sql: Sql, limit: number, leaseSeconds = 120): Promise<ClaimedMessage[]> {
    const rows = await sql.query<{ id: string; customer_id: string; class: string; body_sealed: Uint8Array | null; phone_sealed: Uint8Array | null; attempts: number; created_at: Date }>(
      `UPDATE gateway_messages SET status = 'sending', attempts = attempts + 1, next_at = now() + ($2::integer * interval '1 second'), updated_at = now()
       WHERE id IN (SELECT id FROM gateway_messages WHERE status IN ('queued', 'sending') AND next_at <= now()
                    ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id, customer_id, class, body_sealed, phone_sealed, attempts, created_at`,
      [limit, leaseSeconds],
    );
    const claimed: ClaimedMessage[] = [];
    for (const r of rows) {
      if (!r.body_sealed) continue;
      claimed.push({
        id: r.id,
        customerId: r.customer_id,
        class: r.class,
        body: new TextDecoder().decode(openAesGcm(this.#dataKey, r.body_sealed, `parley/gateway/message/${r.id}/body`)),
        phone: r.phone_sealed ? new TextDecoder().decode(openAesGcm(this.#dataKey, r.phone_sealed, `parley/gateway/message/${r.id}/phone`)) : undefined,
        attempts: Number(r.attempts),
        createdAt: r.created_at,
      });
    }
    return claimed.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  /** At a change of leader: what the previous leader was sending is due now (it resends with the same message id). */
  async releaseClaims(sql: Sql): Promise<void> {
    await sql.query(`UPDATE gateway_messages SET next_at = now() WHERE status = 'sending'`);
  }

  /**
   * Records an outcome and its event in one transaction. `final` erases the sealed body
   * (and phone): a message that left, or failed for good, keeps no content.
   */
  async transition(
    sql: Sql,
    id: string,
    change: MessageChange,
    event?: { type: GatewayEventType; data: Record<string, unknown> },
  ): Promise<void> {
    await sql.transaction(async (tx) => {
      const [row] = await tx.query<{ status_callback: string | null }>(
        `UPDATE gateway_messages SET status = $2, path = COALESCE($3, path), reason = $4, mode = COALESCE($5, mode),
           next_at = now() + ($6::integer * interval '1 second'), updated_at = now(),
           body_sealed = CASE WHEN $7 THEN NULL ELSE body_sealed END, phone_sealed = CASE WHEN $7 THEN NULL ELSE phone_sealed END,
           settled = settled OR $8, reported = COALESCE($9, reported)
         WHERE id = $1 RETURNING status_callback`,
        [id, change.status, change.path ?? null, change.reason ?? null, change.mode ?? null, change.retryInSeconds ?? 0, change.erase ?? false, change.settled ?? false, change.reportedState === undefined ? null : JSON.stringify({ decisions: 0, state: change.reportedState, receipts: [] })],
      );
      if (row && event) await appendEvent(tx, { type: event.type, messageId: id, data: event.data }, this.targets(row.status_callback));
    });
    if (event) this.eventsCommitted();
  }
}
