/**
 * Business messages to customers without the app (`POST /v1/web-messages`): the class's
 * policy decides (block, invitation, consent, warning, web link). For a web link this
 * node issues a one-time token and stores only the ciphertext; the SENDER composes the
 * link `<url>#<key>` and sends the SMS through the business's own SMS provider, then
 * reports the hand-off (`POST /v1/web-messages/:messageId/handoff`). The AES key never
 * reaches this node, not even in memory. README § Security names the residual risks.
 *
 * A route awaits its hand-off until the sender reports it: a repeat of the request
 * meanwhile (the sender crashed before its SMS went out) burns the old token and issues
 * a fresh one for the new ciphertext; after the report a repeat returns the state only.
 * If no hand-off arrives, the route expires with the token (router: a due web route).
 * A signed commitment, when the request carries one, is recorded in the audit log in the
 * transaction that issues the link. Attachments (web-blobs.ts) are checked and granted to
 * the link in that transaction too; the sealed manifest is stored with the token.
 */
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ParleyError,
  identityIdOf,
  type WebHandoffRequest,
  type WebHandoffResponse,
  type WebLinkDelivery,
  type WebMessageResponse,
} from '@parley/core';
import type { AuditService, PreparedCommitment } from '../audit/audit-service.js';
import type { AuthDevice } from '../auth-device.js';
import { isUniqueViolation, type Database, type Sql } from '../storage/database.js';
import type { RoutingMetrics } from './metrics.js';
import type { DeliveryPath } from './policy.js';
import { recordRouteEvent } from './route-events.js';
import { insertToken, newToken } from './retrieval-tokens.js';
import type { Router } from './router.js';
import { DEFAULT_WEB_TEMPLATE, fill } from './routing-config.js';
import { invitation } from './steps/invite.js';
import { committedAttachments, grantWebBlobs } from './web-blobs.js';

/** The `channel_sends` row of a sender's hand-off (step 0): at most one per message. */
const HANDOFF_CHANNEL = 'sender-sms';

/** A web message as the route hands it over (the ciphertext decoded). */
export interface WebMessageRequest {
  readonly messageId: string;
  readonly customerId: string;
  readonly phone: string;
  readonly class: string;
  /** AES-256-GCM: 12-byte IV ‖ ciphertext ‖ tag. Its key stays with the sender. */
  readonly ciphertext: Uint8Array;
  readonly commitment?: { readonly body: unknown; readonly signature: string };
  /** For a class under escrow: the opening and plaintext HPKE-sealed to the escrow key (base64). */
  readonly escrow?: string;
  /** Attachments (web-blobs.ts): the references sealed under the link's key, and their blob ids. */
  readonly attachments?: { readonly manifest: Uint8Array; readonly blobs: readonly string[] };
}

type Result = WebMessageResponse & { path: DeliveryPath | 'pending' };

/**
 * @example
 * const web = new WebMessages(db, router, metrics, audit);
 * const { delivery } = await web.send(senderDevice, { messageId, customerId: 'c-1', phone: '+15550100123', class: 'otp', ciphertext });
 * await web.handoff(senderDevice, messageId, { ok: true, provider: 'twilio', providerMessageId: 'SM…' });
 */
export class WebMessages {
  constructor(
    private readonly db: Database,
    private readonly router: Router,
    private readonly metrics: RoutingMetrics,
    private readonly audit: AuditService,
  ) {}

  /** Only a business's sending service may message customers outside the app. */
  async requireSender(device: AuthDevice): Promise<void> {
    const [row] = await this.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
    if (row?.kind !== 'sender') throw new ForbiddenError('sender_required', 'only a business sending service can do this');
  }

