/**
 * SMS over SMPP 3.4 to an SMSC (through the `smpp` package, typed in smpp-module.d.ts).
 *
 * - One session, bound as a transceiver (`bind_transceiver`, interface_version 0x34), kept
 *   alive with `enquire_link` (an unanswered one drops the session). A lost session or a
 *   refused bind is retried with exponential backoff and jitter.
 * - send: `submit_sm` with registered_delivery = 1 (final receipt), the destination as
 *   international E.164 (TON 1, NPI 1, digits without '+'), the link text as GSM 7-bit
 *   (data_coding 0, one septet per octet) or UCS-2 (data_coding 8); a text longer than
 *   one SMS goes in the `message_payload` TLV. The provider message id is
 *   `submit_sm_resp.message_id`.
 * - status: the SMSC's `deliver_sm` with a delivery receipt (esm_class message type
 *   0x04, or 0x20 for an intermediate notification) is answered with `deliver_sm_resp`.
 *   Its text (SMPP 3.4 Appendix B: `id:… sub:… dlvrd:… submit date:… done date:… stat:…
 *   err:… Text:…`) gives the state; the `receipted_message_id` / `message_state` TLVs,
 *   when present, take precedence for the id and fill in a missing `stat`.
 *   DELIVRD → delivered; UNDELIV / REJECTD / EXPIRED / DELETED → failed (undeliverable);
 *   ACCEPTD / ENROUTE → accepted; UNKNOWN → no event.
 * - errors: ESME_RINVDSTADR → `not_capable`; ESME_RTHROTTLED / ESME_RMSGQFUL →
 *   `rate_limited`; ESME_RSYSERR / ESME_RX_T_APPN / ESME_RINVBNDSTS, not bound, or the
 *   connection lost before the answer → `unavailable`; no `submit_sm_resp` within
 *   `submitTimeoutMs` → `timeout`; any other command_status → `rejected`.
 * - health: ok while bound.
 */
import smpp from 'smpp';
import {
  ChannelError,
  StatusEmitter,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type DeliveryStatus,
  type FailureReason,
  type OutboundEnvelope,
  type OutboundItem,
  type Recipient,
  type SendResult,
  type StatusListener,
} from './channel.js';
import { SmsCapabilities, StatusFilter, encodeSms, linkText } from './sms.js';

export interface SmppChannelOptions {
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly password: string;
  /** Default ''. */
  readonly systemType?: string;
  /**
   * Sender address. '+' and digits → international (TON 1, NPI 1); 3–8 digits → short code
   * (TON 3, NPI 0); otherwise alphanumeric, at most 11 characters (TON 5, NPI 0). Override
   * with `sourceTon` / `sourceNpi` if the SMSC wants something else.
   */
  readonly sourceAddr: string;
  readonly sourceTon?: number;
  readonly sourceNpi?: number;
  /** Wait for submit_sm_resp. Default 10 s. */
  readonly submitTimeoutMs?: number;
  /** TCP connect + bind_transceiver_resp. Default 10 s. */
  readonly bindTimeoutMs?: number;
  /** Default 30 s. */
  readonly enquireLinkIntervalMs?: number;
  /** An enquire_link unanswered this long drops the session. Default 10 s. */
  readonly enquireLinkTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap. Defaults 1 s and 30 s. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Capabilities TTL for a reachable number. Default 24 h. */
  readonly capabilityTtlMs?: number;
  /** How long an ESME_RINVDSTADR marks the recipient unreachable. Default 24 h. */
  readonly failureTtlMs?: number;
}

/** command_status values used here (SMPP 3.4 §5.1.3, table 5-2). */
const ESME_RINVCMDID = 0x03;
const ESME_RINVBNDSTS = 0x04;
const ESME_RSYSERR = 0x08;
const ESME_RINVDSTADR = 0x0b;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;
const ESME_RX_T_APPN = 0x64;

/** Requests from the SMSC with their own handler (or, for alert_notification, no response at all). */
const HANDLED_REQUESTS: ReadonlySet<string> = new Set(['deliver_sm', 'enquire_link', 'unbind', 'alert_notification']);

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

