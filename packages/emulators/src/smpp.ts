/// <reference path="../../server/src/channels/smpp-module.d.ts" />
/**
 * A loopback SMSC speaking SMPP 3.4 (through the `smpp` package's server), as far as
 * Parley uses it:
 *
 * - `bind_transceiver` with system_id / password (ESME_RINVSYSID / ESME_RINVPASWD and the
 *   connection closed on a mismatch; ESME_RALYBND when bound twice);
 * - `submit_sm` → `submit_sm_resp` with a 10-digit message_id (ESME_RINVBNDSTS before a
 *   bind; destination must be TON 1 / NPI 1); the text is decoded from `short_message` or
 *   `message_payload` per data_coding (GSM 7-bit / UCS-2 / Latin-1 …);
 * - delivery receipts: `deliver_sm` with esm_class 0x04 and the SMPP 3.4 Appendix B text
 *   (`id:… sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD
 *   err:000 Text:…`), plus the `receipted_message_id` and `message_state` TLVs, sent to
 *   the bound transceiver of that system_id (queued until one is bound);
 * - `enquire_link`, `unbind`, and generic_nack / ESME_RINVCMDID for the rest.
 *
 * Receipts are automatic (`autoReceipt`, after `receiptDelayMs`) or sent by the test
 * (`receipt`). Delivered SMS land in a handset inbox per number and raise an `sms` event.
 * Switches: throttle (ESME_RTHROTTLED), system error (ESME_RSYSERR), invalid destinations
 * (ESME_RINVDSTADR), no response to submit_sm, drop all connections, broken (drop and
 * refuse every connection), duplicate receipts, receipts without TLVs. Every byte clients
 * send is recorded (`recorder`).
 */
import { EventEmitter } from 'node:events';
import smpp from 'smpp';
import { ByteRecorder, RecordingFront } from './recorder.js';

/** The `stat` word of an SMPP 3.4 Appendix B delivery receipt. */
export type ReceiptStat = 'DELIVRD' | 'UNDELIV' | 'REJECTD' | 'EXPIRED' | 'DELETED' | 'ACCEPTD' | 'ENROUTE' | 'UNKNOWN';

/** How to start the SMPP emulator. */
export interface SmppEmulatorOptions {
  /** Default 'parley'. */
  readonly systemId?: string;
  /** Default 'secret'. */
  readonly password?: string;
  /** Send DELIVRD receipts by itself (for numbers in `undeliverable`: UNDELIV). Default false. */
  readonly autoReceipt?: boolean;
  /** Default 20 ms. */
  readonly receiptDelayMs?: number;
}

/** One `submit_sm` the SMSC accepted. */
export interface SmppSubmission {
  readonly messageId: string;
  readonly systemId: string;
  readonly sourceAddr: string;
  readonly sourceTon: number;
  readonly sourceNpi: number;
  /** E.164 ('+' and the destination digits). */
  readonly to: string;
  readonly dataCoding: number;
  /** Where the text came: `short_message`, or the `message_payload` TLV (texts longer than one SMS). */
  readonly field: 'short_message' | 'message_payload';
  readonly text: string;
  readonly registeredDelivery: number;
  readonly submittedAt: Date;
  state: ReceiptStat | 'ENROUTE';
}

/** One SMS as it arrived on a handset. */
export interface HandsetSms {
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly messageId: string;
  readonly at: Date;
}

const ESME_ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RALYBND = 0x05;
const ESME_RSYSERR = 0x08;
const ESME_RINVDSTADR = 0x0b;
const ESME_RINVPASWD = 0x0e;
const ESME_RINVSYSID = 0x0f;
const ESME_RINVCMDID = 0x03;
const ESME_RINVDSTTON = 0x50;
const ESME_RINVDSTNPI = 0x51;
const ESME_RTHROTTLED = 0x58;

