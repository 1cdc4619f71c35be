/**
 * Firebase Cloud Messaging emulator: Google's OAuth token endpoint plus the FCM HTTP v1
 * `messages:send` API, on loopback behind a `RecordingFront`.
 *
 * Token endpoint (`POST /token`): Google's service-account OAuth (RFC 7523 JWT bearer
 * grant, scope firebase.messaging), shared with the RBM emulator (`common/token-endpoint.ts`).
 *
 * `POST /v1/projects/{project}/messages:send`: checks the bearer token (401
 * UNAUTHENTICATED), the project (403 PERMISSION_DENIED), the message shape, the target
 * token (never seen → 400 INVALID_ARGUMENT, unregistered → 404 UNREGISTERED, another
 * project's → 403 SENDER_ID_MISMATCH, an iOS token while the project's APNs credentials
 * are broken → 401 THIRD_PARTY_AUTH_ERROR) and answers `{"name":"projects/p/messages/…"}`.
 * Errors use FCM's documented JSON: `{"error":{code,message,status,details:[…]}}`.
 *
 * Parley's opacity rule is enforced like a schema: a message may carry only
 * `data.type` ("sync") and `data.collapse`, `android.{collapse_key,priority}` and an
 * `apns` wake block (`apns-priority` "5", `apns-push-type` "background",
 * `apns-collapse-id`; payload exactly `{"aps":{"content-available":1}}`). Anything else
 * is refused with 400 INVALID_ARGUMENT and a `google.rpc.BadRequest` field violation, as
 * FCM does for unknown fields (`fcm-message.ts`). `validate_only` requests are validated
 * and not delivered.
 *
 * Control API for tests and the demo: `registerToken`, `unregisterToken`, `setFault`
 * (503 / 500 / 429 / hang), `setThirdPartyAuthValid`, `revokeAccessTokens`, `pushes`,
 * `onPush` (one event per delivered push: the "phone OS" waking the app), `requests`,
 * counters, `issuedAccessTokens` (so tests can search logs for leaks).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { readBody } from './common/body.js';
import { FaultSwitch } from './common/faults.js';
import { toPublicKey } from './common/jwt.js';
import { TokenEndpoint } from './common/token-endpoint.js';
import { Invalid, parseRequest, type Json } from './fcm-message.js';
import { ByteRecorder, RecordingFront } from './recorder.js';

/** The OAuth scope of the FCM HTTP v1 API. */
export const FCM_MESSAGING_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const FCM_ERROR_TYPE = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const BAD_REQUEST_TYPE = 'type.googleapis.com/google.rpc.BadRequest';
const MAX_BODY_BYTES = 64 * 1024;

/** How to start the FCM emulator. */
export interface FcmEmulatorOptions {
  /** The Firebase project the emulator serves. */
  readonly projectId: string;
  /** The service account allowed to get tokens (the JWT `iss`). */
  readonly serviceAccountEmail: string;
  /** The service account's public key (or its private key, whose public half is used). */
  readonly publicKey: KeyObject | string;
  /** When set, the assertion's `kid` must equal it. */
  readonly privateKeyId?: string;
  /** Lifetime of issued access tokens; default 3599 s, like Google. */
  readonly accessTokenTtlSeconds?: number;
  /** The emulator's clock (ms since epoch). */
  readonly now?: () => number;
}

/** The platform of the app a registration token belongs to. */
export type FcmPlatform = 'android' | 'ios' | 'web';

/** One push FCM accepted for delivery. */
export interface FcmPush {
  /** The message name returned to the sender: projects/{p}/messages/{id}. */
  readonly name: string;
  readonly token: string | undefined;
  readonly topic: string | undefined;
  readonly data: Readonly<Record<string, string>>;
  readonly android: Readonly<Record<string, unknown>> | undefined;
  readonly apns: Readonly<Record<string, unknown>> | undefined;
  readonly receivedAt: Date;
}

/** One HTTP request as the emulator parsed it. */
export interface FcmRecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
  /** The status the emulator answered (undefined while hanging). */
  status: number | undefined;
}

