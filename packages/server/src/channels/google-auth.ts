/**
 * Google service-account OAuth 2.0 for the Google adapters (FCM, RBM): the JWT bearer
 * grant of RFC 7523 §2.1 against the token endpoint.
 *
 * - The assertion: an RS256 JWS signed with the service account's key through `jose`,
 *   header `{alg:"RS256", typ:"JWT", kid: private_key_id}` (kid only when the key file has
 *   one), claims `scope`, `iss` = client_email, `aud` = the token endpoint, `iat` and
 *   `exp` = iat + 1 h (Google's maximum).
 * - The request: `POST <token endpoint>`, form-encoded `grant_type=urn:ietf:params:oauth:
 *   grant-type:jwt-bearer&assertion=…`. The answer `{"access_token","expires_in"}` is
 *   cached until `ACCESS_TOKEN_REFRESH_MARGIN_MS` before it expires, counted from when it
 *   was requested (at half its life, if it is that short). One request is in flight at a
 *   time; concurrent callers share it.
 * - A token the API refused (401) is dropped with `invalidate(token)`, only if it is still
 *   the cached one (a concurrent caller may have replaced it already).
 * - Failures: a refusal by the endpoint → `auth_failed` (`rate_limited` on 429,
 *   `unavailable` on 5xx), with the OAuth `error` code as `providerCode`; an answer
 *   without a token → `auth_failed`; no answer → `timeout` / `unavailable`; a key that
 *   is not PKCS#8 RSA → `auth_failed`.
 * - Secrets: the private key, the assertions and the access tokens never appear in an
 *   error or a log line. `scrub` cuts all of them (and the caller's own, such as a push
 *   token) out of provider text; the adapters pass every provider text through it.
 *
 * The clock is injected (`now`), so tests age tokens without waiting.
 */
import type { importPKCS8 } from 'jose';
import { jose } from '../util/jose.js';
import { ChannelError, type ChannelLogger, type ChannelName, type FailureReason } from './channel.js';
import { parseRetryAfter, providerFetch, scrub } from './provider-http.js';

/** Google's OAuth 2.0 token endpoint. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** RFC 7523 §2.1: the grant type of a JWT bearer assertion. */
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** An access token is replaced this long before it expires (or at half its life, if that is shorter). */
const ACCESS_TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** Lifetime of a signed assertion (Google accepts at most one hour). */
const ASSERTION_LIFETIME_SECONDS = 3600;

/** The fields of a Google service-account JSON key file that the OAuth flow uses. */
export interface GoogleServiceAccountKey {
  readonly client_email: string;
  /** PKCS#8 PEM RSA private key ("-----BEGIN PRIVATE KEY-----"). */
  readonly private_key: string;
  /** Sent as the assertion's `kid` when present. */
  readonly private_key_id?: string;
  /** The OAuth token endpoint, normally https://oauth2.googleapis.com/token. */
  readonly token_uri?: string;
}

/** What `GoogleAccessTokens` needs. */
export interface GoogleAccessTokensOptions {
  /** The adapter the tokens are for: errors and log lines carry its name. */
  readonly channel: ChannelName;
  readonly serviceAccount: GoogleServiceAccountKey;
  /** The OAuth scope the API wants (e.g. https://www.googleapis.com/auth/firebase.messaging). */
  readonly scope: string;
  /** The token endpoint, which is also the assertion's audience. */
  readonly tokenUrl: string;
  /** Per token request; default 10 s. */
  readonly timeoutMs?: number;
  /** Clock (ms since epoch). */
  readonly now?: () => number;
  readonly logger?: ChannelLogger;
}

/** The token endpoint did not issue a token; `httpStatus` is its answer's status (undefined when it did not answer). */
export class TokenEndpointError extends ChannelError {
  constructor(
    channel: ChannelName,
    reason: FailureReason,
    message: string,
    readonly httpStatus: number | undefined,
    options: { cause?: unknown; providerCode?: string | number; retryAfterMs?: number } = {},
  ) {
    super(channel, reason, message, options);
    this.name = 'TokenEndpointError';
  }
}

interface AccessToken {
  readonly value: string;
  /** When to stop using it (ms since epoch). */
  readonly refreshAt: number;
}

type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;

/**
 * Access tokens for one service account and scope: cached, refreshed ahead of expiry,
 * fetched once for concurrent callers.
 *
 * @example
 * const tokens = new GoogleAccessTokens({ channel: 'fcm', serviceAccount, scope: FCM_SCOPE, tokenUrl: serviceAccount.token_uri });
 * const token = await tokens.accessToken();
 * // … the API answers 401:
 * tokens.invalidate(token);
 */
