/**
 * A loopback emulator of Google's RCS Business Messaging (RBM) API, for tests and the demo.
 *
 * It serves, behind a `RecordingFront` (every received byte is recorded):
 *
 * - `POST /token`: the OAuth 2.0 token endpoint for service accounts (JWT bearer grant,
 *   RFC 7523). The assertion must be an RS256 JWT signed by a configured service account
 *   key (`iss` = its client email, `aud` = this endpoint, `scope` containing
 *   `https://www.googleapis.com/auth/rcsbusinessmessaging`, lifetime at most one hour).
 *   Answers `{"access_token","expires_in","token_type":"Bearer"}` or OAuth errors
 *   (`400 {"error":"invalid_grant",…}`).
 * - `GET /v1/phones/{E.164}/capabilities?requestId=…&agentId=…` (phones.getCapabilities):
 *   `200 {"features":[…]}` for an RCS phone, `404 NOT_FOUND` otherwise.
 * - `POST /upload/v1/files?agentId=…` (files.create, binary upload): the body is the file,
 *   its MIME type the Content-Type. Answers `{"name":"files/{uid}"}`.
 * - `POST /v1/phones/{E.164}/agentMessages?messageId={uuid}&agentId=…`
 *   (phones.agentMessages.create) with an `AgentMessage` body whose `contentMessage` holds
 *   `text`, `uploadedRbmFile` or `richCard.standaloneCard`. Answers the created
 *   `AgentMessage` (`name`, `sendTime`, `contentMessage`).
 * - `DELETE /v1/phones/{E.164}/agentMessages/{messageId}?agentId=…`
 *   (phones.agentMessages.delete, revocation): `200 {}` while the message is undelivered,
 *   `404 NOT_FOUND` once it was delivered (or never existed).
 *
 * Errors use Google's JSON error body, e.g.
 * `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`.
 *
 * Emulator semantics where the real platform's behaviour is not public or not applicable:
 * - an agent acts only for the service account configured for it, and only while it is a
 *   *verified* agent: otherwise `403 PERMISSION_DENIED`;
 * - a repeated `messageId` is not delivered again and answers `409 ALREADY_EXISTS`;
 * - the real RBM `Feature` enum is closed. A Parley-enabled RCS client is signalled by the
 *   extra feature string `PARLEY_E2E` (configurable), which the emulator adds to the
 *   standard features of a phone set to `'parley'`. In production this signal has to come
 *   from the Parley client itself (or a partner arrangement); the adapter only reads it;
 * - real RBM accepts uploads of images, audio, video and PDF only. The emulator also
 *   accepts `message/mls` (configurable), the type of the Parley ciphertext payload;
 * - webhooks are posted once (no retry with backoff); a test re-posts with `redeliverWebhook`.
 *
 * Status events are sent to the configured webhook URL the way RBM does it: a Pub/Sub push
 * body `{"message":{"data":base64(event JSON),"messageId","publishTime",…},"subscription"}`
 * with `X-Goog-Signature` = base64(HMAC-SHA512(clientToken, the base64-decoded `data`)).
 *
 * "The handset" is the list of messages delivered to a phone; a simulated Parley RCS client
 * reads the ciphertext files delivered to its phone (`ciphertextFiles`) and subscribes to
 * deliveries (`onDelivered`). Messages stay pending until a test calls `deliver` (or
 * `autoDeliver` is set).
 */
import { createHmac, createPublicKey, randomBytes, randomUUID, verify as verifySignature, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ByteRecorder, RecordingFront } from './recorder.js';

