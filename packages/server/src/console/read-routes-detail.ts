/**
 * The console's route views: the newest routes (`GET /console/api/routes?limit=N`) and one
 * route with its decisions and provider hand-offs (`GET /console/api/routes/:messageId`).
 * Metadata only, as the tables hold it: no content, no phone number.
 */
import type { RouteDetail, RouteSummary } from '@parley/core';
import { NotFoundError } from '@parley/core';
import type { Sql } from '../storage/database.js';
import type { RoutingPolicy } from '../routing/policy.js';

export type { RouteDetail, RouteSummary } from '@parley/core';

/** The most routes one list returns. */
export const MAX_ROUTES_LISTED = 500;

const SUMMARY_SQL = `SELECT r.message_id, r.business_id, r.class, r.mode, r.state, r.path, r.created_at,
    GREATEST(r.created_at, r.finished_at, (SELECT max(e.at) FROM route_events e WHERE e.message_id = r.message_id)) AS updated_at
  FROM routes r`;

interface SummaryRow {
  message_id: string;
  business_id: string;
  class: string;
  mode: string;
  state: string;
  path: string | null;
  created_at: Date;
  updated_at: Date;
}

function summary(row: SummaryRow): RouteSummary {
  return {
    messageId: row.message_id,
    businessId: row.business_id,
    class: row.class,
    mode: row.mode,
    state: row.state,
    path: row.path,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * The newest routes, newest first (at most `limit`, capped at {@link MAX_ROUTES_LISTED}).
 *
 * @example
 * const { routes } = await listRoutes(db, 50);
 */
export async function listRoutes(sql: Sql, limit: number): Promise<{ routes: RouteSummary[] }> {
  const n = Math.max(1, Math.min(MAX_ROUTES_LISTED, Math.floor(limit)));
  const rows = await sql.query<SummaryRow>(`${SUMMARY_SQL} ORDER BY r.created_at DESC, r.message_id DESC LIMIT $1`, [n]);
  return { routes: rows.map(summary) };
}

/**
 * One route with its decisions (oldest first) and provider hand-offs; `NotFoundError`
 * `route_not_found` when there is no such route.
 *
 * @example
 * const { route, events, sends } = await routeDetail(db, messageId, (b, c) => router.policyFor(b, c));
 */
export async function routeDetail(sql: Sql, messageId: string, policyFor: (businessId: string, messageClass: string) => RoutingPolicy): Promise<RouteDetail> {
  const [row] = await sql.query<SummaryRow>(`${SUMMARY_SQL} WHERE r.message_id = $1`, [messageId]);
  if (!row) throw new NotFoundError('route_not_found', 'no route for this message id');
  const events = await sql.query<{ at: Date; step: string; channel: string | null; decision: string; reason: string | null }>(
    'SELECT at, step, channel, decision, reason FROM route_events WHERE message_id = $1 ORDER BY id LIMIT 1000',
    [messageId],
  );
  const sends = await sql.query<{ step: number; channel: string; status: string; reason: string | null; updated_at: Date }>(
    'SELECT step, channel, status, reason, updated_at FROM channel_sends WHERE message_id = $1 ORDER BY step, created_at, channel',
    [messageId],
  );
  const chain = policyFor(row.business_id, row.class).chain;
  return {
    route: summary(row),
    events: events.map((e) => ({ at: new Date(e.at).toISOString(), step: e.step, channel: e.channel, decision: e.decision, reason: e.reason })),
    sends: sends.map((s) => ({
      // A web route's one hand-off (step 0) is its link, whatever the chain says.
      step: row.mode === 'web' ? 'web' : (chain[Number(s.step)]?.step ?? String(s.step)),
      channel: s.channel,
      status: s.status,
      reason: s.reason,
      at: new Date(s.updated_at).toISOString(),
    })),
  };
}