/** An access-token request the emulator accepted, with the assertion it verified. */
export interface FcmTokenGrant {
  readonly assertionHeader: Readonly<Record<string, unknown>>;
  readonly assertionClaims: Readonly<Record<string, unknown>>;
  readonly accessToken: string;
}

/** What `setFault` makes FCM do. */
export type FcmFault =
  /** 503 UNAVAILABLE */
  | 'unavailable'
  /** 500 INTERNAL */
  | 'internal'
  /** 429 QUOTA_EXCEEDED with Retry-After */
  | 'quota'
  /** accept the request, never answer */
  | 'hang';

/** How a fault behaves. */
export interface FcmFaultOptions {
  /** Retry-After seconds for 'quota' (and sent with 'unavailable' when given). Default 30 for 'quota'. */
  readonly retryAfterSeconds?: number;
  /** Also break the token endpoint (a different host in reality); default false. */
  readonly tokenEndpoint?: boolean;
}

interface TokenState {
  readonly platform: FcmPlatform;
  readonly projectId: string;
  registered: boolean;
}

/**
 * The FCM emulator.
 *
 * @example
 * const fcm = await FcmEmulator.start({ projectId, serviceAccountEmail, publicKey });
 * fcm.registerToken('token-1');
 * fcm.onPush((push) => wakeApp(push));
 */
export class FcmEmulator {
  readonly recorder = new ByteRecorder('fcm');
  readonly requests: FcmRecordedRequest[] = [];
  readonly grants: FcmTokenGrant[] = [];
  /** Counters: token requests (any outcome), send requests (any outcome), 401s answered. */
  readonly stats = { tokenRequests: 0, sendRequests: 0, unauthenticated: 0 };

  private readonly oauth: TokenEndpoint;
  private readonly tokens = new Map<string, TokenState>();
  private readonly delivered: FcmPush[] = [];
  private readonly listeners = new Set<(push: FcmPush) => void>();
  private readonly faults = new FaultSwitch<FcmFault, ServerResponse, FcmFaultOptions>((res) => res.destroy());
  private readonly now: () => number;
  private thirdPartyAuthValid = true;
  private serial = 0;
  private front!: RecordingFront;

  private constructor(
    private readonly options: FcmEmulatorOptions,
    private readonly server: Server,
  ) {
    this.now = options.now ?? Date.now;
    this.oauth = new TokenEndpoint({
      accounts: [{ email: options.serviceAccountEmail, publicKey: toPublicKey(options.publicKey), ...(options.privateKeyId === undefined ? {} : { keyId: options.privateKeyId }) }],
      scope: FCM_MESSAGING_SCOPE,
      audience: () => this.tokenUri,
      ttlSeconds: options.accessTokenTtlSeconds ?? 3599,
      now: this.now,
    });
  }

  static async start(options: FcmEmulatorOptions): Promise<FcmEmulator> {
    const server = createServer();
    const emulator = new FcmEmulator(options, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => emulator.handle(req, res));
    emulator.front = await RecordingFront.listen(emulator.recorder, server);
    return emulator;
  }

