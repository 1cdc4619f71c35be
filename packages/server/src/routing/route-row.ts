/** A `routes` row as the router reads it (migrations 005_routing.sql, 007_route_acks.sql). */

/**
 * @example
 * const [route] = await db.query<RouteRow>(`SELECT ${ROUTE_COLUMNS} FROM routes WHERE message_id = $1`, [messageId]);
 */
export interface RouteRow {
  message_id: string;
  envelope_id: string | null;
  business_id: string;
  identity_id: string;
  class: string;
  /** Index of the next step of the chain (the running one is `step - 1`). */
  step: number;
  created_at: Date;
  mode?: 'app' | 'web';
  /** Set by the ack statement when a device of the recipient acknowledged the message. */
  acked_at?: Date | null;
}

/** The columns every route read selects (the loop's claim adds `mode` and `acked_at`). */
export const ROUTE_COLUMNS = 'message_id, envelope_id, business_id, identity_id, class, step, created_at';

/** What a provider hand-off needs to know of its route (web messages pass step 0). */
export type SendingRoute = Pick<RouteRow, 'message_id' | 'step' | 'class'>;