  /** A business message to a customer without the app: the policy's `otherwise` decides. */
  async send(sender: AuthDevice, request: WebMessageRequest): Promise<Result> {
    if (request.ciphertext.length < 12 + 16) throw new InvalidInputError('ciphertext too short for AES-GCM', { code: 'invalid_request' });
    if (request.attachments && request.attachments.manifest.length < 12 + 16) throw new InvalidInputError('attachment manifest too short for AES-GCM', { code: 'invalid_request' });
    await this.requireSender(sender);
    const identityId = identityIdOf(sender.businessId, request.customerId);
    const [existing] = await this.db.query<{ state: string; path: DeliveryPath | null; identity_id: string; awaiting: boolean }>(
      `SELECT state, path, identity_id,
              (mode = 'web' AND state = 'active'
               AND EXISTS (SELECT 1 FROM retrieval_tokens t WHERE t.message_id = r.message_id AND t.kind = 'web')
               AND NOT EXISTS (SELECT 1 FROM channel_sends s WHERE s.message_id = r.message_id AND s.step = 0 AND s.channel = $2)) AS awaiting
       FROM routes r WHERE message_id = $1`,
      [request.messageId, HANDOFF_CHANNEL],
    );
    if (existing && existing.identity_id !== identityId) throw new ConflictError('message_id_conflict', 'this message id is already used');
    const prepared = await this.prepareCommitment(sender, request);
    if (existing) {
      if (existing.awaiting) return this.reissue(sender, request, prepared);
      return { messageId: request.messageId, path: existing.path ?? 'pending', state: existing.state, ...(await this.auditIndex(prepared)) };
    }
    const [device] = await this.db.query<{ id: string }>(`SELECT id FROM devices WHERE identity_id = $1 AND status = 'active' LIMIT 1`, [identityId]);
    if (device) throw new ConflictError('customer_has_app', 'this customer has the app: send an end-to-end message');
    const policy = this.router.policyFor(sender.businessId, request.class);
    const business = this.router.business(sender.businessId);
    const insertRoute = (state: string, path: DeliveryPath | null, nextAtSeconds: number) =>
      claimed(
        this.db.query(
          `INSERT INTO routes (message_id, business_id, identity_id, class, mode, state, path, next_at, finished_at)
           VALUES ($1, $2, $3, $4, 'web', $5, $6, now() + ($7::integer * interval '1 second'), CASE WHEN $5 = 'active' THEN NULL ELSE now() END)`,
          [request.messageId, sender.businessId, identityId, request.class, state, path, nextAtSeconds],
        ),
      );
    const decide = async (state: 'blocked' | 'invited', path: DeliveryPath, reason: string): Promise<Result> => {
      await insertRoute(state, path, 0);
      await this.router.event(request.messageId, 'otherwise', null, state, reason);
      this.metrics.routes.inc({ class: this.metrics.classLabel(request.class), outcome: state });
      if (state === 'blocked') this.metrics.policyBlocks.inc({ class: this.metrics.classLabel(request.class), reason: reason.replace(/[^a-z_]/g, '_') });
      return { messageId: request.messageId, path, state };
    };
    const consented = async () => (await this.db.query('SELECT 1 FROM fallback_consents WHERE identity_id = $1', [identityId])).length > 0;
    switch (policy.otherwise) {
      case 'block':
        return decide('blocked', 'blocked', 'policy_block');
      case 'invite-to-app': {
        // The invitation carries no secret: this node still sends it itself.
        const sms = this.router.config.channels.sms;
        if (!sms) return decide('blocked', 'blocked', 'no_sms_channel');
        const invite = invitation(business, this.router.publicUrl);
        // Not due for the router while the invitation is handed over (the router finishes a due web
        // route as expired, and a finished route gets no SMS); it is finished just below.
        await insertRoute('active', null, 300);
        const ok = await this.router.sendOnce({ message_id: request.messageId, step: 0, class: request.class }, sms, { pseudonym: this.router.pseudonyms.of(request.phone), phone: request.phone }, invite);
        await this.db.query(`UPDATE routes SET state = $2, path = $3, finished_at = now() WHERE message_id = $1`, [request.messageId, ok ? 'invited' : 'failed', ok ? 'invited' : null]);
        await this.router.event(request.messageId, 'otherwise', 'sms', ok ? 'invited' : 'failed', 'customer without the app');
        this.metrics.routes.inc({ class: this.metrics.classLabel(request.class), outcome: ok ? 'invited' : 'failed' });
        if (!ok) throw new ParleyError('fallback_failed', 'the SMS gateway did not take the invitation', { status: 502 });
        return { messageId: request.messageId, path: 'invited', state: 'invited' };
      }
      case 'require-consent':
        if (!(await consented())) return decide('blocked', 'blocked', 'consent_missing');
        break;
      case 'warn':
        this.metrics.policyWarnings.inc({ class: this.metrics.classLabel(request.class) });
        break;
      case 'fallback-with-token':
        break;
    }
    if (!business.secondFactor) return decide('blocked', 'blocked', 'no_second_factor');
    const token = newToken();
    const ttl = this.router.config.tokenTtlSeconds;
    await claimed(
      this.db.transaction(async (tx) => {
        await this.attach(tx, sender, request);
        await insertToken(tx, token, { kind: 'web', messageId: request.messageId, identityId, businessId: sender.businessId, ciphertext: request.ciphertext, ...this.manifest(request), ttlSeconds: ttl });
        // Due when the link expires (the router then finishes it as expired); the hand-off is the sender's.
        await tx.query(
          `INSERT INTO routes (message_id, business_id, identity_id, class, mode, state, next_at) VALUES ($1, $2, $3, $4, 'web', 'active', now() + ($5::integer * interval '1 second'))`,
          [request.messageId, sender.businessId, identityId, request.class, ttl],
        );
        if (prepared) await this.audit.store(tx, [prepared]);
        if (policy.otherwise === 'warn') await recordRouteEvent(tx, request.messageId, 'otherwise', null, 'warning', 'non-end-to-end fallback (web link) under a warn policy');
        await recordRouteEvent(tx, request.messageId, 'otherwise', null, 'web-link-issued', 'awaiting the sender\'s SMS hand-off');
      }),
    );
    return { messageId: request.messageId, path: 'pending', state: 'active', ...this.delivery(sender.businessId, token, ttl), ...(await this.auditIndex(prepared)) };
  }