export const RBM_SCOPE = 'https://www.googleapis.com/auth/rcsbusinessmessaging';
/** The custom feature a phone with a Parley-enabled RCS client reports (emulator convention). */
export const RBM_PARLEY_FEATURE = 'PARLEY_E2E';
/** What an RCS phone supports (the documented `Feature` values). */
export const RBM_STANDARD_FEATURES: readonly string[] = [
  'RICHCARD_STANDALONE',
  'RICHCARD_CAROUSEL',
  'ACTION_CREATE_CALENDAR_EVENT',
  'ACTION_DIAL',
  'ACTION_OPEN_URL',
  'ACTION_SHARE_LOCATION',
  'ACTION_VIEW_LOCATION',
];
/** File types the RBM files API documents, plus the Parley ciphertext type. */
export const RBM_DEFAULT_UPLOAD_TYPES: readonly string[] = [
  'image/jpeg', 'image/jpg', 'image/gif', 'image/png',
  'audio/aac', 'audio/mp3', 'audio/mpeg', 'audio/mpg', 'audio/mp4', 'audio/mp4-latm', 'audio/3gpp', 'application/ogg', 'audio/ogg',
  'video/h263', 'video/m4v', 'video/mp4', 'video/mpeg', 'video/mpeg4', 'video/webm',
  'application/pdf',
  'message/mls',
];

/** What a phone can do: no RCS, plain RCS, or RCS with a Parley-enabled client. */
export type RbmPhoneCapability = 'none' | 'rcs' | 'parley';
/** Fault switches for the RBM API endpoints (the token endpoint is Google OAuth, a separate service, and stays up). */
export type RbmFault = 'unavailable' | 'internal' | 'rate-limited' | 'hang';
/** Webhook forgery switches: a signature made with the wrong client token, or no signature header. */
export type RbmWebhookForgery = 'forged' | 'unsigned';

export interface RbmServiceAccount {
  readonly clientEmail: string;
  /** The public half of the service account key (PEM or KeyObject). */
  readonly publicKey: string | KeyObject;
  /** When set, the assertion's `kid` header must equal it. */
  readonly keyId?: string;
}

export interface RbmAgent {
  readonly agentId: string;
  readonly brand: string;
  /** Only verified agents may reach users. */
  readonly verified: boolean;
  /** The service account allowed to act for this agent. */
  readonly serviceAccountEmail: string;
}

export interface RbmEmulatorOptions {
  readonly serviceAccounts: readonly RbmServiceAccount[];
  readonly agents: readonly RbmAgent[];
  /** Where status events go (can also be set later with `setWebhook`). */
  readonly webhook?: { readonly url: string; readonly clientToken: string };
  /** Phones known at start. Unknown phones have no RCS. */
  readonly phones?: Readonly<Record<string, RbmPhoneCapability>>;
  /** Lifetime of issued access tokens (default 3599 s, as Google). */
  readonly tokenLifetimeSeconds?: number;
  readonly parleyFeature?: string;
  readonly uploadTypes?: readonly string[];
  /** Deliver each accepted message right away (for the demo). */
  readonly autoDeliver?: boolean;
}

export type RbmMessageState = 'pending' | 'delivered' | 'read' | 'revoked' | 'expired';

export interface RbmHandsetMessage {
  readonly messageId: string;
  readonly agentId: string;
  readonly phone: string;
  /** The `contentMessage` as received (JSON). */
  readonly contentMessage: RbmJson;
  /** For `uploadedRbmFile` messages: the file as uploaded. */
  readonly file?: { readonly name: string; readonly contentType: string; readonly bytes: Uint8Array };
  readonly sendTime: Date;
  state: RbmMessageState;
}

export interface RbmCiphertextFile {
  readonly messageId: string;
  readonly contentType: string;
  readonly bytes: Uint8Array;
}

export interface RbmSentWebhook {
  readonly eventId: string;
  readonly eventType: string;
  readonly messageId: string | undefined;
  readonly forgery: RbmWebhookForgery | undefined;
  /** HTTP status the webhook answered (0 = no answer / connection error). */
  readonly status: number;
}

export type RbmJson = null | boolean | number | string | RbmJson[] | { [key: string]: RbmJson };

type DeliveredListener = (message: RbmHandsetMessage) => void;

