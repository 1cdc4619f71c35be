/**
 * Finishing a route, once: as delivered (the first ack by any of the customer's devices,
 * or the opening of a web link) with the path of the step that was running, or undelivered
 * (blocked, invited, exhausted) when the chain ran out. Every finish is a compare-and-set
 * on `state = 'active'`, so only one path or node finishes a route; an undelivered finish
 * also requires that the recipient has not acknowledged it meanwhile.
 */
import { STEP_PATH, type DeliveryPath } from './policy.js';
import { ROUTE_COLUMNS, type RouteRow } from './route-row.js';
import type { RoutingServices } from './routing-services.js';
import { cancelOtherPaths } from './cancel-other-paths.js';

/**
 * Finishes a route as delivered (`how` is recorded; `forced` names the path, e.g. a web
 * link's), then cancels the other paths. Does nothing if another path or node finished it.
 *
 * @example
 * await finishDelivered(services, route, 'ack');
 */
export async function finishDelivered(s: RoutingServices, row: RouteRow, how: string, forced?: DeliveryPath): Promise<void> {
  const { db, metrics } = s;
  const policy = s.policyFor(row.business_id, row.class);
  const running = policy.chain[Math.max(0, row.step - 1)]?.step ?? 'app';
  let path: DeliveryPath = forced ?? STEP_PATH[running];
  if (!forced && running === 'push') {
    // Credit the push only if one was handed to a provider (an ack can land before the step sent anything).
    const pushed = await db.query(`SELECT 1 FROM channel_sends WHERE message_id = $1 AND step = $2 AND provider_message_id IS NOT NULL`, [row.message_id, row.step - 1]);
    if (pushed.length === 0) path = 'app';
  }
  if (!forced && running === 'sms-token') {
    // Credit the SMS link only if the app actually opened it.
    const redeemed = await db.query(`SELECT 1 FROM retrieval_tokens WHERE message_id = $1 AND kind = 'app' AND used_at IS NOT NULL`, [row.message_id]);
    if (redeemed.length === 0) path = 'app';
  }
  // The finish and its decision in one statement: a crash cannot leave a delivered route
  // without the record of how it was delivered.
  const step = forced ? 'web' : running;
  const [won] = await db.query<{ message_id: string }>(
    `WITH won AS (
       UPDATE routes SET state = 'delivered', path = $2, finished_at = now(), lease_until = NULL
       WHERE message_id = $1 AND state = 'active' RETURNING message_id
     )
     INSERT INTO route_events (message_id, step, channel, decision, reason)
     SELECT message_id, $3, NULL, 'delivered', $4 FROM won RETURNING message_id`,
    [row.message_id, path, step, `${how}; path ${path}`],
  );
  if (!won) return; // another path or node won
  const revoked = await cancelOtherPaths(s, row.message_id, path);
  if (path === 'rcs' && revoked.includes('rbm')) {
    // The RCS message never reached the phone: the app got the message by itself.
    path = 'app';
    await db.query(`UPDATE routes SET path = $2 WHERE message_id = $1`, [row.message_id, path]);
    await s.event(row.message_id, step, 'rbm', 'path-corrected', 'the RCS message was revoked undelivered; path app');
  }
  metrics.deliveries.inc({ channel: step, class: metrics.classLabel(row.class), path });
  metrics.routes.inc({ class: metrics.classLabel(row.class), outcome: 'delivered' });
  metrics.deliveryLatency.observe({ class: metrics.classLabel(row.class), path }, (Date.now() - new Date(row.created_at).getTime()) / 1000);
}

/**
 * A route changed under a step: if its recipient acknowledged it meanwhile, it is finished as delivered.
 *
 * @example
 * await finishIfAcked(services, route);
 */
export async function finishIfAcked(s: RoutingServices, route: Pick<RouteRow, 'message_id'>): Promise<void> {
  const [row] = await s.db.query<RouteRow>(
    `SELECT ${ROUTE_COLUMNS} FROM routes WHERE message_id = $1 AND state = 'active' AND acked_at IS NOT NULL`,
    [route.message_id],
  );
  if (row) await finishDelivered(s, row, 'ack');
}

/**
 * Finishes a route that delivered nothing end to end (its chain ran out, or a web link
 * expired); if the recipient acknowledged it meanwhile, it is finished as delivered instead.
 *
 * @example
 * await finishUndelivered(services, route, 'blocked', 'blocked', 'policy: block');
 */
export async function finishUndelivered(s: RoutingServices, route: RouteRow, state: 'blocked' | 'invited' | 'exhausted', path: DeliveryPath | null, reason: string): Promise<void> {
  const [done] = await s.db.query<{ message_id: string }>(
    `UPDATE routes SET state = $2, path = $3, finished_at = now(), lease_until = NULL WHERE message_id = $1 AND state = 'active' AND acked_at IS NULL RETURNING message_id`,
    [route.message_id, state, path],
  );
  if (!done) {
    await finishIfAcked(s, route);
    return;
  }
  await s.event(route.message_id, 'otherwise', null, state, reason);
  s.metrics.routes.inc({ class: s.metrics.classLabel(route.class), outcome: state });
}
