/**
 * SMPP 3.4 PDUs as the SMS adapter writes and reads them: the `submit_sm` it sends, the
 * delivery receipts it reads from `deliver_sm`, and what a `command_status` means.
 * Pure functions over the `smpp` package's PDU objects (typed in smpp-module.d.ts); the
 * session (`smpp-link.ts`) and the channel (`smpp.ts`) do the talking.
 */
import type smpp from 'smpp';
import type { DeliveryStatus, FailureReason } from './channel.js';
import type { EncodedSms } from './sms.js';

/** command_status values used here (SMPP 3.4 §5.1.3, table 5-2). */
export const ESME_RINVCMDID = 0x03;
const ESME_RINVBNDSTS = 0x04;
const ESME_RSYSERR = 0x08;
const ESME_RINVDSTADR = 0x0b;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;
const ESME_RX_T_APPN = 0x64;

/** esm_class message type bits (xx0001xx: SMSC delivery receipt; xx1000xx: intermediate notification). */
const ESM_TYPE_MASK = 0x3c;
const ESM_DELIVERY_RECEIPT = 0x04;
const ESM_INTERMEDIATE = 0x20;

/** message_state TLV values (SMPP 3.4 §5.2.28) → the receipt `stat` words. */
const MESSAGE_STATE: Readonly<Record<number, string>> = {
  1: 'ENROUTE',
  2: 'DELIVRD',
  3: 'EXPIRED',
  4: 'DELETED',
  5: 'UNDELIV',
  6: 'ACCEPTD',
  7: 'UNKNOWN',
  8: 'REJECTD',
};

const STAT: Readonly<Record<string, { status: DeliveryStatus; reason?: FailureReason }>> = {
  DELIVRD: { status: 'delivered' },
  UNDELIV: { status: 'failed', reason: 'undeliverable' },
  REJECTD: { status: 'failed', reason: 'undeliverable' },
  EXPIRED: { status: 'failed', reason: 'undeliverable' },
  DELETED: { status: 'failed', reason: 'undeliverable' },
  ACCEPTD: { status: 'accepted' },
  ENROUTE: { status: 'accepted' },
};

/** The fields of an SMPP 3.4 Appendix B delivery receipt text. */
export interface DeliveryReceipt {
  readonly id?: string;
  readonly sub?: string;
  readonly dlvrd?: string;
  readonly submitDate?: string;
  readonly doneDate?: string;
  readonly stat?: string;
  readonly err?: string;
}

/**
 * Parses the delivery receipt text of SMPP 3.4 Appendix B. Field names are matched
 * case-insensitively; the free `Text:` field (the start of the original message) and
 * anything after it is ignored.
 *
 * @example
 * parseDeliveryReceipt('id:0000000001 sub:001 dlvrd:001 stat:DELIVRD err:000 Text:…');
 * // { id: '0000000001', sub: '001', dlvrd: '001', stat: 'DELIVRD', err: '000' }
 */
export function parseDeliveryReceipt(text: string): DeliveryReceipt {
  const head = text.split(/(?:^|\s)text:/i)[0] ?? '';
  const field = (name: string): string | undefined => {
    const match = new RegExp(`(?:^|\\s)${name}:(\\S*)`, 'i').exec(head);
    return match?.[1] === undefined || match[1] === '' ? undefined : match[1];
  };
  const values = {
    id: field('id'),
    sub: field('sub'),
    dlvrd: field('dlvrd') ?? field('dlvr'),
    submitDate: field('submit date'),
    doneDate: field('done date'),
    stat: field('stat')?.toUpperCase(),
    err: field('err'),
  };
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as DeliveryReceipt;
}

/** The text of a decoded `short_message` / `message_payload` (`{ message }` or raw bytes). */
function messageText(value: unknown): string | undefined {
  if (Buffer.isBuffer(value)) return value.length > 0 ? value.toString('latin1') : undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'object' && value !== null && 'message' in value) return messageText((value as { message: unknown }).message);
  return undefined;
}

/** A receipt's meaning: which message, and its status. */
export interface ReceiptStatus {
  readonly providerMessageId: string;
  readonly status: DeliveryStatus;
  readonly reason?: FailureReason;
}

/**
 * The status a `deliver_sm` reports, if it is a delivery receipt (or an intermediate
 * notification) with a known id and a known state. The `receipted_message_id` /
 * `message_state` TLVs, when present, take precedence for the id and fill in a missing `stat`.
 * DELIVRD → delivered; UNDELIV / REJECTD / EXPIRED / DELETED → failed (undeliverable);
 * ACCEPTD / ENROUTE → accepted; UNKNOWN and anything else → undefined.
 */
