/**
 * The `push` step: a `sync` wake-up to each of the customer's devices with a push token
 * (FCM or APNs). The wake-up carries nothing but an opaque collapse id; an `unregistered`
 * answer drops the token.
 */
import type { OutboundItem, Recipient } from '../../channels/channel.js';
import { handOff } from '../hand-off.js';
import type { RouteRow } from '../route-row.js';
import type { RoutingServices } from '../routing-services.js';
import type { StepOutcome } from './step-outcome.js';

/**
 * @example
 * const outcome = await pushStep(services, route); // 'waiting' once a wake-up went out
 */
export async function pushStep(s: RoutingServices, route: RouteRow): Promise<StepOutcome> {
  const devices = await s.db.query<{ id: string; push_provider: 'fcm' | 'apns'; push_token: string }>(
    `SELECT id, push_provider, push_token FROM devices WHERE identity_id = $1 AND status <> 'revoked' AND push_token IS NOT NULL ORDER BY id`,
    [route.identity_id],
  );
  let sent = 0;
  for (const device of devices) {
    const channel = s.config.channels[device.push_provider];
    if (!channel) {
      await s.event(route.message_id, 'push', device.push_provider, 'skipped', 'channel not configured');
      continue;
    }
    // The wake-up says only "sync"; the collapse id is opaque (the route's envelope id).
    const item: OutboundItem = { kind: 'wake', collapseId: `m${route.envelope_id ?? '0'}` };
    const recipient: Recipient = { pseudonym: device.id, pushToken: device.push_token, deviceIds: [device.id] };
    const ok = await handOff(s, route, channel, recipient, item, async (error) => {
      if (error.reason === 'unregistered') {
        await s.db.query('UPDATE devices SET push_token = NULL, push_provider = NULL WHERE id = $1 AND push_token = $2', [device.id, device.push_token]);
        await s.event(route.message_id, 'push', channel.name, 'token-dropped', 'unregistered');
      }
    });
    if (ok) sent++;
  }
  if (sent === 0) {
    if (devices.length === 0) await s.event(route.message_id, 'push', null, 'skipped', 'no push token');
    return 'skipped';
  }
  return 'waiting';
}
