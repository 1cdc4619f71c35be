/**
 * The console's delivery view (`GET /console/api/delivery?hours=N`): how business messages of a
 * time window reached their customers, from `routes` (state, path, class, creation and finish
 * times) and `channel_sends` (providers' answers). Aggregates only, computed in the database
 * over the window (indexes `routes_by_created`, `channel_sends_by_created`), so the cost is
 * bounded by the window, not by the table.
 */
import type { DeliveryView } from '@parley/core';
import type { Sql } from '../storage/database.js';
import { STEP_PATH, type RoutingPolicy } from '../routing/policy.js';

export type { DeliveryView, PathCounts } from '@parley/core';

export interface DeliveryQuery {
  /** Length of the window ending now, in hours (1 … {@link MAX_WINDOW_HOURS}). */
  readonly hours: number;
  /** The routing policy of a business's class (the router's `policyFor`): its first step is the expected path. */
  readonly policyFor: (businessId: string, messageClass: string) => RoutingPolicy;
  /** End of the window (default: now). */
  readonly now?: Date;
}

/** The longest window the delivery view reads: 30 days. */
export const MAX_WINDOW_HOURS = 720;
const HOUR_MS = 3_600_000;

/** A route's outcome as the console counts it: the path of a finished route, else its state. */
export const OUTCOME_SQL = `CASE WHEN state = 'delivered' THEN coalesce(path, 'app')
  WHEN state IN ('blocked', 'invited') THEN coalesce(path, state) ELSE state END`;

/** The window [now − hours, now], with the first whole hour of it (bucket boundaries are UTC hours). */
export function hourWindow(hours: number, now: Date): { from: Date; to: Date; firstHour: number; lastHour: number } {
  const to = now;
  const from = new Date(to.getTime() - hours * HOUR_MS);
  return { from, to, firstHour: Math.floor(from.getTime() / HOUR_MS), lastHour: Math.floor(to.getTime() / HOUR_MS) };
}

/** An hour number (hours since the epoch) as an ISO time. */
export function hourIso(hour: number): string {
  return new Date(hour * HOUR_MS).toISOString();
}

/**
 * The delivery view over the last `hours` hours.
 *
 * @example
 * const view = await deliveryView(ctx.db, { hours: 24, policyFor: (b, c) => ctx.routing.router.policyFor(b, c) });
 * console.log(view.fallbackRate, view.timeToDelivered.p50Ms);
 */
export async function deliveryView(sql: Sql, query: DeliveryQuery): Promise<DeliveryView> {
  const { from, to, firstHour, lastHour } = hourWindow(query.hours, query.now ?? new Date());
  const window = [from, to];
  // Hour numbers since the epoch: the same on both engines whatever the session time zone.
  const perHourAndClass = await sql.query<{ hour: string; class: string; outcome: string; n: string }>(
    `SELECT floor(extract(epoch FROM created_at) / 3600)::bigint AS hour, class, ${OUTCOME_SQL} AS outcome, count(*) AS n
     FROM routes WHERE created_at >= $1 AND created_at <= $2
     GROUP BY 1, 2, 3`,
    window,
  );
  const buckets = new Map<number, Record<string, number>>();
  for (let h = firstHour; h <= lastHour; h++) buckets.set(h, {});
  const classes = new Map<string, { total: number; byPath: Record<string, number> }>();
  for (const row of perHourAndClass) {
    const n = Number(row.n);
    const bucket = buckets.get(Number(row.hour));
    if (bucket) bucket[row.outcome] = (bucket[row.outcome] ?? 0) + n;
    let c = classes.get(row.class);
    if (!c) classes.set(row.class, (c = { total: 0, byPath: {} }));
    c.total += n;
    c.byPath[row.outcome] = (c.byPath[row.outcome] ?? 0) + n;
  }

  const delivered = await sql.query<{ business_id: string; class: string; path: string | null; n: string }>(
    `SELECT business_id, class, path, count(*) AS n FROM routes
     WHERE created_at >= $1 AND created_at <= $2 AND state = 'delivered' GROUP BY 1, 2, 3`,
    window,
  );
  let deliveredTotal = 0;
  let fallbacks = 0;
  for (const row of delivered) {
    const n = Number(row.n);
    deliveredTotal += n;
    const first = query.policyFor(row.business_id, row.class).chain[0]?.step;
    const expected = first === undefined ? 'app' : STEP_PATH[first];
    if ((row.path ?? 'app') !== expected) fallbacks += n;
  }

  const [latency] = await sql.query<{ n: string; p50: number | string | null; p99: number | string | null }>(
    `SELECT count(*) AS n,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p50,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at) * 1000) AS p99
     FROM routes WHERE created_at >= $1 AND created_at <= $2 AND state = 'delivered' AND finished_at IS NOT NULL`,
    window,
  );
  const ms = (value: number | string | null | undefined): number | null => (value === null || value === undefined ? null : Math.round(Number(value)));

  const errors = await sql.query<{ channel: string; reason: string; n: string }>(
    `SELECT channel, coalesce(reason, 'unknown') AS reason, count(*) AS n FROM channel_sends
     WHERE created_at >= $1 AND created_at <= $2 AND status = 'failed'
     GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 100`,
    window,
  );

  return {
    from: from.toISOString(),
    to: to.toISOString(),
    buckets: [...buckets].map(([hour, byPath]) => ({ at: hourIso(hour), byPath })),
    byClass: [...classes].map(([name, c]) => ({ class: name, total: c.total, byPath: c.byPath })).sort((a, b) => b.total - a.total || a.class.localeCompare(b.class)),
    fallbackRate: deliveredTotal === 0 ? 0 : fallbacks / deliveredTotal,
    timeToDelivered: { count: Number(latency?.n ?? 0), p50Ms: ms(latency?.p50), p99Ms: ms(latency?.p99) },
    providerErrors: errors.map((e) => ({ channel: e.channel, reason: e.reason, count: Number(e.n) })),
  };
}
