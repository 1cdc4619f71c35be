/**
 * The SMS adapter's connection to the SMSC: one SMPP 3.4 session, bound as a
 * transceiver (`bind_transceiver`, interface_version 0x34), kept alive with
 * `enquire_link` (an unanswered one drops the session). A lost session or a refused bind
 * is retried with exponential backoff and full jitter over the upper half.
 *
 * Requests from the SMSC are answered here: `enquire_link`, `unbind` (then the session
 * closes and is rebound), `deliver_sm` (handed to `onDeliverSm`, then acknowledged), and
 * anything else with ESME_RINVCMDID (generic_nack for unknown ids); `alert_notification`
 * has no response.
 *
 * Requests to the SMSC (`request`) fail as `unavailable` when the session is lost before
 * the answer and `timeout` when no answer comes in time.
 */
import type smpp from 'smpp';
import { lazyCommonJs } from '../util/lazy-commonjs.js';
import { ChannelError } from './channel.js';
import { ESME_RINVCMDID, statusHex } from './smpp-pdu.js';

/** The `smpp` package, required when the first link connects: a node without an SMPP channel never loads it. */
export const smppModule = lazyCommonJs<typeof smpp>('smpp');

/** Requests from the SMSC with their own handler (or, for alert_notification, no response at all). */
const HANDLED_REQUESTS: ReadonlySet<string> = new Set(['deliver_sm', 'enquire_link', 'unbind', 'alert_notification']);

/** How to reach and bind to the SMSC. */
export interface SmppLinkOptions {
  readonly host: string;
  readonly port: number;
  readonly systemId: string;
  readonly password: string;
  readonly systemType: string;
  /** TCP connect + bind_transceiver_resp. */
  readonly bindTimeoutMs: number;
  readonly enquireLinkIntervalMs: number;
  /** An enquire_link unanswered this long drops the session. */
  readonly enquireLinkTimeoutMs: number;
  /** Reconnect backoff: first delay and cap. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** A `deliver_sm` from the SMSC (acknowledged right after this returns). */
  readonly onDeliverSm: (pdu: smpp.PDU) => void;
}

/** Where the session is. */
export type SmppLinkState = 'connecting' | 'bound' | 'backoff' | 'closed';

interface Pending {
  readonly session: smpp.Session;
  fail(error: ChannelError): void;
}

/**
 * A self-healing bound transceiver session. It connects at construction.
 *
 * @example
 * const link = new SmppLink({ host, port, systemId, password, systemType: '', bindTimeoutMs: 10_000,
 *   enquireLinkIntervalMs: 30_000, enquireLinkTimeoutMs: 10_000, backoffInitialMs: 1_000, backoffMaxMs: 30_000,
 *   onDeliverSm: (pdu) => receipts(pdu) });
 * const session = await link.bound(10_000);
 * const response = await link.request(session, new (smppModule().PDU)('submit_sm', options), 10_000, 'submit_sm');
 */
export class SmppLink {
  private stateValue: SmppLinkState = 'connecting';
  private session: smpp.Session | undefined;
  private attempt = 0;
  private binds = 0;
  private problem = 'not bound yet';
  private reconnectTimer: NodeJS.Timeout | undefined;
  private enquireTimer: NodeJS.Timeout | undefined;
  private readonly bindWaiters = new Set<(bound: boolean) => void>();
  private readonly pending = new Set<Pending>();

  constructor(private readonly options: SmppLinkOptions) {
    this.connect();
  }

  get state(): SmppLinkState {
    return this.stateValue;
  }

  /** Why the session is not bound ('' while bound). */
  get lastProblem(): string {
    return this.problem;
  }

  /** Successful binds so far (a rebind after a lost session counts again). */
  get bindCount(): number {
    return this.binds;
  }

  /** Resolves once bound (true), or false if the attempt under way failed or `timeoutMs` passed. */
  async ready(timeoutMs: number): Promise<boolean> {
    if (this.stateValue === 'bound') return true;
    if (this.stateValue === 'closed') return false;
    return this.waitForBind(timeoutMs);
  }