interface PendingWebhook {
  readonly eventId: string;
  readonly eventType: string;
  readonly messageId: string | undefined;
  /** The event JSON bytes (what `message.data` carries). */
  readonly data: Buffer;
}

class HttpError extends Error {
  constructor(readonly code: number, readonly status: string, message: string) {
    super(message);
  }
}

const E164 = /^\+[1-9][0-9]{1,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_BODY = 16 * 1024 * 1024;

export class RbmEmulator {
  readonly recorder = new ByteRecorder('rbm');
  private server!: Server;
  private front!: RecordingFront;
  private readonly accounts = new Map<string, { key: KeyObject; keyId: string | undefined }>();
  private readonly agents = new Map<string, RbmAgent>();
  private readonly phones = new Map<string, RbmPhoneCapability>();
  private readonly tokens = new Map<string, { email: string; expiresAt: number }>();
  private readonly files = new Map<string, { contentType: string; bytes: Uint8Array; agentId: string }>();
  private readonly messages = new Map<string, RbmHandsetMessage>();
  private readonly acceptedPerPhone = new Map<string, number>();
  private readonly listeners = new Set<DeliveredListener>();
  private readonly hung = new Set<ServerResponse>();
  private readonly held: PendingWebhook[] = [];
  private readonly log: RbmSentWebhook[] = [];
  private readonly sentData = new Map<string, PendingWebhook>();
  private webhook: { url: string; clientToken: string } | undefined;
  private fault: RbmFault | undefined;
  private forgery: RbmWebhookForgery | undefined;
  private holding = false;
  private tokenLifetimeSeconds: number;
  private grants = 0;
  private pubsubSerial = 1_000_000;
  private readonly parleyFeature: string;
  private readonly uploadTypes: ReadonlySet<string>;
  /** Deliver each accepted message to the handset at once (switchable at run time). */
  autoDeliver: boolean;

  private constructor(options: RbmEmulatorOptions) {
    for (const sa of options.serviceAccounts) {
      const key = typeof sa.publicKey === 'string' ? createPublicKey(sa.publicKey) : sa.publicKey;
      if (key.asymmetricKeyType !== 'rsa') throw new Error('service account keys are RSA');
      this.accounts.set(sa.clientEmail, { key, keyId: sa.keyId });
    }
    for (const agent of options.agents) this.agents.set(agent.agentId, agent);
    for (const [phone, capability] of Object.entries(options.phones ?? {})) this.phones.set(phone, capability);
    this.webhook = options.webhook ? { ...options.webhook } : undefined;
    this.tokenLifetimeSeconds = options.tokenLifetimeSeconds ?? 3599;
    this.parleyFeature = options.parleyFeature ?? RBM_PARLEY_FEATURE;
    this.uploadTypes = new Set(options.uploadTypes ?? RBM_DEFAULT_UPLOAD_TYPES);
    this.autoDeliver = options.autoDeliver ?? false;
  }

  static async start(options: RbmEmulatorOptions): Promise<RbmEmulator> {
    const emulator = new RbmEmulator(options);
    emulator.server = createServer((req, res) => {
      emulator.handle(req, res).catch(() => {
        if (!res.headersSent) emulator.sendError(res, new HttpError(500, 'INTERNAL', 'Internal error encountered.'));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      emulator.server.once('error', reject);
      emulator.server.listen(0, '127.0.0.1', () => resolve());
    });
    emulator.front = await RecordingFront.start(emulator.recorder, (emulator.server.address() as AddressInfo).port);
    return emulator;
  }

  /** Base URL of the API (the adapter's `baseUrl`). */
  get url(): string {
    return `http://127.0.0.1:${this.front.port}`;
  }

  /** The OAuth token endpoint (the adapter's `tokenUrl`, the assertion's `aud`). */
  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  // ----- control API -----

  /** Sets what a phone can do; takes effect at once ("RCS toggled off mid-conversation"). */
  setPhone(phone: string, capability: RbmPhoneCapability): void {
    this.phones.set(phone, capability);
  }

  setAgentVerified(agentId: string, verified: boolean): void {
    const agent = this.agents.get(agentId);
    if (!agent) throw new Error('unknown agent');
    this.agents.set(agentId, { ...agent, verified });
  }

  setWebhook(url: string, clientToken: string): void {
    this.webhook = { url, clientToken };
  }

  /** Makes every RBM API request fail (503 / 500 / 429) or hang until `restoreProvider`. */
  breakProvider(fault: RbmFault = 'unavailable'): void {
    this.fault = fault;
  }

  restoreProvider(): void {
    this.fault = undefined;
    for (const res of this.hung) res.destroy();
    this.hung.clear();
  }

  /** Makes the webhooks that follow carry a forged signature or none, until called with `undefined`. */
  setWebhookForgery(forgery: RbmWebhookForgery | undefined): void {
    this.forgery = forgery;
  }

  /** Queues webhooks instead of posting them, until `releaseWebhooks`. */
  holdWebhooks(): void {
    this.holding = true;
  }

  /** Posts the queued webhooks, in order or reversed (out-of-order chaos), and stops holding. */
  async releaseWebhooks(options: { reverse?: boolean } = {}): Promise<void> {
    this.holding = false;
    const queued = this.held.splice(0, this.held.length);
    if (options.reverse) queued.reverse();
    for (const w of queued) await this.post(w);
  }

  /** Posts an already-sent event again, byte for byte (a Pub/Sub redelivery). */
  async redeliverWebhook(eventId: string): Promise<void> {
    const w = this.sentData.get(eventId);
    if (!w) throw new Error('unknown event');
    await this.post(w);
  }

  /** Every webhook post so far, with the status the receiver answered. */
  sentWebhooks(): readonly RbmSentWebhook[] {
    return [...this.log];
  }

  /** Delivers a pending message to the handset and reports DELIVERED. Returns the event id. */
  async deliver(messageId: string): Promise<string> {
    const m = this.requireMessage(messageId);
    if (m.state !== 'pending') throw new Error(`message is ${m.state}`);
    m.state = 'delivered';
    for (const l of this.listeners) {
      try {
        l(m);
      } catch {
        // a listener's failure does not stop delivery
      }
    }
    return this.userEvent(m, 'DELIVERED');
  }

  /** Reports READ for a delivered message. Returns the event id. */
  async read(messageId: string): Promise<string> {
    const m = this.requireMessage(messageId);
    if (m.state !== 'delivered' && m.state !== 'read') throw new Error(`message is ${m.state}`);
    m.state = 'read';
    return this.userEvent(m, 'READ');
  }

  /** Reports the user typing (an event the adapter must ignore). */
  async typing(phone: string, agentId: string): Promise<string> {
    return this.emit({ senderPhoneNumber: phone, eventType: 'IS_TYPING', eventId: this.eventId(), sendTime: new Date().toISOString(), agentId }, 'IS_TYPING', undefined);
  }

  /** Sends a user text message to the agent (content the adapter must ignore). */
  async userText(phone: string, agentId: string, text: string): Promise<string> {
    return this.emit({ senderPhoneNumber: phone, text, messageId: randomUUID(), sendTime: new Date().toISOString(), agentId }, 'TEXT', undefined);
  }

  /** Expires a pending message: revokes it and reports TTL_EXPIRATION_REVOKED (a server event). */
  async expire(messageId: string): Promise<string> {
    const m = this.requireMessage(messageId);
    if (m.state !== 'pending') throw new Error(`message is ${m.state}`);
    m.state = 'expired';
    const eventId = this.eventId();
    return this.emit(
      { phoneNumber: m.phone, messageId: m.messageId, agentId: m.agentId, eventType: 'TTL_EXPIRATION_REVOKED', eventId, sendTime: new Date().toISOString() },
      'TTL_EXPIRATION_REVOKED',
      m.messageId,
      eventId,
    );
  }

  /** The webhook setup handshake: posts `{clientToken, secret}` and checks the answer echoes the secret. */
  async verifyWebhook(): Promise<boolean> {
    if (!this.webhook) throw new Error('no webhook configured');
    const secret = randomBytes(8).toString('hex');
    try {
      const res = await fetch(this.webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientToken: this.webhook.clientToken, secret }),
        signal: AbortSignal.timeout(5000),
      });
      return res.status === 200 && (await res.text()) === secret;
    } catch {
      return false;
    }
  }

  /** A message's current state, or undefined if it was never accepted. */
  messageState(messageId: string): RbmMessageState | undefined {
    return this.messages.get(messageId)?.state;
  }

  /** The accepted message itself (for assertions on the wire format). */
  message(messageId: string): RbmHandsetMessage | undefined {
    return this.messages.get(messageId);
  }

  /** How many agent messages the API accepted for this phone (any state). */
  acceptedCount(phone: string): number {
    return this.acceptedPerPhone.get(phone) ?? 0;
  }

  /** The handset: messages delivered to the phone, oldest first. */
  handset(phone: string): readonly RbmHandsetMessage[] {
    return [...this.messages.values()].filter((m) => m.phone === phone && (m.state === 'delivered' || m.state === 'read'));
  }

  /** What a Parley RCS client on this phone would download: the files of delivered messages. */
  ciphertextFiles(phone: string): readonly RbmCiphertextFile[] {
    return this.handset(phone).flatMap((m) => (m.file ? [{ messageId: m.messageId, contentType: m.file.contentType, bytes: m.file.bytes }] : []));
  }

  /** Subscribes to deliveries to any handset (one call per delivered message). */
  onDelivered(listener: DeliveredListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Makes every access token issued so far invalid (the API answers 401 until the client gets a new one). */
  revokeAccessTokens(): void {
    this.tokens.clear();
  }

  setTokenLifetime(seconds: number): void {
    this.tokenLifetimeSeconds = seconds;
  }

  /** How many access tokens the token endpoint granted. */
  get tokenGrants(): number {
    return this.grants;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    await this.front.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ----- webhooks -----

  private requireMessage(messageId: string): RbmHandsetMessage {
    const m = this.messages.get(messageId);
    if (!m) throw new Error('unknown message');
    return m;
  }

  private eventId(): string {
    return `MxEv${randomBytes(12).toString('base64url')}`;
  }

  private userEvent(m: RbmHandsetMessage, eventType: 'DELIVERED' | 'READ'): Promise<string> {
    const eventId = this.eventId();
    return this.emit(
      { senderPhoneNumber: m.phone, eventType, eventId, messageId: m.messageId, sendTime: new Date().toISOString(), agentId: m.agentId },
      eventType,
      m.messageId,
      eventId,
    );
  }

  private async emit(event: Record<string, string>, eventType: string, messageId: string | undefined, eventId = event['eventId'] ?? this.eventId()): Promise<string> {
    const w: PendingWebhook = { eventId, eventType, messageId, data: Buffer.from(JSON.stringify(event), 'utf8') };
    this.sentData.set(eventId, w);
    if (this.holding) this.held.push(w);
    else await this.post(w);
    return eventId;
  }

  private async post(w: PendingWebhook): Promise<void> {
    if (!this.webhook) throw new Error('no webhook configured');
    const publishTime = new Date().toISOString();
    const pubsubId = String(++this.pubsubSerial);
    const agentId = (JSON.parse(w.data.toString('utf8')) as { agentId?: string }).agentId ?? 'agent';
    const body = JSON.stringify({
      message: { attributes: {}, data: w.data.toString('base64'), messageId: pubsubId, message_id: pubsubId, publishTime, publish_time: publishTime },
      subscription: `projects/rbm-${agentId}/subscriptions/rbm-agent-subscription`,
    });
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)' };
    const forgery = this.forgery;
    if (forgery !== 'unsigned') {
      const key = forgery === 'forged' ? `${this.webhook.clientToken}-forged` : this.webhook.clientToken;
      headers['x-goog-signature'] = createHmac('sha512', key).update(w.data).digest('base64');
    }
    let status = 0;
    try {
      const res = await fetch(this.webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    this.log.push({ eventId: w.eventId, eventType: w.eventType, messageId: w.messageId, forgery, status });
  }

  // ----- HTTP -----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    if (body === undefined) return this.sendError(res, new HttpError(413, 'INVALID_ARGUMENT', 'Request payload size exceeds the limit.'));
    if (url.pathname === '/token') return this.token(req, res, body);

    if (this.fault === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (this.fault === 'unavailable') return this.sendError(res, new HttpError(503, 'UNAVAILABLE', 'The service is currently unavailable.'));
    if (this.fault === 'internal') return this.sendError(res, new HttpError(500, 'INTERNAL', 'Internal error encountered.'));
    if (this.fault === 'rate-limited') {
      res.setHeader('retry-after', '2');
      return this.sendError(res, new HttpError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric of service rcsbusinessmessaging.googleapis.com.'));
    }

    try {
      const email = this.authenticate(req);
      const segments = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
      const method = req.method ?? 'GET';
      if (method === 'POST' && segments.join('/') === 'upload/v1/files') {
        return this.sendJson(res, 200, this.upload(req, url, body, email));
      }
      if (segments[0] === 'v1' && segments[1] === 'phones' && segments[2] !== undefined) {
        const phone = segments[2];
        if (!E164.test(phone)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
        if (method === 'GET' && segments.length === 4 && segments[3] === 'capabilities') {
          return this.sendJson(res, 200, this.capabilities(url, phone, email));
        }
        if (method === 'POST' && segments.length === 4 && segments[3] === 'agentMessages') {
          return this.sendJson(res, 200, this.createMessage(url, phone, body, email));
        }
        if (method === 'DELETE' && segments.length === 5 && segments[3] === 'agentMessages' && segments[4] !== undefined) {
          return this.sendJson(res, 200, this.deleteMessage(url, phone, segments[4], email));
        }
      }
      throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    } catch (e) {
      if (e instanceof HttpError) return this.sendError(res, e);
      throw e;
    }
  }

  private token(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const oauthError = (status: number, error: string, description: string): void => this.sendJson(res, status, { error, error_description: description });
    if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'Method not allowed.');
    const form = new URLSearchParams(body.toString('utf8'));
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type.');
    const assertion = form.get('assertion') ?? '';
    const parts = assertion.split('.');
    if (parts.length !== 3) return oauthError(400, 'invalid_grant', 'Invalid JWT.');
    const [h, p, s] = parts as [string, string, string];
    let header: unknown;
    let claims: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return oauthError(400, 'invalid_grant', 'Invalid JWT.');
    }
    if (!isRecord(header) || !isRecord(claims)) return oauthError(400, 'invalid_grant', 'Invalid JWT.');
    if (header['alg'] !== 'RS256') return oauthError(400, 'invalid_grant', 'Invalid JWT: unsupported algorithm.');
    const iss = claims['iss'];
    const account = typeof iss === 'string' ? this.accounts.get(iss) : undefined;
    if (!account || typeof iss !== 'string') return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    if (account.keyId !== undefined && header['kid'] !== account.keyId) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    const signatureOk = verifySignature('sha256', Buffer.from(`${h}.${p}`, 'ascii'), account.key, Buffer.from(s, 'base64url'));
    if (!signatureOk) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    if (claims['aud'] !== this.tokenUrl) return oauthError(400, 'invalid_grant', 'Invalid JWT: audience.');
    const scope = claims['scope'];
    if (typeof scope !== 'string' || !scope.split(' ').includes(RBM_SCOPE)) return oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const iat = claims['iat'];
    const exp = claims['exp'];
    const now = Math.floor(Date.now() / 1000);
    if (typeof iat !== 'number' || typeof exp !== 'number' || iat > now + 60 || exp <= now || exp - iat > 3600) {
      return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    }
    const accessToken = `ya29.${randomBytes(32).toString('base64url')}`;
    this.tokens.set(accessToken, { email: iss, expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000 });
    this.grants++;
    this.sendJson(res, 200, { access_token: accessToken, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer' });
  }

  private authenticate(req: IncomingMessage): string {
    const auth = req.headers['authorization'] ?? '';
    const match = /^Bearer (\S+)$/.exec(auth);
    const token = match?.[1] ? this.tokens.get(match[1]) : undefined;
    if (!token || token.expiresAt <= Date.now()) {
      throw new HttpError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    }
    return token.email;
  }

  /** The agent named in `agentId`, if the caller may act for it and it is verified. */
  private agentFor(url: URL, email: string): RbmAgent {
    const agentId = url.searchParams.get('agentId');
    if (!agentId) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const agent = this.agents.get(agentId);
    if (!agent || agent.serviceAccountEmail !== email || !agent.verified) {
      throw new HttpError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    }
    return agent;
  }

  private capabilities(url: URL, phone: string, email: string): RbmJson {
    this.agentFor(url, email);
    const requestId = url.searchParams.get('requestId');
    if (!requestId || !UUID.test(requestId)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const capability = this.phones.get(phone) ?? 'none';
    if (capability === 'none') throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    return { features: capability === 'parley' ? [...RBM_STANDARD_FEATURES, this.parleyFeature] : [...RBM_STANDARD_FEATURES] };
  }

  private upload(req: IncomingMessage, url: URL, body: Buffer, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (!this.uploadTypes.has(contentType) || body.length === 0) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const name = `files/${randomBytes(16).toString('hex')}`;
    this.files.set(name, { contentType, bytes: new Uint8Array(body), agentId: agent.agentId });
    return { name };
  }

  private createMessage(url: URL, phone: string, body: Buffer, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    const messageId = url.searchParams.get('messageId');
    if (!messageId || !UUID.test(messageId)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (!isRecord(parsed) || !isRecord(parsed['contentMessage'])) throw new HttpError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.');
    const content = parsed['contentMessage'];
    const file = this.validateContent(content, agent.agentId);
    if ('ttl' in parsed && (typeof parsed['ttl'] !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(parsed['ttl']))) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Invalid value at \'agent_message.ttl\'.');
    }
    if ((this.phones.get(phone) ?? 'none') === 'none') throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    if (this.messages.has(messageId)) throw new HttpError(409, 'ALREADY_EXISTS', 'Requested entity already exists');
    const message: RbmHandsetMessage = {
      messageId,
      agentId: agent.agentId,
      phone,
      contentMessage: content as RbmJson,
      ...(file ? { file } : {}),
      sendTime: new Date(),
      state: 'pending',
    };
    this.messages.set(messageId, message);
    this.acceptedPerPhone.set(phone, (this.acceptedPerPhone.get(phone) ?? 0) + 1);
    if (this.autoDeliver) {
      setImmediate(() => {
        if (message.state === 'pending') this.deliver(messageId).catch(() => undefined);
      });
    }
    return { name: `phones/${phone}/agentMessages/${messageId}`, sendTime: message.sendTime.toISOString(), contentMessage: content as RbmJson };
  }

  /** Checks an AgentContentMessage against the documented shape and limits. */
  private validateContent(content: Record<string, unknown>, agentId: string): RbmHandsetMessage['file'] {
    const invalid = (field: string): HttpError => new HttpError(400, 'INVALID_ARGUMENT', `Invalid value at 'agent_message.content_message${field}'.`);
    const kinds = ['text', 'fileName', 'uploadedRbmFile', 'richCard', 'contentInfo'].filter((k) => k in content);
    if (kinds.length !== 1) throw invalid('');
    if ('suggestions' in content) validateSuggestions(content['suggestions'], 11, invalid);
    const text = content['text'];
    if (text !== undefined) {
      if (typeof text !== 'string' || text.length === 0 || text.length > 3072) throw invalid('.text');
      return undefined;
    }
    const uploaded = content['uploadedRbmFile'];
    if (uploaded !== undefined) {
      if (!isRecord(uploaded) || typeof uploaded['fileName'] !== 'string') throw invalid('.uploaded_rbm_file');
      const stored = this.files.get(uploaded['fileName']);
      if (!stored || stored.agentId !== agentId) throw invalid('.uploaded_rbm_file.file_name');
      return { name: uploaded['fileName'], contentType: stored.contentType, bytes: stored.bytes };
    }
    const rich = content['richCard'];
    if (rich !== undefined) {
      if (!isRecord(rich) || !isRecord(rich['standaloneCard'])) throw invalid('.rich_card');
      const card = rich['standaloneCard'];
      if (card['cardOrientation'] !== 'VERTICAL' && card['cardOrientation'] !== 'HORIZONTAL') throw invalid('.rich_card.standalone_card.card_orientation');
      const c = card['cardContent'];
      if (!isRecord(c)) throw invalid('.rich_card.standalone_card.card_content');
      const title = c['title'];
      const description = c['description'];
      if (title !== undefined && (typeof title !== 'string' || title.length > 200)) throw invalid('.rich_card.standalone_card.card_content.title');
      if (description !== undefined && (typeof description !== 'string' || description.length > 2000)) throw invalid('.rich_card.standalone_card.card_content.description');
      if (title === undefined && description === undefined && c['media'] === undefined) throw invalid('.rich_card.standalone_card.card_content');
      if (c['suggestions'] !== undefined) validateSuggestions(c['suggestions'], 4, invalid);
      return undefined;
    }
    // fileName (deprecated) and contentInfo (fetching a URL) are not emulated.
    throw invalid(`.${kinds[0] ?? ''}`);
  }

  private deleteMessage(url: URL, phone: string, messageId: string, email: string): RbmJson {
    const agent = this.agentFor(url, email);
    const m = this.messages.get(messageId);
    if (!m || m.phone !== phone || m.agentId !== agent.agentId || m.state !== 'pending') {
      throw new HttpError(404, 'NOT_FOUND', 'Requested entity was not found.');
    }
    m.state = 'revoked';
    return {};
  }

  private sendJson(res: ServerResponse, status: number, body: RbmJson): void {
    const bytes = Buffer.from(JSON.stringify(body), 'utf8');
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(bytes.length) });
    res.end(bytes);
  }

  private sendError(res: ServerResponse, e: HttpError): void {
    this.sendJson(res, e.code, { error: { code: e.code, message: e.message, status: e.status } });
  }
}

function validateSuggestions(value: unknown, max: number, invalid: (field: string) => HttpError): void {
  if (!Array.isArray(value) || value.length > max) throw invalid('.suggestions');
  for (const s of value as unknown[]) {
    if (!isRecord(s)) throw invalid('.suggestions');
    const chip = isRecord(s['action']) ? s['action'] : isRecord(s['reply']) ? s['reply'] : undefined;
    if (!chip || typeof chip['text'] !== 'string' || chip['text'].length === 0 || chip['text'].length > 25) throw invalid('.suggestions.text');
    if (typeof chip['postbackData'] !== 'string' || chip['postbackData'].length > 2048) throw invalid('.suggestions.postback_data');
    const open = chip['openUrlAction'];
    if (open !== undefined) {
      if (!isRecord(open) || typeof open['url'] !== 'string') throw invalid('.suggestions.action.open_url_action');
      let parsed: URL;
      try {
        parsed = new URL(open['url']);
      } catch {
        throw invalid('.suggestions.action.open_url_action.url');
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid('.suggestions.action.open_url_action.url');
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
