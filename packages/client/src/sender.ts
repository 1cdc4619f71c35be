/**
 * A business's sending service as a Parley client: one device with a brand
 * identity (`<business>:<subject>`, kind `sender`) that keeps one conversation
 * per customer containing every active device of that customer, and sends
 * classed messages (`otp`, `alert`, `support`, …) into it.
 */
import { identityIdOf, toBase64, toBase64Url, type RouteViewResponse, type WebMessageResponse } from '@parley/core';
import { ConversationError } from './errors.js';
import { Device, type EnrollOptions, type OpenOptions, type SendResult } from './device.js';

export interface SenderSendOptions {
  /** Message class: `otp`, `alert`, `statement`, `support`, … */
  readonly class: string;
  /** Same key ⇒ the customer receives the message at most once. */
  readonly idempotencyKey?: string;
  /** Sign a commitment for the audit log (default true: business messages carry evidence). */
  readonly audit?: boolean;
}

export interface SenderSendResult extends SendResult {
  readonly customerId: string;
  /** Devices of the customer the conversation holds after reconciliation. */
  readonly customerDevices: readonly string[];
}

export class Sender {
  private constructor(readonly device: Device) {}

  static async enroll(options: EnrollOptions): Promise<Sender> {
    return new Sender(await Device.enroll(options));
  }

  static async open(options: OpenOptions): Promise<Sender> {
    return new Sender(await Device.open(options));
  }

  /** Wraps an already enrolled or opened device of kind `sender`. */
  static fromDevice(device: Device): Sender {
    if (device.kind !== 'sender') throw new ConversationError('not_a_sender', 'the device was not enrolled as a sender');
    return new Sender(device);
  }

  /** Opens the WebSocket (replies and membership changes arrive there). */
  connect(timeoutMs?: number): Promise<boolean> {
    return this.device.connect(timeoutMs);
  }

  close(): Promise<void> {
    return this.device.close();
  }

  /** The conversation with `customerId`, if one exists. */
  conversationWith(customerId: string): Promise<string | undefined> {
    return this.device.conversationTag(`customer/${customerId}`);
  }

  /**
   * Sends `content` to every active device of `customerId`: looks the devices up,
   * adds new ones and removes revoked ones from the customer conversation (one
   * commit), then encrypts once for the group.
   */
  async send(customerId: string, content: string, options: SenderSendOptions): Promise<SenderSendResult> {
    const identityId = identityIdOf(this.device.businessId, customerId);
    const tag = `customer/${customerId}`;
    let conversationId = await this.device.conversationTag(tag);
    if (conversationId === undefined || !this.device.listConversations().some((c) => c.conversationId === conversationId && c.active)) {
      conversationId = await this.device.createConversation([identityId]);
      await this.device.setConversationTag(tag, conversationId);
    } else {
      await this.device.reconcileIdentity(conversationId, identityId);
    }
    const result = await this.device.send(conversationId, content, {
      class: options.class,
      ...(options.audit === false ? {} : { audit: { recipient: identityId } }),
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    });
    const customerDevices = this.device
      .members(conversationId)
      .filter((m) => m.identityId === identityId)
      .map((m) => m.deviceId);
    return { ...result, customerId, customerDevices };
  }

  /**
   * Sends `content` to a customer who does not have the app, by a one-time web link
   * (if the class's policy allows a fallback; otherwise the policy blocks it or sends an
   * invitation to the app). The text is encrypted here with a fresh AES-256-GCM key; the
   * server receives only the ciphertext, and the key travels only in the link's URL
   * fragment, written into the SMS. The customer opens the link, confirms a one-time
   * code sent to the business's second factor, consents, and the browser decrypts.
   */
  async sendToWeb(customerId: string, phone: string, content: string, options: { class: string; messageId?: string }): Promise<WebMessageResponse> {
    const subtle = globalThis.crypto.subtle;
    const keyBytes = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
    const key = await subtle.importKey('raw', keyBytes, { name: 'AES-GCM' }, false, ['encrypt']);
    const sealed = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(WEB_MESSAGE_AAD) }, key, new TextEncoder().encode(content)));
    const ciphertext = new Uint8Array(iv.length + sealed.length);
    ciphertext.set(iv);
    ciphertext.set(sealed, iv.length);
    const messageId = options.messageId ?? toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    try {
      return await this.device.api.webMessage({ messageId, customerId, phone, class: options.class, ciphertext: toBase64(ciphertext), fragmentKey: toBase64Url(keyBytes) });
    } finally {
      keyBytes.fill(0);
    }
  }

  /** Records that `customerId` consented to receive messages outside the app (for `require-consent` policies). */
  async recordFallbackConsent(customerId: string): Promise<void> {
    await this.device.api.recordConsent(customerId);
  }

  /** How a message of this sender travelled: state, path and every routing decision. */
  route(messageId: string): Promise<RouteViewResponse> {
    return this.device.api.route(messageId);
  }
}

/** Associated data of web-link ciphertexts (the retrieval page uses the same). */
export const WEB_MESSAGE_AAD = 'parley/v1/web-message';
