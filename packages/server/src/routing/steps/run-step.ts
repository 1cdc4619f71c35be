/**
 * Runs one step of a route's chain (policy.ts names them). The `app` step sends nothing:
 * the relay already pushed the ciphertext to connected devices, so it only waits for an ack.
 */
import type { StepName } from '../policy.js';
import type { RouteRow } from '../route-row.js';
import type { RoutingServices } from '../routing-services.js';
import { pushStep } from './push.js';
import { rcsStep } from './rcs.js';
import { smsTokenStep } from './sms-token.js';
import type { StepOutcome } from './step-outcome.js';

/**
 * @example
 * const outcome = await runStep(services, route, 'push');
 */
export async function runStep(s: RoutingServices, route: RouteRow, step: StepName): Promise<StepOutcome> {
  switch (step) {
    case 'app':
      await s.event(route.message_id, 'app', 'app', 'waiting', 'ciphertext pushed to connected devices; waiting for an ack');
      return 'waiting';
    case 'push':
      return pushStep(s, route);
    case 'rcs':
      return rcsStep(s, route);
    case 'sms-token':
      return smsTokenStep(s, route);
  }
}
