/**
 * The leader asks the Parley server how its messages travel — a hundred routes per call —
 * and turns every change into the message's status and a webhook event (`route-changes.ts`),
 * stored together in one transaction. Young messages are asked about every second, older
 * ones less often; a message stops being followed once nothing more can change.
 */
import type { Sender } from '@parley/client';
import type { Database } from '@parley/server';
import { isParleyError } from '@parley/core';
import { appendEvent } from '../webhooks/events.js';
import type { MessageStore } from './message-store.js';
import { routeChanges, type Reported, type RouteStatusView } from './route-changes.js';

export interface StatusFollowerOptions {
  readonly db: Database;
  readonly messages: MessageStore;
  readonly sender: Pick<Sender, 'routes'>;
  readonly log: { warn(o: object, m: string): void };
  readonly intervalMs?: number;
}

/**
 * @example
 * const follower = new StatusFollower({ db, messages, sender, log }); follower.start()
 */
export class StatusFollower {
  readonly #o: StatusFollowerOptions;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  #running = false;

  constructor(options: StatusFollowerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#running = true;
    const loop = () => {
      this.#tick = this.pollOnce()
        .then((n) => n)
        .catch((error: unknown) => {
          this.#o.log.warn({ err: isParleyError(error) ? error.code : String(error) }, 'gateway: route status poll failed');
          return 0;
        })
        .then((n) => {
          // A full page: more are due, ask again at once.
          if (this.#running) this.#timer = setTimeout(loop, n >= 100 ? 0 : (this.#o.intervalMs ?? 500));
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await this.#tick;
  }

  /** Asks about up to 100 due messages; returns how many were asked about. */
  async pollOnce(): Promise<number> {
    const { db, messages, sender } = this.#o;
    const due = await db.query<{ id: string; created_at: Date; reported: string | null; status_callback: string | null }>(
      `SELECT id, created_at, reported, status_callback FROM gateway_messages
       WHERE settled = false AND status NOT IN ('queued', 'sending')
         AND (polled_at IS NULL OR polled_at < now() - LEAST(interval '5 minutes', (now() - created_at) / 10))
       ORDER BY polled_at NULLS FIRST, created_at LIMIT 100`,
    );
    if (due.length === 0) return 0;
    const views = new Map((await sender.routes(due.map((d) => d.id))).map((v) => [v.messageId, v as RouteStatusView]));
    const now = new Date();
    for (const row of due) {
      const view = views.get(row.id);
      await db.transaction(async (tx) => {
        if (!view) {
          // Not (yet) known to the server, e.g. a web link still being handed over.
          await tx.query('UPDATE gateway_messages SET polled_at = now() WHERE id = $1', [row.id]);
          return;
        }
        const changes = routeChanges(row.reported ? (JSON.parse(row.reported) as Reported) : null, view, row.created_at, now);
        await tx.query(
          `UPDATE gateway_messages SET polled_at = now(), route_status = $2, reported = $3, settled = $4,
             status = COALESCE($5, status), path = COALESCE($6, path), reason = COALESCE($7, reason), updated_at = now()
           WHERE id = $1`,
          [row.id, JSON.stringify(view), JSON.stringify(changes.reported), changes.settled, changes.status ?? null, changes.path ?? null, changes.reason ?? null],
        );
        for (const event of changes.events) await appendEvent(tx, { type: event.type, messageId: row.id, data: event.data }, messages.targets(row.status_callback));
      });
    }
    messages.eventsCommitted();
    return due.length;
  }
}
