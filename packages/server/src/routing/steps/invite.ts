/**
 * The invitation to the app (`otherwise: invite-to-app`, and web messages under that
 * policy): an SMS with the brand and the app's link, nothing of the message.
 */
import type { OutboundItem } from '../../channels/channel.js';
import { handOff } from '../hand-off.js';
import type { SendingRoute } from '../route-row.js';
import { DEFAULT_INVITE_TEMPLATE, fill, type BusinessRouting } from '../routing-config.js';
import type { RoutingServices } from '../routing-services.js';

/**
 * The invitation SMS of a business: its `inviteTemplate` with the brand and the app's URL
 * (`appUrl`, else `<publicUrl>/app`).
 *
 * @example
 * const item = invitation(bank, 'https://parley.example'); // { kind: 'link', text: 'Example Bank: …', url: 'https://bank.example/app', brand: 'Example Bank' }
 */
export function invitation(business: BusinessRouting, publicUrl: string): OutboundItem & { kind: 'link' } {
  const app = business.appUrl ?? `${publicUrl}/app`;
  const text = fill(business.inviteTemplate ?? DEFAULT_INVITE_TEMPLATE, { brand: business.brand, app });
  return { kind: 'link', text, url: app, brand: business.brand };
}

/**
 * Sends the invitation for a route by SMS; false when there is no phone number or SMS
 * channel, or the gateway did not take it.
 *
 * @example
 * const invited = await sendInvite(services, route);
 */
export async function sendInvite(s: RoutingServices, route: SendingRoute & { identity_id: string; business_id: string }): Promise<boolean> {
  const phone = await s.phoneOf(route.identity_id);
  const sms = s.config.channels.sms;
  if (!phone || !sms) return false;
  return handOff(s, route, sms, { pseudonym: s.pseudonyms.of(phone), phone }, invitation(s.business(route.business_id), s.publicUrl));
}
