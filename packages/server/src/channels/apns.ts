/**
 * Apple Push Notification service wake-up channel (token-based provider API over HTTP/2).
 *
 * What goes out, on ONE reused HTTP/2 connection (re-opened after GOAWAY, close or error):
 *
 *   POST /3/device/{device token}
 *   authorization: bearer <provider JWT>      apns-topic: <bundle id>
 *   apns-push-type: background                apns-priority: 5
 *   apns-collapse-id: <collapse id>           apns-id: <UUID>
 *   {"aps":{"content-available":1},"t":"sync","c":<collapse id>}
 *
 * The payload is opaque: "sync" and the collapse id, nothing else. Collapse ids longer
 * than APNs' 64 bytes go into `apns-collapse-id` as their SHA-256 digest (the body keeps
 * the id). `apns-id` is the delivery id when that is a UUID, else a fresh random UUID;
 * the provider id is the `apns-id` APNs answers with.
 *
 * Provider token: an ES256 JWT (header kid = key id, claims iss = team id, iat) signed
 * with the team's .p8 key through `jose`. Apple wants it refreshed no more than once every
 * 20 minutes and no less than once an hour, so it is reused for `tokenRefreshMs`
 * (default 50 min) and, when APNs answers 403 ExpiredProviderToken (clock skew), re-signed
 * once and the push retried.
 *
 * Error mapping (HTTP status + `{"reason":…}`):
 *   410 Unregistered / ExpiredToken, 400 BadDeviceToken → unregistered (and the token is
 *     remembered as dead: `capabilities` answers unreachable from then on)
 *   403 ExpiredProviderToken (after one retry), InvalidProviderToken, other 403 → auth_failed
 *   429 TooManyRequests / TooManyProviderTokenUpdates   → rate_limited (Retry-After if sent)
 *   500 / 503 and other 5xx                             → unavailable
 *   other 4xx (DeviceTokenNotForTopic, BadTopic, …)     → rejected
 *   no answer within `timeoutMs`                        → timeout
 *   connection failure                                  → unavailable
 * A stream APNs refused without processing (GOAWAY, REFUSED_STREAM, a session that died
 * before the request went out) is retried once on a new connection.
 *
 * Delivery status: APNs has no delivery receipts. The adapter emits `accepted` when APNs
 * takes the push, and `delivered` when the woken app proves it synced: the router calls
 * `confirmDelivered(providerMessageId)` (once per id this adapter sent). That bookkeeping
 * is the push base's (`push-channel.ts`), shared with FCM; in tests the emulator plays the
 * phone OS and the harness the app.
 *
 * Health: APNs has no status endpoint. `health()` sends a probe to a device token that
 * cannot exist ("parley-health-probe", not hex): a working APNs that accepts our provider
 * token answers 400 BadDeviceToken (nothing is delivered); 403 means our credentials are
 * refused, 5xx / 429 / no answer that APNs is not usable.
 *
 * Real APNs is TLS-only (`https://api.push.apple.com`, sandbox
 * `https://api.sandbox.push.apple.com`); the emulator speaks h2c, reached with an
 * `http://127.0.0.1:<port>` base URL.
 *
 * Secrets: the signing key, the provider JWT and device tokens never appear in a log line
 * or an exception message.
 */
