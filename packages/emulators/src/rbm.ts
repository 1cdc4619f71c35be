/**
 * A loopback emulator of Google's RCS Business Messaging (RBM) API, for tests and the demo.
 *
 * Behind a `RecordingFront` (every received byte is recorded) it plays three roles, each
 * in its own file, around Google's OAuth token endpoint (`POST /token`, RFC 7523 JWT
 * bearer grant, scope `https://www.googleapis.com/auth/rcsbusinessmessaging`; shared with
 * the FCM emulator in `common/token-endpoint.ts`):
 *
 * - the agent API (`rbm/agent-api.ts`): capabilities, file upload, agent messages and
 *   their revocation, as a verified agent's service account calls them;
 * - the handset (`rbm/handset.ts`): what each phone can do and the messages on their way
 *   to it. A simulated Parley RCS client reads the ciphertext files delivered to its phone
 *   (`ciphertextFiles`) and subscribes to deliveries (`onDelivered`). Messages stay pending
 *   until a test calls `deliver` (or `autoDeliver` is set);
 * - the webhooks (`rbm/webhooks.ts`): status events posted, signed, to the agent's webhook.
 *
 * Errors use Google's JSON error body, e.g.
 * `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`.
 *
 * Emulator semantics where the real platform's behaviour is not public or not applicable:
 * - the real RBM `Feature` enum is closed. A Parley-enabled RCS client is signalled by the
 *   extra feature string `PARLEY_E2E` (configurable), which the emulator adds to the
 *   standard features of a phone set to `'parley'`. In production this signal has to come
 *   from the Parley client itself (or a partner arrangement); the adapter only reads it;
 * - real RBM accepts uploads of images, audio, video and PDF only. The emulator also
 *   accepts `message/mls` (configurable), the type of the Parley ciphertext payload;
 * - webhooks are posted once (no retry with backoff); a test re-posts with `redeliverWebhook`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readBody } from './common/body.js';
import { FaultSwitch } from './common/faults.js';
import { toPublicKey } from './common/jwt.js';
import { TokenEndpoint } from './common/token-endpoint.js';
import { RbmAgentApi } from './rbm/agent-api.js';
import { RbmHandsets } from './rbm/handset.js';
import { HttpError, type RbmCiphertextFile, type RbmEmulatorOptions, type RbmFault, type RbmHandsetMessage, type RbmJson, type RbmMessageState, type RbmPhoneCapability, type RbmSentWebhook, type RbmWebhookForgery } from './rbm/types.js';
import { RbmWebhookSender } from './rbm/webhooks.js';
import { ByteRecorder, RecordingFront } from './recorder.js';

export type {
  RbmAgent,
  RbmCiphertextFile,
  RbmEmulatorOptions,
  RbmFault,
  RbmHandsetMessage,
  RbmJson,
  RbmMessageState,
  RbmPhoneCapability,
  RbmSentWebhook,
  RbmServiceAccount,
  RbmWebhookForgery,
} from './rbm/types.js';

/** The OAuth scope of the RBM API. */
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

const MAX_BODY = 16 * 1024 * 1024;

/**
 * The RBM emulator.
 *
 * @example
 * const rbm = await RbmEmulator.start({ serviceAccounts, agents, webhook: { url, clientToken } });
 * rbm.setPhone('+15550100', 'parley');
 * await rbm.deliver(messageId); // posts DELIVERED to the webhook
 */
export class RbmEmulator {
  readonly recorder = new ByteRecorder('rbm');
  /** Deliver each accepted message to the handset at once (switchable at run time). */
  autoDeliver: boolean;
  private server!: Server;
  private front!: RecordingFront;
  private readonly oauth: TokenEndpoint;
  private readonly handsets: RbmHandsets;
  private readonly api: RbmAgentApi;
  private readonly webhooks: RbmWebhookSender;
  private readonly faults = new FaultSwitch<RbmFault, ServerResponse>((res) => res.destroy());
  private grants = 0;

