/**
 * The router: drives each business message to one customer along its policy's chain
 * of channels until a device acknowledges it, then stops every other path.
 *
 * State lives in the database (`routes`), so a restart, or another node, resumes where
 * this one stopped. A due route is claimed with a lease (`FOR UPDATE SKIP LOCKED`), so
 * exactly one node runs a step. Each provider hand-off is recorded in `channel_sends`
 * BEFORE the provider is called, keyed by (message, step, channel): a step that runs
 * again after a crash never sends a second SMS. First delivery wins: the first ack by
 * any of the customer's devices (or the redemption of a retrieval link) finishes the
 * route with the path of the step that was running, and undelivered RCS messages are
 * revoked. Every decision is written to `route_events` (metadata only) and counted.
 */
import type { Logger } from 'pino';
import type { Envelope } from '@parley/core';
import { ChannelError, type Channel, type ChannelName, type OutboundItem, type Recipient, type StatusEvent } from '../channels/channel.js';
import type { Database, Sql } from '../storage/database.js';
import { CapabilityCache, Pseudonyms } from './capability-cache.js';
import type { RoutingMetrics } from './metrics.js';
import { DEFAULT_POLICIES, FALLBACK_POLICY, STEP_PATH, type DeliveryPath, type RoutingPolicy, type StepName } from './policy.js';
import { insertToken, newToken } from './retrieval-tokens.js';
import { storedEnvelope } from './envelopes.js';

/** The provider adapters a node routes through (any may be absent). */
export interface ChannelSet {
  readonly fcm?: Channel;
  readonly apns?: Channel;
  readonly rbm?: Channel;
  /** The SMS gateway (Twilio or SMPP). */
  readonly sms?: Channel;
}

export interface BusinessRouting {
  /** Brand name shown in SMS and on the retrieval page. */
  readonly brand: string;
  /** Per-class policies; classes not listed use DEFAULT_POLICIES, then FALLBACK_POLICY. */
  readonly policies?: Readonly<Record<string, RoutingPolicy>>;
  /** SMS text for a retrieval link: `{brand}` and `{link}` are replaced. Never content. */
  readonly linkTemplate?: string;
  /** SMS text for a web retrieval link (customers without the app): `{brand}`, `{link}`. */
  readonly webTemplate?: string;
  /** SMS text inviting a customer to the app: `{brand}` and `{app}` are replaced. */
  readonly inviteTemplate?: string;
  /** Where the app is installed from (the invitation's `{app}`). */
  readonly appUrl?: string;
  /**
   * Identity kinds that may send business messages (signed commitments that create routes:
   * push, RCS and SMS at the business's expense). Default `['sender']`; customers never may.
   */
  readonly senderKinds?: readonly ('sender' | 'agent' | 'bot')[];
  /** Second factor for web retrieval: Parley POSTs `{identityId, code}` here, HMAC-signed. */
  readonly secondFactor?: { readonly url: string; readonly secret: string };
}

export interface RoutingConfig {
  /** Routes business messages (default true). False: the relay alone, no route per message (benchmarks' baseline). */
  readonly enabled?: boolean;
  /** Public base URL of this deployment, for retrieval links and webhook signatures. Default: the node's URL. */
  readonly publicUrl?: string;
  readonly channels: ChannelSet;
  readonly businesses: Readonly<Record<string, BusinessRouting>>;
  /** For businesses not listed in `businesses` (e.g. a single-tenant deployment). */
  readonly defaultBusiness?: BusinessRouting;
  /** Lifetime of a retrieval link. */
  readonly tokenTtlSeconds: number;
  /** Failed attempts (wrong code) before a web link is burned. */
  readonly maxTokenAttempts: number;
  /** How often due routes are looked for (they are also kicked on every change). */
  readonly tickMs: number;
}

export const DEFAULT_LINK_TEMPLATE = '{brand}: you have a new secure message. Open it in the app: {link}';
export const DEFAULT_WEB_TEMPLATE = '{brand}: you have a new secure message. Read it here: {link}';
export const DEFAULT_INVITE_TEMPLATE = '{brand}: you have a new message in the {brand} app. Get the app: {app}';

interface RouteRow {
  message_id: string;
  envelope_id: string | null;
  business_id: string;
  identity_id: string;
  class: string;
  step: number;
  created_at: Date;
  mode?: 'app' | 'web';
  /** Set by the ack statement when a device of the recipient acknowledged the message. */
  acked_at?: Date | null;
}