  /** A repeat before the hand-off: the old token is burnt, a fresh one carries the new ciphertext. */
  private async reissue(sender: AuthDevice, request: WebMessageRequest, prepared: PreparedCommitment | undefined): Promise<Result> {
    const token = newToken();
    const ttl = this.router.config.tokenTtlSeconds;
    const state = await this.db.transaction(async (tx) => {
      const [route] = await tx.query<{ state: string; path: DeliveryPath | null; identity_id: string }>(
        `SELECT state, path, identity_id FROM routes WHERE message_id = $1 FOR UPDATE`,
        [request.messageId],
      );
      if (!route || route.state !== 'active' || (await handedOff(tx, request.messageId))) return route;
      await tx.query(`UPDATE retrieval_tokens SET used_at = now(), ciphertext = NULL, manifest = NULL WHERE message_id = $1 AND kind = 'web' AND used_at IS NULL`, [request.messageId]);
      await this.attach(tx, sender, request);
      await insertToken(tx, token, { kind: 'web', messageId: request.messageId, identityId: route.identity_id, businessId: sender.businessId, ciphertext: request.ciphertext, ...this.manifest(request), ttlSeconds: ttl });
      await tx.query(`UPDATE routes SET next_at = now() + ($2::integer * interval '1 second') WHERE message_id = $1`, [request.messageId, ttl]);
      if (prepared) await this.audit.store(tx, [prepared]);
      await recordRouteEvent(tx, request.messageId, 'otherwise', null, 'web-link-reissued', 'repeated before the hand-off: the earlier link is burnt');
      return undefined;
    });
    const audit = await this.auditIndex(prepared);
    if (state) return { messageId: request.messageId, path: state.path ?? 'pending', state: state.state, ...audit };
    return { messageId: request.messageId, path: 'pending', state: 'active', ...this.delivery(sender.businessId, token, ttl), ...audit };
  }

