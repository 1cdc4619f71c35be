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
  return (await routeViews(sql, [messageId])).get(messageId);
}

/**
 * The views of many routes in two queries (`= ANY`), by message id; with `businessId`, only
 * that business's routes (the others are absent, as unknown ids are). `updatedAt` is the
 * latest of the route's creation, finish and decisions.
 *
 * @example
 * const views = await routeViews(db, messageIds, device.businessId);
 */
export async function routeViews(sql: Sql, messageIds: readonly string[], businessId?: string): Promise<Map<string, RouteView & { readonly updatedAt: string }>> {
  const out = new Map<string, RouteView & { readonly updatedAt: string }>();
  if (messageIds.length === 0) return out;
  const routes = await sql.query<{ message_id: string; class: string; state: string; path: DeliveryPath | null; created_at: Date; finished_at: Date | null }>(
    `SELECT message_id, class, state, path, created_at, finished_at FROM routes WHERE message_id = ANY($1::text[])${businessId === undefined ? '' : ' AND business_id = $2'}`,
    businessId === undefined ? [[...messageIds]] : [[...messageIds], businessId],
  );
  if (routes.length === 0) return out;
  const events = await sql.query<{ message_id: string; at: Date; step: string; channel: string | null; decision: string; reason: string | null }>(
    'SELECT message_id, at, step, channel, decision, reason FROM route_events WHERE message_id = ANY($1::text[]) ORDER BY id',
    [routes.map((r) => r.message_id)],
  );
  const byMessage = new Map<string, RouteView['events']>();
  const latest = new Map<string, number>();
  for (const e of events) {
    const at = new Date(e.at);
    let list = byMessage.get(e.message_id);
    if (!list) byMessage.set(e.message_id, (list = []));
    list.push({ at: at.toISOString(), step: e.step, channel: e.channel, decision: e.decision, reason: e.reason });
    latest.set(e.message_id, Math.max(latest.get(e.message_id) ?? 0, at.getTime()));
  }
  for (const r of routes) {
    const updated = Math.max(new Date(r.created_at).getTime(), r.finished_at ? new Date(r.finished_at).getTime() : 0, latest.get(r.message_id) ?? 0);
    out.set(r.message_id, {
      messageId: r.message_id,
      class: r.class,
      state: r.state,
      path: r.path,
      events: byMessage.get(r.message_id) ?? [],
      updatedAt: new Date(updated).toISOString(),
    });
  }
  return out;
}