export class GoogleAccessTokens {
  private readonly channel: ChannelName;
  private readonly account: GoogleServiceAccountKey;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly log: ChannelLogger | undefined;
  private readonly closing = new AbortController();
  /** The private key as text and its PEM lines: never echoed, even if a provider quoted them. */
  private readonly keySecrets: readonly string[];
  private key: Promise<PrivateKey> | undefined;
  private token: AccessToken | undefined;
  private inFlight: Promise<AccessToken> | undefined;
  private lastAssertion: string | undefined;

  constructor(private readonly options: GoogleAccessTokensOptions) {
    this.channel = options.channel;
    this.account = options.serviceAccount;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.log = options.logger;
    const pem = this.account.private_key;
    this.keySecrets = [pem, ...pem.split('\n').map((l) => l.trim()).filter((l) => l.length >= 16 && !l.startsWith('-----'))];
  }

  /** A valid access token: the cached one, or a new one from the token endpoint. Throws ChannelError. */
  async accessToken(): Promise<string> {
    const cached = this.token;
    if (cached !== undefined && this.now() < cached.refreshAt) return cached.value;
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = undefined;
    });
    return (await this.inFlight).value;
  }

  /** The API refused `stale`: forget it, so the next `accessToken()` fetches a new one. */
  invalidate(stale: string): void {
    if (this.token?.value === stale) this.token = undefined;
  }

  /**
   * Provider text made safe for an error or a log line: without the private key, the
   * current access token, the last assertion and the caller's `extra` secrets.
   */
  scrub(text: string, extra: readonly (string | undefined)[] = []): string {
    return scrub(text, [this.token?.value, this.lastAssertion, ...this.keySecrets, ...extra]);
  }

  /** Aborts a token request in flight and forgets the cached token. */
  close(): void {
    this.closing.abort();
    this.token = undefined;
  }

  private async fetchToken(): Promise<AccessToken> {
    const assertion = await this.signAssertion();
    this.lastAssertion = assertion;
    const requestedAt = this.now();
    const answer = await providerFetch({
      channel: this.channel,
      what: 'token endpoint',
      url: this.options.tokenUrl,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString(),
      timeoutMs: this.timeoutMs,
      closing: this.closing.signal,
      secrets: [assertion],
    }).catch((error: unknown) => {
      const e = error instanceof ChannelError ? error : new ChannelError(this.channel, 'unavailable', `${this.channel} token endpoint failed`);
      throw new TokenEndpointError(this.channel, e.reason === 'timeout' ? 'timeout' : 'unavailable', e.message, undefined, e.cause === undefined ? {} : { cause: e.cause });
    });
    const body = typeof answer.body === 'object' && answer.body !== null ? (answer.body as Record<string, unknown>) : {};
    if (answer.status !== 200) {
      const code = typeof body['error'] === 'string' ? this.scrub(body['error']) : undefined;
      const description = typeof body['error_description'] === 'string' ? `: ${this.scrub(body['error_description'])}` : '';
      const reason: FailureReason = answer.status >= 500 ? 'unavailable' : answer.status === 429 ? 'rate_limited' : 'auth_failed';
      this.log?.warn({ channel: this.channel, status: answer.status, error: code }, `${this.channel} token endpoint refused the service account`);
      const retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), this.now());
      throw new TokenEndpointError(
        this.channel,
        reason,
        `${this.channel} token endpoint answered ${answer.status}${code === undefined ? '' : ` ${code}`}${description}`,
        answer.status,
        { providerCode: code ?? answer.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
      );
    }
    const value = body['access_token'];
    const expiresIn = body['expires_in'];
    if (typeof value !== 'string' || value.length === 0 || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new TokenEndpointError(this.channel, 'auth_failed', `${this.channel} token endpoint answered without an access token`, answer.status);
    }
    const lifetimeMs = expiresIn * 1000;
    const token: AccessToken = { value, refreshAt: requestedAt + lifetimeMs - Math.min(ACCESS_TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2) };
    this.token = token;
    return token;
  }

  private async signAssertion(): Promise<string> {
    const { SignJWT, importPKCS8 } = await jose();
    this.key ??= importPKCS8(this.account.private_key, 'RS256').catch(() => {
      this.key = undefined;
      // no cause: the parser's error may quote the key
      throw new TokenEndpointError(this.channel, 'auth_failed', `${this.channel} service account private key is not a PKCS#8 RSA key`, undefined);
    });
    const key = await this.key;
    const keyId = this.account.private_key_id;
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ scope: this.options.scope })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(keyId === undefined || keyId.length === 0 ? {} : { kid: keyId }) })
      .setIssuer(this.account.client_email)
      .setAudience(this.options.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(key);
  }
}