function sourceAddress(options: SmppChannelOptions): { addr: string; ton: number; npi: number } {
  const addr = options.sourceAddr;
  let ton: number;
  let npi: number;
  let value = addr;
  if (/^\+[1-9]\d{1,14}$/.test(addr)) [ton, npi, value] = [1, 1, addr.slice(1)];
  else if (/^\d{3,8}$/.test(addr)) [ton, npi] = [3, 0];
  else if (/^[\x20-\x7e]{1,11}$/.test(addr)) [ton, npi] = [5, 0];
  else throw new Error('smpp: sourceAddr must be E.164, a short code or at most 11 printable ASCII characters');
  return { addr: value, ton: options.sourceTon ?? ton, npi: options.sourceNpi ?? npi };
}

type State = 'connecting' | 'bound' | 'backoff' | 'closed';

interface Pending {
  readonly session: smpp.Session;
  fail(error: ChannelError): void;
}

export class SmppChannel implements Channel {
  readonly name = 'smpp' as const;
  readonly carries: readonly OutboundItem['kind'][] = ['link'];

  private readonly emitter = new StatusEmitter();
  private readonly filter = new StatusFilter();
  private readonly caps: SmsCapabilities;
  private readonly source: { addr: string; ton: number; npi: number };
  private readonly submitTimeoutMs: number;
  private readonly bindTimeoutMs: number;
  private readonly enquireLinkIntervalMs: number;
  private readonly enquireLinkTimeoutMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;

  private state: State = 'connecting';
  private session: smpp.Session | undefined;
  private attempt = 0;
  private binds = 0;
  private problem = 'not bound yet';
  private reconnectTimer: NodeJS.Timeout | undefined;
  private enquireTimer: NodeJS.Timeout | undefined;
  private readonly bindWaiters = new Set<(bound: boolean) => void>();
  private readonly pending = new Set<Pending>();

  constructor(private readonly options: SmppChannelOptions) {
    this.source = sourceAddress(options);
    this.submitTimeoutMs = options.submitTimeoutMs ?? 10_000;
    this.bindTimeoutMs = options.bindTimeoutMs ?? 10_000;
    this.enquireLinkIntervalMs = options.enquireLinkIntervalMs ?? 30_000;
    this.enquireLinkTimeoutMs = options.enquireLinkTimeoutMs ?? 10_000;
    this.backoffInitialMs = options.reconnect?.initialMs ?? 1_000;
    this.backoffMaxMs = options.reconnect?.maxMs ?? 30_000;
    this.caps = new SmsCapabilities(options.capabilityTtlMs ?? 24 * 3600_000, options.failureTtlMs ?? 24 * 3600_000);
    this.connect();
  }

  /** Successful binds so far (a rebind after a lost session counts again). */
  get bindCount(): number {
    return this.binds;
  }

  /** Resolves once bound (true), or false if the first attempt failed or `timeoutMs` passed. */
  async ready(timeoutMs = this.bindTimeoutMs): Promise<boolean> {
    if (this.state === 'bound') return true;
    if (this.state === 'closed') return false;
    return this.waitForBind(timeoutMs);
  }