export interface RouteView {
  readonly messageId: string;
  readonly class: string;
  readonly state: string;
  readonly path: DeliveryPath | null;
  readonly events: { at: string; step: string; channel: string | null; decision: string; reason: string | null }[];
}

/** MIME type of a Parley envelope (JSON around MLS ciphertext) carried by RCS to a Parley client. */
export const PARLEY_ENVELOPE_TYPE = 'application/vnd.parley.envelope+json';

const LEASE_SECONDS = 60;
/** Order of channel_sends statuses: a status event never moves a send backwards. */
const RANKS: Readonly<Record<string, number>> = { sending: 0, accepted: 1, failed: 2, delivered: 3, read: 4, revoked: 5 };
const statusRank = (status: string): number => RANKS[status] ?? 0;
const STATUS_RANK_SQL = `(CASE status ${Object.entries(RANKS).map(([s, r]) => `WHEN '${s}' THEN ${r}`).join(' ')} ELSE 0 END)`;
const MAX_RETRIES = 3;

export class Router {
  readonly pseudonyms: Pseudonyms;
  readonly capabilities: CapabilityCache;
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
  /** Status events being applied, by event object (see onStatus). */
  private readonly applying = new WeakMap<StatusEvent, Promise<void>>();
  publicUrl: string;

  constructor(
    private readonly db: Database,
    readonly config: RoutingConfig,
    pseudonymKey: Uint8Array,
    private readonly metrics: RoutingMetrics,
    private readonly log: Logger,
  ) {
    this.pseudonyms = new Pseudonyms(pseudonymKey);
    this.capabilities = new CapabilityCache(db);
    this.publicUrl = config.publicUrl ?? '';
    for (const channel of this.allChannels()) {
      this.unsubscribe.push(channel.onStatus((event) => void this.onStatus(event).catch((error: unknown) => this.log.warn({ err: error }, 'status event failed'))));
    }
  }

  private allChannels(): Channel[] {
    const { fcm, apns, rbm, sms } = this.config.channels;
    return [fcm, apns, rbm, sms].filter((c): c is Channel => c !== undefined);
  }

  channel(name: string): Channel | undefined {
    return this.allChannels().find((c) => c.name === name);
  }

  business(id: string): BusinessRouting {
    return this.config.businesses[id] ?? this.config.defaultBusiness ?? { brand: id };
  }

  policyFor(businessId: string, messageClass: string): RoutingPolicy {
    return this.business(businessId).policies?.[messageClass] ?? DEFAULT_POLICIES[messageClass] ?? FALLBACK_POLICY;
  }

