/**
 * SMS through Twilio's Programmable Messaging REST API (2010-04-01).
 *
 * - send: `POST {baseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded
 *   `To`, `From` or `MessagingServiceSid`, `Body` (the link text only) and `StatusCallback`,
 *   HTTP Basic auth with the Account SID + Auth Token or an API key (SK…) + secret. The
 *   message SID (SM…) is the provider message id.
 * - status: Twilio POSTs form-encoded status callbacks (`MessageSid`, `MessageStatus`,
 *   `ErrorCode` …) to `StatusCallback`, signed with `X-Twilio-Signature` =
 *   base64(HMAC-SHA1(Auth Token, URL + every POST parameter sorted by name, name then
 *   value, no separators)). `handleWebhook` checks it in constant time.
 * - health: `GET {baseUrl}/2010-04-01/Accounts/{AccountSid}.json` answers 200 with an
 *   `active` account.
 *
 * Error mapping (Twilio's error JSON `{code, message, more_info, status}`):
 * 21211 (invalid To), 21612 (To not reachable by SMS), 21614 (To not a mobile number) and
 * 21610 (recipient replied STOP: unsubscribed from this sender) → `not_capable` (SMS cannot
 * reach this recipient from us; the number itself is not dead, so not `unregistered`);
 * 20003 / HTTP 401 → `auth_failed`; 20429 / HTTP 429 → `rate_limited`; HTTP 5xx or no
 * connection → `unavailable`; no answer within `timeoutMs` → `timeout`; any other 4xx →
 * `rejected`. Error messages carry codes only, never the provider's text (it quotes the
 * phone number). The HTTP call itself (deadline, close, Retry-After) is `provider-http.ts`'s.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
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
  type StatusEvent,
  type StatusListener,
  type WebhookRequest,
} from './channel.js';
import { isRecord, parseRetryAfter, providerFetch, type HttpAnswer } from './provider-http.js';
import { SmsCapabilities, StatusFilter, linkText } from './sms.js';

/** How to configure the Twilio channel. */
export interface TwilioChannelOptions {
  /** AC… */
  readonly accountSid: string;
  /** The account's (primary) Auth Token: Twilio signs status callbacks with it. Also the REST password unless `apiKey` is set. */
  readonly authToken: string;
  /** REST credentials as an API key (SK…) and its secret, instead of the Auth Token. */
  readonly apiKey?: { readonly sid: string; readonly secret: string };
  /** Sender: an E.164 number or alphanumeric sender id. One of `from` / `messagingServiceSid` is required. */
  readonly from?: string;
  /** MG…; wins over `from` when both are set. */
  readonly messagingServiceSid?: string;
  /** Our public status-callback URL, exactly as the HTTP layer reconstructs it for `handleWebhook`. */
  readonly statusCallbackUrl: string;
  /** Default `https://api.twilio.com`. */
  readonly baseUrl?: string;
  /** Per request, response body included. Default 10 s. */
  readonly timeoutMs?: number;
  /** Capabilities TTL for a reachable number. Default 24 h. */
  readonly capabilityTtlMs?: number;
  /** How long a `not_capable` refusal marks the recipient unreachable. Default 24 h. */
  readonly failureTtlMs?: number;
}

/** Twilio's MessageStatus → our status (and reason). Other values (receiving, received …) are not outbound statuses. */
const STATUS: Readonly<Record<string, { status: DeliveryStatus; reason?: FailureReason }>> = {
  accepted: { status: 'accepted' },
  scheduled: { status: 'accepted' },
  queued: { status: 'accepted' },
  sending: { status: 'accepted' },
  sent: { status: 'accepted' },
  delivered: { status: 'delivered' },
  read: { status: 'read' },
  undelivered: { status: 'failed', reason: 'undeliverable' },
  failed: { status: 'failed', reason: 'undeliverable' },
  canceled: { status: 'failed', reason: 'revoked' },
};

const NOT_CAPABLE_CODES = new Set([21211, 21610, 21612, 21614]);

