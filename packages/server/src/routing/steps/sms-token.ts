/**
 * The `sms-token` step: a one-time app link (retrieval-tokens.ts) the app opens to fetch
 * the ciphertext, sent by RCS rich card if the phone has RCS, else by SMS. The text holds
 * the brand and the link, never content.
 */
import type { OutboundItem, Recipient } from '../../channels/channel.js';
import { handOff } from '../hand-off.js';
import { insertToken, newToken } from '../retrieval-tokens.js';
import type { RouteRow } from '../route-row.js';
import { DEFAULT_LINK_TEMPLATE, fill } from '../routing-config.js';
import type { RoutingServices } from '../routing-services.js';
import { rcsCapabilities } from './rcs.js';
import type { StepOutcome } from './step-outcome.js';

/**
 * @example
 * const outcome = await smsTokenStep(services, route); // 'waiting' once the link went out
 */
export async function smsTokenStep(s: RoutingServices, route: RouteRow): Promise<StepOutcome> {
  const phone = await s.phoneOf(route.identity_id);
  if (!phone) {
    await s.event(route.message_id, 'sms-token', null, 'skipped', 'no phone number');
    return 'skipped';
  }
  const business = s.business(route.business_id);
  const caps = await rcsCapabilities(s, phone);
  const channel = caps?.reachable ? s.config.channels.rbm : s.config.channels.sms;
  const fallback = caps?.reachable ? s.config.channels.sms : undefined;
  if (!channel && !fallback) {
    await s.event(route.message_id, 'sms-token', null, 'skipped', 'no SMS channel configured');
    return 'skipped';
  }
  const token = newToken();
  await insertToken(s.db, token, {
    kind: 'app',
    messageId: route.message_id,
    identityId: route.identity_id,
    businessId: route.business_id,
    ...(route.envelope_id !== null ? { envelopeId: route.envelope_id } : {}),
    ttlSeconds: s.config.tokenTtlSeconds,
  });
  const link = `${s.publicUrl}/r/${token}`;
  const text = fill(business.linkTemplate ?? DEFAULT_LINK_TEMPLATE, { brand: business.brand, link });
  const item: OutboundItem = { kind: 'link', text, url: link, brand: business.brand };
  const recipient: Recipient = { pseudonym: s.pseudonyms.of(phone), phone };
  for (const c of [channel, fallback]) {
    if (c && (await handOff(s, route, c, recipient, item))) return 'waiting';
  }
  return 'skipped';
}