  capabilities(recipient: Recipient): Promise<Capabilities> {
    return Promise.resolve(this.caps.capabilities(recipient));
  }

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const { text, phone } = linkText(this.name, envelope);
    try {
      const session = await this.boundSession();
      const encoded = encodeSms(text);
      const bytes = Buffer.from(encoded.bytes);
      const pdu = new smpp.PDU('submit_sm', {
        service_type: '',
        source_addr_ton: this.source.ton,
        source_addr_npi: this.source.npi,
        source_addr: this.source.addr,
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: phone.slice(1),
        esm_class: 0,
        protocol_id: 0,
        priority_flag: 0,
        registered_delivery: 1,
        data_coding: encoded.dataCoding,
        ...(encoded.single ? { short_message: bytes } : { short_message: Buffer.alloc(0), message_payload: bytes }),
      });
      const response = await this.request(session, pdu, this.submitTimeoutMs, 'submit_sm');
      if (response.command_status !== 0) throw this.mapStatus(session, response.command_status);
      const messageId = response['message_id'];
      if (typeof messageId !== 'string' || messageId.length === 0) {
        throw new ChannelError(this.name, 'rejected', 'smpp: submit_sm_resp without message_id');
      }
      return { providerMessageId: messageId };
    } catch (error) {
      this.caps.noteFailure(envelope.recipient, error);
      throw error;
    }
  }

  onStatus(listener: StatusListener): () => void {
    return this.emitter.on(listener);
  }

  health(): Promise<ChannelHealth> {
    const where = `${this.options.host}:${this.options.port}`;
    if (this.state === 'bound') return Promise.resolve({ ok: true, detail: `bound (transceiver) to ${where}` });
    return Promise.resolve({ ok: false, detail: `${this.state}: ${this.problem}` });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasBound = this.state === 'bound';
    this.state = 'closed';
    this.problem = 'closed';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.enquireTimer);
    this.settleWaiters(false);
    const session = this.session;
    if (!session) return;
    if (wasBound) {
      await this.request(session, new smpp.PDU('unbind'), 1_000, 'unbind').catch(() => undefined);
    }
    await new Promise<void>((resolve) => {
      if (session.socket.destroyed) return resolve();
      session.socket.once('close', () => resolve());
      session.destroy();
    });
  }

  // --- session -----------------------------------------------------------------------------

  private connect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    const session = smpp.connect({ host: this.options.host, port: this.options.port });
    this.session = session;
    const bindTimer = setTimeout(() => {
      this.problem = `no bind within ${this.bindTimeoutMs} ms`;
      session.destroy();
    }, this.bindTimeoutMs);
    session.on('connect', () => {
      session.bind_transceiver(
        {
          system_id: this.options.systemId,
          password: this.options.password,
          system_type: this.options.systemType ?? '',
          interface_version: 0x34,
        },
        (response) => {
          clearTimeout(bindTimer);
          if (this.session !== session || this.state !== 'connecting') return;
          if (response.command_status !== 0) {
            this.problem = `bind refused (command_status 0x${response.command_status.toString(16).padStart(8, '0')})`;
            session.destroy();
            return;
          }
          this.state = 'bound';
          this.attempt = 0;
          this.binds++;
          this.problem = '';
          this.startEnquireLink(session);
          this.settleWaiters(true);
        },
      );
    });
    session.on('error', (error: Error) => {
      if (this.session === session) this.problem = error.message;
      session.destroy(); // a socket or framing error: the stream cannot be trusted any more
    });
    session.on('close', () => {
      clearTimeout(bindTimer);
      this.onClose(session);
    });
    session.on('deliver_sm', (pdu: smpp.PDU) => this.onDeliverSm(session, pdu));
    session.on('enquire_link', (pdu: smpp.PDU) => {
      session.send(pdu.response());
    });
    session.on('unbind', (pdu: smpp.PDU) => {
      session.send(pdu.response());
      if (this.session === session) this.problem = 'unbound by the SMSC';
      session.close();
    });
    session.on('pdu', (pdu: smpp.PDU) => {
      // Any other request from the SMSC (data_sm, query_sm …) is answered "invalid command"
      // (generic_nack for unknown ids); alert_notification alone has no response.
      if (pdu.isResponse() || HANDLED_REQUESTS.has(pdu.command)) return;
      session.send(pdu.response({ command_status: ESME_RINVCMDID }));
    });
  }

  private onClose(session: smpp.Session): void {
    for (const entry of this.pending) {
      if (entry.session === session) entry.fail(new ChannelError(this.name, 'unavailable', 'smpp: connection lost before the answer'));
    }
    if (this.session !== session) return;
    this.session = undefined;
    clearInterval(this.enquireTimer);
    this.enquireTimer = undefined;
    if (this.problem === '') this.problem = 'connection closed';
    this.settleWaiters(false);
    if (this.state === 'closed') return;
    this.state = 'backoff';
    const cap = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private startEnquireLink(session: smpp.Session): void {
    clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (this.session !== session || this.state !== 'bound') return;
      void this.request(session, new smpp.PDU('enquire_link'), this.enquireLinkTimeoutMs, 'enquire_link').catch(() => {
        if (this.session === session) this.problem = 'enquire_link unanswered';
        session.destroy();
      });
    }, this.enquireLinkIntervalMs);
    this.enquireTimer.unref();
  }

  private waitForBind(timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (bound: boolean): void => {
        clearTimeout(timer);
        this.bindWaiters.delete(done);
        resolve(bound);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.bindWaiters.add(done);
    });
  }

  private settleWaiters(bound: boolean): void {
    for (const waiter of [...this.bindWaiters]) waiter(bound);
  }

  /** The bound session; waits for a bind under way, fails fast while backing off. */
  private async boundSession(): Promise<smpp.Session> {
    if (this.state === 'connecting') await this.waitForBind(this.submitTimeoutMs);
    if (this.state === 'bound' && this.session) return this.session;
    throw new ChannelError(this.name, 'unavailable', `smpp: not bound (${this.problem || this.state})`);
  }

  /** Sends a request PDU; resolves with its response (any command_status). */
  private request(session: smpp.Session, pdu: smpp.PDU, timeoutMs: number, what: string): Promise<smpp.PDU> {
    return new Promise<smpp.PDU>((resolve, reject) => {
      const entry: Pending = {
        session,
        fail: (error) => {
          clearTimeout(timer);
          this.pending.delete(entry);
          reject(error);
        },
      };
      const timer = setTimeout(
        () => entry.fail(new ChannelError(this.name, 'timeout', `smpp: no ${what}_resp within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.add(entry);
      const written = session.send(pdu, (response) => {
        if (!this.pending.delete(entry)) return; // already timed out or failed
        clearTimeout(timer);
        resolve(response);
      });
      if (!written) entry.fail(new ChannelError(this.name, 'unavailable', 'smpp: connection not writable'));
    });
  }

  private mapStatus(session: smpp.Session, status: number): ChannelError {
    const what = `smpp: command_status 0x${status.toString(16).padStart(8, '0')}`;
    switch (status) {
      case ESME_RINVDSTADR:
        return new ChannelError(this.name, 'not_capable', what, { providerCode: status });
      case ESME_RTHROTTLED:
      case ESME_RMSGQFUL:
        return new ChannelError(this.name, 'rate_limited', what, { providerCode: status });
      case ESME_RINVBNDSTS:
        // The SMSC does not consider us bound: start over.
        if (this.session === session) this.problem = 'SMSC reports the session unbound';
        session.destroy();
        return new ChannelError(this.name, 'unavailable', what, { providerCode: status });
      case ESME_RSYSERR:
      case ESME_RX_T_APPN:
        return new ChannelError(this.name, 'unavailable', what, { providerCode: status });
      default:
        return new ChannelError(this.name, 'rejected', what, { providerCode: status });
    }
  }

  // --- receipts ------------------------------------------------------------------------------

  private onDeliverSm(session: smpp.Session, pdu: smpp.PDU): void {
    const esmClass = typeof pdu['esm_class'] === 'number' ? pdu['esm_class'] : 0;
    const type = esmClass & ESM_TYPE_MASK;
    if (type === ESM_DELIVERY_RECEIPT || type === ESM_INTERMEDIATE) this.onReceipt(pdu);
    // Mobile-originated messages are not used by Parley: acknowledged and dropped.
    session.send(pdu.response());
  }

  private onReceipt(pdu: smpp.PDU): void {
    const text = messageText(pdu['short_message']) ?? messageText(pdu['message_payload']) ?? '';
    const receipt = parseDeliveryReceipt(text);
    const tlvId = pdu['receipted_message_id'];
    const id = typeof tlvId === 'string' && tlvId.length > 0 ? tlvId : receipt.id;
    const tlvState = pdu['message_state'];
    const stat = receipt.stat ?? (typeof tlvState === 'number' ? MESSAGE_STATE[tlvState] : undefined);
    const mapped = stat === undefined ? undefined : STAT[stat];
    if (id === undefined || mapped === undefined) return;
    if (!this.filter.admit(id, mapped.status)) return;
    this.emitter.emit({
      channel: this.name,
      providerMessageId: id,
      status: mapped.status,
      ...(mapped.reason === undefined ? {} : { reason: mapped.reason }),
      at: new Date(),
    });
  }
}