/**
 * `X-Twilio-Signature` for a request: base64(HMAC-SHA1(authToken, url + name1 + value1 + …))
 * over the POST parameters sorted by name (then by value, for repeated names).
 */
export function twilioSignature(authToken: string, url: string, params: Iterable<readonly [string, string]>): string {
  const pairs = [...params].sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const hmac = createHmac('sha1', authToken);
  hmac.update(url, 'utf8');
  for (const [k, v] of pairs) hmac.update(k + v, 'utf8');
  return hmac.digest('base64');
}

/** Constant-time check of a received `X-Twilio-Signature`. */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  params: Iterable<readonly [string, string]>,
  signature: string | undefined,
): boolean {
  if (signature === undefined || signature.length === 0) return false;
  const expected = Buffer.from(twilioSignature(authToken, url, params), 'utf8');
  const received = Buffer.from(signature, 'utf8');
  return received.length === expected.length && timingSafeEqual(received, expected);
}

interface TwilioErrorBody {
  readonly code?: number;
  readonly status?: number;
}

function errorBody(value: unknown): TwilioErrorBody {
  if (!isRecord(value)) return {};
  const code = typeof value['code'] === 'number' ? value['code'] : undefined;
  const status = typeof value['status'] === 'number' ? value['status'] : undefined;
  return { ...(code === undefined ? {} : { code }), ...(status === undefined ? {} : { status }) };
}

/**
 * The Twilio SMS channel.
 *
 * @example
 * const sms = new TwilioChannel({ accountSid, authToken, from: '+15550100', statusCallbackUrl });
 */
export class TwilioChannel implements Channel {
  readonly name = 'twilio' as const;
  readonly carries: readonly OutboundItem['kind'][] = ['link'];

  private readonly emitter = new StatusEmitter();
  private readonly filter = new StatusFilter();
  private readonly caps: SmsCapabilities;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly authorization: string;
  /** The REST password (Auth Token or API key secret): cut out of any network error text. */
  private readonly password: string;
  /** Aborted by `close`: calls in flight end, and no new ones start. */
  private readonly closing = new AbortController();

  constructor(private readonly options: TwilioChannelOptions) {
    if (!/^AC[0-9a-fA-F]{32}$/.test(options.accountSid)) throw new Error('twilio: accountSid must be AC followed by 32 hex digits');
    if (options.authToken.length === 0) throw new Error('twilio: authToken is required (status callbacks are signed with it)');
    if (!options.from && !options.messagingServiceSid) throw new Error('twilio: from or messagingServiceSid is required');
    if (!URL.canParse(options.statusCallbackUrl)) throw new Error('twilio: statusCallbackUrl must be an absolute URL');
    this.baseUrl = (options.baseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const user = options.apiKey?.sid ?? options.accountSid;
    this.password = options.apiKey?.secret ?? options.authToken;
    this.authorization = `Basic ${Buffer.from(`${user}:${this.password}`, 'utf8').toString('base64')}`;
    this.caps = new SmsCapabilities(options.capabilityTtlMs ?? 24 * 3600_000, options.failureTtlMs ?? 24 * 3600_000);
  }

  capabilities(recipient: Recipient): Promise<Capabilities> {
    return Promise.resolve(this.caps.capabilities(recipient));
  }

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const { text, phone } = linkText(this.name, envelope);
    const form = new URLSearchParams();
    form.set('To', phone);
    if (this.options.messagingServiceSid) form.set('MessagingServiceSid', this.options.messagingServiceSid);
    else form.set('From', this.options.from ?? '');
    form.set('Body', text);
    form.set('StatusCallback', this.options.statusCallbackUrl);
    try {
      const { status, body } = await this.request('send', 'POST', `/2010-04-01/Accounts/${this.options.accountSid}/Messages.json`, form);
      const sid = isRecord(body) ? body['sid'] : undefined;
      if (typeof sid !== 'string' || !/^(SM|MM)[0-9a-fA-F]{32}$/.test(sid)) {
        throw new ChannelError(this.name, 'unavailable', `twilio: HTTP ${status} without a message sid`, { providerCode: status });
      }
      return { providerMessageId: sid };
    } catch (error) {
      this.caps.noteFailure(envelope.recipient, error);
      throw error;
    }
  }

