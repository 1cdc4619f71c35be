/**
 * The secure SMS fallback: one-time retrieval links, never content in the SMS.
 *
 * - **App links** (`sms-token` step): the app opens `/r/<token>`, authenticates as a
 *   device of the recipient and receives the MLS ciphertext, which it decrypts itself.
 * - **Web links** (customers without the app): the business's Sender encrypts the text
 *   with a fresh AES-256-GCM key in its own process and uploads only the ciphertext
 *   (web-messages.ts). The sender writes the key into the link's URL fragment, which
 *   browsers never send to a server, and sends the SMS through its own provider: this
 *   node never holds the key. The page asks for a one-time code sent to a second factor
 *   the business configured and for explicit consent, then receives the ciphertext once
 *   and decrypts it in the browser. With attachments, the same answer carries their sealed
 *   manifest and a short-lived capability for exactly their blobs (web-blobs.ts).
 *   README § Security names the residual risks.
 */
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ParleyError,
  identityIdOf,
  toBase64,
  type Envelope,
  type WebHandoffRequest,
  type WebHandoffResponse,
  type WebMessageResponse,
} from '@parley/core';
import type { AuditService } from '../audit/audit-service.js';
import type { AuthDevice } from '../auth-device.js';
import type { ServerErrorCode } from '../error-codes.js';
import type { Database, Sql } from '../storage/database.js';
import type { RoutingMetrics } from './metrics.js';
import { findToken, isTokenShaped, tokenHash } from './retrieval-tokens.js';
import { storedEnvelope } from '../repos/mailbox.js';
import type { Router } from './router.js';
import { WebMessages, type WebMessageRequest } from './web-messages.js';
import { issueWebBlobCapability } from './web-blobs.js';

const OTP_TTL_SECONDS = 300;

function gone(code: ServerErrorCode, message: string): ParleyError {
  return new ParleyError(code, message, { status: 410 });
}

export class Retrieval {
  private readonly web: WebMessages;

  constructor(
    private readonly db: Database,
    private readonly router: Router,
    private readonly metrics: RoutingMetrics,
    private readonly otpKey: Uint8Array,
    private readonly log: Logger,
    audit: AuditService,
  ) {
    this.web = new WebMessages(db, router, metrics, audit);
  }

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

  /** A business message to a customer without the app (web-messages.ts): the policy's `otherwise` decides. */
  sendWebMessage(sender: AuthDevice, request: WebMessageRequest): Promise<WebMessageResponse> {
    return this.web.send(sender, request);
  }

  /** The sender reports whether its SMS provider took a web link (web-messages.ts). */
  reportWebHandoff(sender: AuthDevice, messageId: string, report: WebHandoffRequest): Promise<WebHandoffResponse> {
    return this.web.handoff(sender, messageId, report);
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
  async open(token: string, code: string, consent: boolean): Promise<{ brand: string; ciphertext: string; attachments?: { manifest: string; capability: string; expiresAt: string } }> {
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
      await tx.query('UPDATE retrieval_tokens SET used_at = now(), consented_at = now(), ciphertext = NULL, manifest = NULL WHERE token_hash = $1', [tokenHash(token)]);
      const attachments = row.manifest === null ? undefined : { manifest: toBase64(new Uint8Array(row.manifest)), ...(await issueWebBlobCapability(tx, row.message_id)) };
      return { ok: true as const, row, attachments };
    });
    if (!outcome.ok) {
      this.metrics.tokenRedemptions.inc({ kind: 'web', result: outcome.burned ? 'locked' : 'bad_code' });
      if (outcome.burned) throw new ParleyError('token_locked', 'too many wrong codes; this link no longer works', { status: 429 });
      throw new ForbiddenError('otp_invalid', 'wrong or expired code');
    }
    this.metrics.tokenRedemptions.inc({ kind: 'web', result: 'ok' });
    await this.router.onWebRetrieved(outcome.row.message_id);
    return {
      brand: this.router.business(outcome.row.business_id).brand,
      ciphertext: toBase64(new Uint8Array(outcome.row.ciphertext!)),
      ...(outcome.attachments ? { attachments: outcome.attachments } : {}),
    };
  }

  /** The business records a customer's consent to non-end-to-end fallback (require-consent policies). */
  async recordConsent(sender: AuthDevice, customerId: string): Promise<void> {
    await this.web.requireSender(sender);
    const identityId = identityIdOf(sender.businessId, customerId);
    await this.db.query('INSERT INTO fallback_consents (identity_id) VALUES ($1) ON CONFLICT DO NOTHING', [identityId]);
  }
}