  /** The bound session; waits (up to `timeoutMs`) for a bind under way, fails fast while backing off. */
  async bound(timeoutMs: number): Promise<smpp.Session> {
    if (this.stateValue === 'connecting') await this.waitForBind(timeoutMs);
    if (this.stateValue === 'bound' && this.session) return this.session;
    throw new ChannelError('smpp', 'unavailable', `smpp: not bound (${this.problem || this.stateValue})`);
  }

  /** The SMSC no longer considers `session` bound (ESME_RINVBNDSTS): drop it and start over. */
  reset(session: smpp.Session, problem: string): void {
    if (this.session === session) this.problem = problem;
    session.destroy();
  }

  /** Sends a request PDU; resolves with its response (any command_status). */
  request(session: smpp.Session, pdu: smpp.PDU, timeoutMs: number, what: string): Promise<smpp.PDU> {
    return new Promise<smpp.PDU>((resolve, reject) => {
      const entry: Pending = {
        session,
        fail: (error) => {
          clearTimeout(timer);
          this.pending.delete(entry);
          reject(error);
        },
      };
      const timer = setTimeout(() => entry.fail(new ChannelError('smpp', 'timeout', `smpp: no ${what}_resp within ${timeoutMs} ms`)), timeoutMs);
      this.pending.add(entry);
      const written = session.send(pdu, (response) => {
        if (!this.pending.delete(entry)) return; // already timed out or failed
        clearTimeout(timer);
        resolve(response);
      });
      if (!written) entry.fail(new ChannelError('smpp', 'unavailable', 'smpp: connection not writable'));
    });
  }

  /** Unbinds (when bound) and closes the connection; no reconnect afterwards. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasBound = this.stateValue === 'bound';
    this.stateValue = 'closed';
    this.problem = 'closed';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.enquireTimer);
    this.settleWaiters(false);
    const session = this.session;
    if (!session) return;
    if (wasBound) {
      await this.request(session, new (smppModule().PDU)('unbind'), 1_000, 'unbind').catch(() => undefined);
    }
    await new Promise<void>((resolve) => {
      if (session.socket.destroyed) return resolve();
      session.socket.once('close', () => resolve());
      session.destroy();
    });
  }

  private connect(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'connecting';
    const { options } = this;
    const session = smppModule().connect({ host: options.host, port: options.port });
    this.session = session;
    const bindTimer = setTimeout(() => {
      this.problem = `no bind within ${options.bindTimeoutMs} ms`;
      session.destroy();
    }, options.bindTimeoutMs);
    session.on('connect', () => {
      session.bind_transceiver(
        { system_id: options.systemId, password: options.password, system_type: options.systemType, interface_version: 0x34 },
        (response) => {
          clearTimeout(bindTimer);
          if (this.session !== session || this.stateValue !== 'connecting') return;
          if (response.command_status !== 0) {
            this.problem = `bind refused (command_status ${statusHex(response.command_status)})`;
            session.destroy();
            return;
          }
          this.stateValue = 'bound';
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
    session.on('deliver_sm', (pdu: smpp.PDU) => {
      options.onDeliverSm(pdu);
      session.send(pdu.response());
    });
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
      if (entry.session === session) entry.fail(new ChannelError('smpp', 'unavailable', 'smpp: connection lost before the answer'));
    }
    if (this.session !== session) return;
    this.session = undefined;
    clearInterval(this.enquireTimer);
    this.enquireTimer = undefined;
    if (this.problem === '') this.problem = 'connection closed';
    this.settleWaiters(false);
    if (this.stateValue === 'closed') return;
    this.stateValue = 'backoff';
    const cap = Math.min(this.options.backoffMaxMs, this.options.backoffInitialMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    const delay = cap / 2 + Math.random() * (cap / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }

  private startEnquireLink(session: smpp.Session): void {
    clearInterval(this.enquireTimer);
    this.enquireTimer = setInterval(() => {
      if (this.session !== session || this.stateValue !== 'bound') return;
      void this.request(session, new (smppModule().PDU)('enquire_link'), this.options.enquireLinkTimeoutMs, 'enquire_link').catch(() => {
        if (this.session === session) this.problem = 'enquire_link unanswered';
        session.destroy();
      });
    }, this.options.enquireLinkIntervalMs);
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
}
