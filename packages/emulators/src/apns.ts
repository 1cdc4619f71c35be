/**
 * Apple Push Notification service emulator: the HTTP/2 provider API
 * (`POST /3/device/{token}`), on loopback behind a `RecordingFront`. Real APNs speaks
 * HTTP/2 over TLS; the emulator speaks h2c (HTTP/2 with prior knowledge, cleartext),
 * which the adapter reaches through `baseUrl: http://127.0.0.1:<port>`.
 *
 * Checks, in Apple's order and with Apple's status codes and `{"reason":…}` bodies:
 * - method POST (405 MethodNotAllowed), path `/3/device/<token>` (404 BadPath,
 *   400 MissingDeviceToken);
 * - the provider token: `authorization: bearer <JWT>` (403 MissingProviderToken), an
 *   ES256 JWS whose `kid` is the configured key id, `iss` the team id and whose
 *   signature verifies against the configured public key (403 InvalidProviderToken),
 *   with an `iat` not older than one hour (403 ExpiredProviderToken) and not from the
 *   future;
 * - headers: `apns-topic` (400 MissingTopic, TopicDisallowed), `apns-push-type`
 *   (400 InvalidPushType), `apns-priority` 1/5/10 and not 10 for a background push
 *   (400 BadPriority), `apns-id` a UUID (400 BadMessageId), `apns-collapse-id` at most
 *   64 bytes (400 BadCollapseId), `apns-expiration` an integer (400 BadExpirationDate);
 * - the body: not empty (400 PayloadEmpty), at most 4 KB (413 PayloadTooLarge);
 * - the device token: never seen → 400 BadDeviceToken, issued for another app →
 *   400 DeviceTokenNotForTopic, unregistered → 410 Unregistered with `timestamp`.
 * Success is 200 with the `apns-id` header (the request's, or a fresh UUID).
 *
 * Parley's opacity rule: the payload must be exactly
 * `{"aps":{"content-available":1},"t":"sync","c":<collapse id>}`. Anything else is
 * refused with 400 and the reason `PayloadNotOpaque`, a reason of this emulator's own
 * (Apple would deliver it), so a content leak fails loudly in tests.
 *
 * Control API: `registerToken`, `unregisterToken`, `setFault` (503 / 500 / 429 / hang),
 * `goaway()` (GOAWAY on every open connection), `advanceClock`, `pushes`, `onPush`
 * (the phone OS waking the app), `requests`, `providerTokensSeen()`, `sessionsOpened`.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import {
  constants as h2,
  createServer,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import { readBody } from './common/body.js';
import { FaultSwitch } from './common/faults.js';
import { decodeJwt, toPublicKey, verifyJwt } from './common/jwt.js';
import { ByteRecorder, RecordingFront } from './recorder.js';

const PUSH_TYPES = ['alert', 'background', 'location', 'voip', 'complication', 'fileprovider', 'mdm', 'liveactivity', 'pushtotalk', 'controls'];
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const MAX_PAYLOAD = 4096;
/** How much of a request body the emulator keeps (APNs refuses more than MAX_PAYLOAD anyway). */
const MAX_BODY_BYTES = 64 * 1024;

/** How to start the APNs emulator. */
export interface ApnsEmulatorOptions {
  /** The developer team (the provider JWT's `iss`). */
  readonly teamId: string;
  /** The signing key's id (the provider JWT's `kid`). */
  readonly keyId: string;
  /** The signing key's public half (or the private key, whose public half is used). */
  readonly publicKey: KeyObject | string;
  /** Bundle ids the team may push to (`apns-topic`); the first is the default for tokens. */
  readonly topics: readonly string[];
  /** The emulator's clock (ms since epoch); `advanceClock` moves it further. */
  readonly now?: () => number;
}

/** One push APNs accepted for delivery. */
export interface ApnsPush {
  readonly apnsId: string;
  readonly token: string;
  readonly topic: string;
  readonly pushType: string | undefined;
  readonly priority: string | undefined;
  readonly collapseId: string | undefined;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly receivedAt: Date;
}

/** One request as the emulator parsed it, and how it answered. */
export interface ApnsRecordedRequest {
  readonly headers: Readonly<IncomingHttpHeaders>;
  readonly body: string;
  /** The status the emulator answered (undefined while hanging). */
  status: number | undefined;
  reason: string | undefined;
}

/** What `setFault` makes APNs do. */
export type ApnsFault =
  /** 503 ServiceUnavailable */
  | 'unavailable'
  /** 500 InternalServerError */
  | 'internal'
  /** 429 TooManyRequests */
  | 'throttle'
  /** accept the stream, never answer */
  | 'hang';

interface TokenState {
  readonly topic: string;
  unregisteredAt: number | undefined;
}