  handleWebhook(request: WebhookRequest): Promise<readonly StatusEvent[]> {
    const params = new URLSearchParams(Buffer.from(request.rawBody).toString('utf8'));
    if (!verifyTwilioSignature(this.options.authToken, request.url, params, request.headers['x-twilio-signature'])) {
      return Promise.reject(new ChannelError(this.name, 'webhook_signature_invalid', 'twilio: missing or invalid X-Twilio-Signature'));
    }
    const sid = params.get('MessageSid') ?? params.get('SmsSid');
    const reported = params.get('MessageStatus') ?? params.get('SmsStatus');
    const accountSid = params.get('AccountSid');
    const mapped = reported === null ? undefined : STATUS[reported];
    if (sid === null || mapped === undefined || (accountSid !== null && accountSid !== this.options.accountSid)) {
      return Promise.resolve([]);
    }
    if (!this.filter.admit(sid, mapped.status)) return Promise.resolve([]);
    const event: StatusEvent = {
      channel: this.name,
      providerMessageId: sid,
      status: mapped.status,
      ...(mapped.reason === undefined ? {} : { reason: mapped.reason }),
      at: new Date(),
    };
    this.emitter.emit(event);
    return Promise.resolve([event]);
  }

  onStatus(listener: StatusListener): () => void {
    return this.emitter.on(listener);
  }

  async health(): Promise<ChannelHealth> {
    if (this.closing.signal.aborted) return { ok: false, detail: 'closed' };
    try {
      const { body } = await this.request('health', 'GET', `/2010-04-01/Accounts/${this.options.accountSid}.json`);
      const status = isRecord(body) ? body['status'] : undefined;
      return status === 'active' ? { ok: true, detail: 'account active' } : { ok: false, detail: `account status ${String(status)}` };
    } catch (error) {
      return { ok: false, detail: error instanceof ChannelError ? `${error.reason}: ${error.message}` : 'health check failed' };
    }
  }

  close(): Promise<void> {
    this.closing.abort();
    return Promise.resolve();
  }

  /** One REST call; resolves for 2xx, throws the mapped ChannelError otherwise. */
  private async request(what: string, method: 'GET' | 'POST', path: string, form?: URLSearchParams): Promise<HttpAnswer> {
    const answer = await providerFetch({
      channel: this.name,
      what,
      url: `${this.baseUrl}${path}`,
      method,
      headers: {
        authorization: this.authorization,
        accept: 'application/json',
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: form.toString() } : {}),
      timeoutMs: this.timeoutMs,
      closing: this.closing.signal,
      secrets: [this.authorization, this.password, this.options.authToken],
    });
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw this.mapError(answer.status, errorBody(answer.body), answer.headers.get('retry-after'));
  }

  private mapError(httpStatus: number, body: TwilioErrorBody, retryAfter: string | null): ChannelError {
    const code = body.code;
    const providerCode = code ?? httpStatus;
    const what = `twilio: HTTP ${httpStatus}${code === undefined ? '' : ` error ${code}`}`;
    if (code !== undefined && NOT_CAPABLE_CODES.has(code)) return new ChannelError(this.name, 'not_capable', what, { providerCode });
    if (code === 20003 || httpStatus === 401) return new ChannelError(this.name, 'auth_failed', what, { providerCode });
    if (code === 20429 || httpStatus === 429) {
      const after = parseRetryAfter(retryAfter, Date.now());
      return new ChannelError(this.name, 'rate_limited', what, { providerCode, ...(after === undefined ? {} : { retryAfterMs: after }) });
    }
    if (httpStatus >= 500) return new ChannelError(this.name, 'unavailable', what, { providerCode });
    return new ChannelError(this.name, 'rejected', what, { providerCode });
  }
}
