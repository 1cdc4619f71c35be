/**
 * The secure SMS fallback: one-time retrieval links, never content in the SMS.
 *
 * - **App links** (`sms-token` step): the app opens `/r/<token>`, authenticates as a
 *   device of the recipient and receives the MLS ciphertext, which it decrypts itself.
 * - **Web links** (customers without the app): the business's Sender encrypts the text
 *   with a fresh AES-256-GCM key in its own process and uploads only the ciphertext. The
 *   key rides in the link's URL fragment, which browsers never send to a server. The
 *   page asks for a one-time code sent to a second factor the business configured and for
 *   explicit consent, then receives the ciphertext once and decrypts it in the browser.
 *   The fragment passes through this node's memory once, to be written into the SMS; it is
 *   never stored or logged. README § Security names the residual risk.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ParleyError,
  identityIdOf,
  toBase64,
  type Envelope,
} from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import type { ServerErrorCode } from '../error-codes.js';
import { isUniqueViolation, type Database, type Sql } from '../storage/database.js';
import type { RoutingMetrics } from './metrics.js';
import type { DeliveryPath } from './policy.js';
import { findToken, insertToken, isTokenShaped, newToken, tokenHash } from './retrieval-tokens.js';
import { storedEnvelope } from '../repos/mailbox.js';
import type { Router } from './router.js';
import { DEFAULT_WEB_TEMPLATE, fill } from './routing-config.js';
import { invitation } from './steps/invite.js';

const OTP_TTL_SECONDS = 300;
const FRAGMENT_KEY = /^[A-Za-z0-9_-]{43}$/; // 32 bytes, base64url

export interface WebMessageRequest {
  readonly messageId: string;
  readonly customerId: string;
  readonly phone: string;
  readonly class: string;
  /** AES-256-GCM: 12-byte IV ‖ ciphertext ‖ tag. */
  readonly ciphertext: Uint8Array;
  /** The key, base64url: only ever written into the SMS link's fragment. */
  readonly fragmentKey: string;
}

export interface WebMessageResult {
  readonly messageId: string;
  readonly path: DeliveryPath | 'pending';
  readonly state: string;
  readonly expiresAt?: string;
}

function gone(code: ServerErrorCode, message: string): ParleyError {
  return new ParleyError(code, message, { status: 410 });
}

export class Retrieval {
  constructor(
    private readonly db: Database,
    private readonly router: Router,
    private readonly metrics: RoutingMetrics,
    private readonly otpKey: Uint8Array,
    private readonly log: Logger,
  ) {}

  /** An app link: single use, and only for a device of the recipient. */
  async redeemApp(device: AuthDevice, token: string): Promise<{ envelopes: Envelope[] }> {
    try {
      const envelope = await this.db.transaction(async (tx) => {
        const row = await this.usableIn(tx, token, 'app');
        if (row.identity_id !== device.identityId) {
          await tx.query('UPDATE retrieval_tokens SET attempts = attempts + 1 WHERE token_hash = $1', [tokenHash(token)]);
          throw new ForbiddenError('token_wrong_recipient', 'this link is for another customer');
        }
        await tx.query('UPDATE retrieval_tokens SET used_at = now() WHERE token_hash = $1', [tokenHash(token)]);
        return row.envelope_id === null ? undefined : storedEnvelope(tx, row.envelope_id, device.deviceId);
      });
      this.metrics.tokenRedemptions.inc({ kind: 'app', result: 'ok' });
      // Nothing when this device has the message already (it acknowledged it).
      return { envelopes: envelope ? [envelope] : [] };
    } catch (error) {
      this.metrics.tokenRedemptions.inc({ kind: 'app', result: error instanceof ParleyError ? error.code : 'error' });
      throw error;
    }
  }

  /** The token's row if it can still be used (locked for update inside a transaction); typed errors otherwise. */
  private async usableIn(sql: Sql, token: string, kind: 'app' | 'web', lock = true) {
    if (!isTokenShaped(token)) throw new NotFoundError('token_invalid', 'no such retrieval link');
    const row = await findToken(sql, token, lock);
    if (!row || row.kind !== kind) throw new NotFoundError('token_invalid', 'no such retrieval link');
    if (row.used_at) throw gone('token_used', 'this link was already used');
    if (row.expired) throw gone('token_expired', 'this link has expired');
    return row;
  }

