/**
 * The delivery status of many business messages at once (`POST /v1/routes/status`, for a
 * gateway that turns them into status webhooks): each route's view (route-events.ts), the
 * recipient devices' signed receipts, and the audit-log index of the message's commitment.
 * Three queries for the whole batch, whatever its size; metadata only.
 */
import { equalBytes, toBase64Url, type RouteStatus } from '@parley/core';
import { encodeAuditEntry } from '@parley/core/audit';
import type { Sql } from '../storage/database.js';
import { routeViews } from './route-events.js';

/** Whose routes a caller may see: one business's (a sending device), or every one (the operator). */
export type RouteStatusScope = { readonly businessId: string } | 'admin';

/**
 * The status of each of `messageIds` in scope, in the order asked (repeats once). Ids that
 * do not exist or are out of scope are absent: the answer does not tell them apart.
 *
 * @example
 * const statuses = await routeStatuses(db, auditLog.name, ['m-…', 'm-…'], { businessId: device.businessId });
 */
export async function routeStatuses(sql: Sql, auditLog: string, messageIds: readonly string[], scope: RouteStatusScope): Promise<RouteStatus[]> {
  const asked = [...new Set(messageIds)];
  const views = await routeViews(sql, asked, scope === 'admin' ? undefined : scope.businessId);
  if (views.size === 0) return [];
  const ids = asked.filter((id) => views.has(id));
  const receipts = await sql.query<{ message_id: string; device_id: string; status: RouteStatus['receipts'][number]['status']; receipt_hash: Uint8Array; created_at: Date }>(
    `SELECT message_id, device_id, status, receipt_hash, created_at FROM audit_receipts
     WHERE message_id = ANY($1::text[]) ORDER BY created_at, device_id, status`,
    [ids],
  );
  // The commitment and every entry filed under its hash (its own entry and its receipts'):
  // the commitment's entry is the one equal to the entry the commitment hash makes.
  const logged = await sql.query<{ message_id: string; commitment_hash: Uint8Array; idx: string | null; entry: Uint8Array | null }>(
    `SELECT c.message_id, c.commitment_hash, e.idx, e.entry FROM audit_commitments c
     LEFT JOIN tlog_entries e ON e.log = $2 AND e.label = c.commitment_hash
     WHERE c.message_id = ANY($1::text[])`,
    [ids, auditLog],
  );
  const audit = new Map<string, { logged: true; index?: string }>();
  for (const row of logged) {
    if (!audit.has(row.message_id)) audit.set(row.message_id, { logged: true });
    if (row.idx === null || row.entry === null) continue;
    // commitmentEntry(commitment), from the stored hash alone.
    const own = encodeAuditEntry({ v: 1, type: 'commitment', commitment: toBase64Url(new Uint8Array(row.commitment_hash)) });
    if (equalBytes(new Uint8Array(row.entry), own)) audit.set(row.message_id, { logged: true, index: String(row.idx) });
  }
  const byMessage = new Map<string, RouteStatus['receipts']>();
  const receiptAt = new Map<string, number>();
  for (const r of receipts) {
    const at = new Date(r.created_at);
    let list = byMessage.get(r.message_id);
    if (!list) byMessage.set(r.message_id, (list = []));
    list.push({ deviceId: r.device_id, status: r.status, receiptId: toBase64Url(new Uint8Array(r.receipt_hash)), at: at.toISOString() });
    receiptAt.set(r.message_id, Math.max(receiptAt.get(r.message_id) ?? 0, at.getTime()));
  }
  return ids.map((id) => {
    const view = views.get(id)!;
    const updated = Math.max(Date.parse(view.updatedAt), receiptAt.get(id) ?? 0);
    return {
      messageId: view.messageId,
      class: view.class,
      state: view.state,
      path: view.path,
      updatedAt: new Date(updated).toISOString(),
      events: view.events,
      receipts: byMessage.get(id) ?? [],
      audit: audit.get(id) ?? { logged: false },
    };
  });
}
