/**
 * The record of a route's decisions (`route_events`, metadata only: steps, channels,
 * outcomes and reasons, never content or phone numbers), and the route view built from it.
 */
import type { Sql } from '../storage/database.js';
import type { DeliveryPath } from './policy.js';

/**
 * A message's route as `GET /v1/routes/:messageId` shows it.
 *
 * @example
 * const view: RouteView = { messageId, class: 'otp', state: 'delivered', path: 'push-app', events: [] };
 */
export interface RouteView {
  readonly messageId: string;
  readonly class: string;
  readonly state: string;
  readonly path: DeliveryPath | null;
  readonly events: { at: string; step: string; channel: string | null; decision: string; reason: string | null }[];
}

/**
 * Records one decision about a route.
 *
 * @example
 * await recordRouteEvent(db, messageId, 'push', 'fcm', 'skipped', 'channel not configured');
 */
export async function recordRouteEvent(sql: Sql, messageId: string, step: string, channel: string | null, decision: string, reason: string | null): Promise<void> {
  await sql.query('INSERT INTO route_events (message_id, step, channel, decision, reason) VALUES ($1, $2, $3, $4, $5)', [messageId, step, channel, decision, reason]);
}

/**
 * A route's state, path and every decision, oldest first; undefined when there is no such route.
 *
 * @example
 * const view = await routeView(db, messageId);
 */
export async function routeView(sql: Sql, messageId: string): Promise<RouteView | undefined> {
  const [route] = await sql.query<{ class: string; state: string; path: DeliveryPath | null }>('SELECT class, state, path FROM routes WHERE message_id = $1', [messageId]);
  if (!route) return undefined;
  const events = await sql.query<{ at: Date; step: string; channel: string | null; decision: string; reason: string | null }>(
    'SELECT at, step, channel, decision, reason FROM route_events WHERE message_id = $1 ORDER BY id',
    [messageId],
  );
  return { messageId, class: route.class, state: route.state, path: route.path, events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
}
