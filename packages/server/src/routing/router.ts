/**
 * The router: drives each business message to one customer along its policy's chain
 * of channels until a device acknowledges it, then stops every other path.
 *
 * State lives in the database (`routes`), so a restart, or another node, resumes where
 * this one stopped. A due route is claimed with a lease (`FOR UPDATE SKIP LOCKED`), so
 * exactly one node runs a step. Each provider hand-off is recorded in `channel_sends`
 * BEFORE the provider is called (hand-off.ts): a step that runs again after a crash never
 * sends a second SMS. First delivery wins: the first ack by any of the customer's devices
 * (or the redemption of a retrieval link) finishes the route with the path of the step
 * that was running (finish-route.ts), and undelivered RCS messages are revoked
 * (cancel-other-paths.ts). Every decision is written to `route_events` (metadata only)
 * and counted.
 *
 * This file is the loop (leases, scheduling, one step per due route) and the entry points;
 * the steps are in steps/, the `otherwise` actions in otherwise.ts, provider status events
 * in status-events.ts.
 */
import type { Logger } from 'pino';
import type { Channel, ChannelError, OutboundItem, Recipient, StatusEvent } from '../channels/channel.js';
import type { Database, Sql } from '../storage/database.js';
import type { CapabilityCache, Pseudonyms } from './capability-cache.js';
import { finishDelivered, finishIfAcked, finishUndelivered } from './finish-route.js';
import { handOff } from './hand-off.js';
import type { RoutingMetrics } from './metrics.js';
import { applyOtherwise } from './otherwise.js';
import type { RoutingPolicy } from './policy.js';
import { routeView, type RouteView } from './route-events.js';
import { ROUTE_COLUMNS, type RouteRow, type SendingRoute } from './route-row.js';
import type { BusinessRouting, RoutingConfig } from './routing-config.js';
import { RoutingServices } from './routing-services.js';
import { StatusEvents } from './status-events.js';
import { rcsCapabilities } from './steps/rcs.js';
import { runStep } from './steps/run-step.js';
import { Tracing } from '../observability/tracing.js';
import { traceRouteStep } from '../observability/span-routing.js';

const LEASE_SECONDS = 60;

/**
 * @example
 * const router = new Router(db, config.routing, pseudonymKey, metrics, log);
 * router.publicUrl = 'https://parley.example';
 * router.start();
 * // in the transaction that stores business messages:
 * await router.enqueue(tx, [{ messageId, envelopeId, businessId, identityId, class: 'otp' }]);
 * router.kick();
 * await router.stop();
 */
export class Router {
  readonly pseudonyms: Pseudonyms;
  readonly capabilities: CapabilityCache;
  private readonly s: RoutingServices;
  private readonly status: StatusEvents;
  private readonly db: Database;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  private rerun = false;
  /** The first tick after start() finishes acknowledged routes first. */
  private reconciling = false;
  /** Milliseconds until the earliest active route is due (measured at the end of the last tick). */
  private nextDueMs = Infinity;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(db: Database, readonly config: RoutingConfig, pseudonymKey: Uint8Array, metrics: RoutingMetrics, log: Logger, tracing: Tracing = Tracing.off) {
    this.db = db;
    this.log = log;
    this.s = new RoutingServices(db, config, pseudonymKey, metrics, log, () => this.kick(), tracing);
    this.pseudonyms = this.s.pseudonyms;
    this.capabilities = this.s.capabilities;
    this.status = new StatusEvents(this.s);
    for (const channel of this.s.channels()) {
      this.unsubscribe.push(channel.onStatus((event) => void this.onStatus(event).catch((error: unknown) => this.log.warn({ err: error }, 'status event failed'))));
    }
  }

  /** Public base URL of this deployment (retrieval links, webhook URLs): configured, or the node's URL once it listens. */
  get publicUrl(): string {
    return this.s.publicUrl;
  }

  set publicUrl(url: string) {
    this.s.publicUrl = url;
  }

  /** The configured channel of that name, if any. */
  channel(name: string): Channel | undefined {
    return this.s.channel(name);
  }

  /** A business's routing settings (its own, the default business's, or its id as the brand). */
  business(id: string): BusinessRouting {
    return this.s.business(id);
  }

  /** The policy of a business and message class. */
  policyFor(businessId: string, messageClass: string): RoutingPolicy {
    return this.s.policyFor(businessId, messageClass);
  }