  /**
   * The sender reports whether its SMS provider took the link: recorded once (a repeat
   * changes nothing). Taken: the route waits for the customer. Not taken: the token is
   * burnt and the route fails. Only the sending business's `sender` devices; anyone else
   * sees no such message.
   */
  async handoff(device: AuthDevice, messageId: string, report: WebHandoffRequest): Promise<WebHandoffResponse> {
    const [kind] = await this.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
    const outcome = await this.db.transaction(async (tx) => {
      const [route] = await tx.query<{ state: string; path: DeliveryPath | null; class: string; business_id: string }>(
        `SELECT state, path, class, business_id FROM routes WHERE message_id = $1 AND mode = 'web' FOR UPDATE`,
        [messageId],
      );
      if (!route || route.business_id !== device.businessId || kind?.kind !== 'sender') throw new NotFoundError('unknown_message', 'no web message with this id');
      // Reported once: a repeat changes nothing. A report after the route finished (the customer
      // opened the link first, or it expired) is recorded but changes no state.
      if (await handedOff(tx, messageId)) return { route, changed: false };
      await tx.query(`INSERT INTO channel_sends (message_id, step, channel, provider_message_id, status, reason) VALUES ($1, 0, $2, $3, $4, $5)`, [
        messageId,
        HANDOFF_CHANNEL,
        report.ok ? (report.providerMessageId ?? null) : null,
        report.ok ? 'accepted' : 'failed',
        report.ok ? (report.provider ?? null) : (report.reason ?? 'unspecified'),
      ]);
      if (report.ok) {
        const policy = this.router.policyFor(route.business_id, route.class);
        await recordRouteEvent(tx, messageId, 'otherwise', 'sms', 'web-link-sent', policy.otherwise);
        return { route, changed: true };
      }
      if (route.state !== 'active') return { route, changed: false };
      await tx.query(`UPDATE retrieval_tokens SET used_at = now(), ciphertext = NULL, manifest = NULL WHERE message_id = $1 AND kind = 'web' AND used_at IS NULL`, [messageId]);
      await tx.query(`UPDATE routes SET state = 'failed', finished_at = now(), lease_until = NULL WHERE message_id = $1`, [messageId]);
      await recordRouteEvent(tx, messageId, 'otherwise', 'sms', 'failed', report.reason ?? 'the sender did not hand the link over');
      return { route: { ...route, state: 'failed' }, changed: true };
    });
    if (outcome.changed) {
      this.metrics.sends.inc({ channel: HANDOFF_CHANNEL, result: report.ok ? 'accepted' : 'failed' });
      if (!report.ok) this.metrics.routes.inc({ class: this.metrics.classLabel(outcome.route.class), outcome: 'failed' });
    }
    return { messageId, state: outcome.route.state, path: outcome.route.path ?? 'pending' };
  }

  /** The request's blobs checked and granted to the link (web-blobs.ts); nothing without attachments. */
  private async attach(tx: Sql, sender: AuthDevice, request: WebMessageRequest): Promise<void> {
    if (request.attachments) await grantWebBlobs(tx, sender, request.messageId, request.attachments.blobs, committedAttachments(request.commitment));
    else if ((committedAttachments(request.commitment) ?? []).length > 0) {
      throw new InvalidInputError('the commitment lists attachments the message does not carry', { code: 'web_attachments_mismatch' });
    }
  }

  private manifest(request: WebMessageRequest): { manifest?: Uint8Array } {
    return request.attachments ? { manifest: request.attachments.manifest } : {};
  }

  /** The request's commitment, checked (nothing stored yet); undefined without one. */
  private async prepareCommitment(sender: AuthDevice, request: WebMessageRequest): Promise<PreparedCommitment | undefined> {
    if (!request.commitment) {
      await this.audit.checkUncommitted(sender, request.class, request.escrow);
      return undefined;
    }
    return this.audit.prepareWeb(sender, {
      messageId: request.messageId,
      customerId: request.customerId,
      class: request.class,
      commitment: request.commitment,
      ...(request.escrow !== undefined ? { escrow: request.escrow } : {}),
    });
  }

  /** The commitment's audit-log index once sequenced (`{}` without a commitment). */
  private async auditIndex(prepared: PreparedCommitment | undefined): Promise<{ audit?: { index: number } }> {
    if (!prepared) return {};
    this.audit.log.kick();
    return { audit: { index: await this.audit.indexOfCommitment(prepared) } };
  }

  /** What the sender needs to compose and send the SMS: no key (it has it), no content. */
  private delivery(businessId: string, token: string, ttlSeconds: number): { expiresAt: string; delivery: WebLinkDelivery } {
    const business = this.router.business(businessId);
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString();
    // `{link}` stays a placeholder: the sender fills it with `<url>#<key>`.
    const template = fill(business.webTemplate ?? DEFAULT_WEB_TEMPLATE, { brand: business.brand });
    return { expiresAt, delivery: { url: `${this.router.publicUrl}/r/${token}`, template, expiresAt } };
  }
}

/** Whether the sender already reported this message's hand-off. */
async function handedOff(sql: Sql, messageId: string): Promise<boolean> {
  return (await sql.query('SELECT 1 FROM channel_sends WHERE message_id = $1 AND step = 0 AND channel = $2', [messageId, HANDOFF_CHANNEL])).length > 0;
}

/** Two requests with one new message id can both pass the first check: the route's primary key decides, and the loser gets the same 409 as a later repeat. */
function claimed<T>(insert: Promise<T>): Promise<T> {
  return insert.catch((error: unknown) => {
    if (isUniqueViolation(error)) throw new ConflictError('message_id_conflict', 'this message id is being used concurrently; retry');
    throw error;
  });
}
