/**
 * A loopback Twilio Programmable Messaging API (2010-04-01), as far as Parley uses it:
 *
 * - `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form-encoded To, From or
 *   MessagingServiceSid, Body, StatusCallback) with HTTP Basic auth (Account SID + Auth
 *   Token, or an API key SID + secret). Answers 201 with the Message resource (`sid` SM…,
 *   `status` queued, or accepted for a Messaging Service) or Twilio's error JSON
 *   `{code, message, more_info, status}`.
 * - `GET /2010-04-01/Accounts/{AccountSid}.json` (the account: `status` active) and
 *   `GET …/Messages/{Sid}.json`.
 * - Status callbacks: form-encoded POSTs to the message's StatusCallback (AccountSid,
 *   ApiVersion, From, MessageSid, MessageStatus, SmsSid, SmsStatus, To, ErrorCode) signed
 *   with `X-Twilio-Signature` = base64(HMAC-SHA1(Auth Token, URL + params sorted by name,
 *   name then value)). Automatic (`sent`, then `delivered` or `undelivered`, after small
 *   delays) or driven by the test (`deliver`, `fail`, `postCallback`).
 * - A handset inbox per number: the text of every delivered SMS, and an `sms` event.
 *
 * Switches make it misbehave: 5xx for everything, hang (never answer), 429, dead numbers
 * (21211 invalid, 21614 not mobile, 21610 unsubscribed), forged or missing callback
 * signatures, duplicated or reordered callbacks. Every byte clients send is recorded
 * (`recorder`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readBody } from './common/body.js';
import { HeldRequests } from './common/faults.js';
import { ByteRecorder, RecordingFront } from './recorder.js';

/** A Twilio Message resource's `status`. */
export type TwilioMessageStatus = 'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed';

/** How to start the Twilio emulator. */
export interface TwilioEmulatorOptions {
  /** Default: a random AC… SID. */
  readonly accountSid?: string;
  /** Default: 32 random hex digits. */
  readonly authToken?: string;
  /** Extra REST credentials: API key SID (SK…) → secret. */
  readonly apiKeys?: Readonly<Record<string, string>>;
  /**
   * 'auto' (default): after each accepted message, post `sent` after `callbackDelayMs` and
   * then `delivered` (or `undelivered` for numbers in `undeliverable`) after another
   * `callbackDelayMs`. 'manual': callbacks only when the test calls deliver / fail / postCallback.
   */
  readonly callbacks?: 'auto' | 'manual';
  /** Default 20 ms. */
  readonly callbackDelayMs?: number;
}

/** A message the emulated API accepted. */
export interface TwilioMessage {
  readonly sid: string;
  readonly to: string;
  readonly from: string | undefined;
  readonly messagingServiceSid: string | undefined;
  readonly body: string;
  readonly statusCallback: string | undefined;
  status: TwilioMessageStatus;
  errorCode: number | undefined;
  readonly dateCreated: Date;
}

/** One SMS as it arrived on a handset. */
export interface HandsetSms {
  readonly to: string;
  readonly from: string;
  readonly text: string;
  readonly sid: string;
  readonly at: Date;
}

/** A status callback the emulator posted, and what the receiver answered. */
export interface CallbackRecord {
  readonly sid: string;
  readonly status: TwilioMessageStatus;
  readonly url: string;
  readonly signature: 'valid' | 'forged' | 'missing';
  /** HTTP status of the receiver's answer, or 0 if the POST failed. */
  readonly responseStatus: number;
}

/** How a status callback is signed: correctly, with the wrong key, or not at all. */
export type CallbackSignatureMode = 'valid' | 'forged' | 'missing';
/** The automatic callback sequence: as Twilio usually sends it, each twice, or final status first. */
export type CallbackOrderMode = 'normal' | 'duplicate' | 'reversed';

/** Twilio's `X-Twilio-Signature` for a URL and the POST parameters. */
export function twilioRequestSignature(authToken: string, url: string, params: Iterable<readonly [string, string]>): string {
  const sorted = [...params].sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : av > bv ? 1 : 0) : ak < bk ? -1 : 1));
  return createHmac('sha1', authToken)
    .update(url + sorted.map(([k, v]) => k + v).join(''), 'utf8')
    .digest('base64');
}