  private constructor(options: RbmEmulatorOptions) {
    const accounts = options.serviceAccounts.map((sa) => {
      const key = toPublicKey(sa.publicKey);
      if (key.asymmetricKeyType !== 'rsa') throw new Error('service account keys are RSA');
      return { email: sa.clientEmail, publicKey: key, ...(sa.keyId === undefined ? {} : { keyId: sa.keyId }) };
    });
    this.oauth = new TokenEndpoint({ accounts, scope: RBM_SCOPE, audience: () => this.tokenUrl, ttlSeconds: options.tokenLifetimeSeconds ?? 3599, now: Date.now });
    this.handsets = new RbmHandsets(options.phones);
    this.api = new RbmAgentApi({
      agents: options.agents,
      handsets: this.handsets,
      parleyFeature: options.parleyFeature ?? RBM_PARLEY_FEATURE,
      uploadTypes: new Set(options.uploadTypes ?? RBM_DEFAULT_UPLOAD_TYPES),
      standardFeatures: RBM_STANDARD_FEATURES,
      onAccepted: (message) => {
        if (!this.autoDeliver) return;
        setImmediate(() => {
          if (message.state === 'pending') this.deliver(message.messageId).catch(() => undefined);
        });
      },
    });
    this.webhooks = new RbmWebhookSender(options.webhook);
    this.autoDeliver = options.autoDeliver ?? false;
  }

  static async start(options: RbmEmulatorOptions): Promise<RbmEmulator> {
    const emulator = new RbmEmulator(options);
    emulator.server = createServer((req, res) => {
      emulator.handle(req, res).catch(() => {
        if (!res.headersSent) sendError(res, new HttpError(500, 'INTERNAL', 'Internal error encountered.'));
        else res.destroy();
      });
    });
    emulator.front = await RecordingFront.listen(emulator.recorder, emulator.server);
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
    this.handsets.setPhone(phone, capability);
  }

  setAgentVerified(agentId: string, verified: boolean): void {
    this.api.setAgentVerified(agentId, verified);
  }

  setWebhook(url: string, clientToken: string): void {
    this.webhooks.setWebhook(url, clientToken);
  }

  /** Makes every RBM API request fail (503 / 500 / 429) or hang until `restoreProvider`. */
  breakProvider(fault: RbmFault = 'unavailable'): void {
    this.faults.set(fault);
  }

  restoreProvider(): void {
    this.faults.set(undefined);
  }

  /** Makes the webhooks that follow carry a forged signature or none, until called with `undefined`. */
  setWebhookForgery(forgery: RbmWebhookForgery | undefined): void {
    this.webhooks.setForgery(forgery);
  }

  /** Queues webhooks instead of posting them, until `releaseWebhooks`. */
  holdWebhooks(): void {
    this.webhooks.hold();
  }

  /** Posts the queued webhooks, in order or reversed (out-of-order chaos), and stops holding. */
  async releaseWebhooks(options: { reverse?: boolean } = {}): Promise<void> {
    await this.webhooks.release(options.reverse === true);
  }

  /** Posts an already-sent event again, byte for byte (a Pub/Sub redelivery). */
  async redeliverWebhook(eventId: string): Promise<void> {
    await this.webhooks.redeliver(eventId);
  }

  /** Every webhook post so far, with the status the receiver answered. */
  sentWebhooks(): readonly RbmSentWebhook[] {
    return this.webhooks.sent();
  }

  /** Delivers a pending message to the handset and reports DELIVERED. Returns the event id. */
  async deliver(messageId: string): Promise<string> {
    return this.webhooks.userEvent(this.handsets.deliver(messageId), 'DELIVERED');
  }

  /** Reports READ for a delivered message. Returns the event id. */
  async read(messageId: string): Promise<string> {
    return this.webhooks.userEvent(this.handsets.read(messageId), 'READ');
  }

