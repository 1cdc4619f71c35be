/**
 * First delivery wins: once a route is delivered, what a provider still holds undelivered
 * is revoked (RBM can; SMS cannot). A wake-up push that led to the delivery is confirmed
 * to its adapter (push services report no delivery themselves: the woken app's ack is the
 * confirmation).
 */
import { ChannelError } from '../channels/channel.js';
import type { DeliveryPath } from './policy.js';
import type { RoutingServices } from './routing-services.js';

/**
 * Returns the channels on which a message was revoked.
 *
 * @example
 * const revokedOn = await cancelOtherPaths(services, messageId, 'push-app'); // ['rbm']
 */
export async function cancelOtherPaths(s: RoutingServices, messageId: string, path?: DeliveryPath): Promise<string[]> {
  const revokedOn: string[] = [];
  const pending = await s.db.query<{ channel: string; step: number; provider_message_id: string }>(
    `SELECT channel, step, provider_message_id FROM channel_sends WHERE message_id = $1 AND status = 'accepted' AND provider_message_id IS NOT NULL`,
    [messageId],
  );
  for (const send of pending) {
    const channel = s.channel(send.channel);
    if (path === 'push-app' && (send.channel === 'fcm' || send.channel === 'apns')) {
      (channel as { confirmDelivered?: (id: string) => boolean } | undefined)?.confirmDelivered?.(send.provider_message_id);
      continue;
    }
    if (!channel?.revoke) continue;
    try {
      const revoked = await channel.revoke(send.provider_message_id);
      if (revoked) revokedOn.push(send.channel);
      await s.db.query(`UPDATE channel_sends SET status = $4, updated_at = now() WHERE message_id = $1 AND step = $2 AND channel = $3`, [
        messageId,
        send.step,
        send.channel,
        revoked ? 'revoked' : 'delivered',
      ]);
      await s.event(messageId, 'cancel', send.channel, revoked ? 'revoked' : 'already-delivered', 'first delivery won');
    } catch (error) {
      await s.event(messageId, 'cancel', send.channel, 'revoke-failed', error instanceof ChannelError ? error.reason : 'error');
    }
  }
  return revokedOn;
}