const MESSAGE_STATE: Readonly<Record<ReceiptStat, number>> = {
  ENROUTE: 1,
  DELIVRD: 2,
  EXPIRED: 3,
  DELETED: 4,
  UNDELIV: 5,
  ACCEPTD: 6,
  UNKNOWN: 7,
  REJECTD: 8,
};

/** YYMMDDhhmm (UTC), the receipt date format. */
function receiptDate(date: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}`;
}

/** The decoded text of a short_message / message_payload value (`{ message }` after the library's decoding). */
function decodedText(value: unknown): string | undefined {
  if (Buffer.isBuffer(value)) return value.length > 0 ? value.toString('latin1') : undefined;
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'object' && value !== null && 'message' in value) return decodedText((value as { message: unknown }).message);
  return undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

interface SessionState {
  systemId: string | undefined;
}

interface QueuedReceipt {
  readonly submission: SmppSubmission;
  readonly stat: ReceiptStat;
  readonly err: string;
  readonly resolve: () => void;
}

/**
 * The SMPP emulator (an SMSC on loopback).
 *
 * @example
 * const smsc = await SmppEmulator.start({ autoReceipt: true });
 * smsc.on('sms', (sms) => console.log(sms.to));
 */
export class SmppEmulator extends EventEmitter<{ sms: [HandsetSms]; submit: [SmppSubmission]; bind: [string] }> {
  readonly systemId: string;
  readonly password: string;
  readonly recorder = new ByteRecorder('smpp');

  /** Destinations (E.164) answered with ESME_RINVDSTADR. */
  readonly invalidDestinations = new Set<string>();
  /** Destinations whose automatic receipt is UNDELIV. */
  readonly undeliverable = new Set<string>();
  readonly submissions = new Map<string, SmppSubmission>();

  /** Answer submit_sm with ESME_RTHROTTLED. */
  throttle = false;
  /** Answer submit_sm with ESME_RSYSERR. */
  systemError = false;
  /** Swallow submit_sm (no submit_sm_resp at all); enquire_link is still answered. */
  noResponse = false;
  /** Send every receipt twice. */
  duplicateReceipts = false;
  /** Include the receipted_message_id / message_state TLVs in receipts (the text is always there). */
  receiptTlvs = true;
  autoReceipt: boolean;
  receiptDelayMs: number;

  private readonly server: smpp.Server;
  private readonly state = new WeakMap<smpp.Session, SessionState>();
  private readonly inboxes = new Map<string, HandsetSms[]>();
  private readonly queued: QueuedReceipt[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private front!: RecordingFront;
  private broken = false;
  private nextId = 1;
  private bindCount = 0;
  private connectionCount = 0;
  private enquireLinkCount = 0;

  private constructor(options: SmppEmulatorOptions) {
    super();
    this.systemId = options.systemId ?? 'parley';
    this.password = options.password ?? 'secret';
    this.autoReceipt = options.autoReceipt ?? false;
    this.receiptDelayMs = options.receiptDelayMs ?? 20;
    this.server = smpp.createServer((session) => this.onSession(session));
  }

  static async start(options: SmppEmulatorOptions = {}): Promise<SmppEmulator> {
    const emulator = new SmppEmulator(options);
    emulator.front = await RecordingFront.listen(emulator.recorder, emulator.server);
    return emulator;
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** The public SMPP port. */
  get port(): number {
    return this.front.port;
  }

  /** Successful binds so far. */
  get binds(): number {
    return this.bindCount;
  }

  /** TCP connections accepted so far (refused ones included). */
  get connections(): number {
    return this.connectionCount;
  }

  /** enquire_link requests answered so far. */
  get enquireLinks(): number {
    return this.enquireLinkCount;
  }

  /** Sessions currently bound. */
  get boundSessions(): number {
    return this.server.sessions.filter((s) => this.state.get(s)?.systemId !== undefined).length;
  }

  inbox(number: string): readonly HandsetSms[] {
    return this.inboxes.get(number) ?? [];
  }

  acceptedFor(number: string): SmppSubmission[] {
    return [...this.submissions.values()].filter((s) => s.to === number);
  }

  /** Drops every connection once (the ESME should rebind). */
  dropConnections(): void {
    for (const session of [...this.server.sessions]) session.destroy();
  }

  /** Broken: drops every connection and closes each new one at once, until `setBroken(false)`. */
  setBroken(broken: boolean): void {
    this.broken = broken;
    if (broken) this.dropConnections();
  }

  /**
   * Sends a delivery receipt for a message to the system_id's bound transceiver (queued
   * until one is bound). Resolves when the ESME answered deliver_sm_resp. DELIVRD puts the
   * text in the handset inbox (once).
   */
  receipt(messageId: string, stat: ReceiptStat = 'DELIVRD', err = stat === 'DELIVRD' ? '000' : '001'): Promise<void> {
    const submission = this.submissions.get(messageId);
    if (!submission) return Promise.reject(new Error(`smpp emulator: no message ${messageId}`));
    if (stat === 'DELIVRD' && submission.state !== 'DELIVRD') this.toHandset(submission);
    if (stat !== 'ENROUTE' && stat !== 'ACCEPTD') submission.state = stat;
    return new Promise<void>((resolve) => {
      this.queued.push({ submission, stat, err, resolve });
      this.flushReceipts();
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const q of this.queued.splice(0)) q.resolve();
    for (const session of [...this.server.sessions]) session.destroy();
    await this.front.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- sessions ------------------------------------------------------------------------------

  private onSession(session: smpp.Session): void {
    this.connectionCount++;
    if (this.broken) {
      session.destroy();
      return;
    }
    this.state.set(session, { systemId: undefined });
    session.on('error', () => session.destroy());
    session.on('bind_transceiver', (pdu: smpp.PDU) => this.onBind(session, pdu));
    session.on('submit_sm', (pdu: smpp.PDU) => this.onSubmit(session, pdu));
    session.on('enquire_link', (pdu: smpp.PDU) => {
      this.enquireLinkCount++;
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: smpp.PDU) => {
      session.send(pdu.response(), () => session.close());
    });
    session.on('pdu', (pdu: smpp.PDU) => {
      const handled = ['bind_transceiver', 'submit_sm', 'enquire_link', 'unbind'];
      if (pdu.isResponse() || handled.includes(pdu.command)) return;
      session.send(pdu.response({ command_status: ESME_RINVCMDID }));
    });
  }

  private onBind(session: smpp.Session, pdu: smpp.PDU): void {
    const state = this.state.get(session);
    if (!state) return;
    if (state.systemId !== undefined) {
      session.send(pdu.response({ command_status: ESME_RALYBND }));
      return;
    }
    const fail = (status: number): void => {
      session.send(pdu.response({ command_status: status }), () => session.close());
    };
    if (str(pdu['system_id']) !== this.systemId) return fail(ESME_RINVSYSID);
    if (str(pdu['password']) !== this.password) return fail(ESME_RINVPASWD);
    state.systemId = this.systemId;
    this.bindCount++;
    session.send(pdu.response({ system_id: 'PARLEYSMSC' }));
    this.emit('bind', this.systemId);
    this.flushReceipts();
  }

  private onSubmit(session: smpp.Session, pdu: smpp.PDU): void {
    const state = this.state.get(session);
    if (!state?.systemId) {
      session.send(pdu.response({ command_status: ESME_RINVBNDSTS }));
      return;
    }
    if (this.noResponse) return;
    const respond = (status: number, messageId = ''): void => {
      session.send(status === ESME_ROK ? pdu.response({ message_id: messageId }) : pdu.response({ command_status: status }));
    };
    if (this.systemError) return respond(ESME_RSYSERR);
    if (this.throttle) return respond(ESME_RTHROTTLED);
    if (num(pdu['dest_addr_ton']) !== 1) return respond(ESME_RINVDSTTON);
    if (num(pdu['dest_addr_npi']) !== 1) return respond(ESME_RINVDSTNPI);
    const to = `+${str(pdu['destination_addr'])}`;
    if (!/^\+[1-9]\d{1,14}$/.test(to) || this.invalidDestinations.has(to)) return respond(ESME_RINVDSTADR);
    const short = decodedText(pdu['short_message']);
    const text = short ?? decodedText(pdu['message_payload']) ?? '';
    const submission: SmppSubmission = {
      messageId: String(this.nextId++).padStart(10, '0'),
      systemId: state.systemId,
      sourceAddr: str(pdu['source_addr']),
      sourceTon: num(pdu['source_addr_ton']),
      sourceNpi: num(pdu['source_addr_npi']),
      to,
      dataCoding: num(pdu['data_coding']),
      field: short === undefined && pdu['message_payload'] !== undefined ? 'message_payload' : 'short_message',
      text,
      registeredDelivery: num(pdu['registered_delivery']),
      submittedAt: new Date(),
      state: 'ENROUTE',
    };
    this.submissions.set(submission.messageId, submission);
    respond(ESME_ROK, submission.messageId);
    this.emit('submit', submission);
    if (this.autoReceipt) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.receipt(submission.messageId, this.undeliverable.has(to) ? 'UNDELIV' : 'DELIVRD');
      }, this.receiptDelayMs);
      this.timers.add(t);
    }
  }

  /** Sends queued receipts whose ESME asked for them (registered_delivery) to a bound transceiver of its system_id. */
  private flushReceipts(): void {
    for (const item of [...this.queued]) {
      const { submission } = item;
      if ((submission.registeredDelivery & 0x03) === 0) {
        this.queued.splice(this.queued.indexOf(item), 1);
        item.resolve();
        continue;
      }
      const session = [...this.server.sessions].reverse().find((s) => this.state.get(s)?.systemId === submission.systemId);
      if (!session) return;
      this.queued.splice(this.queued.indexOf(item), 1);
      const copies = this.duplicateReceipts ? 2 : 1;
      let answered = 0;
      for (let i = 0; i < copies; i++) {
        const sent = session.deliver_sm(this.receiptPdu(item), () => {
          if (++answered === copies) item.resolve();
        });
        if (!sent) {
          this.queued.unshift(item);
          return;
        }
      }
    }
  }

  private receiptPdu({ submission, stat, err }: QueuedReceipt): smpp.PduOptions {
    const now = new Date();
    const text =
      `id:${submission.messageId} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} ` +
      `submit date:${receiptDate(submission.submittedAt)} done date:${receiptDate(now)} ` +
      `stat:${stat} err:${err} Text:${submission.text.slice(0, 20)}`;
    return {
      service_type: '',
      source_addr_ton: 1,
      source_addr_npi: 1,
      source_addr: submission.to.slice(1),
      dest_addr_ton: submission.sourceTon,
      dest_addr_npi: submission.sourceNpi,
      destination_addr: submission.sourceAddr,
      esm_class: 0x04,
      data_coding: 0x00,
      // Receipt text is plain ASCII (IA5); its characters are the same in the GSM default alphabet.
      short_message: Buffer.from(text.replace(/[^\x20-\x7e]/g, '?'), 'ascii'),
      ...(this.receiptTlvs ? { receipted_message_id: submission.messageId, message_state: MESSAGE_STATE[stat] } : {}),
    };
  }

  private toHandset(submission: SmppSubmission): void {
    const sms: HandsetSms = {
      to: submission.to,
      from: submission.sourceTon === 1 ? `+${submission.sourceAddr}` : submission.sourceAddr,
      text: submission.text,
      messageId: submission.messageId,
      at: new Date(),
    };
    const inbox = this.inboxes.get(submission.to) ?? [];
    inbox.push(sms);
    this.inboxes.set(submission.to, inbox);
    this.emit('sms', sms);
  }
}