  /** The public origin (the adapter's `baseUrl`). */
  get url(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  /** The OAuth token endpoint (the service account's `token_uri`). */
  get tokenUri(): string {
    return `${this.url}/token`;
  }

  get projectId(): string {
    return this.options.projectId;
  }

  // ---- control ---------------------------------------------------------------------

  /** An app instance got this registration token (for this project unless told otherwise). */
  registerToken(token: string, options: { platform?: FcmPlatform; projectId?: string } = {}): void {
    this.tokens.set(token, { platform: options.platform ?? 'android', projectId: options.projectId ?? this.options.projectId, registered: true });
  }

  /** The app was uninstalled / the token expired: sends now answer 404 UNREGISTERED. */
  unregisterToken(token: string): void {
    const state = this.tokens.get(token);
    if (state === undefined) this.tokens.set(token, { platform: 'android', projectId: this.options.projectId, registered: false });
    else state.registered = false;
  }

  /** Makes FCM fail every messages:send (and, if asked, the token endpoint) until `setFault(null)`. */
  setFault(kind: FcmFault | null, options: FcmFaultOptions = {}): void {
    this.faults.set(kind ?? undefined, options);
  }

  /** The project's APNs credentials in Firebase are (in)valid: iOS tokens get THIRD_PARTY_AUTH_ERROR. */
  setThirdPartyAuthValid(valid: boolean): void {
    this.thirdPartyAuthValid = valid;
  }

  /** Invalidates every access token issued so far (the next send gets 401 UNAUTHENTICATED). */
  revokeAccessTokens(): void {
    this.oauth.revokeAll();
  }

  /** Every access token ever issued (tests search logs and errors for them). */
  issuedAccessTokens(): readonly string[] {
    return this.oauth.issued();
  }

  /** Pushes accepted for delivery, for one token or all. */
  pushes(token?: string): readonly FcmPush[] {
    return token === undefined ? [...this.delivered] : this.delivered.filter((p) => p.token === token);
  }

  pushByName(name: string): FcmPush | undefined {
    return this.delivered.find((p) => p.name === name);
  }

  /** One call per push delivered to a device: the phone OS waking the app. */
  onPush(listener: (push: FcmPush) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.faults.releaseAll();
    await this.front.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- HTTP ------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    void readBody(req, MAX_BODY_BYTES).then((body) => {
      if (body === undefined) return; // the client went away
      const record: FcmRecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        body: body.bytes.toString('utf8'),
        status: undefined,
      };
      this.requests.push(record);
      if (body.tooLarge) {
        this.reply(record, res, 413, { error: { code: 413, message: 'Request payload too large', status: 'INVALID_ARGUMENT' } });
        return;
      }
      try {
        this.route(record, res);
      } catch {
        this.reply(record, res, 500, googleError(500, 'INTERNAL', 'Internal error encountered.', 'INTERNAL'));
      }
    });
  }

