/**
 * Handing one item to one provider for one route step, at most once: the send is claimed
 * in `channel_sends` (unique per message, step and channel) BEFORE the provider is called,
 * so a step that runs again after a crash never sends a second SMS. The claim is made only
 * while the route is active and its recipient has not acknowledged the message. Retryable
 * failures are retried with exponential backoff and jitter.
 */
import { ChannelError, type Channel, type OutboundItem, type Recipient } from '../channels/channel.js';
import type { SendingRoute } from './route-row.js';
import type { RoutingServices } from './routing-services.js';

const MAX_RETRIES = 3;

/**
 * Resolves true when the provider took the item (or took it before: never sent twice),
 * false when nothing went out (the route was finished or acknowledged, or the provider
 * failed; `onFailure` then sees the error).
 *
 * @example
 * const sent = await handOff(services, route, sms, { pseudonym, phone }, { kind: 'link', text, url, brand });
 */
export async function handOff(
  s: RoutingServices,
  route: SendingRoute,
  channel: Channel,
  recipient: Recipient,
  item: OutboundItem,
  onFailure?: (error: ChannelError) => Promise<void>,
): Promise<boolean> {
  // The claim is made only while the route is active and its recipient has not acknowledged
  // the message (the ack statement sets acked_at): nothing goes out for a message the customer has.
  const [claim] = await s.db.query<{ live: boolean; claimed: boolean }>(
    `WITH live AS (SELECT 1 FROM routes WHERE message_id = $1::text AND state = 'active' AND acked_at IS NULL),
     claimed AS (
       INSERT INTO channel_sends (message_id, step, channel, status)
       SELECT $1::text, $2::integer, $3::text, 'sending' WHERE EXISTS (SELECT 1 FROM live)
       ON CONFLICT DO NOTHING RETURNING message_id)
     SELECT EXISTS (SELECT 1 FROM live) AS live, EXISTS (SELECT 1 FROM claimed) AS claimed`,
    [route.message_id, route.step, channel.name],
  );
  if (!claim?.live) {
    await s.event(route.message_id, `step-${route.step}`, channel.name, 'not-sent', 'acknowledged or finished before the hand-off');
    return false;
  }
  if (!claim.claimed) {
    await s.event(route.message_id, `step-${route.step}`, channel.name, 'already-sent', 'not sent twice');
    return true;
  }
  let lastError: ChannelError | undefined;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const started = performance.now();
    try {
      const result = await channel.send({ deliveryId: `${route.message_id}.${route.step}.${channel.name}`, messageId: route.message_id, recipient, item });
      s.metrics.sendLatency.observe({ channel: channel.name }, (performance.now() - started) / 1000);
      s.metrics.sends.inc({ channel: channel.name, result: 'accepted' });
      await s.db.query(
        `UPDATE channel_sends SET status = CASE WHEN status = 'sending' THEN 'accepted' ELSE status END, provider_message_id = $4, updated_at = now()
         WHERE message_id = $1 AND step = $2 AND channel = $3`,
        [route.message_id, route.step, channel.name, result.providerMessageId],
      );
      await s.event(route.message_id, `step-${route.step}`, channel.name, 'sent', item.kind);
      return true;
    } catch (error) {
      const e = error instanceof ChannelError ? error : new ChannelError(channel.name, 'unavailable', 'channel failed', { cause: error });
      lastError = e;
      s.metrics.sends.inc({ channel: channel.name, result: e.reason });
      if (!e.retryable || attempt === MAX_RETRIES - 1) break;
      const backoff = Math.min(e.retryAfterMs ?? 100 * 2 ** attempt, 2_000);
      await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random())));
      await s.event(route.message_id, `step-${route.step}`, channel.name, 'retry', e.reason);
    }
  }
  await s.db.query(`UPDATE channel_sends SET status = 'failed', reason = $4, updated_at = now() WHERE message_id = $1 AND step = $2 AND channel = $3`, [
    route.message_id,
    route.step,
    channel.name,
    lastError?.reason ?? 'unavailable',
  ]);
  await s.event(route.message_id, `step-${route.step}`, channel.name, 'failed', lastError?.reason ?? 'unavailable');
  if (lastError && onFailure) await onFailure(lastError);
  return false;
}
