/**
 * RBM's status webhooks, verified and turned into status events (the RBM adapter's
 * inbound half; `rbm.ts` is the outbound API).
 *
 * - Setup handshake: RBM posts `{"clientToken","secret"}`; when the client token matches
 *   (constant time), the HTTP layer answers 200 with the secret as plain text.
 * - Events: a Pub/Sub push body `{"message":{"data": base64(event JSON), …}}` with
 *   `X-Goog-Signature` = base64(HMAC-SHA512(clientToken, base64-decoded data)): the
 *   signature covers the decoded event, as RBM documents, not the outer body. It is
 *   compared in constant time; anything unsigned, forged or malformed is refused with
 *   `webhook_signature_invalid`.
 * - Mapping: DELIVERED → `delivered`; READ → `delivered` then `read` (READ implies
 *   DELIVERED, so a late DELIVERED is a duplicate); TTL_EXPIRATION_REVOKED → `failed`
 *   (`undeliverable`). Typing, user messages, suggestion taps and the rest are not status.
 *   Each (messageId, status) becomes an event once, whatever RBM redelivers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BoundedSet, ChannelError, type FailureReason, type StatusEvent, type WebhookRequest } from './channel.js';
import { isRecord, parseJson } from './provider-http.js';

/** What the webhook verifier needs. */
export interface RbmWebhooksOptions {
  /** Events for another agent are ignored. */
  readonly agentId: string;
  /** The webhook's clientToken (from the RBM console): the HMAC key of X-Goog-Signature. */
  readonly clientToken: string;
  /** The dedup memory holds about twice this many (message, status) pairs. */
  readonly maxTracked: number;
  /** Clock for events without a `sendTime`. */
  readonly now: () => number;
}

/**
 * The verifier and parser of one agent's webhooks.
 *
 * @example
 * const webhooks = new RbmWebhooks({ agentId, clientToken, maxTracked: 100_000, now: Date.now });
 * const secret = webhooks.verificationSecret(request); // the handshake, or undefined
 * const events = secret === undefined ? webhooks.events(request) : [];
 */
export class RbmWebhooks {
  private readonly clientToken: Buffer;
  /** (messageId, status) pairs already turned into events. */
  private readonly seen: BoundedSet;

  constructor(private readonly options: RbmWebhooksOptions) {
    this.clientToken = Buffer.from(options.clientToken, 'utf8');
    this.seen = new BoundedSet(options.maxTracked * 2);
  }

  /**
   * For RBM's webhook setup handshake (`{"clientToken","secret"}`): the secret the HTTP layer
   * must answer with (200, plain text) when the client token matches; otherwise undefined.
   */
  verificationSecret(request: WebhookRequest): string | undefined {
    const body = parseJson(utf8(request.rawBody));
    if (!isRecord(body) || typeof body['clientToken'] !== 'string' || typeof body['secret'] !== 'string') return undefined;
    return this.tokenMatches(body['clientToken']) ? body['secret'] : undefined;
  }

  /** The new status events in a verified webhook. Throws ChannelError(`webhook_signature_invalid`). */
  events(request: WebhookRequest): StatusEvent[] {
    const body = parseJson(utf8(request.rawBody));
    if (isRecord(body) && !('message' in body) && typeof body['clientToken'] === 'string') {
      // The setup handshake carries the client token itself.
      if (!this.tokenMatches(body['clientToken'])) throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook handshake with a wrong client token');
      return [];
    }
    const message = isRecord(body) ? body['message'] : undefined;
    const data64 = isRecord(message) ? message['data'] : undefined;
    if (typeof data64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data64)) {
      throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook without a signed message');
    }
    const data = Buffer.from(data64, 'base64');
    const signature = request.headers['x-goog-signature'];
    if (signature === undefined || signature === '') throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook without X-Goog-Signature');
    const expected = Buffer.from(createHmac('sha512', this.clientToken).update(data).digest('base64'), 'ascii');
    const given = Buffer.from(signature.trim(), 'ascii');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook signature does not match');
    }

    const event = parseJson(data.toString('utf8'));
    if (!isRecord(event)) return [];
    if (event['agentId'] !== undefined && event['agentId'] !== this.options.agentId) return [];
    const messageId = event['messageId'];
    const eventType = event['eventType'];
    if (typeof messageId !== 'string' || typeof eventType !== 'string') return [];
    const sendTime = event['sendTime'];
    const at = typeof sendTime === 'string' && !Number.isNaN(Date.parse(sendTime)) ? new Date(sendTime) : new Date(this.options.now());

    const out: StatusEvent[] = [];
    const push = (status: StatusEvent['status'], reason?: FailureReason): void => {
      if (!this.firstTime(`${messageId}\u0000${status}`)) return;
      out.push({ channel: 'rbm', providerMessageId: messageId, status, at, ...(reason ? { reason } : {}) });
    };
    switch (eventType) {
      case 'DELIVERED':
        push('delivered');
        break;
      case 'READ':
        push('delivered'); // READ implies DELIVERED; a late DELIVERED is then a duplicate
        push('read');
        break;
      case 'TTL_EXPIRATION_REVOKED':
        push('failed', 'undeliverable');
        break;
      default:
        // IS_TYPING, user messages, suggestion taps, subscription and launch events: not status.
        return [];
    }
    return out;
  }

  private tokenMatches(candidate: string): boolean {
    const given = Buffer.from(candidate, 'utf8');
    return given.length === this.clientToken.length && timingSafeEqual(given, this.clientToken);
  }

  private firstTime(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }
}

function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}
