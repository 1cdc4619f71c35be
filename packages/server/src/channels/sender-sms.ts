/**
 * A business's own SMS provider, for the web-link fallback: the SDK's `Sender.sendToWeb`
 * composes the link with the key in its fragment and hands the SMS to a `deliver`
 * function; this one sends it through any SMS adapter here (Twilio, SMPP) configured with
 * the BUSINESS's account, so the key never passes through a Parley node. Used by the
 * business's gateway, the demo and tests; a Parley node never calls it.
 */
import { createHash } from 'node:crypto';
import { ChannelError, type Channel } from './channel.js';

/** The SMS `Sender.sendToWeb` asks its `deliver` to send (structurally the SDK's type). */
export interface WebLinkSms {
  readonly to: string;
  readonly text: string;
  /** The full link, key fragment included. */
  readonly url: string;
  readonly messageId: string;
}

/** What the provider said, as `Sender.sendToWeb` reports it to Parley (structurally the SDK's `WebLinkHandoff`). */
export type WebLinkSmsResult = { readonly ok: true; readonly provider: string; readonly providerMessageId?: string } | { readonly ok: false; readonly reason: string };

/**
 * A `deliver` function for `Sender.sendToWeb` that sends the SMS through `channel` (an SMS
 * adapter configured with the business's own provider account). A provider refusal is
 * `{ ok: false, reason }` with the adapter's failure reason; nothing is retried here.
 *
 * @example
 * const deliver = smsDeliver(new TwilioChannel({ accountSid, authToken, from: '+15005550006', statusCallbackUrl }), 'Example Bank');
 * await sender.sendToWeb('c-1001', '+15550100123', 'Your code is 123456', { class: 'otp', deliver });
 */
export function smsDeliver(channel: Channel, brand = ''): (sms: WebLinkSms) => Promise<WebLinkSmsResult> {
  return async (sms) => {
    // The adapters key their refusal cache by a pseudonym: one per phone number, never the number itself.
    const pseudonym = createHash('sha256').update(`parley/v1/sender-sms\n${sms.to}`).digest('base64url');
    try {
      const sent = await channel.send({
        // Fresh per attempt: a re-issued link for the same message is a new SMS.
        deliveryId: `${sms.messageId}.web.${Date.now().toString(36)}`,
        messageId: sms.messageId,
        recipient: { pseudonym, phone: sms.to },
        item: { kind: 'link', text: sms.text, url: sms.url, brand },
      });
      return { ok: true, provider: channel.name, providerMessageId: sent.providerMessageId.slice(0, 128) };
    } catch (error) {
      if (error instanceof ChannelError) return { ok: false, reason: error.reason };
      throw error;
    }
  };
}