  private route(record: FcmRecordedRequest, res: ServerResponse): void {
    const path = record.path.split('?')[0] ?? '';
    if (path === '/token') {
      this.stats.tokenRequests++;
      if (this.applyFault(record, res, true)) return;
      return this.token(record, res);
    }
    const match = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    if (match === null) {
      return this.reply(record, res, 404, null, true);
    }
    this.stats.sendRequests++;
    if (this.applyFault(record, res, false)) return;
    if (record.method !== 'POST') return this.reply(record, res, 405, googleError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed.'));
    this.send(decodeURIComponent(match[1] ?? ''), record, res);
  }

  /** Answers per the fault switch; true when it did. */
  private applyFault(record: FcmRecordedRequest, res: ServerResponse, tokenEndpoint: boolean): boolean {
    const kind = this.faults.kind;
    const options = this.faults.options ?? {};
    if (kind === undefined || (tokenEndpoint && options.tokenEndpoint !== true)) return false;
    if (this.faults.hold(res)) return true;
    const retryAfter = options.retryAfterSeconds;
    switch (kind) {
      case 'hang':
        return true;
      case 'unavailable':
        this.reply(record, res, 503, googleError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE'), false, retryAfter);
        return true;
      case 'internal':
        this.reply(record, res, 500, googleError(500, 'INTERNAL', 'Internal error encountered.', 'INTERNAL'), false, retryAfter);
        return true;
      case 'quota':
        this.reply(
          record,
          res,
          429,
          googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric of service fcm.googleapis.com.', 'QUOTA_EXCEEDED'),
          false,
          retryAfter ?? 30,
        );
        return true;
    }
  }

  private token(record: FcmRecordedRequest, res: ServerResponse): void {
    const contentType = record.headers['content-type'];
    const answer = this.oauth.exchange({ method: record.method, contentType: typeof contentType === 'string' ? contentType : undefined, body: record.body });
    if (answer.grant !== undefined) {
      const { assertionHeader, assertionClaims, accessToken } = answer.grant;
      this.grants.push({ assertionHeader, assertionClaims, accessToken });
    }
    this.reply(record, res, answer.status, answer.body);
  }

  private send(projectId: string, record: FcmRecordedRequest, res: ServerResponse): void {
    const authorization = record.headers['authorization'];
    if (this.oauth.holder(typeof authorization === 'string' ? authorization : undefined) === undefined) {
      this.stats.unauthenticated++;
      return this.reply(
        record,
        res,
        401,
        googleError(
          401,
          'UNAUTHENTICATED',
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        ),
        false,
        undefined,
        { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      );
    }
    if (projectId !== this.options.projectId) {
      return this.reply(
        record,
        res,
        403,
        googleError(403, 'PERMISSION_DENIED', `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${projectId}' (or it may not exist).`),
      );
    }
    const contentType = String(record.headers['content-type'] ?? '');
    if (!contentType.startsWith('application/json')) {
      return this.reply(record, res, 400, googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Content-Type must be application/json.'));
    }
    let parsed: { message: Json; validateOnly: boolean };
    try {
      parsed = parseRequest(record.body);
    } catch (error) {
      const field = error instanceof Invalid ? error.field : 'message';
      const description = error instanceof Error ? error.message : 'Invalid JSON payload received.';
      return this.reply(record, res, 400, {
        error: { code: 400, message: description, status: 'INVALID_ARGUMENT', details: [{ '@type': BAD_REQUEST_TYPE, fieldViolations: [{ field, description }] }] },
      });
    }
    const { message, validateOnly } = parsed;
    const token = typeof message['token'] === 'string' ? message['token'] : undefined;
    const topic = typeof message['topic'] === 'string' ? message['topic'] : undefined;
    if (token !== undefined) {
      const state = this.tokens.get(token);
      if (state === undefined) {
        return this.reply(record, res, 400, googleError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT'));
      }
      if (!state.registered) return this.reply(record, res, 404, googleError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'));
      if (state.projectId !== this.options.projectId) {
        return this.reply(record, res, 403, googleError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH'));
      }
      if (state.platform === 'ios' && !this.thirdPartyAuthValid) {
        return this.reply(record, res, 401, googleError(401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service', 'THIRD_PARTY_AUTH_ERROR'));
      }
    }
    if (validateOnly) {
      return this.reply(record, res, 200, { name: `projects/${this.options.projectId}/messages/fake_message_id` });
    }
    const name = `projects/${this.options.projectId}/messages/0:${this.now()}${String(++this.serial).padStart(6, '0')}%${randomBytes(8).toString('hex')}`;
    const push: FcmPush = {
      name,
      token,
      topic,
      data: message['data'] as Record<string, string>,
      android: message['android'] as Json | undefined,
      apns: message['apns'] as Json | undefined,
      receivedAt: new Date(this.now()),
    };
    this.delivered.push(push);
    this.reply(record, res, 200, { name });
    for (const listener of this.listeners) {
      try {
        listener(push);
      } catch {
        // a listener's failure must not break the emulator
      }
    }
  }

  private reply(
    record: FcmRecordedRequest,
    res: ServerResponse,
    status: number,
    body: unknown,
    html = false,
    retryAfterSeconds?: number,
    extraHeaders: Record<string, string> = {},
  ): void {
    record.status = status;
    const headers: Record<string, string> = { ...extraHeaders };
    if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
    if (html) {
      // Google's front end answers unknown paths with an HTML page, not the API's JSON.
      headers['content-type'] = 'text/html; charset=UTF-8';
      res.writeHead(status, headers).end(`<!DOCTYPE html><title>Error ${status}</title><p>${status}. That’s an error.`);
      return;
    }
    headers['content-type'] = 'application/json; charset=UTF-8';
    res.writeHead(status, headers).end(JSON.stringify(body));
  }
}

function googleError(code: number, status: string, message: string, fcmErrorCode?: string): Json {
  return {
    error: {
      code,
      message,
      status,
      ...(fcmErrorCode === undefined ? {} : { details: [{ '@type': FCM_ERROR_TYPE, errorCode: fcmErrorCode }] }),
    },
  };
}