  start(): void {
    this.running = true;
    this.reconciling = true;
    this.schedule(0);
  }

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
      `SELECT message_id, envelope_id, business_id, identity_id, class, step, created_at FROM routes
       WHERE envelope_id = ANY($1::bigint[]) AND state = 'active' AND acked_at IS NOT NULL`,
      [[...new Set(envelopeIds)]],
    );
    for (const row of rows) await this.finishDelivered(row, 'ack');
  }

  /** Start-up: active routes whose recipient already acknowledged (the node stopped before finishing them) are finished. */
  async reconcile(): Promise<number> {
    const rows = await this.db.query<RouteRow>(
      `SELECT message_id, envelope_id, business_id, identity_id, class, step, created_at FROM routes WHERE state = 'active' AND acked_at IS NOT NULL`,
    );
    for (const row of rows) await this.finishDelivered(row, 'ack, finished at start-up');
    if (rows.length > 0) this.log.info({ routes: rows.length }, 'routing: acknowledged routes finished at start-up');
    return rows.length;
  }

  /** A route changed under a step: if its recipient acknowledged it meanwhile, it is finished as delivered. */
  private async finishIfAcked(route: RouteRow): Promise<void> {
    const [row] = await this.db.query<RouteRow>(
      `SELECT message_id, envelope_id, business_id, identity_id, class, step, created_at FROM routes WHERE message_id = $1 AND state = 'active' AND acked_at IS NOT NULL`,
      [route.message_id],
    );
    if (row) await this.finishDelivered(row, 'ack');
  }

  /** A web retrieval link was opened and its ciphertext handed out. */
  async onWebRetrieved(messageId: string): Promise<void> {
    const [row] = await this.db.query<RouteRow>(`SELECT message_id, envelope_id, business_id, identity_id, class, step, created_at FROM routes WHERE message_id = $1 AND state = 'active'`, [messageId]);
    if (row) await this.finishDelivered(row, 'web', 'sms-token-web');
  }

  private async finishDelivered(row: RouteRow, how: string, forced?: DeliveryPath): Promise<void> {
    const policy = this.policyFor(row.business_id, row.class);
    const running = policy.chain[Math.max(0, row.step - 1)]?.step ?? 'app';
    let path: DeliveryPath = forced ?? STEP_PATH[running];
    if (!forced && running === 'push') {
      // Credit the push only if one was handed to a provider (an ack can land before the step sent anything).
      const pushed = await this.db.query(`SELECT 1 FROM channel_sends WHERE message_id = $1 AND step = $2 AND provider_message_id IS NOT NULL`, [row.message_id, row.step - 1]);
      if (pushed.length === 0) path = 'app';
    }
    if (!forced && running === 'sms-token') {
      // Credit the SMS link only if the app actually opened it.
      const redeemed = await this.db.query(`SELECT 1 FROM retrieval_tokens WHERE message_id = $1 AND kind = 'app' AND used_at IS NOT NULL`, [row.message_id]);
      if (redeemed.length === 0) path = 'app';
    }
    const [won] = await this.db.query<{ message_id: string }>(
      `UPDATE routes SET state = 'delivered', path = $2, finished_at = now(), lease_until = NULL WHERE message_id = $1 AND state = 'active' RETURNING message_id`,
      [row.message_id, path],
    );
    if (!won) return; // another path or node won
    const revoked = await this.cancelOtherPaths(row.message_id, path);
    if (path === 'rcs' && revoked.includes('rbm')) {
      // The RCS message never reached the phone: the app got the message by itself.
      path = 'app';
      await this.db.query(`UPDATE routes SET path = $2 WHERE message_id = $1`, [row.message_id, path]);
    }
    await this.event(row.message_id, forced ? 'web' : running, null, 'delivered', `${how}; path ${path}`);
    this.metrics.deliveries.inc({ channel: forced ? 'web' : running, class: this.metrics.classLabel(row.class), path });
    this.metrics.routes.inc({ class: this.metrics.classLabel(row.class), outcome: 'delivered' });
    this.metrics.deliveryLatency.observe({ class: this.metrics.classLabel(row.class), path }, (Date.now() - new Date(row.created_at).getTime()) / 1000);
  }

  /**
   * First delivery wins: revoke what a provider still holds undelivered (RBM can; SMS
   * cannot). A wake-up push that led to the delivery is confirmed to its adapter (push
   * services report no delivery themselves: the woken app's ack is the confirmation).
   * Returns the channels on which a message was revoked.
   */
  private async cancelOtherPaths(messageId: string, path?: DeliveryPath): Promise<string[]> {
    const revokedOn: string[] = [];
    const pending = await this.db.query<{ channel: string; step: number; provider_message_id: string }>(
      `SELECT channel, step, provider_message_id FROM channel_sends WHERE message_id = $1 AND status = 'accepted' AND provider_message_id IS NOT NULL`,
      [messageId],
    );
    for (const send of pending) {
      const channel = this.channel(send.channel);
      if (path === 'push-app' && (send.channel === 'fcm' || send.channel === 'apns')) {
        (channel as { confirmDelivered?: (id: string) => boolean } | undefined)?.confirmDelivered?.(send.provider_message_id);
        continue;
      }
      if (!channel?.revoke) continue;
      try {
        const revoked = await channel.revoke(send.provider_message_id);
        if (revoked) revokedOn.push(send.channel);
        await this.db.query(`UPDATE channel_sends SET status = $4, updated_at = now() WHERE message_id = $1 AND step = $2 AND channel = $3`, [
          messageId,
          send.step,
          send.channel,
          revoked ? 'revoked' : 'delivered',
        ]);
        await this.event(messageId, 'cancel', send.channel, revoked ? 'revoked' : 'already-delivered', 'first delivery won');
      } catch (error) {
        await this.event(messageId, 'cancel', send.channel, 'revoke-failed', error instanceof ChannelError ? error.reason : 'error');
      }
    }
    return revokedOn;
  }

  /**
   * Provider status: recorded once; a failure of the running step moves on at once.
   *
   * One path: every adapter emits each status event to its `onStatus` listeners (Twilio and
   * RBM from `handleWebhook`, SMPP from deliver_sm, FCM and APNs on send and confirmation),
   * and the router's subscription applies it. The webhook route hands the same event
   * objects to `statusApplied` only to wait until they are stored before it answers the
   * provider. Applying is keyed by the event object, so an event is applied once whichever
   * side comes first; and the status update is a compare-and-set, so even a provider's
   * concurrent duplicate callbacks record one decision.
   */
  onStatus(event: StatusEvent): Promise<void> {
    let applied = this.applying.get(event);
    if (!applied) {
      applied = this.applyStatus(event);
      this.applying.set(event, applied);
    }
    return applied;
  }

  /** The webhook route: resolves once these events (from `handleWebhook`) are stored; rejects if storing one failed. */
  async statusApplied(events: readonly StatusEvent[]): Promise<void> {
    for (const event of events) await this.onStatus(event);
  }

  private async applyStatus(event: StatusEvent): Promise<void> {
    const rows = await this.db.query<{ message_id: string; step: number; status: string }>(
      `SELECT message_id, step, status FROM channel_sends WHERE channel = $1 AND provider_message_id = $2`,
      [event.channel, event.providerMessageId],
    );
    for (const send of rows) {
      // Never regress: a late 'accepted' after 'delivered' changes nothing. Checked again in the
      // UPDATE itself (on the row's latest version), so concurrent callbacks record one decision.
      if (statusRank(event.status) <= statusRank(send.status)) continue;
      const [changed] = await this.db.query(
        `UPDATE channel_sends SET status = $4, reason = $5, updated_at = now()
         WHERE message_id = $1 AND step = $2 AND channel = $3 AND ${STATUS_RANK_SQL} < $6::integer RETURNING status`,
        [send.message_id, send.step, event.channel, event.status, event.reason ?? null, statusRank(event.status)],
      );
      if (!changed) continue;
      await this.event(send.message_id, `step-${send.step}`, event.channel, `provider-${event.status}`, event.reason ?? null);
      if (event.status === 'failed') {
        // The step this send belongs to failed: the next one starts now instead of after its timeout.
        await this.db.query(`UPDATE routes SET next_at = now() WHERE message_id = $1 AND state = 'active' AND step = $2`, [send.message_id, send.step + 1]);
        this.kick();
      }
    }
  }

  async view(messageId: string): Promise<RouteView | undefined> {
    const [route] = await this.db.query<{ class: string; state: string; path: DeliveryPath | null }>('SELECT class, state, path FROM routes WHERE message_id = $1', [messageId]);
    if (!route) return undefined;
    const events = await this.db.query<{ at: Date; step: string; channel: string | null; decision: string; reason: string | null }>(
      'SELECT at, step, channel, decision, reason FROM route_events WHERE message_id = $1 ORDER BY id',
      [messageId],
    );
    return { messageId, class: route.class, state: route.state, path: route.path, events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  }

  async event(messageId: string, step: string, channel: string | null, decision: string, reason: string | null): Promise<void> {
    await this.db.query('INSERT INTO route_events (message_id, step, channel, decision, reason) VALUES ($1, $2, $3, $4, $5)', [messageId, step, channel, decision, reason]);
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
         RETURNING message_id, envelope_id, business_id, identity_id, class, step, created_at, mode, acked_at`,
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
      await this.finishDelivered(route, 'ack');
      return;
    }
    if (route.mode === 'web') {
      // A web link's route is due when the link expires unopened.
      await this.finish(route, 'exhausted', null, 'the retrieval link expired unopened');
      return;
    }
    const policy = this.policyFor(route.business_id, route.class);
    const step = policy.chain[route.step];
    if (step === undefined) {
      await this.exhausted(route, policy);
      return;
    }
    if (route.step > 0) this.metrics.fallbacks.inc({ class: this.metrics.classLabel(route.class), from: policy.chain[route.step - 1]!.step, to: step.step });
    // Mark the step as running first: a delivery that lands while it runs is credited to it.
    // (A crash right here skips the step rather than ever running it twice.)
    const [marked] = await this.db.query(`UPDATE routes SET step = $2 WHERE message_id = $1 AND state = 'active' AND acked_at IS NULL RETURNING message_id`, [
      route.message_id,
      route.step + 1,
    ]);
    if (!marked) {
      await this.finishIfAcked(route);
      return;
    }
    const outcome = await this.runStep(route, step.step);
    const wait = outcome === 'waiting' ? step.timeoutMs : 0;
    // Acknowledged while the step ran: due now, so the next tick finishes it (if the ack hook has not).
    const [next] = await this.db.query<{ acked: boolean }>(
      `UPDATE routes SET next_at = CASE WHEN acked_at IS NULL THEN now() + ($2::integer * interval '1 millisecond') ELSE now() END, lease_until = NULL
       WHERE message_id = $1 AND state = 'active' RETURNING acked_at IS NOT NULL AS acked`,
      [route.message_id, wait],
    );
    if (wait === 0 || next?.acked) this.kick();
  }

  private async exhausted(route: RouteRow, policy: RoutingPolicy): Promise<void> {
    if (policy.otherwise === 'invite-to-app') {
      const sent = await this.sendInvite(route);
      await this.finish(route, sent ? 'invited' : 'exhausted', sent ? 'invited' : null, sent ? 'invited to the app' : 'no channel for an invitation');
      return;
    }
    if (policy.otherwise === 'block') {
      this.metrics.policyBlocks.inc({ class: this.metrics.classLabel(route.class), reason: 'chain_exhausted' });
      await this.finish(route, 'blocked', 'blocked', 'policy: block');
      return;
    }
    // fallback-with-token / warn / require-consent: the customer has the app, so the
    // end-to-end ciphertext stays in the mailbox until it expires; nothing else is sent.
    await this.finish(route, 'exhausted', null, `no end-to-end path answered; the message waits in the mailbox (${policy.otherwise})`);
  }

  private async finish(route: RouteRow, state: 'blocked' | 'invited' | 'exhausted', path: DeliveryPath | null, reason: string): Promise<void> {
    const [done] = await this.db.query<{ message_id: string }>(
      `UPDATE routes SET state = $2, path = $3, finished_at = now(), lease_until = NULL WHERE message_id = $1 AND state = 'active' AND acked_at IS NULL RETURNING message_id`,
      [route.message_id, state, path],
    );
    if (!done) {
      await this.finishIfAcked(route);
      return;
    }
    await this.event(route.message_id, 'otherwise', null, state, reason);
    this.metrics.routes.inc({ class: this.metrics.classLabel(route.class), outcome: state });
  }

  // ---------------------------------------------------------------------------
  // Steps

  private async runStep(route: RouteRow, step: StepName): Promise<'waiting' | 'skipped'> {
    switch (step) {
      case 'app':
        await this.event(route.message_id, 'app', 'app', 'waiting', 'ciphertext pushed to connected devices; waiting for an ack');
        return 'waiting';
      case 'push':
        return this.pushStep(route);
      case 'rcs':
        return this.rcsStep(route);
      case 'sms-token':
        return this.smsTokenStep(route);
    }
  }

  private async pushStep(route: RouteRow): Promise<'waiting' | 'skipped'> {
    const devices = await this.db.query<{ id: string; push_provider: 'fcm' | 'apns'; push_token: string }>(
      `SELECT id, push_provider, push_token FROM devices WHERE identity_id = $1 AND status <> 'revoked' AND push_token IS NOT NULL ORDER BY id`,
      [route.identity_id],
    );
    let sent = 0;
    for (const device of devices) {
      const channel = this.config.channels[device.push_provider];
      if (!channel) {
        await this.event(route.message_id, 'push', device.push_provider, 'skipped', 'channel not configured');
        continue;
      }
      // The wake-up says only "sync"; the collapse id is opaque (the route's envelope id).
      const item: OutboundItem = { kind: 'wake', collapseId: `m${route.envelope_id ?? '0'}` };
      const recipient: Recipient = { pseudonym: device.id, pushToken: device.push_token, deviceIds: [device.id] };
      const ok = await this.sendOnce(route, channel, recipient, item, async (error) => {
        if (error.reason === 'unregistered') {
          await this.db.query('UPDATE devices SET push_token = NULL, push_provider = NULL WHERE id = $1 AND push_token = $2', [device.id, device.push_token]);
          await this.event(route.message_id, 'push', channel.name, 'token-dropped', 'unregistered');
        }
      });
      if (ok) sent++;
    }
    if (sent === 0) {
      if (devices.length === 0) await this.event(route.message_id, 'push', null, 'skipped', 'no push token');
      return 'skipped';
    }
    return 'waiting';
  }

  private async phoneOf(identityId: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ phone: string | null }>('SELECT phone FROM identities WHERE id = $1', [identityId]);
    return row?.phone ?? undefined;
  }

  /** RBM capability for a phone, through the advisory cache. */
  async rcsCapabilities(phone: string): Promise<{ reachable: boolean; endToEnd: boolean } | undefined> {
    const rbm = this.config.channels.rbm;
    if (!rbm) return undefined;
    const pseudonym = this.pseudonyms.of(phone);
    try {
      return await this.capabilities.resolve(pseudonym, 'rbm', () => rbm.capabilities({ pseudonym, phone }));
    } catch {
      return undefined;
    }
  }

  private async rcsStep(route: RouteRow): Promise<'waiting' | 'skipped'> {
    const rbm = this.config.channels.rbm;
    const phone = await this.phoneOf(route.identity_id);
    if (!rbm || !phone) {
      await this.event(route.message_id, 'rcs', 'rbm', 'skipped', !rbm ? 'channel not configured' : 'no phone number');
      return 'skipped';
    }
    const caps = await this.rcsCapabilities(phone);
    if (!caps?.reachable || !caps.endToEnd) {
      await this.event(route.message_id, 'rcs', 'rbm', 'skipped', !caps ? 'capability check failed' : !caps.reachable ? 'no RCS' : 'RCS without a Parley client');
      return 'skipped';
    }
    const envelope = await this.envelopeOf(route);
    if (!envelope) {
      await this.event(route.message_id, 'rcs', 'rbm', 'skipped', 'ciphertext no longer held');
      return 'skipped';
    }
    const pseudonym = this.pseudonyms.of(phone);
    const item: OutboundItem = { kind: 'ciphertext', bytes: new TextEncoder().encode(JSON.stringify(envelope)), contentType: PARLEY_ENVELOPE_TYPE };
    const ok = await this.sendOnce(route, rbm, { pseudonym, phone }, item, async () => {
      await this.capabilities.invalidate(pseudonym, 'rbm');
    });
    return ok ? 'waiting' : 'skipped';
  }

  private async envelopeOf(route: RouteRow): Promise<Envelope | undefined> {
    return route.envelope_id === null ? undefined : storedEnvelope(this.db, route.envelope_id);
  }

  /** A one-time link the app opens to fetch the ciphertext, by RCS rich card if the phone has RCS, else SMS. */
  private async smsTokenStep(route: RouteRow): Promise<'waiting' | 'skipped'> {
    const phone = await this.phoneOf(route.identity_id);
    if (!phone) {
      await this.event(route.message_id, 'sms-token', null, 'skipped', 'no phone number');
      return 'skipped';
    }
    const business = this.business(route.business_id);
    const caps = await this.rcsCapabilities(phone);
    const channel = caps?.reachable ? this.config.channels.rbm : this.config.channels.sms;
    const fallback = caps?.reachable ? this.config.channels.sms : undefined;
    if (!channel && !fallback) {
      await this.event(route.message_id, 'sms-token', null, 'skipped', 'no SMS channel configured');
      return 'skipped';
    }
    const token = newToken();
    await insertToken(this.db, token, {
      kind: 'app',
      messageId: route.message_id,
      identityId: route.identity_id,
      businessId: route.business_id,
      ...(route.envelope_id !== null ? { envelopeId: route.envelope_id } : {}),
      ttlSeconds: this.config.tokenTtlSeconds,
    });
    const link = `${this.publicUrl}/r/${token}`;
    const text = fill(business.linkTemplate ?? DEFAULT_LINK_TEMPLATE, { brand: business.brand, link });
    const item: OutboundItem = { kind: 'link', text, url: link, brand: business.brand };
    const recipient: Recipient = { pseudonym: this.pseudonyms.of(phone), phone };
    for (const c of [channel, fallback]) {
      if (c && (await this.sendOnce(route, c, recipient, item))) return 'waiting';
    }
    return 'skipped';
  }

  /** The app invitation: brand and app link only. */
  private async sendInvite(route: RouteRow): Promise<boolean> {
    const phone = await this.phoneOf(route.identity_id);
    const sms = this.config.channels.sms;
    if (!phone || !sms) return false;
    const business = this.business(route.business_id);
    const app = business.appUrl ?? `${this.publicUrl}/app`;
    const text = fill(business.inviteTemplate ?? DEFAULT_INVITE_TEMPLATE, { brand: business.brand, app });
    return this.sendOnce(route, sms, { pseudonym: this.pseudonyms.of(phone), phone }, { kind: 'link', text, url: app, brand: business.brand });
  }

  /**
   * Hands one item to one channel for this route step: at most once (the send is
   * recorded first), retried with exponential backoff and jitter on retryable failures.
   */
  async sendOnce(
    route: { message_id: string; step: number; class: string },
    channel: Channel,
    recipient: Recipient,
    item: OutboundItem,
    onFailure?: (error: ChannelError) => Promise<void>,
  ): Promise<boolean> {
    // The claim is made only while the route is active and its recipient has not acknowledged
    // the message (the ack statement sets acked_at): nothing goes out for a message the customer has.
    const [claim] = await this.db.query<{ live: boolean; claimed: boolean }>(
      `WITH live AS (SELECT 1 FROM routes WHERE message_id = $1::text AND state = 'active' AND acked_at IS NULL),
       claimed AS (
         INSERT INTO channel_sends (message_id, step, channel, status)
         SELECT $1::text, $2::integer, $3::text, 'sending' WHERE EXISTS (SELECT 1 FROM live)
         ON CONFLICT DO NOTHING RETURNING message_id)
       SELECT EXISTS (SELECT 1 FROM live) AS live, EXISTS (SELECT 1 FROM claimed) AS claimed`,
      [route.message_id, route.step, channel.name],
    );
    if (!claim?.live) {
      await this.event(route.message_id, `step-${route.step}`, channel.name, 'not-sent', 'acknowledged or finished before the hand-off');
      return false;
    }
    if (!claim.claimed) {
      await this.event(route.message_id, `step-${route.step}`, channel.name, 'already-sent', 'not sent twice');
      return true;
    }
    let lastError: ChannelError | undefined;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const started = performance.now();
      try {
        const result = await channel.send({ deliveryId: `${route.message_id}.${route.step}.${channel.name}`, messageId: route.message_id, recipient, item });
        this.metrics.sendLatency.observe({ channel: channel.name }, (performance.now() - started) / 1000);
        this.metrics.sends.inc({ channel: channel.name, result: 'accepted' });
        await this.db.query(
          `UPDATE channel_sends SET status = CASE WHEN status = 'sending' THEN 'accepted' ELSE status END, provider_message_id = $4, updated_at = now()
           WHERE message_id = $1 AND step = $2 AND channel = $3`,
          [route.message_id, route.step, channel.name, result.providerMessageId],
        );
        await this.event(route.message_id, `step-${route.step}`, channel.name, 'sent', item.kind);
        return true;
      } catch (error) {
        const e = error instanceof ChannelError ? error : new ChannelError(channel.name, 'unavailable', 'channel failed', { cause: error });
        lastError = e;
        this.metrics.sends.inc({ channel: channel.name, result: e.reason });
        if (!e.retryable || attempt === MAX_RETRIES - 1) break;
        const backoff = Math.min(e.retryAfterMs ?? 100 * 2 ** attempt, 2_000);
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random())));
        await this.event(route.message_id, `step-${route.step}`, channel.name, 'retry', e.reason);
      }
    }
    await this.db.query(`UPDATE channel_sends SET status = 'failed', reason = $4, updated_at = now() WHERE message_id = $1 AND step = $2 AND channel = $3`, [
      route.message_id,
      route.step,
      channel.name,
      lastError?.reason ?? 'unavailable',
    ]);
    await this.event(route.message_id, `step-${route.step}`, channel.name, 'failed', lastError?.reason ?? 'unavailable');
    if (lastError && onFailure) await onFailure(lastError);
    return false;
  }

  metricsRegistry(): RoutingMetrics {
    return this.metrics;
  }

  /** A channel name as a ChannelName (for webhooks), if this node has it. */
  webhookChannel(name: string): Channel | undefined {
    const c = this.channel(name as ChannelName);
    return c?.handleWebhook ? c : undefined;
  }
}

export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (m, key: string) => values[key] ?? m);
}
