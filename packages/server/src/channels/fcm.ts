/**
 * Firebase Cloud Messaging (HTTP v1) wake-up channel.
 *
 * What goes out: `POST {baseUrl}/v1/projects/{projectId}/messages:send` with
 *
 *   {"message":{"token":…,"data":{"type":"sync","collapse":<collapse id>},
 *               "android":{"collapse_key":<collapse id>,"priority":"high"},
 *               "apns":{"headers":{"apns-priority":"5","apns-push-type":"background",
 *                                  "apns-collapse-id":…},
 *                       "payload":{"aps":{"content-available":1}}}}}
 *
 * The payload is opaque: the word "sync" and the collapse id, nothing else (no content,
 * no sender, no message id). The `apns` block (on by default, `apnsWakeups: false` drops
 * it) lets FCM tokens of iOS apps wake too; FCM rejects data messages to Apple devices at
 * priority 10, hence "5".
 *
 * Authentication: an OAuth 2.0 access token from the service account (RFC 7523 JWT
 * bearer grant). The adapter signs an RS256 JWT (iss = client_email, scope =
 * firebase.messaging, aud = token_uri, exp = iat + 1 h) with `jose`, posts it form-encoded
 * to `token_uri`, caches the access token until shortly before `expires_in` runs out,
 * and fetches a new one when FCM answers 401 UNAUTHENTICATED (once per send).
 *
 * Error mapping (FCM `ErrorCode`, read from `error.details[]` entries of type
 * `google.firebase.fcm.v1.FcmError`, else from the HTTP status):
 *   UNREGISTERED / 404 NOT_FOUND (Google JSON error) → unregistered (the token is also
 *     remembered as dead, so `capabilities` answers unreachable from then on);
 *     a 404 without a Google error body (wrong base URL) → rejected, so a misconfigured
 *     endpoint never makes the router purge every token
 *   INVALID_ARGUMENT (400)                    → rejected
 *   QUOTA_EXCEEDED (429)                      → rate_limited, Retry-After honoured
 *                                               (60 s when absent, FCM's minimum backoff)
 *   UNAVAILABLE (503) / INTERNAL (500), 5xx   → unavailable (Retry-After passed on if sent)
 *   THIRD_PARTY_AUTH_ERROR (401), SENDER_ID_MISMATCH / PERMISSION_DENIED (403),
 *     a 401 that persists after a token refresh, a token endpoint refusal → auth_failed
 *   no answer within `timeoutMs`              → timeout
 *   connection failure                        → unavailable
 *
 * Delivery status, and the design choice behind `confirmDelivered`: FCM has no delivery
 * webhook. Its delivery data exists only in aggregate (FCM Data API, BigQuery export),
 * which cannot confirm one message. So the adapter emits `accepted` when FCM takes the
 * message, and `delivered` only when the woken app itself proves it: the app syncs with
 * Parley after the wake-up, the router maps that to the push's provider id and calls
 * `confirmDelivered(providerMessageId)`. Only ids this adapter sent (and has not yet
 * confirmed) produce an event, once each. In tests and the demo the emulator plays the
 * phone OS (it emits an event per push) and the harness plays the woken app.
 *
 * Health: FCM has no status endpoint. `health()` obtains an access token (the token
 * endpoint is reachable and the credentials are valid) and sends a `validate_only`
 * message to a topic, which FCM validates end to end without delivering anything. The
 * detail also names the outcome of the last real send.
 *
 * Secrets: the private key, the signed assertion, the access token and push tokens never
 * appear in a log line or an exception message; provider text is scrubbed of them.
 */
