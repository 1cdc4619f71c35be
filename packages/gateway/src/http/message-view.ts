/** A message as `GET /v1/messages/:id` shows it: the gateway's row and the server's last route status. */
import type { MessageRow } from '../messages/message-store.js';
import type { RouteStatusView } from '../messages/route-changes.js';
import type { MessageView } from './schemas.js';

/**
 * @example
 * reply.send(messageView(row))
 */
export function messageView(row: MessageRow): MessageView {
  const route = row.route_status ? (JSON.parse(row.route_status) as RouteStatusView) : undefined;
  const receipts = (route?.receipts ?? []).map((r) => ({ deviceId: r.deviceId, status: r.status, receiptId: r.receiptId, at: r.at }));
  const logged = route?.audit.logged ?? false;
  const delivered = receipts.some((r) => r.status === 'delivered');
  return {
    id: row.id,
    to: row.customer_id,
    class: row.class,
    status: row.status,
    mode: row.mode,
    path: route?.path ?? row.path,
    reason: row.reason,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    decisions: (route?.events ?? []).map((e) => ({ at: e.at, step: e.step, channel: e.channel, decision: e.decision, reason: e.reason })),
    receipts,
    evidence: {
      logged,
      ...(route?.audit.index !== undefined ? { auditIndex: route.audit.index } : {}),
      // A web link has no device to sign a receipt: the log entry and the route's delivery are what there is.
      complete: logged && (row.mode === 'web' ? route?.state === 'delivered' : delivered),
    },
  };
}
