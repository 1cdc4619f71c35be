/**
 * Provider status events (accepted, delivered, read, failed …): recorded once on the send
 * they belong to, never moving it backwards; a failure of the running step starts the
 * next step at once.
 *
 * One path: every adapter emits each status event to its `onStatus` listeners (Twilio and
 * RBM from `handleWebhook`, SMPP from deliver_sm, FCM and APNs on send and confirmation),
 * and the router's subscription applies it. The webhook route hands the same event
 * objects to `applied` only to wait until they are stored before it answers the
 * provider. Applying is keyed by the event object, so an event is applied once whichever
 * side comes first; and the status update is a compare-and-set, so even a provider's
 * concurrent duplicate callbacks record one decision.
 */
import type { StatusEvent } from '../channels/channel.js';
import type { RoutingServices } from './routing-services.js';

/** Order of channel_sends statuses: a status event never moves a send backwards. */
const RANKS: Readonly<Record<string, number>> = { sending: 0, accepted: 1, failed: 2, delivered: 3, read: 4, revoked: 5 };
const statusRank = (status: string): number => RANKS[status] ?? 0;
const STATUS_RANK_SQL = `(CASE status ${Object.entries(RANKS).map(([s, r]) => `WHEN '${s}' THEN ${r}`).join(' ')} ELSE 0 END)`;

/**
 * @example
 * const status = new StatusEvents(services);
 * channel.onStatus((event) => void status.apply(event));
 * await status.applied(await channel.handleWebhook(webhook));
 */
export class StatusEvents {
  /** Status events being applied, by event object. */
  private readonly applying = new WeakMap<StatusEvent, Promise<void>>();

  constructor(private readonly s: RoutingServices) {}

  /** Applies one event (once per event object, whoever asks first). */
  apply(event: StatusEvent): Promise<void> {
    let applied = this.applying.get(event);
    if (!applied) {
      applied = this.store(event);
      this.applying.set(event, applied);
    }
    return applied;
  }

  /** The webhook route: resolves once these events (from `handleWebhook`) are stored; rejects if storing one failed. */
  async applied(events: readonly StatusEvent[]): Promise<void> {
    for (const event of events) await this.apply(event);
  }

  private async store(event: StatusEvent): Promise<void> {
    const { db } = this.s;
    const rows = await db.query<{ message_id: string; step: number; status: string }>(
      `SELECT message_id, step, status FROM channel_sends WHERE channel = $1 AND provider_message_id = $2`,
      [event.channel, event.providerMessageId],
    );
    for (const send of rows) {
      // Never regress: a late 'accepted' after 'delivered' changes nothing. Checked again in the
      // UPDATE itself (on the row's latest version), so concurrent callbacks record one decision.
      if (statusRank(event.status) <= statusRank(send.status)) continue;
      const [changed] = await db.query(
        `UPDATE channel_sends SET status = $4, reason = $5, updated_at = now()
         WHERE message_id = $1 AND step = $2 AND channel = $3 AND ${STATUS_RANK_SQL} < $6::integer RETURNING status`,
        [send.message_id, send.step, event.channel, event.status, event.reason ?? null, statusRank(event.status)],
      );
      if (!changed) continue;
      await this.s.event(send.message_id, `step-${send.step}`, event.channel, `provider-${event.status}`, event.reason ?? null);
      if (event.status === 'failed') {
        // The step this send belongs to failed: the next one starts now instead of after its timeout.
        await db.query(`UPDATE routes SET next_at = now() WHERE message_id = $1 AND state = 'active' AND step = $2`, [send.message_id, send.step + 1]);
        this.s.kick();
      }
    }
  }
}
