/**
 * A route's chain ran out with no end-to-end delivery: the policy's `otherwise` applies.
 * `invite-to-app` sends an invitation, `block` sends nothing more; `fallback-with-token`,
 * `warn` and `require-consent` send nothing either, because the customer has the app: the
 * end-to-end ciphertext stays in the mailbox until it expires (web links are for
 * customers without the app, retrieval.ts).
 */
import type { RoutingPolicy } from './policy.js';
import type { RouteRow } from './route-row.js';
import type { RoutingServices } from './routing-services.js';
import { finishUndelivered } from './finish-route.js';
import { sendInvite } from './steps/invite.js';

/**
 * @example
 * await applyOtherwise(services, route, policy);
 */
export async function applyOtherwise(s: RoutingServices, route: RouteRow, policy: RoutingPolicy): Promise<void> {
  if (policy.otherwise === 'invite-to-app') {
    const sent = await sendInvite(s, route);
    await finishUndelivered(s, route, sent ? 'invited' : 'exhausted', sent ? 'invited' : null, sent ? 'invited to the app' : 'no channel for an invitation');
    return;
  }
  if (policy.otherwise === 'block') {
    s.metrics.policyBlocks.inc({ class: s.metrics.classLabel(route.class), reason: 'chain_exhausted' });
    await finishUndelivered(s, route, 'blocked', 'blocked', 'policy: block');
    return;
  }
  // fallback-with-token / warn / require-consent: the customer has the app, so the
  // end-to-end ciphertext stays in the mailbox until it expires; nothing else is sent.
  await finishUndelivered(s, route, 'exhausted', null, `no end-to-end path answered; the message waits in the mailbox (${policy.otherwise})`);
}