  /** Reports the user typing (an event the adapter must ignore). */
  async typing(phone: string, agentId: string): Promise<string> {
    return this.webhooks.typing(phone, agentId);
  }

  /** Sends a user text message to the agent (content the adapter must ignore). */
  async userText(phone: string, agentId: string, text: string): Promise<string> {
    return this.webhooks.userText(phone, agentId, text);
  }

  /** Expires a pending message: revokes it and reports TTL_EXPIRATION_REVOKED (a server event). */
  async expire(messageId: string): Promise<string> {
    return this.webhooks.expired(this.handsets.expire(messageId));
  }

  /** The webhook setup handshake: posts `{clientToken, secret}` and checks the answer echoes the secret. */
  async verifyWebhook(): Promise<boolean> {
    return this.webhooks.verify();
  }

  /** A message's current state, or undefined if it was never accepted. */
  messageState(messageId: string): RbmMessageState | undefined {
    return this.handsets.message(messageId)?.state;
  }

  /** The accepted message itself (for assertions on the wire format). */
  message(messageId: string): RbmHandsetMessage | undefined {
    return this.handsets.message(messageId);
  }

  /** How many agent messages the API accepted for this phone (any state). */
  acceptedCount(phone: string): number {
    return this.handsets.acceptedCount(phone);
  }

  /** The handset: messages delivered to the phone, oldest first. */
  handset(phone: string): readonly RbmHandsetMessage[] {
    return this.handsets.delivered(phone);
  }

  /** What a Parley RCS client on this phone would download: the files of delivered messages. */
  ciphertextFiles(phone: string): readonly RbmCiphertextFile[] {
    return this.handsets.ciphertextFiles(phone);
  }

  /** Subscribes to deliveries to any handset (one call per delivered message). */
  onDelivered(listener: (message: RbmHandsetMessage) => void): () => void {
    return this.handsets.onDelivered(listener);
  }

  /** Makes every access token issued so far invalid (the API answers 401 until the client gets a new one). */
  revokeAccessTokens(): void {
    this.oauth.revokeAll();
  }

  setTokenLifetime(seconds: number): void {
    this.oauth.ttlSeconds = seconds;
  }

  /** How many access tokens the token endpoint granted. */
  get tokenGrants(): number {
    return this.grants;
  }

  async close(): Promise<void> {
    this.faults.releaseAll();
    await this.front.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ----- HTTP -----

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) return; // the client went away
    if (body.tooLarge) return sendError(res, new HttpError(413, 'INVALID_ARGUMENT', 'Request payload size exceeds the limit.'));
    const method = req.method ?? 'GET';
    if (url.pathname === '/token') {
      // Google OAuth is a separate service: RBM faults do not reach it.
      const answer = this.oauth.exchange({ method, contentType: req.headers['content-type'], body: body.bytes.toString('utf8') });
      if (answer.grant !== undefined) this.grants++;
      return sendJson(res, answer.status, answer.body);
    }

    if (this.faults.hold(res)) return;
    const fault = this.faults.kind;
    if (fault === 'unavailable') return sendError(res, new HttpError(503, 'UNAVAILABLE', 'The service is currently unavailable.'));
    if (fault === 'internal') return sendError(res, new HttpError(500, 'INTERNAL', 'Internal error encountered.'));
    if (fault === 'rate-limited') {
      res.setHeader('retry-after', '2');
      return sendError(res, new HttpError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for quota metric of service rcsbusinessmessaging.googleapis.com.'));
    }

    try {
      const email = this.oauth.holder(req.headers['authorization']);
      if (email === undefined) {
        throw new HttpError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
      }
      return sendJson(res, 200, this.api.handle(method, url, req.headers['content-type'], body.bytes, email));
    } catch (e) {
      if (e instanceof HttpError) return sendError(res, e);
      throw e;
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: RbmJson): void {
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': String(bytes.length) });
  res.end(bytes);
}

function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.code, { error: { code: e.code, message: e.message, status: e.status } });
}