/**
 * The APNs emulator.
 *
 * @example
 * const apns = await ApnsEmulator.start({ teamId, keyId, publicKey, topics: ['com.example.bank'] });
 * apns.registerToken(deviceToken);
 * apns.onPush((push) => wakeApp(push));
 */
export class ApnsEmulator {
  readonly recorder = new ByteRecorder('apns');
  readonly requests: ApnsRecordedRequest[] = [];
  /** How many HTTP/2 connections clients opened. */
  sessionsOpened = 0;

  private readonly publicKey: KeyObject;
  private readonly tokens = new Map<string, TokenState>();
  private readonly delivered: ApnsPush[] = [];
  private readonly listeners = new Set<(push: ApnsPush) => void>();
  private readonly sessions = new Set<Http2Session>();
  private readonly faults = new FaultSwitch<ApnsFault, ServerHttp2Stream>((stream) => stream.close(h2.NGHTTP2_CANCEL));
  private readonly jwtsSeen = new Set<string>();
  private readonly baseNow: () => number;
  private clockOffsetMs = 0;
  private front!: RecordingFront;

  private constructor(
    private readonly options: ApnsEmulatorOptions,
    private readonly server: Http2Server,
  ) {
    if (options.topics.length === 0) throw new Error('ApnsEmulator: at least one topic');
    this.publicKey = toPublicKey(options.publicKey);
    this.baseNow = options.now ?? Date.now;
  }

