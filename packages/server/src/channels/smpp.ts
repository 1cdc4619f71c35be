/**
 * SMS over SMPP 3.4 to an SMSC (through the `smpp` package, typed in smpp-module.d.ts).
 * The session lives in `smpp-link.ts`, the PDUs in `smpp-pdu.ts`; this file is the Channel.
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
import {
  ChannelError,
  StatusEmitter,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type OutboundEnvelope,
  type OutboundItem,
  type Recipient,
  type SendResult,
  type StatusListener,
} from './channel.js';
import type smpp from 'smpp';
import { SmppLink, smppModule } from './smpp-link.js';
import { receiptStatus, sourceAddress, statusHex, submitFailure, submitSm, type SourceAddress } from './smpp-pdu.js';
import { SmsCapabilities, StatusFilter, encodeSms, linkText } from './sms.js';

/** How to configure the SMPP channel. */
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

/**
 * The SMPP SMS channel. It connects and binds at construction.
 *
 * @example
 * const sms = new SmppChannel({ host, port: 2775, systemId, password, sourceAddr: 'ExampleBank' });
 * await sms.ready();
 */
export class SmppChannel implements Channel {
  readonly name = 'smpp' as const;
  readonly carries: readonly OutboundItem['kind'][] = ['link'];

  private readonly emitter = new StatusEmitter();
  private readonly filter = new StatusFilter();
  private readonly caps: SmsCapabilities;
  private readonly source: SourceAddress;
  private readonly submitTimeoutMs: number;
  private readonly bindTimeoutMs: number;
  private readonly link: SmppLink;

  constructor(private readonly options: SmppChannelOptions) {
    this.source = sourceAddress(options.sourceAddr, options.sourceTon, options.sourceNpi);
    this.submitTimeoutMs = options.submitTimeoutMs ?? 10_000;
    this.bindTimeoutMs = options.bindTimeoutMs ?? 10_000;
    this.caps = new SmsCapabilities(options.capabilityTtlMs ?? 24 * 3600_000, options.failureTtlMs ?? 24 * 3600_000);
    this.link = new SmppLink({
      host: options.host,
      port: options.port,
      systemId: options.systemId,
      password: options.password,
      systemType: options.systemType ?? '',
      bindTimeoutMs: this.bindTimeoutMs,
      enquireLinkIntervalMs: options.enquireLinkIntervalMs ?? 30_000,
      enquireLinkTimeoutMs: options.enquireLinkTimeoutMs ?? 10_000,
      backoffInitialMs: options.reconnect?.initialMs ?? 1_000,
      backoffMaxMs: options.reconnect?.maxMs ?? 30_000,
      onDeliverSm: (pdu) => this.onDeliverSm(pdu),
    });
  }

  /** Successful binds so far (a rebind after a lost session counts again). */
  get bindCount(): number {
    return this.link.bindCount;
  }

  /** Resolves once bound (true), or false if the first attempt failed or `timeoutMs` passed. */
  ready(timeoutMs = this.bindTimeoutMs): Promise<boolean> {
    return this.link.ready(timeoutMs);
  }

  capabilities(recipient: Recipient): Promise<Capabilities> {
    return Promise.resolve(this.caps.capabilities(recipient));
  }

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const { text, phone } = linkText(this.name, envelope);
    try {
      const session = await this.link.bound(this.submitTimeoutMs);
      const pdu = new (smppModule().PDU)('submit_sm', submitSm(this.source, phone, encodeSms(text)));
      const response = await this.link.request(session, pdu, this.submitTimeoutMs, 'submit_sm');
      const status = response.command_status;
      if (status !== 0) {
        const failure = submitFailure(status);
        // The SMSC does not consider us bound: start over.
        if (failure.unbound) this.link.reset(session, 'SMSC reports the session unbound');
        throw new ChannelError(this.name, failure.reason, `smpp: command_status ${statusHex(status)}`, { providerCode: status });
      }
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
    if (this.link.state === 'bound') return Promise.resolve({ ok: true, detail: `bound (transceiver) to ${where}` });
    return Promise.resolve({ ok: false, detail: `${this.link.state}: ${this.link.lastProblem}` });
  }

  close(): Promise<void> {
    return this.link.close();
  }

  /** A delivery receipt becomes a status event (once per message and status, never backwards). */
  private onDeliverSm(pdu: smpp.PDU): void {
    const receipt = receiptStatus(pdu);
    if (receipt === undefined || !this.filter.admit(receipt.providerMessageId, receipt.status)) return;
    this.emitter.emit({ channel: this.name, ...receipt, at: new Date() });
  }
}