import { randomUUID } from 'node:crypto';
import { connect, constants as h2, type ClientHttp2Session, type IncomingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';
import type { importPKCS8 } from 'jose';
import { jose } from '../util/jose.js';
import { ChannelError, type FailureReason, type OutboundEnvelope } from './channel.js';
import { describeNetworkError, isRecord, parseJson, parseRetryAfter, providerIdentifier, scrub } from './provider-http.js';
import { PushChannel, apnsCollapseId, type ProbeResult, type PushChannelOptions } from './push-channel.js';

/** APNs' production origin. */
export const APNS_PRODUCTION_URL = 'https://api.push.apple.com';
/** APNs' development (sandbox) origin. */
export const APNS_SANDBOX_URL = 'https://api.sandbox.push.apple.com';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A device token that cannot exist (APNs tokens are hex): the health probe's target. */
const HEALTH_PROBE_TOKEN = 'parley-health-probe';

/** How to configure the APNs channel. */
export interface ApnsChannelOptions extends PushChannelOptions {
  /** The Apple developer team id (JWT `iss`). */
  readonly teamId: string;
  /** The id of the APNs signing key (JWT `kid`). */
  readonly keyId: string;
  /** The APNs signing key: the .p8 file's contents (PKCS#8 PEM, P-256). */
  readonly privateKey: string;
  /** The app's bundle id (`apns-topic`). */
  readonly topic: string;
  /** Default https://api.push.apple.com; `http://127.0.0.1:<port>` reaches the emulator (h2c). */
  readonly baseUrl?: string;
  /** Per push, including connecting; default 10 s. */
  readonly timeoutMs?: number;
  /** How long one provider JWT is reused; default 50 min (Apple: between 20 and 60 min). */
  readonly tokenRefreshMs?: number;
  /** Extra TLS options for the connection (e.g. a CA); ignored for h2c. */
  readonly connectOptions?: SecureClientSessionOptions;
}

interface ProviderToken {
  readonly jwt: string;
  readonly issuedAt: number;
}

interface H2Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** The request never reached APNs' processing (safe to retry on a new connection). */
class NotProcessed extends Error {}

type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;

/**
 * The APNs wake-up channel.
 *
 * @example
 * const apns = new ApnsChannel({ teamId, keyId, privateKey: p8, topic: 'com.example.bank', logger });
 * await apns.send({ deliveryId, messageId, recipient: { pseudonym, pushToken }, item: { kind: 'wake', collapseId } });
 */
export class ApnsChannel extends PushChannel {
  readonly name = 'apns' as const;

  private readonly origin: string;
  private readonly timeoutMs: number;
  private readonly tokenRefreshMs: number;
  private session: ClientHttp2Session | undefined;
  private key: Promise<PrivateKey> | undefined;
  private token: ProviderToken | undefined;
  private tokenInFlight: Promise<ProviderToken> | undefined;

  constructor(private readonly options: ApnsChannelOptions) {
    super(options);
    for (const field of ['teamId', 'keyId', 'privateKey', 'topic'] as const) {
      if (typeof options[field] !== 'string' || options[field].length === 0) throw new Error(`ApnsChannel: option ${field} is missing`);
    }
    const url = new URL(options.baseUrl ?? APNS_PRODUCTION_URL);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('ApnsChannel: baseUrl must be https: (or http: for an h2c emulator)');
    this.origin = url.origin;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.tokenRefreshMs = options.tokenRefreshMs ?? 50 * 60_000;
  }

  protected async push(deviceToken: string, collapseId: string, envelope: OutboundEnvelope): Promise<string> {
    const apnsId = UUID.test(envelope.deliveryId) ? envelope.deliveryId.toLowerCase() : randomUUID();
    const answer = await this.pushWithToken(deviceToken, collapseId, apnsId);
    if (answer.status !== 200) throw this.mapError(answer);
    return single(answer.headers['apns-id']) ?? apnsId;
  }

  /**
   * APNs has no status endpoint: push to a device token that cannot exist. A working
   * APNs that accepts our provider token answers 400 BadDeviceToken; nothing is delivered.
   */
  protected async probe(): Promise<ProbeResult> {
    const answer = await this.pushWithToken(HEALTH_PROBE_TOKEN, 'health', randomUUID());
    if (answer.status === 400 && readReason(answer.body) === 'BadDeviceToken') return { ok: true, detail: 'apns reachable, provider token accepted' };
    return { ok: false, error: this.mapError(answer) };
  }

  protected shutdown(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    if (session === undefined || session.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        session.destroy();
        resolve();
      }, 1000);
      session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---- pushing ---------------------------------------------------------------------

  /** One push with the provider token; re-signs it once on ExpiredProviderToken. */
  private async pushWithToken(deviceToken: string, collapseId: string, apnsId: string): Promise<H2Answer> {
    const body = JSON.stringify({ aps: { 'content-available': 1 }, t: 'sync', c: collapseId });
    let token = await this.providerToken(false);
    let answer = await this.request(deviceToken, collapseId, apnsId, body, token.jwt);
    if (answer.status === 403 && readReason(answer.body) === 'ExpiredProviderToken') {
      this.log.debug({ channel: 'apns' }, 'apns says the provider token expired; signing a new one');
      token = await this.providerToken(true, token);
      answer = await this.request(deviceToken, collapseId, apnsId, body, token.jwt);
    }
    return answer;
  }

  /** A request on the shared connection; retried once on a fresh connection if it was not processed. */
  private async request(deviceToken: string, collapseId: string, apnsId: string, body: string, jwt: string): Promise<H2Answer> {
    const deadline = performance.now() + this.timeoutMs;
    try {
      return await this.attempt(deviceToken, collapseId, apnsId, body, jwt, this.timeoutMs);
    } catch (error) {
      if (!(error instanceof NotProcessed)) throw error;
      this.log.debug({ channel: 'apns' }, 'apns connection went away before the push was processed; retrying on a new connection');
      try {
        return await this.attempt(deviceToken, collapseId, apnsId, body, jwt, Math.max(1, deadline - performance.now()));
      } catch (retryError) {
        if (retryError instanceof NotProcessed) throw new ChannelError('apns', 'unavailable', `apns: connection lost (${retryError.message})`);
        throw retryError;
      }
    }
  }

  private attempt(deviceToken: string, collapseId: string, apnsId: string, body: string, jwt: string, timeoutMs: number): Promise<H2Answer> {
    if (this.isClosed) return Promise.reject(new ChannelError('apns', 'unavailable', 'apns channel is closed'));
    return new Promise<H2Answer>((resolve, reject) => {
      let stream: ReturnType<ClientHttp2Session['request']> | undefined;
      let settled = false;
      const timer = setTimeout(() => {
        finish(() => reject(new ChannelError('apns', 'timeout', `apns: no answer within ${timeoutMs} ms`)));
        if (stream !== undefined && !stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
        // a connection that never got established is not worth waiting on
        if (this.session?.connecting === true) this.dropSession();
      }, timeoutMs);
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };

      try {
        stream = this.connection().request({
          ':method': 'POST',
          ':path': `/3/device/${encodeURIComponent(deviceToken)}`,
          authorization: `bearer ${jwt}`,
          'apns-topic': this.options.topic,
          'apns-push-type': 'background',
          'apns-priority': '5',
          'apns-collapse-id': apnsCollapseId(collapseId),
          'apns-id': apnsId,
          'content-type': 'application/json',
        });
      } catch (error) {
        // the session is closing (GOAWAY) or already destroyed: nothing was sent
        this.dropSession();
        finish(() => reject(new NotProcessed(describeNetworkError(error))));
        return;
      }
      const request = stream;
      const chunks: Buffer[] = [];
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      request.on('response', (h) => {
        headers = h;
        status = Number(h[':status']);
      });
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => finish(() => resolve({ status, headers, body: Buffer.concat(chunks).toString('utf8') })));
      request.on('error', (error: unknown) => {
        const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
        if (status === 0 && (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION' || /REFUSED_STREAM/.test(String(error)))) {
          finish(() => reject(new NotProcessed(String(code))));
          return;
        }
        finish(() => reject(new ChannelError('apns', 'unavailable', `apns: ${scrub(describeNetworkError(error), [jwt, deviceToken])}`, { cause: error })));
      });
      request.on('close', () => {
        if (status === 0 && request.rstCode === h2.NGHTTP2_REFUSED_STREAM) finish(() => reject(new NotProcessed('REFUSED_STREAM')));
        else finish(() => reject(new ChannelError('apns', 'unavailable', `apns: stream closed without an answer (code ${String(request.rstCode)})`)));
      });
      request.end(body);
    });
  }

  /** The shared HTTP/2 connection, opened on first use and after it went away. */
  private connection(): ClientHttp2Session {
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = connect(this.origin, this.origin.startsWith('https:') ? (this.options.connectOptions ?? {}) : {});
    const forget = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('goaway', forget);
    session.on('close', forget);
    session.on('error', (error: unknown) => {
      forget();
      this.log.warn({ channel: 'apns', error: describeNetworkError(error) }, 'apns connection failed');
    });
    this.session = session;
    return session;
  }

  private dropSession(): void {
    const session = this.session;
    this.session = undefined;
    if (session !== undefined && !session.destroyed) session.destroy();
  }

  // ---- provider token --------------------------------------------------------------

  /** The current provider JWT; a new one when it is `tokenRefreshMs` old, or when `force` (and `stale` is still current). */
  private async providerToken(force: boolean, stale?: ProviderToken): Promise<ProviderToken> {
    const current = this.token;
    const fresh = current !== undefined && this.now() - current.issuedAt < this.tokenRefreshMs;
    if (current !== undefined && fresh && !(force && current === stale)) return current;
    if (this.tokenInFlight === undefined) {
      this.tokenInFlight = this.signToken().finally(() => {
        this.tokenInFlight = undefined;
      });
    }
    return this.tokenInFlight;
  }

  private async signToken(): Promise<ProviderToken> {
    const { SignJWT, importPKCS8 } = await jose();
    this.key ??= importPKCS8(this.options.privateKey, 'ES256').catch(() => {
      this.key = undefined;
      throw new ChannelError('apns', 'auth_failed', 'apns signing key is not a PKCS#8 P-256 key');
    });
    const key = await this.key;
    const issuedAt = this.now();
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: this.options.keyId })
      .setIssuer(this.options.teamId)
      .setIssuedAt(Math.floor(issuedAt / 1000))
      .sign(key);
    const token = { jwt, issuedAt };
    this.token = token;
    return token;
  }

  // ---- errors ----------------------------------------------------------------------

  private mapError(answer: H2Answer): ChannelError {
    const { status } = answer;
    const reason = readReason(answer.body);
    const code = reason ?? status;
    const retryAfterMs = parseRetryAfter(single(answer.headers['retry-after']), this.now());
    const fail = (r: FailureReason, extra: { retryAfterMs?: number } = {}): ChannelError =>
      new ChannelError('apns', r, `apns answered ${status}${reason === undefined ? '' : ` ${reason}`}`, { providerCode: code, ...extra });

    if (status === 410 || (status === 400 && reason === 'BadDeviceToken')) return fail('unregistered');
    if (status === 403) return fail('auth_failed');
    if (status === 429) return fail('rate_limited', retryAfterMs === undefined ? {} : { retryAfterMs });
    if (status >= 500) return fail('unavailable', retryAfterMs === undefined ? {} : { retryAfterMs });
    return fail('rejected');
  }
}

function single(value: string | string[] | number | undefined): string | undefined {
  if (Array.isArray(value)) return value[0];
  return value === undefined ? undefined : String(value);
}

/** APNs error bodies: `{"reason":"BadDeviceToken"}` (410 adds `timestamp`). Only a plain identifier is kept. */
function readReason(body: string): string | undefined {
  const parsed = parseJson(body);
  return isRecord(parsed) ? providerIdentifier(parsed['reason']) : undefined;
}