  static async start(options: ApnsEmulatorOptions): Promise<ApnsEmulator> {
    const server = createServer();
    const emulator = new ApnsEmulator(options, server);
    server.on('session', (session: Http2Session) => {
      emulator.sessionsOpened++;
      emulator.sessions.add(session);
      session.on('close', () => emulator.sessions.delete(session));
      session.on('error', () => undefined);
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => emulator.handle(stream, headers));
    emulator.front = await RecordingFront.listen(emulator.recorder, server);
    return emulator;
  }

  /** The public origin (the adapter's `baseUrl`). */
  get url(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  now(): number {
    return this.baseNow() + this.clockOffsetMs;
  }

  // ---- control ---------------------------------------------------------------------

  /** An app (bundle id `topic`, default the first configured) registered and got this device token. */
  registerToken(token: string, options: { topic?: string } = {}): void {
    this.tokens.set(token, { topic: options.topic ?? this.options.topics[0]!, unregisteredAt: undefined });
  }

  /** The app was uninstalled: sends now answer 410 Unregistered with this moment as `timestamp`. */
  unregisterToken(token: string): void {
    const state = this.tokens.get(token);
    if (state === undefined) this.tokens.set(token, { topic: this.options.topics[0]!, unregisteredAt: this.now() });
    else state.unregisteredAt = this.now();
  }

  /** Makes APNs fail every push (503 / 500 / 429) or never answer, until `setFault(null)`. */
  setFault(fault: ApnsFault | null): void {
    this.faults.set(fault ?? undefined);
  }

  /** Sends GOAWAY on every open connection and closes it once its streams are done. */
  goaway(): void {
    for (const session of this.sessions) {
      session.goaway(h2.NGHTTP2_NO_ERROR);
      session.close();
    }
  }

  /** Moves the emulator's clock (provider tokens age by it). */
  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** Distinct provider JWTs that passed verification. */
  providerTokensSeen(): readonly string[] {
    return [...this.jwtsSeen];
  }

  pushes(token?: string): readonly ApnsPush[] {
    return token === undefined ? [...this.delivered] : this.delivered.filter((p) => p.token === token);
  }

  pushById(apnsId: string): ApnsPush | undefined {
    return this.delivered.find((p) => p.apnsId === apnsId);
  }

  /** One call per push delivered to a device: the phone OS waking the app. */
  onPush(listener: (push: ApnsPush) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.faults.releaseAll();
    await this.front.close();
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- HTTP/2 ----------------------------------------------------------------------

  private handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    void readBody(stream, MAX_BODY_BYTES).then((body) => {
      if (body === undefined) return; // the stream was reset
      const record: ApnsRecordedRequest = { headers: { ...headers }, body: body.bytes.toString('utf8'), status: undefined, reason: undefined };
      this.requests.push(record);
      this.route(stream, headers, record, body.size);
    });
  }

  private route(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, record: ApnsRecordedRequest, size: number): void {
    const requestId = single(headers['apns-id']);
    const apnsId = requestId !== undefined && UUID.test(requestId) ? requestId.toLowerCase() : randomUUID();
    const fail = (status: number, reason: string, timestamp?: number): void => {
      record.status = status;
      record.reason = reason;
      this.respond(stream, status, apnsId, JSON.stringify(timestamp === undefined ? { reason } : { reason, timestamp }));
    };

    if (this.faults.hold(stream)) return;
    switch (this.faults.kind) {
      case 'hang':
        return;
      case 'unavailable':
        return fail(503, 'ServiceUnavailable');
      case 'internal':
        return fail(500, 'InternalServerError');
      case 'throttle':
        return fail(429, 'TooManyRequests');
      case undefined:
        break;
    }

    if (headers[':method'] !== 'POST') return fail(405, 'MethodNotAllowed');
    const path = headers[':path'] ?? '';
    const match = /^\/3\/device\/([^/?]*)$/.exec(path);
    if (match === null) return fail(404, 'BadPath');
    const token = decodeURIComponent(match[1] ?? '');
    if (token.length === 0) return fail(400, 'MissingDeviceToken');

    // provider authentication token
    const authorization = single(headers['authorization']);
    if (authorization === undefined) return fail(403, 'MissingProviderToken');
    const bearer = /^bearer (\S+)$/i.exec(authorization)?.[1];
    const jwt = bearer === undefined ? undefined : decodeJwt(bearer);
    if (jwt === undefined || bearer === undefined) return fail(403, 'InvalidProviderToken');
    if (jwt.header['kid'] !== this.options.keyId || jwt.claims['iss'] !== this.options.teamId) return fail(403, 'InvalidProviderToken');
    if (!verifyJwt(jwt, 'ES256', this.publicKey)) return fail(403, 'InvalidProviderToken');
    const iat = jwt.claims['iat'];
    const nowSeconds = Math.floor(this.now() / 1000);
    if (typeof iat !== 'number' || iat > nowSeconds + 300) return fail(403, 'InvalidProviderToken');
    if (nowSeconds - iat > 3600) return fail(403, 'ExpiredProviderToken');
    this.jwtsSeen.add(bearer);

    // headers
    const topic = single(headers['apns-topic']);
    if (topic === undefined || topic.length === 0) return fail(400, 'MissingTopic');
    if (!this.options.topics.includes(topic)) return fail(400, 'TopicDisallowed');
    const pushType = single(headers['apns-push-type']);
    if (pushType !== undefined && !PUSH_TYPES.includes(pushType)) return fail(400, 'InvalidPushType');
    const priority = single(headers['apns-priority']);
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) return fail(400, 'BadPriority');
    if (pushType === 'background' && priority === '10') return fail(400, 'BadPriority');
    if (requestId !== undefined && !UUID.test(requestId)) return fail(400, 'BadMessageId');
    const collapseId = single(headers['apns-collapse-id']);
    if (collapseId !== undefined && Buffer.byteLength(collapseId, 'utf8') > 64) return fail(400, 'BadCollapseId');
    const expiration = single(headers['apns-expiration']);
    if (expiration !== undefined && !/^\d+$/.test(expiration)) return fail(400, 'BadExpirationDate');

    // body
    if (size === 0) return fail(400, 'PayloadEmpty');
    if (size > MAX_PAYLOAD) return fail(413, 'PayloadTooLarge');
    const payload = opaquePayload(record.body);
    if (payload === undefined) return fail(400, 'PayloadNotOpaque');

    // device token
    const state = this.tokens.get(token);
    if (state === undefined) return fail(400, 'BadDeviceToken');
    if (state.topic !== topic) return fail(400, 'DeviceTokenNotForTopic');
    if (state.unregisteredAt !== undefined) return fail(410, 'Unregistered', state.unregisteredAt);

    const push: ApnsPush = { apnsId, token, topic, pushType, priority, collapseId, payload, receivedAt: new Date(this.now()) };
    this.delivered.push(push);
    record.status = 200;
    this.respond(stream, 200, apnsId, undefined);
    for (const listener of this.listeners) {
      try {
        listener(push);
      } catch {
        // a listener's failure must not break the emulator
      }
    }
  }

  private respond(stream: ServerHttp2Stream, status: number, apnsId: string, body: string | undefined): void {
    if (stream.destroyed || stream.closed) return;
    const headers: OutgoingHttpHeaders = { ':status': status, 'apns-id': apnsId };
    if (body === undefined) {
      stream.respond(headers, { endStream: true });
      return;
    }
    headers['content-type'] = 'application/json';
    stream.respond(headers);
    stream.end(body);
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Exactly `{"aps":{"content-available":1},"t":"sync","c":<non-empty string>}`, else undefined. */
function opaquePayload(body: string): Record<string, unknown> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const root = parsed as Record<string, unknown>;
  const keys = Object.keys(root).sort();
  if (keys.join(',') !== 'aps,c,t') return undefined;
  const aps = root['aps'];
  if (typeof aps !== 'object' || aps === null || Array.isArray(aps)) return undefined;
  const apsKeys = Object.keys(aps);
  if (apsKeys.length !== 1 || (aps as Record<string, unknown>)['content-available'] !== 1) return undefined;
  if (root['t'] !== 'sync' || typeof root['c'] !== 'string' || root['c'].length === 0) return undefined;
  return root;
}