const E164 = /^\+[1-9]\d{1,14}$/;
const API_VERSION = '2010-04-01';

interface TwilioErrorJson {
  readonly code: number;
  readonly message: string;
  readonly more_info: string;
  readonly status: number;
}

function twilioError(status: number, code: number, message: string): TwilioErrorJson {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/**
 * The Twilio emulator.
 *
 * @example
 * const twilio = await TwilioEmulator.start({ callbacks: 'auto' });
 * twilio.on('sms', (sms) => console.log(sms.to));
 */
export class TwilioEmulator extends EventEmitter<{ sms: [HandsetSms]; callback: [CallbackRecord] }> {
  readonly accountSid: string;
  readonly authToken: string;
  readonly recorder = new ByteRecorder('twilio');

  /** Numbers Twilio refuses as invalid (21211), not mobile (21614) or unsubscribed (21610). */
  readonly invalidNumbers = new Set<string>();
  readonly notMobileNumbers = new Set<string>();
  readonly unsubscribedNumbers = new Set<string>();
  /** Numbers whose messages end `undelivered` (ErrorCode 30003) in auto mode. */
  readonly undeliverable = new Set<string>();

  /** Every accepted message, by SID. */
  readonly messages = new Map<string, TwilioMessage>();
  readonly callbackLog: CallbackRecord[] = [];

  /** Answer every API request with this 5xx (500 → 20500, 503 → 20503). */
  failWith: 500 | 502 | 503 | undefined = undefined;
  /** Accept requests but never answer them. */
  hang = false;
  /** Answer 429 / 20429. */
  rateLimited = false;
  /** How status callbacks are signed. */
  callbackSignature: CallbackSignatureMode = 'valid';
  /** Auto-mode callback sequence: as Twilio usually sends it, each twice, or final status first. */
  callbackOrder: CallbackOrderMode = 'normal';
  callbacks: 'auto' | 'manual';
  callbackDelayMs: number;

  private readonly apiKeys: Readonly<Record<string, string>>;
  private readonly inboxes = new Map<string, HandsetSms[]>();
  private readonly hung = new HeldRequests<ServerResponse>((res) => res.destroy());
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly callbacksInFlight = new Set<Promise<unknown>>();
  private server!: Server;
  private front!: RecordingFront;
  private closed = false;

  private constructor(options: TwilioEmulatorOptions) {
    super();
    this.accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
    this.authToken = options.authToken ?? randomBytes(16).toString('hex');
    this.apiKeys = options.apiKeys ?? {};
    this.callbacks = options.callbacks ?? 'auto';
    this.callbackDelayMs = options.callbackDelayMs ?? 20;
  }

  static async start(options: TwilioEmulatorOptions = {}): Promise<TwilioEmulator> {
    const emulator = new TwilioEmulator(options);
    emulator.server = createServer((req, res) => emulator.handle(req, res));
    emulator.front = await RecordingFront.listen(emulator.recorder, emulator.server);
    return emulator;
  }

  /** The public API base URL (what `api.twilio.com` is in production). */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  get port(): number {
    return this.front.port;
  }

  /** The SMS a handset received, oldest first. */
  inbox(number: string): readonly HandsetSms[] {
    return this.inboxes.get(number) ?? [];
  }

  /** Messages accepted for a number. */
  acceptedFor(number: string): TwilioMessage[] {
    return [...this.messages.values()].filter((m) => m.to === number);
  }

  /** Marks a message delivered (handset inbox + `sms` event) and posts its `delivered` callback. */
  async deliver(sid: string): Promise<number> {
    return this.postCallback(sid, 'delivered');
  }

  /** Marks a message undelivered (or failed) and posts the callback with an ErrorCode. */
  async fail(sid: string, status: 'undelivered' | 'failed' = 'undelivered', errorCode = 30003): Promise<number> {
    return this.postCallback(sid, status, { errorCode });
  }

  /**
   * Sets a message's status and posts one status callback for it, signed per
   * `callbackSignature` (or `signature`). Resolves with the receiver's HTTP status (0 if the
   * POST failed). A `delivered` status puts the text in the handset inbox (once).
   */
  async postCallback(
    sid: string,
    status: TwilioMessageStatus,
    options: { errorCode?: number; signature?: CallbackSignatureMode } = {},
  ): Promise<number> {
    const message = this.messages.get(sid);
    if (!message) throw new Error(`twilio emulator: no message ${sid}`);
    if (status === 'delivered' && message.status !== 'delivered') this.toHandset(message);
    message.status = status;
    if (options.errorCode !== undefined) message.errorCode = options.errorCode;
    if (!message.statusCallback) return 0;
    const params = new URLSearchParams();
    params.set('AccountSid', this.accountSid);
    params.set('ApiVersion', API_VERSION);
    if (message.from) params.set('From', message.from);
    if (message.messagingServiceSid) params.set('MessagingServiceSid', message.messagingServiceSid);
    params.set('MessageSid', sid);
    params.set('MessageStatus', status);
    params.set('SmsSid', sid);
    params.set('SmsStatus', status);
    params.set('To', message.to);
    if ((status === 'undelivered' || status === 'failed') && message.errorCode !== undefined) {
      params.set('ErrorCode', String(message.errorCode));
    }
    const mode = options.signature ?? this.callbackSignature;
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      'user-agent': 'TwilioProxy/1.1',
      'i-twilio-idempotency-token': randomBytes(16).toString('hex'),
    };
    if (mode === 'valid') headers['x-twilio-signature'] = twilioRequestSignature(this.authToken, message.statusCallback, params);
    if (mode === 'forged') headers['x-twilio-signature'] = twilioRequestSignature(`${this.authToken}-forged`, message.statusCallback, params);
    let responseStatus = 0;
    const post = fetch(message.statusCallback, { method: 'POST', headers, body: params.toString() })
      .then(async (response) => {
        responseStatus = response.status;
        await response.arrayBuffer();
      })
      .catch(() => undefined);
    this.callbacksInFlight.add(post);
    await post;
    this.callbacksInFlight.delete(post);
    const record: CallbackRecord = { sid, status, url: message.statusCallback, signature: mode, responseStatus };
    this.callbackLog.push(record);
    this.emit('callback', record);
    return responseStatus;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.all(this.callbacksInFlight);
    this.hung.releaseAll();
    await this.front.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- HTTP ---------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    void readBody(req, Number.POSITIVE_INFINITY).then((received) => {
      if (received === undefined) return; // the client went away
      if (this.hang) {
        this.hung.hold(res);
        return;
      }
      const [status, body] = this.route(req, received.bytes.toString('utf8'));
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  }

  private route(req: IncomingMessage, body: string): [number, unknown] {
    if (this.failWith !== undefined) {
      const message = this.failWith === 503 ? 'Service Unavailable' : 'Internal Server Error';
      return [this.failWith, twilioError(this.failWith, 20000 + this.failWith, message)];
    }
    if (!this.authorized(req.headers.authorization)) {
      return [401, twilioError(401, 20003, 'Authenticate')];
    }
    if (this.rateLimited) return [429, twilioError(429, 20429, 'Too Many Requests')];
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const base = `/${API_VERSION}/Accounts/${this.accountSid}`;
    if (req.method === 'GET' && path === `${base}.json`) return [200, this.accountResource()];
    if (req.method === 'POST' && path === `${base}/Messages.json`) return this.createMessage(new URLSearchParams(body));
    const fetchMatch = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Messages\/(SM[0-9a-f]{32})\.json$/.exec(path);
    if (req.method === 'GET' && fetchMatch && fetchMatch[1] === this.accountSid) {
      const message = this.messages.get(fetchMatch[2] ?? '');
      if (message) return [200, this.messageResource(message)];
    }
    return [404, twilioError(404, 20404, `The requested resource ${path} was not found`)];
  }

  private authorized(header: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
    if (!match?.[1]) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    if (user === this.accountSid) return password === this.authToken;
    return Object.hasOwn(this.apiKeys, user) && this.apiKeys[user] === password;
  }

  private createMessage(form: URLSearchParams): [number, unknown] {
    const to = form.get('To');
    const from = form.get('From') ?? undefined;
    const messagingServiceSid = form.get('MessagingServiceSid') ?? undefined;
    const body = form.get('Body');
    const statusCallback = form.get('StatusCallback') ?? undefined;
    if (!to) return [400, twilioError(400, 21604, "A 'To' phone number is required.")];
    if (!from && !messagingServiceSid) return [400, twilioError(400, 21603, "A 'From' phone number is required.")];
    if (messagingServiceSid !== undefined && !/^MG[0-9a-f]{32}$/.test(messagingServiceSid)) {
      return [400, twilioError(400, 21701, 'The Messaging Service Sid is invalid.')];
    }
    if (!body) return [400, twilioError(400, 21602, 'Message body is required.')];
    if ([...body].length > 1600) return [400, twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.')];
    if (statusCallback !== undefined && !/^https?:\/\//.test(statusCallback)) {
      return [400, twilioError(400, 21609, 'Invalid StatusCallback url')];
    }
    if (!E164.test(to) || this.invalidNumbers.has(to)) {
      return [400, twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`)];
    }
    if (this.notMobileNumbers.has(to)) return [400, twilioError(400, 21614, `'To' number ${to} is not a valid mobile number`)];
    if (this.unsubscribedNumbers.has(to)) return [400, twilioError(400, 21610, 'Attempt to send to unsubscribed recipient')];
    const message: TwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to,
      from,
      messagingServiceSid,
      body,
      statusCallback,
      status: from ? 'queued' : 'accepted',
      errorCode: undefined,
      dateCreated: new Date(),
    };
    this.messages.set(message.sid, message);
    if (this.callbacks === 'auto') this.scheduleCallbacks(message);
    return [201, this.messageResource(message)];
  }

  private scheduleCallbacks(message: TwilioMessage): void {
    const final: TwilioMessageStatus = this.undeliverable.has(message.to) ? 'undelivered' : 'delivered';
    const options = final === 'undelivered' ? { errorCode: 30003 } : {};
    let sequence: TwilioMessageStatus[] = ['sent', final];
    if (this.callbackOrder === 'duplicate') sequence = ['sent', 'sent', final, final];
    if (this.callbackOrder === 'reversed') sequence = [final, 'sent'];
    const run = async (): Promise<void> => {
      for (const status of sequence) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.timers.delete(t);
            resolve();
          }, this.callbackDelayMs);
          this.timers.add(t);
        });
        if (this.closed) return;
        // In Twilio a late `sent` does not move the resource back; only the callback repeats.
        const current = message.status;
        await this.postCallback(message.sid, status, options);
        if ((current === 'delivered' || current === 'undelivered') && status === 'sent') message.status = current;
      }
    };
    void run();
  }

  private toHandset(message: TwilioMessage): void {
    const sms: HandsetSms = {
      to: message.to,
      from: message.from ?? message.messagingServiceSid ?? '',
      text: message.body,
      sid: message.sid,
      at: new Date(),
    };
    const inbox = this.inboxes.get(message.to) ?? [];
    inbox.push(sms);
    this.inboxes.set(message.to, inbox);
    this.emit('sms', sms);
  }

  private accountResource(): unknown {
    return {
      sid: this.accountSid,
      friendly_name: 'Parley emulator account',
      status: 'active',
      type: 'Full',
      date_created: rfc2822(new Date(0)),
      date_updated: rfc2822(new Date(0)),
      uri: `/${API_VERSION}/Accounts/${this.accountSid}.json`,
    };
  }

  private messageResource(m: TwilioMessage): unknown {
    const segments = Math.max(1, Math.ceil([...m.body].length / 153));
    return {
      account_sid: this.accountSid,
      api_version: API_VERSION,
      body: m.body,
      date_created: rfc2822(m.dateCreated),
      date_sent: null,
      date_updated: rfc2822(m.dateCreated),
      direction: 'outbound-api',
      error_code: m.errorCode ?? null,
      error_message: null,
      from: m.from ?? null,
      messaging_service_sid: m.messagingServiceSid ?? null,
      num_media: '0',
      num_segments: String(segments),
      price: null,
      price_unit: 'USD',
      sid: m.sid,
      status: m.status,
      subresource_uris: { media: `/${API_VERSION}/Accounts/${this.accountSid}/Messages/${m.sid}/Media.json` },
      to: m.to,
      uri: `/${API_VERSION}/Accounts/${this.accountSid}/Messages/${m.sid}.json`,
    };
  }
}
