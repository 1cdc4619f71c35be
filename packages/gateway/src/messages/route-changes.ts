/**
 * What changed in a message's route since the last report: the server's route status
 * (state, path, decisions, device-signed receipts) turned into the gateway's status and
 * the webhook events still owed. Pure: the follower stores `reported` with the events, in
 * one transaction, so each change is reported once (and again only after a crash before
 * that commit: at least once).
 */
import type { GatewayEventType } from '../webhooks/events.js';
import type { MessageStatus } from './message-store.js';

/** The server's view of one route (`POST /v1/routes/status`), as the gateway uses it. */
export interface RouteStatusView {
  readonly messageId: string;
  readonly state: string;
  readonly path: string | null;
  readonly events: readonly { readonly at: string; readonly step: string; readonly channel: string | null; readonly decision: string; readonly reason: string | null }[];
  readonly receipts: readonly { readonly deviceId: string; readonly status: string; readonly receiptId: string; readonly at: string }[];
  readonly audit: { readonly logged: boolean; readonly index?: string };
}

/** What was already reported for a message. */
export interface Reported {
  /** Route events already looked at. */
  readonly decisions: number;
  readonly state?: string;
  /** `deviceId/status` of every receipt already reported. */
  readonly receipts: readonly string[];
}

export interface RouteChanges {
  readonly events: { type: GatewayEventType; data: Record<string, unknown> }[];
  readonly status?: MessageStatus;
  readonly path?: string;
  readonly reason?: string;
  readonly reported: Reported;
  /** Nothing more will change that the gateway reports: stop asking. */
  readonly settled: boolean;
}

/** Route decisions a bank wants to hear about as they happen (a hand-off to a fallback channel, its failure). */
const FALLBACK_DECISIONS = new Set(['sent', 'failed', 'invited', 'web-link-sent', 'revoked', 'path-corrected']);
const FAILED_STATES = new Set(['failed', 'exhausted', 'blocked']);
/** After this long a delivered message is not asked about again (read receipts arriving later still show in GET). */
const FOLLOW_READS_MS = 24 * 3600_000;
/** Nothing is followed longer than this. */
const FOLLOW_MAX_MS = 3 * 24 * 3600_000;

/**
 * @example
 * const changes = routeChanges(JSON.parse(row.reported ?? 'null'), view, row.created_at, new Date())
 */
export function routeChanges(previous: Reported | null, view: RouteStatusView, createdAt: Date, now: Date): RouteChanges {
  const before: Reported = previous ?? { decisions: 0, receipts: [] };
  const events: RouteChanges['events'] = [];
  for (const e of view.events.slice(before.decisions)) {
    if (e.step === 'otherwise' && (e.decision === 'blocked' || e.decision === 'invited')) continue; // reported as the state below
    if (FALLBACK_DECISIONS.has(e.decision) && e.channel !== 'app') {
      events.push({ type: 'message.fallback', data: { step: e.step, channel: e.channel, decision: e.decision, reason: e.reason, at: e.at } });
    }
  }
  let status: MessageStatus | undefined;
  let path: string | undefined;
  let reason: string | undefined;
  if (view.state !== before.state) {
    if (view.state === 'delivered') {
      status = 'delivered';
      path = view.path ?? undefined;
      events.push({ type: 'message.delivered', data: { path: view.path } });
    } else if (view.state === 'invited') {
      status = 'invited';
      path = 'invited';
      events.push({ type: 'message.fallback', data: { path: 'invited', decision: 'invited', reason: 'customer without the app: invited to install it' } });
    } else if (FAILED_STATES.has(view.state)) {
      status = 'failed';
      path = view.path ?? undefined;
      reason = lastReason(view) ?? view.state;
      events.push({ type: 'message.failed', data: { reason, state: view.state, path: view.path } });
    }
  }
  const seen = new Set(before.receipts);
  for (const r of view.receipts) {
    const key = `${r.deviceId}/${r.status}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (r.status === 'read') {
      events.push({ type: 'message.read', data: { deviceId: r.deviceId, receiptId: r.receiptId, at: r.at } });
      status = 'read';
    }
  }
  const age = now.getTime() - createdAt.getTime();
  const read = [...seen].some((k) => k.endsWith('/read'));
  const settled = FAILED_STATES.has(view.state) || view.state === 'invited' || read || (view.state === 'delivered' && age > FOLLOW_READS_MS) || age > FOLLOW_MAX_MS;
  return {
    events,
    ...(status ? { status } : {}),
    ...(path ? { path } : {}),
    ...(reason ? { reason } : {}),
    reported: { decisions: view.events.length, state: view.state, receipts: [...seen] },
    settled,
  };
}

function lastReason(view: RouteStatusView): string | undefined {
  for (let i = view.events.length - 1; i >= 0; i--) {
    const e = view.events[i]!;
    if (e.reason) return e.reason;
  }
  return undefined;
}