export function receiptStatus(pdu: smpp.PDU): ReceiptStatus | undefined {
  const esmClass = typeof pdu['esm_class'] === 'number' ? pdu['esm_class'] : 0;
  const type = esmClass & ESM_TYPE_MASK;
  if (type !== ESM_DELIVERY_RECEIPT && type !== ESM_INTERMEDIATE) return undefined; // mobile-originated: not used
  const text = messageText(pdu['short_message']) ?? messageText(pdu['message_payload']) ?? '';
  const receipt = parseDeliveryReceipt(text);
  const tlvId = pdu['receipted_message_id'];
  const id = typeof tlvId === 'string' && tlvId.length > 0 ? tlvId : receipt.id;
  const tlvState = pdu['message_state'];
  const stat = receipt.stat ?? (typeof tlvState === 'number' ? MESSAGE_STATE[tlvState] : undefined);
  const mapped = stat === undefined ? undefined : STAT[stat];
  if (id === undefined || mapped === undefined) return undefined;
  return { providerMessageId: id, status: mapped.status, ...(mapped.reason === undefined ? {} : { reason: mapped.reason }) };
}

/** A sender address with its type of number and numbering plan. */
export interface SourceAddress {
  readonly addr: string;
  readonly ton: number;
  readonly npi: number;
}

/**
 * The sender address as SMPP wants it. '+' and digits → international (TON 1, NPI 1,
 * without the '+'); 3–8 digits → short code (TON 3, NPI 0); otherwise alphanumeric, at
 * most 11 characters (TON 5, NPI 0). `ton` / `npi` override the guess.
 *
 * @example
 * sourceAddress('ExampleBank'); // { addr: 'ExampleBank', ton: 5, npi: 0 }
 */
export function sourceAddress(addr: string, ton?: number, npi?: number): SourceAddress {
  let guessTon: number;
  let guessNpi: number;
  let value = addr;
  if (/^\+[1-9]\d{1,14}$/.test(addr)) [guessTon, guessNpi, value] = [1, 1, addr.slice(1)];
  else if (/^\d{3,8}$/.test(addr)) [guessTon, guessNpi] = [3, 0];
  else if (/^[\x20-\x7e]{1,11}$/.test(addr)) [guessTon, guessNpi] = [5, 0];
  else throw new Error('smpp: sourceAddr must be E.164, a short code or at most 11 printable ASCII characters');
  return { addr: value, ton: ton ?? guessTon, npi: npi ?? guessNpi };
}

/**
 * `submit_sm` for one SMS: the destination as international E.164 (TON 1, NPI 1, digits
 * without '+'), a final delivery receipt requested (registered_delivery = 1), the text in
 * `short_message` when it fits one SMS, else in the `message_payload` TLV.
 */
export function submitSm(source: SourceAddress, phone: string, encoded: EncodedSms): smpp.PduOptions {
  const bytes = Buffer.from(encoded.bytes);
  return {
    service_type: '',
    source_addr_ton: source.ton,
    source_addr_npi: source.npi,
    source_addr: source.addr,
    dest_addr_ton: 1,
    dest_addr_npi: 1,
    destination_addr: phone.slice(1),
    esm_class: 0,
    protocol_id: 0,
    priority_flag: 0,
    registered_delivery: 1,
    data_coding: encoded.dataCoding,
    ...(encoded.single ? { short_message: bytes } : { short_message: Buffer.alloc(0), message_payload: bytes }),
  };
}

/** What a failed `command_status` means: the failure reason, and whether the SMSC considers the session unbound. */
export interface SubmitFailure {
  readonly reason: FailureReason;
  readonly unbound: boolean;
}

/**
 * ESME_RINVDSTADR → `not_capable`; ESME_RTHROTTLED / ESME_RMSGQFUL → `rate_limited`;
 * ESME_RSYSERR / ESME_RX_T_APPN / ESME_RINVBNDSTS → `unavailable` (the last one also
 * means the session must start over); any other status → `rejected`.
 */
export function submitFailure(status: number): SubmitFailure {
  switch (status) {
    case ESME_RINVDSTADR:
      return { reason: 'not_capable', unbound: false };
    case ESME_RTHROTTLED:
    case ESME_RMSGQFUL:
      return { reason: 'rate_limited', unbound: false };
    case ESME_RINVBNDSTS:
      return { reason: 'unavailable', unbound: true };
    case ESME_RSYSERR:
    case ESME_RX_T_APPN:
      return { reason: 'unavailable', unbound: false };
    default:
      return { reason: 'rejected', unbound: false };
  }
}

/** `0x0000000b`: a command_status as SMPP documents print it. */
export function statusHex(status: number): string {
  return `0x${status.toString(16).padStart(8, '0')}`;
}
