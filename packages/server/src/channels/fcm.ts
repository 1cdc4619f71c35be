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
 * bearer grant, scope firebase.messaging, audience `token_uri`), from `google-auth.ts`:
 * cached until shortly before it expires, and replaced when FCM answers 401
 * UNAUTHENTICATED (once per send).
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
 * Delivery status, and the design choice behind `confirmDelivered` (in `push-channel.ts`):
 * FCM has no delivery webhook. Its delivery data exists only in aggregate (FCM Data API,
 * BigQuery export), which cannot confirm one message. So the adapter emits `accepted` when
 * FCM takes the message, and `delivered` only when the woken app itself proves it. In
 * tests and the demo the emulator plays the phone OS (it emits an event per push) and
 * the harness plays the woken app.
 *
 * Health: FCM has no status endpoint. `health()` obtains an access token (the token
 * endpoint is reachable and the credentials are valid) and sends a `validate_only`
 * message to a topic, which FCM validates end to end without delivering anything. The
 * detail also names the outcome of the last real send.
 *
 * Secrets: the private key, the signed assertion, the access token and push tokens never
 * appear in a log line or an exception message; provider text is scrubbed of them.
 */
import { ChannelError, type FailureReason } from './channel.js';
import { GoogleAccessTokens, type GoogleServiceAccountKey } from './google-auth.js';
import { isRecord, parseRetryAfter, providerFetch, providerIdentifier, type HttpAnswer } from './provider-http.js';
import { PushChannel, apnsCollapseId, type ProbeResult, type PushChannelOptions } from './push-channel.js';

/** The OAuth scope of the FCM HTTP v1 API. */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
/** The FCM API's origin. */
export const FCM_DEFAULT_BASE_URL = 'https://fcm.googleapis.com';
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
/** FCM documents a minimum initial backoff of one minute for QUOTA_EXCEEDED. */
const DEFAULT_QUOTA_RETRY_MS = 60_000;
/** The topic the health probe validates against (validate_only: nothing is delivered). */
const HEALTH_TOPIC = 'parley-health';

/** The fields of a Google service-account key file the adapter needs: the OAuth ones, with the token endpoint and project required. */
export interface FcmServiceAccount extends GoogleServiceAccountKey {
  /** OAuth token endpoint, normally https://oauth2.googleapis.com/token. */
  readonly token_uri: string;
  readonly project_id: string;
}

/**
 * Reads a service-account key file (JSON) and checks the fields the adapter needs.
 *
 * @example
 * const serviceAccount = parseServiceAccount(await readFile('service-account.json'));
 */
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

/** How to configure the FCM channel. */
export interface FcmChannelOptions extends PushChannelOptions {
  readonly serviceAccount: FcmServiceAccount;
  /** FCM API origin; default https://fcm.googleapis.com (the emulator's URL in tests). */
  readonly baseUrl?: string;
  /** Per HTTP request (token endpoint and send); default 10 s. */
  readonly timeoutMs?: number;
  /** Add the `apns` block so iOS apps registered through FCM wake too; default true. */
  readonly apnsWakeups?: boolean;
}

interface GoogleError {
  readonly status: string | undefined;
  readonly message: string | undefined;
  readonly errorCode: string | undefined;
}

/**
 * The FCM wake-up channel.
 *
 * @example
 * const fcm = new FcmChannel({ serviceAccount: parseServiceAccount(keyFile), logger });
 * await fcm.send({ deliveryId, messageId, recipient: { pseudonym, pushToken }, item: { kind: 'wake', collapseId } });
 */
export class FcmChannel extends PushChannel {
  readonly name = 'fcm' as const;

  private readonly sendUrl: string;
  private readonly timeoutMs: number;
  private readonly apnsWakeups: boolean;
  private readonly auth: GoogleAccessTokens;
  private readonly closing = new AbortController();