  /** Starts the loop; its first tick finishes the routes acknowledged while no node ran (`reconcile`). */
  start(): void {
    this.running = true;
    this.reconciling = true;
    this.schedule(0);
  }

  /** Stops the loop after the tick in flight, and the status subscriptions. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    for (const u of this.unsubscribe) u();
    await this.ticking;
  }

  /** Something changed: look for due routes now. */
  kick(): void {
    if (!this.running) return;
    if (this.ticking) {
      this.rerun = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const first = this.reconciling;
      this.reconciling = false;
      this.ticking = (first ? this.reconcile().then(() => this.tick()) : this.tick())
        .catch((error: unknown) => this.log.warn({ err: error }, 'routing tick failed'))
        .finally(() => {
          this.ticking = undefined;
          const again = this.rerun;
          this.rerun = false;
          // Wake at the next route's due time (not a whole tick later), at most one tick away.
          this.schedule(again ? 0 : Math.min(this.config.tickMs, this.nextDueMs));
        });
    }, ms);
    this.timer.unref();
  }

  // ---------------------------------------------------------------------------
  // Entry points

  /** Called in the transaction that stores business messages: one route per message. */
  async enqueue(tx: Sql, routes: readonly { messageId: string; envelopeId: string; businessId: string; identityId: string; class: string }[]): Promise<void> {
    if (routes.length === 0) return;
    await tx.query(
      `INSERT INTO routes (message_id, envelope_id, business_id, identity_id, class, state)
       SELECT * , 'active' FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (message_id) DO NOTHING`,
      [routes.map((r) => r.messageId), routes.map((r) => r.envelopeId), routes.map((r) => r.businessId), routes.map((r) => r.identityId), routes.map((r) => r.class)],
    );
  }

  /**
   * The ack statement marked these envelopes' routes acknowledged (`routes.acked_at`, set
   * in the ack's own statement, only for a device of the recipient): finish them. Run off
   * the ack's path; if it fails or the process dies first, the route is finished by its
   * next step (`advance`) or by the reconciliation at start-up, and no step sends anything.
   */
  async onAcked(envelopeIds: readonly string[]): Promise<void> {
    if (envelopeIds.length === 0) return;
    const rows = await this.db.query<RouteRow>(
      `SELECT ${ROUTE_COLUMNS} FROM routes
       WHERE envelope_id = ANY($1::bigint[]) AND state = 'active' AND acked_at IS NOT NULL`,
      [[...new Set(envelopeIds)]],
    );
    for (const row of rows) await finishDelivered(this.s, row, 'ack');
  }

  /** Start-up: active routes whose recipient already acknowledged (the node stopped before finishing them) are finished. */
  async reconcile(): Promise<number> {
    const rows = await this.db.query<RouteRow>(`SELECT ${ROUTE_COLUMNS} FROM routes WHERE state = 'active' AND acked_at IS NOT NULL`);
    for (const row of rows) await finishDelivered(this.s, row, 'ack, finished at start-up');
    if (rows.length > 0) this.log.info({ routes: rows.length }, 'routing: acknowledged routes finished at start-up');
    return rows.length;
  }

  /** A web retrieval link was opened and its ciphertext handed out. */
  async onWebRetrieved(messageId: string): Promise<void> {
    const [row] = await this.db.query<RouteRow>(`SELECT ${ROUTE_COLUMNS} FROM routes WHERE message_id = $1 AND state = 'active'`, [messageId]);
    if (row) await finishDelivered(this.s, row, 'web', 'sms-token-web');
  }

  /** Provider status: recorded once; a failure of the running step moves on at once (status-events.ts). */
  onStatus(event: StatusEvent): Promise<void> {
    return this.status.apply(event);
  }

  /** The webhook route: resolves once these events (from `handleWebhook`) are stored; rejects if storing one failed. */
  statusApplied(events: readonly StatusEvent[]): Promise<void> {
    return this.status.applied(events);
  }

  /** A message's route: state, path and every decision. */
  view(messageId: string): Promise<RouteView | undefined> {
    return routeView(this.db, messageId);
  }

  /** Records one decision about a route (route_events). */
  event(messageId: string, step: string, channel: string | null, decision: string, reason: string | null): Promise<void> {
    return this.s.event(messageId, step, channel, decision, reason);
  }

  /** Hands one item to one channel for a route step, at most once (hand-off.ts). */
  sendOnce(route: SendingRoute, channel: Channel, recipient: Recipient, item: OutboundItem, onFailure?: (error: ChannelError) => Promise<void>): Promise<boolean> {
    return handOff(this.s, route, channel, recipient, item, onFailure);
  }

  /** RBM capability for a phone, through the advisory cache. */
  rcsCapabilities(phone: string): Promise<{ reachable: boolean; endToEnd: boolean } | undefined> {
    return rcsCapabilities(this.s, phone);
  }

  /** The routing metrics of this node. */
  metricsRegistry(): RoutingMetrics {
    return this.s.metrics;
  }

  /** The channel of that name if this node has it and it takes webhooks. */
  webhookChannel(name: string): Channel | undefined {
    const c = this.channel(name);
    return c?.handleWebhook ? c : undefined;
  }

  // ---------------------------------------------------------------------------
  // The loop

  private async tick(): Promise<void> {
    for (;;) {
      const due = await this.db.query<RouteRow>(
        `UPDATE routes SET lease_until = now() + interval '${LEASE_SECONDS} seconds'
         WHERE message_id IN (
           SELECT message_id FROM routes
           WHERE state = 'active' AND next_at <= now() AND (lease_until IS NULL OR lease_until < now())
           ORDER BY next_at LIMIT 32 FOR UPDATE SKIP LOCKED)
         RETURNING ${ROUTE_COLUMNS}, mode, acked_at`,
      );
      if (due.length === 0) {
        const [next] = await this.db.query<{ ms: string | number | null }>(
          `SELECT floor(extract(epoch FROM (min(next_at) - now())) * 1000) AS ms FROM routes WHERE state = 'active'`,
        );
        const ms = next?.ms === null || next?.ms === undefined ? Infinity : Number(next.ms);
        this.nextDueMs = Number.isFinite(ms) ? Math.max(5, ms) : Infinity;
        return;
      }
      await Promise.all(due.map((route) => this.advance(route).catch((error: unknown) => this.log.warn({ err: error, messageId: route.message_id }, 'route step failed'))));
      if (this.stopped) return;
    }
  }

  /** Runs the route's next step (or its `otherwise`), then schedules what follows. */
  private async advance(route: RouteRow): Promise<void> {
    if (route.acked_at) {
      // The recipient has the message (the ack hook did not finish the route): no further step.
      await finishDelivered(this.s, route, 'ack');
      return;
    }
    if (route.mode === 'web') {
      // A web link's route is due when the link expires unopened.
      await finishUndelivered(this.s, route, 'exhausted', null, 'the retrieval link expired unopened');
      return;
    }
    const policy = this.policyFor(route.business_id, route.class);
    const step = policy.chain[route.step];
    if (step === undefined) {
      await traceRouteStep(this.s.tracing, route, 'otherwise', route.step, this.s.metrics.classLabel(route.class), () => applyOtherwise(this.s, route, policy));
      return;
    }
    const { metrics } = this.s;
    if (route.step > 0) metrics.fallbacks.inc({ class: metrics.classLabel(route.class), from: policy.chain[route.step - 1]!.step, to: step.step });
    // Mark the step as running first: a delivery that lands while it runs is credited to it.
    // (A crash right here skips the step rather than ever running it twice.)
    const [marked] = await this.db.query(`UPDATE routes SET step = $2 WHERE message_id = $1 AND state = 'active' AND acked_at IS NULL RETURNING message_id`, [
      route.message_id,
      route.step + 1,
    ]);
    if (!marked) {
      await finishIfAcked(this.s, route);
      return;
    }
    metrics.stepsStarted.inc({ step: step.step });
    const outcome = await traceRouteStep(this.s.tracing, route, step.step, route.step, metrics.classLabel(route.class), () => runStep(this.s, route, step.step)).catch((error: unknown) => {
      metrics.stepsFinished.inc({ step: step.step, outcome: 'error' });
      throw error;
    });
    metrics.stepsFinished.inc({ step: step.step, outcome });
    const wait = outcome === 'waiting' ? step.timeoutMs : 0;
    // Acknowledged while the step ran: due now, so the next tick finishes it (if the ack hook has not).
    const [next] = await this.db.query<{ acked: boolean }>(
      `UPDATE routes SET next_at = CASE WHEN acked_at IS NULL THEN now() + ($2::integer * interval '1 millisecond') ELSE now() END, lease_until = NULL
       WHERE message_id = $1 AND state = 'active' RETURNING acked_at IS NOT NULL AS acked`,
      [route.message_id, wait],
    );
    if (wait === 0 || next?.acked) this.kick();
  }
}