  /** A business message to a customer without the app: the policy's `otherwise` decides. */
  async sendWebMessage(sender: AuthDevice, request: WebMessageRequest): Promise<WebMessageResult> {
    if (!FRAGMENT_KEY.test(request.fragmentKey)) throw new InvalidInputError('fragmentKey must be 32 bytes, base64url', { code: 'invalid_request' });
    if (request.ciphertext.length < 12 + 16) throw new InvalidInputError('ciphertext too short for AES-GCM', { code: 'invalid_request' });
    await this.requireSender(sender);
    const identityId = identityIdOf(sender.businessId, request.customerId);
    const [existing] = await this.db.query<{ state: string; path: DeliveryPath | null; identity_id: string }>('SELECT state, path, identity_id FROM routes WHERE message_id = $1', [
      request.messageId,
    ]);
    if (existing) {
      if (existing.identity_id !== identityId) throw new ConflictError('message_id_conflict', 'this message id is already used');
      return { messageId: request.messageId, path: existing.path ?? 'pending', state: existing.state };
    }
    const [device] = await this.db.query<{ id: string }>(`SELECT id FROM devices WHERE identity_id = $1 AND status = 'active' LIMIT 1`, [identityId]);
    if (device) throw new ConflictError('customer_has_app', 'this customer has the app: send an end-to-end message');
    const policy = this.router.policyFor(sender.businessId, request.class);
    const business = this.router.business(sender.businessId);
    // Two requests with one new message id can both pass the check above: the route's
    // primary key decides, and the loser gets the same 409 as a later repeat would.
    const claimed = <T>(insert: Promise<T>): Promise<T> =>
      insert.catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new ConflictError('message_id_conflict', 'this message id is being used concurrently; retry');
        throw error;
      });
    const insertRoute = (state: string, path: DeliveryPath | null, nextAtSeconds: number) =>
      claimed(this.db.query(
        `INSERT INTO routes (message_id, business_id, identity_id, class, mode, state, path, next_at, finished_at)
         VALUES ($1, $2, $3, $4, 'web', $5, $6, now() + ($7::integer * interval '1 second'), CASE WHEN $5 = 'active' THEN NULL ELSE now() END)`,
        [request.messageId, sender.businessId, identityId, request.class, state, path, nextAtSeconds],
      ));
    const decide = async (state: 'blocked' | 'invited', path: DeliveryPath, reason: string): Promise<WebMessageResult> => {
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
    const sms = this.router.config.channels.sms;
    if (!sms) return decide('blocked', 'blocked', 'no_sms_channel');
    const token = newToken();
    const ttl = this.router.config.tokenTtlSeconds;
    await claimed(this.db.transaction(async (tx) => {
      await insertToken(tx, token, { kind: 'web', messageId: request.messageId, identityId, businessId: sender.businessId, ciphertext: request.ciphertext, ttlSeconds: ttl });
      await tx.query(
        `INSERT INTO routes (message_id, business_id, identity_id, class, mode, state, next_at) VALUES ($1, $2, $3, $4, 'web', 'active', now() + ($5::integer * interval '1 second'))`,
        [request.messageId, sender.businessId, identityId, request.class, ttl],
      );
    }));
    if (policy.otherwise === 'warn') await this.router.event(request.messageId, 'otherwise', null, 'warning', 'non-end-to-end fallback (web link) under a warn policy');
    const link = `${this.router.publicUrl}/r/${token}#${request.fragmentKey}`;
    const text = fill(business.webTemplate ?? DEFAULT_WEB_TEMPLATE, { brand: business.brand, link });
    const ok = await this.router.sendOnce(
      { message_id: request.messageId, step: 0, class: request.class },
      sms,
      { pseudonym: this.router.pseudonyms.of(request.phone), phone: request.phone },
      { kind: 'link', text, url: link, brand: business.brand },
    );
    if (!ok) {
      await this.db.query(`UPDATE retrieval_tokens SET used_at = now() WHERE token_hash = $1`, [tokenHash(token)]);
      await this.db.query(`UPDATE routes SET state = 'failed', finished_at = now() WHERE message_id = $1`, [request.messageId]);
      this.metrics.routes.inc({ class: this.metrics.classLabel(request.class), outcome: 'failed' });
      throw new ParleyError('fallback_failed', 'the SMS gateway did not take the retrieval link', { status: 502 });
    }
    await this.router.event(request.messageId, 'otherwise', 'sms', 'web-link-sent', policy.otherwise);
    return { messageId: request.messageId, path: 'pending', state: 'active', expiresAt: new Date(Date.now() + ttl * 1000).toISOString() };
  }

  /** Only a business's sending service may message customers outside the app. */
  private async requireSender(device: AuthDevice): Promise<void> {
    const [row] = await this.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
    if (row?.kind !== 'sender') throw new ForbiddenError('sender_required', 'only a business sending service can do this');
  }

  /** What the retrieval page may show before any check: the brand and whether the link is still usable. */
  async describe(token: string): Promise<{ brand: string; kind: 'app' | 'web'; state: 'usable' | 'used' | 'expired' | 'invalid' }> {
    if (!isTokenShaped(token)) return { brand: 'Parley', kind: 'web', state: 'invalid' };
    const row = await findToken(this.db, token);
    if (!row) return { brand: 'Parley', kind: 'web', state: 'invalid' };
    const brand = this.router.business(row.business_id).brand;
    return { brand, kind: row.kind, state: row.used_at ? 'used' : row.expired ? 'expired' : 'usable' };
  }

  private otpHash(token: string, code: string): Uint8Array {
    return new Uint8Array(createHmac('sha256', this.otpKey).update(tokenHash(token)).update(`\n${code}`).digest());
  }

  /** Sends a one-time code to the business's second factor for this customer. */
  async challenge(token: string): Promise<{ brand: string; expiresAt: string }> {
    const row = await this.usableIn(this.db, token, 'web', false);
    const business = this.router.business(row.business_id);
    if (!business.secondFactor) throw new ParleyError('second_factor_unavailable', 'no second factor is configured', { status: 503 });
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const expiresAt = new Date(Date.now() + OTP_TTL_SECONDS * 1000);
    // Check and count in ONE statement: parallel challenges cannot send more than maxTokenAttempts codes.
    const [counted] = await this.db.query<{ attempts: number }>(
      `UPDATE retrieval_tokens SET otp_hash = $2, otp_expires_at = $3, attempts = attempts + 1
       WHERE token_hash = $1 AND kind = 'web' AND used_at IS NULL AND expires_at > now() AND attempts < $4::integer
       RETURNING attempts`,
      [tokenHash(token), this.otpHash(token, code), expiresAt, this.router.config.maxTokenAttempts],
    );
    if (!counted) {
      await this.usableIn(this.db, token, 'web', false); // used or expired meanwhile: that error
      throw new ParleyError('token_locked', 'too many attempts; ask the sender for a new message', { status: 429 });
    }
    const body = JSON.stringify({ identityId: row.identity_id, code, expiresAt: expiresAt.toISOString() });
    const signature = createHmac('sha256', business.secondFactor.secret).update(body).digest('base64');
    try {
      const res = await fetch(business.secondFactor.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-parley-signature': signature },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`second factor answered ${res.status}`);
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : 'error' }, 'second factor delivery failed');
      throw new ParleyError('second_factor_unavailable', 'the code could not be sent; try again later', { status: 503 });
    }
    return { brand: business.brand, expiresAt: expiresAt.toISOString() };
  }

  /** Checks the code and the consent, then hands out the ciphertext once. */
  async open(token: string, code: string, consent: boolean): Promise<{ brand: string; ciphertext: string }> {
    if (!consent) throw new InvalidInputError('explicit consent is required to read this message outside the app', { code: 'consent_required' });
    if (!/^\d{6}$/.test(code)) throw new InvalidInputError('the code has 6 digits', { code: 'invalid_request' });
    const outcome = await this.db.transaction(async (tx) => {
      const row = await this.usableIn(tx, token, 'web');
      const max = this.router.config.maxTokenAttempts;
      const good =
        row.otp_hash !== null && row.otp_expires_at !== null && new Date(row.otp_expires_at).getTime() > Date.now() && timingSafeEqual(Buffer.from(row.otp_hash), Buffer.from(this.otpHash(token, code)));
      if (!good) {
        const burned = row.attempts + 1 >= max;
        await tx.query(`UPDATE retrieval_tokens SET attempts = attempts + 1, used_at = CASE WHEN $2 THEN now() ELSE used_at END WHERE token_hash = $1`, [tokenHash(token), burned]);
        return { ok: false as const, burned };
      }
      await tx.query('UPDATE retrieval_tokens SET used_at = now(), consented_at = now(), ciphertext = NULL WHERE token_hash = $1', [tokenHash(token)]);
      return { ok: true as const, row };
    });
    if (!outcome.ok) {
      this.metrics.tokenRedemptions.inc({ kind: 'web', result: outcome.burned ? 'locked' : 'bad_code' });
      if (outcome.burned) throw new ParleyError('token_locked', 'too many wrong codes; this link no longer works', { status: 429 });
      throw new ForbiddenError('otp_invalid', 'wrong or expired code');
    }
    this.metrics.tokenRedemptions.inc({ kind: 'web', result: 'ok' });
    await this.router.onWebRetrieved(outcome.row.message_id);
    return { brand: this.router.business(outcome.row.business_id).brand, ciphertext: toBase64(new Uint8Array(outcome.row.ciphertext!)) };
  }

  /** The business records a customer's consent to non-end-to-end fallback (require-consent policies). */
  async recordConsent(sender: AuthDevice, customerId: string): Promise<void> {
    await this.requireSender(sender);
    const identityId = identityIdOf(sender.businessId, customerId);
    await this.db.query('INSERT INTO fallback_consents (identity_id) VALUES ($1) ON CONFLICT DO NOTHING', [identityId]);
  }
}