  constructor(options: FcmChannelOptions) {
    super(options);
    const account = options.serviceAccount;
    for (const field of ['client_email', 'private_key', 'token_uri', 'project_id'] as const) {
      if (typeof account[field] !== 'string' || account[field].length === 0) throw new Error(`FcmChannel: service account field ${field} is missing`);
    }
    const base = (options.baseUrl ?? FCM_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.sendUrl = `${base}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.apnsWakeups = options.apnsWakeups ?? true;
    this.auth = new GoogleAccessTokens({
      channel: 'fcm',
      serviceAccount: account,
      scope: FCM_SCOPE,
      tokenUrl: account.token_uri,
      timeoutMs: this.timeoutMs,
      now: this.now,
      logger: this.log,
    });
  }

  protected async push(pushToken: string, collapseId: string): Promise<string> {
    const message: Record<string, unknown> = {
      token: pushToken,
      data: { type: 'sync', collapse: collapseId },
      android: { collapse_key: collapseId, priority: 'high' },
    };
    if (this.apnsWakeups) {
      message['apns'] = {
        headers: { 'apns-priority': '5', 'apns-push-type': 'background', 'apns-collapse-id': apnsCollapseId(collapseId) },
        payload: { aps: { 'content-available': 1 } },
      };
    }
    const answer = await this.authorizedPost({ message }, pushToken);
    const name = answer.status === 200 ? readName(answer.body) : undefined;
    if (name === undefined) throw this.mapError(answer, pushToken);
    return name;
  }

  /**
   * FCM has no status endpoint: obtain an access token (the token endpoint answers and
   * the credentials are valid) and send a `validate_only` message to a topic, which FCM
   * validates end to end without delivering anything.
   */
  protected async probe(): Promise<ProbeResult> {
    const answer = await this.authorizedPost({ validate_only: true, message: { topic: HEALTH_TOPIC, data: { type: 'sync', collapse: 'health' } } }, undefined);
    if (answer.status === 200) return { ok: true, detail: 'fcm reachable, credentials valid' };
    return { ok: false, error: this.mapError(answer, undefined) };
  }

  protected shutdown(): Promise<void> {
    this.closing.abort();
    this.auth.close();
    return Promise.resolve();
  }

  /** POSTs to messages:send with a cached access token; on 401 UNAUTHENTICATED refreshes it once and retries. */
  private async authorizedPost(body: unknown, pushToken: string | undefined): Promise<HttpAnswer> {
    const json = JSON.stringify(body);
    let access = await this.auth.accessToken();
    let answer = await this.post(json, access, pushToken);
    if (answer.status === 401 && readGoogleError(answer.body).errorCode !== 'THIRD_PARTY_AUTH_ERROR') {
      this.log.debug({ channel: 'fcm' }, 'fcm refused the access token; fetching a new one');
      this.auth.invalidate(access);
      access = await this.auth.accessToken();
      answer = await this.post(json, access, pushToken);
    }
    return answer;
  }

  private post(json: string, accessToken: string, pushToken: string | undefined): Promise<HttpAnswer> {
    return providerFetch({
      channel: 'fcm',
      what: 'send',
      url: this.sendUrl,
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json; charset=utf-8' },
      body: json,
      timeoutMs: this.timeoutMs,
      closing: this.closing.signal,
      secrets: [accessToken, pushToken],
    });
  }

  private mapError(answer: HttpAnswer, pushToken: string | undefined): ChannelError {
    const { status } = answer;
    const google = readGoogleError(answer.body);
    const code = google.errorCode ?? google.status ?? status;
    const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), this.now());
    const text = google.message === undefined ? '' : `: ${this.auth.scrub(google.message, [pushToken])}`;
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
  const name = isRecord(body) ? body['name'] : undefined;
  return typeof name === 'string' && name.length > 0 ? name : undefined;
}

/** `{"error":{"code","message","status","details":[{"@type":"…FcmError","errorCode"}]}}`; codes only when they are plain identifiers. */
function readGoogleError(body: unknown): GoogleError {
  const error = isRecord(body) ? body['error'] : undefined;
  if (!isRecord(error)) return { status: undefined, message: undefined, errorCode: undefined };
  let errorCode: string | undefined;
  const details = error['details'];
  if (Array.isArray(details)) {
    for (const detail of details as unknown[]) {
      if (isRecord(detail) && detail['@type'] === FCM_ERROR_TYPE) errorCode = providerIdentifier(detail['errorCode']) ?? errorCode;
    }
  }
  return {
    status: providerIdentifier(error['status']),
    message: typeof error['message'] === 'string' ? error['message'] : undefined,
    errorCode,
  };
}
