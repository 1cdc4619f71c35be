/**
 * Google's OAuth 2.0 token endpoint for service accounts, as the Google emulators (FCM,
 * RBM) serve it at `POST /token`: the JWT bearer grant of RFC 7523 §2.1.
 *
 * The request is form-encoded `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&
 * assertion=<JWT>`. The assertion must be an RS256 JWS (`kid` = the key id, when one is
 * configured) signed by a configured service account (`iss` = its client email), with
 * `aud` = this endpoint, a `scope` containing the emulated API's scope, and a lifetime of
 * at most one hour that has not ended and did not start more than 5 minutes in the
 * future. The answer is `{"access_token","expires_in","token_type":"Bearer"}`, or one of
 * Google's OAuth errors: `invalid_request`, `unsupported_grant_type`, `invalid_grant`,
 * `invalid_scope` (each with an `error_description`).
 *
 * The emulator then authenticates API calls with `holder(authorization header)`.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { decodeJwt, verifyJwt } from './jwt.js';

/** RFC 7523 §2.1: the grant type of a JWT bearer assertion. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** A service account the endpoint knows: its client email and the public half of its key. */
export interface TokenEndpointAccount {
  readonly email: string;
  readonly publicKey: KeyObject;
  /** When set, the assertion's `kid` must equal it. */
  readonly keyId?: string;
}

/** How to set up a token endpoint. */
export interface TokenEndpointOptions {
  readonly accounts: readonly TokenEndpointAccount[];
  /** The scope the assertion must ask for (among others). */
  readonly scope: string;
  /** The endpoint's own URL: the audience assertions must name. */
  readonly audience: () => string;
  /** Lifetime of issued access tokens (seconds). */
  readonly ttlSeconds: number;
  /** The emulator's clock (ms since epoch). */
  readonly now: () => number;
}

/** One token request as it arrived. */
export interface TokenRequest {
  readonly method: string;
  readonly contentType: string | undefined;
  readonly body: string;
}

/** An access token the endpoint issued, with the assertion it verified. */
export interface TokenGrant {
  readonly email: string;
  readonly assertionHeader: Readonly<Record<string, unknown>>;
  readonly assertionClaims: Readonly<Record<string, unknown>>;
  readonly accessToken: string;
}

/** The endpoint's answer: a status and a JSON body, plus the grant when it issued a token. */
export interface TokenAnswer {
  readonly status: number;
  readonly body: Readonly<Record<string, string | number>>;
  readonly grant?: TokenGrant;
}

/**
 * The token endpoint and the access tokens it issued.
 *
 * @example
 * const oauth = new TokenEndpoint({ accounts, scope, audience: () => `${url}/token`, ttlSeconds: 3599, now: Date.now });
 * const answer = oauth.exchange({ method: req.method, contentType: req.headers['content-type'], body });
 * const email = oauth.holder(req.headers.authorization); // undefined → 401
 */
export class TokenEndpoint {
  /** Lifetime of tokens issued from now on (seconds). */
  ttlSeconds: number;
  private readonly accounts = new Map<string, TokenEndpointAccount>();
  /** Access token → holder and expiry. */
  private readonly tokens = new Map<string, { readonly email: string; readonly expiresAt: number }>();
  private readonly issuedTokens: string[] = [];

  constructor(private readonly options: TokenEndpointOptions) {
    for (const account of options.accounts) this.accounts.set(account.email, account);
    this.ttlSeconds = options.ttlSeconds;
  }

  /** Answers one request to the token endpoint. */
  exchange(request: TokenRequest): TokenAnswer {
    const fail = (status: number, error: string, description: string): TokenAnswer => ({ status, body: { error, error_description: description } });
    const invalidGrant = (description: string): TokenAnswer => fail(400, 'invalid_grant', description);
    if (request.method !== 'POST') return fail(405, 'invalid_request', 'Method not allowed.');
    if (!(request.contentType ?? '').startsWith('application/x-www-form-urlencoded')) {
      return fail(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(request.body);
    const grantType = form.get('grant_type');
    if (grantType !== JWT_BEARER_GRANT) return fail(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    const jwt = decodeJwt(form.get('assertion') ?? '');
    if (jwt === undefined) return invalidGrant('Invalid JWT.');
    if (jwt.header['alg'] !== 'RS256') return invalidGrant('Invalid JWT: unsupported algorithm.');
    const { iss, aud, scope, iat, exp } = jwt.claims;
    const account = typeof iss === 'string' ? this.accounts.get(iss) : undefined;
    if (account === undefined) return invalidGrant('Invalid grant: account not found');
    if (account.keyId !== undefined && jwt.header['kid'] !== account.keyId) return invalidGrant('Invalid JWT Signature.');
    if (!verifyJwt(jwt, 'RS256', account.publicKey)) return invalidGrant('Invalid JWT Signature.');
    if (aud !== this.options.audience()) return invalidGrant('Invalid JWT: Failed audience check.');
    const nowSeconds = Math.floor(this.options.now() / 1000);
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600 || exp <= nowSeconds || iat > nowSeconds + 300 || exp <= iat) {
      return invalidGrant(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    }
    if (typeof scope !== 'string' || !scope.split(' ').includes(this.options.scope)) {
      return fail(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const accessToken = `ya29.emu-${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, { email: account.email, expiresAt: this.options.now() + this.ttlSeconds * 1000 });
    this.issuedTokens.push(accessToken);
    return {
      status: 200,
      body: { access_token: accessToken, expires_in: this.ttlSeconds, token_type: 'Bearer' },
      grant: { email: account.email, assertionHeader: jwt.header, assertionClaims: jwt.claims, accessToken },
    };
  }

  /** The service account a `Bearer` authorization header's token was issued to, while it is valid; else undefined. */
  holder(authorization: string | undefined): string | undefined {
    const bearer = authorization === undefined ? undefined : /^Bearer (\S+)$/i.exec(authorization)?.[1];
    const token = bearer === undefined ? undefined : this.tokens.get(bearer);
    return token === undefined || token.expiresAt <= this.options.now() ? undefined : token.email;
  }

  /** Invalidates every access token issued so far. */
  revokeAll(): void {
    this.tokens.clear();
  }

  /** Every access token ever issued (tests search logs and errors for them). */
  issued(): readonly string[] {
    return [...this.issuedTokens];
  }
}
