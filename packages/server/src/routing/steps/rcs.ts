/**
 * The `rcs` step: only when the RBM capability check (cached, pseudonymous) says the phone
 * has a Parley RCS client is the envelope uploaded as an RBM file; a failure forgets the
 * cached capability so the next message checks again.
 */
import type { OutboundItem } from '../../channels/channel.js';
import { storedEnvelope } from '../../repos/mailbox.js';
import { handOff } from '../hand-off.js';
import type { RouteRow } from '../route-row.js';
import { PARLEY_ENVELOPE_TYPE } from '../routing-config.js';
import type { RoutingServices } from '../routing-services.js';
import type { StepOutcome } from './step-outcome.js';

/**
 * RBM capability of a phone, through the advisory cache; undefined without RBM or when the check fails.
 *
 * @example
 * const caps = await rcsCapabilities(services, '+15555550100'); // { reachable: true, endToEnd: false }
 */
export async function rcsCapabilities(s: RoutingServices, phone: string): Promise<{ reachable: boolean; endToEnd: boolean } | undefined> {
  const rbm = s.config.channels.rbm;
  if (!rbm) return undefined;
  const pseudonym = s.pseudonyms.of(phone);
  try {
    return await s.capabilities.resolve(pseudonym, 'rbm', () => rbm.capabilities({ pseudonym, phone }));
  } catch {
    return undefined;
  }
}

/**
 * @example
 * const outcome = await rcsStep(services, route); // 'skipped' unless the phone has a Parley RCS client
 */
export async function rcsStep(s: RoutingServices, route: RouteRow): Promise<StepOutcome> {
  const rbm = s.config.channels.rbm;
  const phone = await s.phoneOf(route.identity_id);
  if (!rbm || !phone) {
    await s.event(route.message_id, 'rcs', 'rbm', 'skipped', !rbm ? 'channel not configured' : 'no phone number');
    return 'skipped';
  }
  const caps = await rcsCapabilities(s, phone);
  if (!caps?.reachable || !caps.endToEnd) {
    await s.event(route.message_id, 'rcs', 'rbm', 'skipped', !caps ? 'capability check failed' : !caps.reachable ? 'no RCS' : 'RCS without a Parley client');
    return 'skipped';
  }
  const envelope = route.envelope_id === null ? undefined : await storedEnvelope(s.db, route.envelope_id);
  if (!envelope) {
    await s.event(route.message_id, 'rcs', 'rbm', 'skipped', 'ciphertext no longer held');
    return 'skipped';
  }
  const pseudonym = s.pseudonyms.of(phone);
  const item: OutboundItem = { kind: 'ciphertext', bytes: new TextEncoder().encode(JSON.stringify(envelope)), contentType: PARLEY_ENVELOPE_TYPE };
  const ok = await handOff(s, route, rbm, { pseudonym, phone }, item, async () => {
    await s.capabilities.invalidate(pseudonym, 'rbm');
  });
  return ok ? 'waiting' : 'skipped';
}
