/**
 * The RBM emulator's webhooks: status events posted to the agent's webhook the way RBM
 * does it, as a Pub/Sub push body
 * `{"message":{"data":base64(event JSON),"messageId","publishTime",…},"subscription"}` with
 * `X-Goog-Signature` = base64(HMAC-SHA512(clientToken, the base64-decoded `data`)).
 *
 * Switches for tests: forged or missing signatures, holding events and releasing them in
 * order or reversed, re-posting an event byte for byte (a Pub/Sub redelivery). Each event
 * is posted once (no retry with backoff); every post is logged with the receiver's answer.
 */
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import type { RbmHandsetMessage, RbmSentWebhook, RbmWebhookForgery } from './types.js';

interface PendingWebhook {
  readonly eventId: string;
  readonly eventType: string;
  readonly messageId: string | undefined;
  /** The event JSON bytes (what `message.data` carries). */
  readonly data: Buffer;
}

/**
 * The agent's webhook, as RBM calls it.
 *
 * @example
 * const webhooks = new RbmWebhookSender({ url, clientToken });
 * const eventId = await webhooks.delivered(message);
 * await webhooks.redeliver(eventId);
 */
export class RbmWebhookSender {
  private webhook: { url: string; clientToken: string } | undefined;
  private forgery: RbmWebhookForgery | undefined;
  private holding = false;
  private pubsubSerial = 1_000_000;
  private readonly held: PendingWebhook[] = [];
  private readonly log: RbmSentWebhook[] = [];
  private readonly sentData = new Map<string, PendingWebhook>();

  constructor(webhook: { readonly url: string; readonly clientToken: string } | undefined) {
    this.webhook = webhook ? { ...webhook } : undefined;
  }

  setWebhook(url: string, clientToken: string): void {
    this.webhook = { url, clientToken };
  }

  setForgery(forgery: RbmWebhookForgery | undefined): void {
    this.forgery = forgery;
  }

  hold(): void {
    this.holding = true;
  }

  /** Posts the held events, in order or reversed, and stops holding. */
  async release(reverse: boolean): Promise<void> {
    this.holding = false;
    const queued = this.held.splice(0, this.held.length);
    if (reverse) queued.reverse();
    for (const w of queued) await this.post(w);
  }

  /** Posts an already-sent event again, byte for byte. */
  async redeliver(eventId: string): Promise<void> {
    const w = this.sentData.get(eventId);
    if (!w) throw new Error('unknown event');
    await this.post(w);
  }

  sent(): readonly RbmSentWebhook[] {
    return [...this.log];
  }

  /** DELIVERED or READ for a message (a user event). Returns the event id. */
  userEvent(m: RbmHandsetMessage, eventType: 'DELIVERED' | 'READ'): Promise<string> {
    const eventId = this.eventId();
    return this.emit(
      { senderPhoneNumber: m.phone, eventType, eventId, messageId: m.messageId, sendTime: new Date().toISOString(), agentId: m.agentId },
      eventType,
      m.messageId,
      eventId,
    );
  }

  /** The user typing (an event the adapter must ignore). */
  typing(phone: string, agentId: string): Promise<string> {
    return this.emit({ senderPhoneNumber: phone, eventType: 'IS_TYPING', eventId: this.eventId(), sendTime: new Date().toISOString(), agentId }, 'IS_TYPING', undefined);
  }

  /** A user text message to the agent (content the adapter must ignore). */
  userText(phone: string, agentId: string, text: string): Promise<string> {
    return this.emit({ senderPhoneNumber: phone, text, messageId: randomUUID(), sendTime: new Date().toISOString(), agentId }, 'TEXT', undefined);
  }

  /** TTL_EXPIRATION_REVOKED for a message the platform expired (a server event). */
  expired(m: RbmHandsetMessage): Promise<string> {
    const eventId = this.eventId();
    return this.emit(
      { phoneNumber: m.phone, messageId: m.messageId, agentId: m.agentId, eventType: 'TTL_EXPIRATION_REVOKED', eventId, sendTime: new Date().toISOString() },
      'TTL_EXPIRATION_REVOKED',
      m.messageId,
      eventId,
    );
  }

  /** The webhook setup handshake: posts `{clientToken, secret}` and checks the answer echoes the secret. */
  async verify(): Promise<boolean> {
    if (!this.webhook) throw new Error('no webhook configured');
    const secret = randomBytes(8).toString('hex');
    try {
      const res = await fetch(this.webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientToken: this.webhook.clientToken, secret }),
        signal: AbortSignal.timeout(5000),
      });
      return res.status === 200 && (await res.text()) === secret;
    } catch {
      return false;
    }
  }

  private eventId(): string {
    return `MxEv${randomBytes(12).toString('base64url')}`;
  }

  private async emit(event: Record<string, string>, eventType: string, messageId: string | undefined, eventId = event['eventId'] ?? this.eventId()): Promise<string> {
    const w: PendingWebhook = { eventId, eventType, messageId, data: Buffer.from(JSON.stringify(event), 'utf8') };
    this.sentData.set(eventId, w);
    if (this.holding) this.held.push(w);
    else await this.post(w);
    return eventId;
  }

  private async post(w: PendingWebhook): Promise<void> {
    if (!this.webhook) throw new Error('no webhook configured');
    const publishTime = new Date().toISOString();
    const pubsubId = String(++this.pubsubSerial);
    const agentId = (JSON.parse(w.data.toString('utf8')) as { agentId?: string }).agentId ?? 'agent';
    const body = JSON.stringify({
      message: { attributes: {}, data: w.data.toString('base64'), messageId: pubsubId, message_id: pubsubId, publishTime, publish_time: publishTime },
      subscription: `projects/rbm-${agentId}/subscriptions/rbm-agent-subscription`,
    });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)' };
    const forgery = this.forgery;
    if (forgery !== 'unsigned') {
      const key = forgery === 'forged' ? `${this.webhook.clientToken}-forged` : this.webhook.clientToken;
      headers['x-goog-signature'] = createHmac('sha512', key).update(w.data).digest('base64');
    }
    let status = 0;
    try {
      const res = await fetch(this.webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.log.push({ eventId: w.eventId, eventType: w.eventType, messageId: w.messageId, forgery, status });
  }
}
