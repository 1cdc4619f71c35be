/**
 * Pieces both SMS adapters (Twilio, SMPP) share: E.164 checks, the GSM 03.38 / UCS-2
 * choice for a link text, the monotonic status filter (providers repeat and reorder
 * delivery reports) and the short-lived "this number cannot take SMS" memory.
 *
 * SMS only ever carries `link` items: brand + retrieval link, never message content.
 */
import { ChannelError, type Capabilities, type ChannelName, type DeliveryStatus, type OutboundEnvelope, type Recipient } from './channel.js';

/** E.164: '+', a non-zero country digit, at most 15 digits in all. */
export function isE164(phone: string | undefined): phone is string {
  return phone !== undefined && /^\+[1-9]\d{1,14}$/.test(phone);
}

/** The link text of an envelope, or the ChannelError the adapter throws instead. */
export function linkText(channel: ChannelName, envelope: OutboundEnvelope): { text: string; phone: string } {
  const { item, recipient } = envelope;
  if (item.kind !== 'link') {
    throw new ChannelError(channel, 'unsupported_item', `${channel} carries only link items, not ${item.kind}`);
  }
  if (!isE164(recipient.phone)) {
    throw new ChannelError(channel, 'not_capable', `${channel}: recipient has no E.164 phone number`);
  }
  if (item.text.length === 0 || !item.text.includes(item.url)) {
    // A link item is a rendered template that carries its retrieval URL; anything else is not one.
    throw new ChannelError(channel, 'rejected', `${channel}: link item text does not carry its URL`);
  }
  return { text: item.text, phone: recipient.phone };
}

// --- GSM 03.38 ---------------------------------------------------------------------

/** The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1), index = septet value. */
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** The default alphabet extension table (after the escape septet 0x1B). */
const GSM_EXTENSION: ReadonlyMap<string, number> = new Map([
  ['\f', 0x0a],
  ['^', 0x14],
  ['{', 0x28],
  ['}', 0x29],
  ['\\', 0x2f],
  ['[', 0x3c],
  ['~', 0x3d],
  [']', 0x3e],
  ['|', 0x40],
  ['€', 0x65],
]);
const GSM_BASIC_INDEX: ReadonlyMap<string, number> = new Map(
  [...GSM_BASIC].map((c, i) => [c, i] as const).filter(([c]) => c !== '\u001b'),
);

/** The text as unpacked GSM 7-bit septets (one per octet), or undefined if a character is not in the alphabet. */
export function encodeGsm7(text: string): Uint8Array | undefined {
  const out: number[] = [];
  for (const c of text) {
    const basic = GSM_BASIC_INDEX.get(c);
    if (basic !== undefined) {
      out.push(basic);
      continue;
    }
    const ext = GSM_EXTENSION.get(c);
    if (ext === undefined) return undefined;
    out.push(0x1b, ext);
  }
  return Uint8Array.from(out);
}

/** UTF-16 big-endian (UCS-2, with surrogate pairs for characters outside the BMP). */
export function encodeUcs2(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    out[2 * i] = unit >> 8;
    out[2 * i + 1] = unit & 0xff;
  }
  return out;
}

/** A link text encoded for SMS. */
export interface EncodedSms {
  /** SMPP data_coding: 0x00 = SMSC default alphabet (GSM 7-bit, unpacked), 0x08 = UCS-2. */
  readonly dataCoding: 0x00 | 0x08;
  readonly bytes: Uint8Array;
  /** Fits one SMS (160 septets / 140 octets)? */
  readonly single: boolean;
}

/** GSM 7-bit when every character is in the default alphabet, UCS-2 otherwise. */
export function encodeSms(text: string): EncodedSms {
  const gsm = encodeGsm7(text);
  if (gsm) return { dataCoding: 0x00, bytes: gsm, single: gsm.length <= 160 };
  const ucs2 = encodeUcs2(text);
  return { dataCoding: 0x08, bytes: ucs2, single: ucs2.length <= 140 };
}

// --- status events ---------------------------------------------------------------------

/** Rank of a status: a report is passed on only if it ranks above everything passed on for that message. */
const RANK: Readonly<Record<DeliveryStatus, number>> = { accepted: 0, failed: 1, delivered: 2, read: 3 };

/**
 * Providers repeat and reorder delivery reports (Twilio posts `sent` after `delivered`
 * now and then; SMSCs resend receipts). This filter lets each message's status only move
 * forward: one event per (message, status), never `accepted` after a final status, and a
 * late `failed` never overrides `delivered`. Memory is bounded (least recently updated
 * messages are forgotten first).
 */
export class StatusFilter {
  private readonly highest = new Map<string, number>();
  constructor(private readonly capacity = 100_000) {}

  /** Should this report become an event? Records it if so. */
  admit(providerMessageId: string, status: DeliveryStatus): boolean {
    const rank = RANK[status];
    const previous = this.highest.get(providerMessageId);
    if (previous !== undefined && rank <= previous) return false;
    this.highest.delete(providerMessageId);
    this.highest.set(providerMessageId, rank);
    if (this.highest.size > this.capacity) {
      const oldest = this.highest.keys().next();
      if (!oldest.done) this.highest.delete(oldest.value);
    }
    return true;
  }
}

// --- capabilities ------------------------------------------------------------------------

/**
 * SMS reaches any E.164 number, except one the provider recently refused as not a
 * (subscribed) mobile number: that answer is kept for `failureTtlMs`.
 */
export class SmsCapabilities {
  private readonly refused = new Map<string, number>();
  constructor(
    private readonly ttlMs: number,
    private readonly failureTtlMs: number,
    private readonly capacity = 100_000,
  ) {}

  capabilities(recipient: Recipient): Capabilities {
    if (!isE164(recipient.phone)) {
      return { reachable: false, endToEnd: false, features: [], source: 'static', ttlMs: this.ttlMs };
    }
    const until = this.refused.get(recipient.pseudonym);
    if (until !== undefined) {
      const left = until - Date.now();
      if (left > 0) return { reachable: false, endToEnd: false, features: [], source: 'failure', ttlMs: left };
      this.refused.delete(recipient.pseudonym);
    }
    return { reachable: true, endToEnd: false, features: ['SMS'], source: 'static', ttlMs: this.ttlMs };
  }

  /** Notes a send failure; only `not_capable` is remembered. */
  noteFailure(recipient: Recipient, error: unknown): void {
    if (!(error instanceof ChannelError) || error.reason !== 'not_capable' || !isE164(recipient.phone)) return;
    this.refused.delete(recipient.pseudonym);
    this.refused.set(recipient.pseudonym, Date.now() + this.failureTtlMs);
    if (this.refused.size > this.capacity) {
      const oldest = this.refused.keys().next();
      if (!oldest.done) this.refused.delete(oldest.value);
    }
  }
}