import { SignJWT, importPKCS8 } from 'jose';
import {
  ChannelError,
  StatusEmitter,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type FailureReason,
  type OutboundEnvelope,
  type Recipient,
  type SendResult,
  type StatusListener,
} from './channel.js';
import {
  BoundedSet,
  apnsCollapseId,
  describeNetworkError,
  isTimeout,
  parseRetryAfter,
  scrub,
  silentLogger,
  tokenDigest,
  type ChannelLogger,
} from './push-common.js';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const FCM_DEFAULT_BASE_URL = 'https://fcm.googleapis.com';
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** FCM documents a minimum initial backoff of one minute for QUOTA_EXCEEDED. */
const DEFAULT_QUOTA_RETRY_MS = 60_000;
/** The topic the health probe validates against (validate_only: nothing is delivered). */
const HEALTH_TOPIC = 'parley-health';

/** The fields of a Google service-account key file the adapter needs. */
export interface FcmServiceAccount {
  readonly client_email: string;
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
  readonly private_key: string;
  /** OAuth token endpoint, normally https://oauth2.googleapis.com/token. */
  readonly token_uri: string;
  readonly project_id: string;
  /** Sent as the JWT `kid` when present. */
  readonly private_key_id?: string;
}

/** Reads a service-account key file (JSON) and checks the fields the adapter needs. */
export function parseServiceAccount(json: string | Uint8Array): FcmServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof json === 'string' ? json : new TextDecoder().decode(json));
  } catch {
    throw new Error('service account: not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new Error('service account: not a JSON object');
  const record = parsed as Record<string, unknown>;
  const field = (name: string): string => {
    const value = record[name];
    if (typeof value !== 'string' || value.length === 0) throw new Error(`service account: missing field ${name}`);
    return value;
  };
  const keyId = record['private_key_id'];
  return {
    client_email: field('client_email'),
    private_key: field('private_key'),
    token_uri: field('token_uri'),
    project_id: field('project_id'),
    ...(typeof keyId === 'string' && keyId.length > 0 ? { private_key_id: keyId } : {}),
  };
}

export interface FcmChannelOptions {
  readonly serviceAccount: FcmServiceAccount;
  /** FCM API origin; default https://fcm.googleapis.com (the emulator's URL in tests). */
  readonly baseUrl?: string;
  /** Per HTTP request (token endpoint and send); default 10 s. */
  readonly timeoutMs?: number;
  /** Add the `apns` block so iOS apps registered through FCM wake too; default true. */
  readonly apnsWakeups?: boolean;
  /** How long `capabilities` answers may be cached; default 1 h. */
  readonly capabilityTtlMs?: number;
  /** Clock (ms since epoch); tests move it to expire cached tokens. */
  readonly now?: () => number;
  readonly logger?: ChannelLogger;
}

interface AccessToken {
  readonly value: string;
  /** When to stop using it (a margin before the provider's expiry). */
  readonly refreshAt: number;
}

interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

interface GoogleError {
  readonly status: string | undefined;
  readonly message: string | undefined;
  readonly errorCode: string | undefined;
}

type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;

export class FcmChannel implements Channel {
  readonly name = 'fcm' as const;
  readonly carries = ['wake'] as const;

  private readonly account: FcmServiceAccount;
  private readonly sendUrl: string;
  private readonly timeoutMs: number;
  private readonly apnsWakeups: boolean;
  private readonly capabilityTtlMs: number;
  private readonly now: () => number;
  private readonly log: ChannelLogger;
  private readonly status = new StatusEmitter();
  private readonly closing = new AbortController();
  /** Provider ids sent and not yet confirmed delivered. */
  private readonly outstanding = new BoundedSet(100_000);
  /** Digests of tokens FCM declared dead. */
  private readonly deadTokens = new BoundedSet(100_000);
  private key: Promise<PrivateKey> | undefined;
  private token: AccessToken | undefined;
  private tokenInFlight: Promise<AccessToken> | undefined;
  /** Secrets to scrub from provider text: the access token and the last assertion. */
  private lastAssertion: string | undefined;
  private lastSend: { readonly ok: boolean; readonly detail: string; readonly at: number } | undefined;

  constructor(options: FcmChannelOptions) {
    this.account = options.serviceAccount;
    for (const field of ['client_email', 'private_key', 'token_uri', 'project_id'] as const) {
      if (typeof this.account[field] !== 'string' || this.account[field].length === 0) throw new Error(`FcmChannel: service account field ${field} is missing`);
    }
    const base = (options.baseUrl ?? FCM_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.sendUrl = `${base}/v1/projects/${encodeURIComponent(this.account.project_id)}/messages:send`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.apnsWakeups = options.apnsWakeups ?? true;
    this.capabilityTtlMs = options.capabilityTtlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
  }

  capabilities(recipient: Recipient): Promise<Capabilities> {
    const token = recipient.pushToken;
    if (token === undefined || token.length === 0) {
      return Promise.resolve({ reachable: false, endToEnd: false, features: [], source: 'static', ttlMs: this.capabilityTtlMs });
    }
    if (this.deadTokens.has(tokenDigest(token))) {
      return Promise.resolve({ reachable: false, endToEnd: false, features: [], source: 'failure', ttlMs: this.capabilityTtlMs });
    }
    // A push only wakes the app; the content travels over the app channel, so this
    // channel itself carries nothing end-to-end encrypted.
    return Promise.resolve({ reachable: true, endToEnd: false, features: ['wake'], source: 'device-report', ttlMs: this.capabilityTtlMs });
  }

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const item = envelope.item;
    if (item.kind !== 'wake') throw new ChannelError('fcm', 'unsupported_item', `fcm carries only wake items, not ${item.kind}`);
    const pushToken = envelope.recipient.pushToken;
    if (pushToken === undefined || pushToken.length === 0) throw new ChannelError('fcm', 'not_capable', 'recipient has no push token');
    if (this.closing.signal.aborted) throw new ChannelError('fcm', 'unavailable', 'fcm channel is closed');

    const message: Record<string, unknown> = {
      token: pushToken,
      data: { type: 'sync', collapse: item.collapseId },
      android: { collapse_key: item.collapseId, priority: 'high' },
    };
    if (this.apnsWakeups) {
      message['apns'] = {
        headers: { 'apns-priority': '5', 'apns-push-type': 'background', 'apns-collapse-id': apnsCollapseId(item.collapseId) },
        payload: { aps: { 'content-available': 1 } },
      };
    }
    try {
      const answer = await this.authorizedPost({ message }, pushToken);
      const name = answer.status === 200 ? readName(answer.body) : undefined;
      if (name === undefined) throw this.mapError(answer, pushToken);
      this.outstanding.add(name);
      this.lastSend = { ok: true, detail: 'accepted', at: this.now() };
      this.status.emit({ channel: 'fcm', providerMessageId: name, status: 'accepted', at: new Date(this.now()) });
      return { providerMessageId: name };
    } catch (error) {
      const failure = error instanceof ChannelError ? error : new ChannelError('fcm', 'unavailable', 'fcm send failed');
      if (failure.reason === 'unregistered') this.deadTokens.add(tokenDigest(pushToken));
      this.lastSend = { ok: false, detail: failure.reason, at: this.now() };
      this.log.warn(
        { channel: 'fcm', recipient: envelope.recipient.pseudonym, deliveryId: envelope.deliveryId, reason: failure.reason, providerCode: failure.providerCode },
        'fcm send failed',
      );
      throw failure;
    }
  }

  /**
   * The woken app confirmed it synced after the push `providerMessageId` (the router
   * calls this). Emits `delivered` once for an id this adapter sent; returns false (and
   * emits nothing) for an unknown or already confirmed id.
   */
  confirmDelivered(providerMessageId: string, at: Date = new Date(this.now())): boolean {
    if (!this.outstanding.delete(providerMessageId)) return false;
    this.status.emit({ channel: 'fcm', providerMessageId, status: 'delivered', at });
    return true;
  }

  onStatus(listener: StatusListener): () => void {
    return this.status.on(listener);
  }

  async health(): Promise<ChannelHealth> {
    const last = this.lastSend === undefined ? 'no send yet' : `last send ${this.lastSend.detail} ${Math.round((this.now() - this.lastSend.at) / 1000)} s ago`;
    try {
      const answer = await this.authorizedPost(
        { validate_only: true, message: { topic: HEALTH_TOPIC, data: { type: 'sync', collapse: 'health' } } },
        undefined,
      );
      if (answer.status === 200) return { ok: true, detail: `fcm reachable, credentials valid; ${last}` };
      const error = this.mapError(answer, undefined);
      return { ok: false, detail: `fcm probe failed: ${error.reason} (${String(error.providerCode)}); ${last}` };
    } catch (error) {
      const reason = error instanceof ChannelError ? error.reason : 'unavailable';
      return { ok: false, detail: `fcm probe failed: ${reason}; ${last}` };
    }
  }

  close(): Promise<void> {
    this.closing.abort();
    this.token = undefined;
    return Promise.resolve();
  }

  // ---- HTTP ------------------------------------------------------------------------

  /** POSTs to messages:send with a cached access token; on 401 UNAUTHENTICATED refreshes it once and retries. */
  private async authorizedPost(body: unknown, pushToken: string | undefined): Promise<HttpAnswer> {
    const json = JSON.stringify(body);
    let access = await this.accessToken();
    let answer = await this.post(json, access.value, pushToken);
    if (answer.status === 401 && readGoogleError(answer.body).errorCode !== 'THIRD_PARTY_AUTH_ERROR') {
      this.log.debug({ channel: 'fcm' }, 'fcm refused the access token; fetching a new one');
      if (this.token === access) this.token = undefined;
      access = await this.accessToken();
      answer = await this.post(json, access.value, pushToken);
    }
    return answer;
  }

  private async post(json: string, accessToken: string, pushToken: string | undefined): Promise<HttpAnswer> {
    return this.request(
      this.sendUrl,
      { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json; charset=utf-8' }, body: json },
      'send',
      [accessToken, pushToken],
    );
  }

  private async request(url: string, init: RequestInit, what: string, secrets: readonly (string | undefined)[]): Promise<HttpAnswer> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.closing.signal]);
    try {
      const response = await fetch(url, { ...init, signal });
      const text = await response.text();
      let body: unknown = undefined;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
      }
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      if (this.closing.signal.aborted) throw new ChannelError('fcm', 'unavailable', `fcm ${what}: channel closed`);
      if (isTimeout(error)) throw new ChannelError('fcm', 'timeout', `fcm ${what}: no answer within ${this.timeoutMs} ms`);
      throw new ChannelError('fcm', 'unavailable', `fcm ${what}: ${scrub(describeNetworkError(error), secrets)}`, { cause: error });
    }
  }

  // ---- OAuth 2.0 -------------------------------------------------------------------

  private async accessToken(): Promise<AccessToken> {
    const cached = this.token;
    if (cached !== undefined && this.now() < cached.refreshAt) return cached;
    if (this.tokenInFlight === undefined) {
      this.tokenInFlight = this.fetchAccessToken().finally(() => {
        this.tokenInFlight = undefined;
      });
    }
    return this.tokenInFlight;
  }

  private async fetchAccessToken(): Promise<AccessToken> {
    const assertion = await this.signAssertion();
    this.lastAssertion = assertion;
    const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion });
    const answer = await this.request(
      this.account.token_uri,
      { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() },
      'token endpoint',
      [assertion],
    );
    const body = typeof answer.body === 'object' && answer.body !== null ? (answer.body as Record<string, unknown>) : {};
    if (answer.status !== 200) {
      const code = typeof body['error'] === 'string' ? body['error'] : `http_${answer.status}`;
      const description = typeof body['error_description'] === 'string' ? `: ${scrub(body['error_description'], [assertion])}` : '';
      const reason: FailureReason = answer.status >= 500 ? 'unavailable' : answer.status === 429 ? 'rate_limited' : 'auth_failed';
      this.log.warn({ channel: 'fcm', status: answer.status, error: code }, 'fcm token endpoint refused the service account');
      throw new ChannelError('fcm', reason, `fcm token endpoint answered ${answer.status} ${scrub(code, [assertion])}${description}`, {
        providerCode: code,
        retryAfterMs: parseRetryAfter(answer.headers.get('retry-after'), this.now()),
      });
    }
    const value = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof value !== 'string' || value.length === 0 || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new ChannelError('fcm', 'auth_failed', 'fcm token endpoint answered without an access token');
    }
    const lifetimeMs = expiresIn * 1000;
    // Stop using it 5 minutes before expiry (or at half its life, if it is short).
    const token: AccessToken = { value, refreshAt: this.now() + lifetimeMs - Math.min(300_000, lifetimeMs / 2) };
    this.token = token;
    return token;
  }

  private async signAssertion(): Promise<string> {
    this.key ??= importPKCS8(this.account.private_key, 'RS256').catch(() => {
      this.key = undefined;
      throw new ChannelError('fcm', 'auth_failed', 'fcm service account private key is not a PKCS#8 RSA key');
    });
    const key = await this.key;
    const iat = Math.floor(this.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(this.account.private_key_id === undefined ? {} : { kid: this.account.private_key_id }) };
    return new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader(header)
      .setIssuer(this.account.client_email)
      .setAudience(this.account.token_uri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(key);
  }

  // ---- errors ----------------------------------------------------------------------

  private mapError(answer: HttpAnswer, pushToken: string | undefined): ChannelError {
    const { status } = answer;
    const google = readGoogleError(answer.body);
    const code = google.errorCode ?? google.status ?? status;
    const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), this.now());
    const text = google.message === undefined ? '' : `: ${scrub(google.message, [this.token?.value, this.lastAssertion, pushToken])}`;
    const fail = (reason: FailureReason, extra: { retryAfterMs?: number } = {}): ChannelError =>
      new ChannelError('fcm', reason, `fcm answered ${status} ${String(code)}${text}`, { providerCode: code, ...extra });

    if (status === 200) return fail('rejected'); // 200 without a message name
    if (google.errorCode === 'UNREGISTERED') return fail('unregistered');
    if (google.errorCode === 'THIRD_PARTY_AUTH_ERROR' || google.errorCode === 'SENDER_ID_MISMATCH') return fail('auth_failed');
    if (google.errorCode === 'QUOTA_EXCEEDED' || status === 429) return fail('rate_limited', { retryAfterMs: retryAfterMs ?? DEFAULT_QUOTA_RETRY_MS });
    if (google.errorCode === 'UNAVAILABLE' || google.errorCode === 'INTERNAL' || status >= 500) {
      return fail('unavailable', retryAfterMs === undefined ? {} : { retryAfterMs });
    }
    if (status === 404) return google.status === 'NOT_FOUND' ? fail('unregistered') : fail('rejected');
    if (status === 401 || status === 403) return fail('auth_failed');
    return fail('rejected');
  }
}

/** FCM answers `{"name":"projects/<p>/messages/<id>"}`. */
function readName(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const name = (body as Record<string, unknown>)['name'];
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

/** `{"error":{"code","message","status","details":[{"@type":"…FcmError","errorCode"}]}}` */
function readGoogleError(body: unknown): GoogleError {
  const none: GoogleError = { status: undefined, message: undefined, errorCode: undefined };
  if (typeof body !== 'object' || body === null) return none;
  const error = (body as Record<string, unknown>)['error'];
  if (typeof error !== 'object' || error === null) return none;
  const e = error as Record<string, unknown>;
  let errorCode: string | undefined;
  const details = e['details'];
  if (Array.isArray(details)) {
    for (const detail of details as unknown[]) {
      if (typeof detail !== 'object' || detail === null) continue;
      const d = detail as Record<string, unknown>;
      if (d['@type'] === FCM_ERROR_TYPE && typeof d['errorCode'] === 'string') errorCode = d['errorCode'];
    }
  }
  return {
    status: typeof e['status'] === 'string' ? e['status'] : undefined,
    message: typeof e['message'] === 'string' ? e['message'] : undefined,
    errorCode,
  };
}
