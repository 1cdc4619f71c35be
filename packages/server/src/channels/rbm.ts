/**
 * RCS through Google's RCS Business Messaging (RBM) API.
 *
 * Wire format (https://rcsbusinessmessaging.googleapis.com, or a regional endpoint):
 * - capabilities: `GET /v1/phones/{E.164}/capabilities?requestId={uuid}&agentId=…`
 *   → `200 {"features":[…]}` = reachable; `404 NOT_FOUND` = no RCS (not reachable).
 *   End-to-end only when the features include the Parley feature (`PARLEY_E2E` by default):
 *   RBM's own `Feature` enum is closed, so this string is a Parley convention that the
 *   emulator reports for a phone with a Parley-enabled RCS client. The adapter does not
 *   cache; the answer carries its TTL and the router caches it.
 * - `ciphertext`: the MLS bytes are uploaded with the files API
 *   (`POST /upload/v1/files?agentId=…`, binary body, Content-Type = the item's type,
 *   answer `{"name":"files/…"}`), then sent as `contentMessage.uploadedRbmFile.fileName`.
 *   Chosen over `contentInfo.fileUrl` because the bytes then travel only between us and
 *   RBM (no public download URL to host, nothing fetchable by a third party), and RBM caches
 *   the file for the Parley client to download. NB: production RBM documents only image,
 *   audio, video and PDF uploads, so `message/mls` needs the platform to accept it.
 * - `link`: a standalone rich card: title = the agent's verified brand, description = the
 *   item's template text, one suggested action `openUrlAction` to the retrieval link.
 *   Nothing else from the item, never message content.
 * - send: `POST /v1/phones/{E.164}/agentMessages?messageId={uuid}&agentId=…`. The messageId
 *   is a UUIDv5 derived from the agent and the delivery id, so a retried delivery reuses it
 *   and RBM does not deliver it twice (a `409 ALREADY_EXISTS` counts as accepted). It is
 *   the providerMessageId and what RBM's status events name.
 * - revoke: `DELETE /v1/phones/{E.164}/agentMessages/{messageId}?agentId=…` → 200 = revoked,
 *   404 = already delivered (or gone). The phone comes from an in-memory map
 *   providerMessageId → phone (bounded); the phone is never put into an id, an error or a log.
 * - auth: OAuth 2.0 access token from the service account (RFC 7523 JWT bearer grant,
 *   RS256 assertion signed with jose, scope rcsbusinessmessaging), cached until shortly
 *   before expiry, single-flight refresh, and one retry with a fresh token on a 401.
 * - webhooks: RBM posts a Pub/Sub push body `{"message":{"data": base64(event JSON), …}}`
 *   with `X-Goog-Signature` = base64(HMAC-SHA512(clientToken, base64-decoded data)) — the
 *   signature covers the decoded event, as RBM documents, not the outer body. DELIVERED and
 *   READ become `delivered` / `read`, TTL_EXPIRATION_REVOKED becomes `failed`
 *   (`undeliverable`); typing, user messages and the rest are ignored. Each
 *   (messageId, status) is emitted once (the adapter dedups redeliveries); a READ that
 *   arrives before its DELIVERED implies it, so listeners see `delivered` then `read`.
 *
 * Error mapping: 404 on send → `not_capable`; 429 → `rate_limited`; 5xx → `unavailable`;
 * no answer within `timeoutMs` → `timeout`; 400 (and other 4xx) → `rejected`; 401/403
 * (including an unverified agent's `403 PERMISSION_DENIED`) → `auth_failed`.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignJWT, importPKCS8, type CryptoKey } from 'jose';
import {
  ChannelError,
  StatusEmitter,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type FailureReason,
  type OutboundEnvelope,
  type OutboundItem,
  type Recipient,
  type SendResult,
  type StatusEvent,
  type StatusListener,
  type WebhookRequest,
} from './channel.js';

export const RBM_SCOPE = 'https://www.googleapis.com/auth/rcsbusinessmessaging';
export const RBM_DEFAULT_BASE_URL = 'https://rcsbusinessmessaging.googleapis.com';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** The capability feature that marks a Parley-enabled RCS client (Parley convention). */
export const RBM_PARLEY_FEATURE = 'PARLEY_E2E';

/** The fields of a Google service account JSON key file that the adapter uses. */
export interface GoogleServiceAccountKey {
  readonly client_email: string;
  /** PKCS#8 PEM RSA private key. */
  readonly private_key: string;
  readonly private_key_id?: string;
  readonly token_uri?: string;
}

export interface RbmChannelOptions {
  /** The RBM agent (a verified brand's agent). */
  readonly agentId: string;
  /** The agent's verified brand name: the rich card title. A link item for another brand is refused. */
  readonly brand: string;
  readonly serviceAccount: GoogleServiceAccountKey;
  /** The webhook's clientToken (from the RBM console): the HMAC key of X-Goog-Signature. */
  readonly webhookClientToken: string;
  /** API base URL (default the global endpoint; regional endpoints or the emulator). */
  readonly baseUrl?: string;
  /** OAuth token endpoint (default the key's token_uri, else Google's). */
  readonly tokenUrl?: string;
  readonly parleyFeature?: string;
  /** TTL of a reachable answer (default 5 min). */
  readonly capabilityTtlMs?: number;
  /** TTL of a not-reachable answer (default 5 min). */
  readonly notCapableTtlMs?: number;
  /** Per-request timeout (default 10 s). */
  readonly timeoutMs?: number;
  /** When set, messages carry `ttl` and RBM revokes them if undelivered by then. */
  readonly messageTtlSeconds?: number;
  /** Label of the link card's button (at most 25 characters; default "Open message"). */
  readonly linkActionText?: string;
  /** Number used by the health probe's capability check (default a fictional +1 555 number). */
  readonly healthProbePhone?: string;
  /** How long a successful provider answer keeps health ok without a probe (default 30 s). */
  readonly healthMaxAgeMs?: number;
  /** Bound of the providerMessageId → phone map and of the webhook dedup set (default 100 000). */
  readonly maxTrackedMessages?: number;
}

type ProviderOutcome = { readonly ok: boolean; readonly detail: string; readonly at: number };

interface ProviderResponse {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
}

const E164 = /^\+[1-9][0-9]{1,14}$/;
/** UUIDv5 namespace for RBM message ids (a fixed random UUID). */
const MESSAGE_ID_NAMESPACE = Buffer.from('6f1c2a8e4b7d4e0f9a3c5d2e1b0a9c8d', 'hex');

export class RbmChannel implements Channel {
  readonly name = 'rbm' as const;
  readonly carries: readonly OutboundItem['kind'][] = ['ciphertext', 'link'];

  private readonly emitter = new StatusEmitter();
  private readonly baseUrl: string;
  private readonly tokenUrl: string;
  private readonly parleyFeature: string;
  private readonly capabilityTtlMs: number;
  private readonly notCapableTtlMs: number;
  private readonly timeoutMs: number;
  private readonly linkActionText: string;
  private readonly healthProbePhone: string;
  private readonly healthMaxAgeMs: number;
  private readonly maxTracked: number;
  private readonly clientToken: Buffer;
  private readonly phones = new Map<string, string>();
  private readonly seen = new Set<string>();
  private readonly inflight = new Set<AbortController>();
  private signingKey: Promise<CryptoKey> | undefined;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;
  private outcome: ProviderOutcome | undefined;
  private closed = false;

  constructor(private readonly options: RbmChannelOptions) {
    if (!options.agentId) throw new Error('rbm: agentId is required');
    if (!options.brand) throw new Error('rbm: brand is required');
    if (!options.webhookClientToken) throw new Error('rbm: webhookClientToken is required');
    this.baseUrl = (options.baseUrl ?? RBM_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.tokenUrl = options.tokenUrl ?? options.serviceAccount.token_uri ?? GOOGLE_TOKEN_URL;
    this.parleyFeature = options.parleyFeature ?? RBM_PARLEY_FEATURE;
    this.capabilityTtlMs = options.capabilityTtlMs ?? 5 * 60_000;
    this.notCapableTtlMs = options.notCapableTtlMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.linkActionText = options.linkActionText ?? 'Open message';
    if (this.linkActionText.length === 0 || this.linkActionText.length > 25) throw new Error('rbm: linkActionText must be 1..25 characters');
    this.healthProbePhone = options.healthProbePhone ?? '+15555550100';
    this.healthMaxAgeMs = options.healthMaxAgeMs ?? 30_000;
    this.maxTracked = options.maxTrackedMessages ?? 100_000;
    this.clientToken = Buffer.from(options.webhookClientToken, 'utf8');
  }

  // ----- capabilities -----

  async capabilities(recipient: Recipient): Promise<Capabilities> {
    const phone = recipient.phone;
    if (phone === undefined || !E164.test(phone)) {
      return { reachable: false, endToEnd: false, features: [], source: 'static', ttlMs: this.notCapableTtlMs };
    }
    const query = new URLSearchParams({ requestId: randomUUID(), agentId: this.options.agentId });
    const res = await this.call('capabilities', 'GET', `/v1/phones/${phone}/capabilities?${query.toString()}`);
    if (res.status === 404) {
      return { reachable: false, endToEnd: false, features: [], source: 'provider-check', ttlMs: this.notCapableTtlMs };
    }
    if (res.status !== 200) throw this.failure('capabilities', res);
    const features = isRecord(res.body) && Array.isArray(res.body['features'])
      ? (res.body['features'] as unknown[]).filter((f): f is string => typeof f === 'string')
      : [];
    return {
      reachable: true,
      endToEnd: features.includes(this.parleyFeature),
      features,
      source: 'provider-check',
      ttlMs: this.capabilityTtlMs,
    };
  }

  // ----- send -----

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const { item, recipient } = envelope;
    if (item.kind !== 'ciphertext' && item.kind !== 'link') {
      throw new ChannelError('rbm', 'unsupported_item', `rbm does not carry ${item.kind} items`);
    }
    const phone = recipient.phone;
    if (phone === undefined) throw new ChannelError('rbm', 'not_capable', 'recipient has no phone number');
    if (!E164.test(phone)) throw new ChannelError('rbm', 'rejected', 'recipient phone is not E.164');

    const contentMessage = item.kind === 'link' ? this.linkCard(item) : { uploadedRbmFile: { fileName: await this.upload(item) } };
    const messageId = this.messageIdFor(envelope.deliveryId);
    const body: Record<string, unknown> = { contentMessage };
    if (this.options.messageTtlSeconds !== undefined) body['ttl'] = `${this.options.messageTtlSeconds}s`;
    const query = new URLSearchParams({ messageId, agentId: this.options.agentId });
    const res = await this.call('send', 'POST', `/v1/phones/${phone}/agentMessages?${query.toString()}`, {
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify(body), 'utf8'),
    });
    // 409 ALREADY_EXISTS: this delivery id was accepted before (a retry): RBM will not deliver it twice.
    if (res.status !== 200 && res.status !== 409) throw this.failure('send', res);
    this.track(messageId, phone);
    return { providerMessageId: messageId };
  }

  private linkCard(item: Extract<OutboundItem, { kind: 'link' }>): Record<string, unknown> {
    if (item.brand !== this.options.brand) {
      throw new ChannelError('rbm', 'rejected', 'link item brand does not match the agent’s verified brand');
    }
    let url: URL;
    try {
      url = new URL(item.url);
    } catch {
      throw new ChannelError('rbm', 'rejected', 'link item url is not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ChannelError('rbm', 'rejected', 'link item url must be http(s)');
    if (item.text.length === 0 || item.text.length > 2000) throw new ChannelError('rbm', 'rejected', 'link text must be 1..2000 characters');
    if (this.options.brand.length > 200) throw new ChannelError('rbm', 'rejected', 'brand must be at most 200 characters');
    return {
      richCard: {
        standaloneCard: {
          cardOrientation: 'VERTICAL',
          cardContent: {
            title: this.options.brand,
            description: item.text,
            suggestions: [{ action: { text: this.linkActionText, postbackData: 'parley_open_link', openUrlAction: { url: url.toString() } } }],
          },
        },
      },
    };
  }

  /** Uploads the ciphertext with the RBM files API; returns the file name (`files/…`). */
  private async upload(item: Extract<OutboundItem, { kind: 'ciphertext' }>): Promise<string> {
    if (item.bytes.length === 0) throw new ChannelError('rbm', 'rejected', 'empty ciphertext');
    const query = new URLSearchParams({ agentId: this.options.agentId });
    const res = await this.call('upload', 'POST', `/upload/v1/files?${query.toString()}`, { contentType: item.contentType, body: item.bytes });
    if (res.status !== 200) throw this.failure('upload', res);
    const name = isRecord(res.body) ? res.body['name'] : undefined;
    if (typeof name !== 'string' || !name.startsWith('files/')) throw new ChannelError('rbm', 'rejected', 'rbm upload answered without a file name');
    return name;
  }

  /** RBM wants a UUID message id; derive it (UUIDv5, RFC 9562) from the agent and delivery id so retries reuse it. */
  private messageIdFor(deliveryId: string): string {
    const hash = createHash('sha1').update(MESSAGE_ID_NAMESPACE).update(`${this.options.agentId}\u0000${deliveryId}`, 'utf8').digest();
    const b = hash.subarray(0, 16);
    b[6] = (b[6]! & 0x0f) | 0x50;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  private track(messageId: string, phone: string): void {
    this.phones.delete(messageId);
    this.phones.set(messageId, phone);
    while (this.phones.size > this.maxTracked) {
      const oldest = this.phones.keys().next().value;
      if (oldest === undefined) break;
      this.phones.delete(oldest);
    }
  }

  // ----- revoke -----

  async revoke(providerMessageId: string): Promise<boolean> {
    const phone = this.phones.get(providerMessageId);
    if (phone === undefined) throw new ChannelError('rbm', 'rejected', 'unknown rbm message id (not sent by this process, or evicted)');
    const query = new URLSearchParams({ agentId: this.options.agentId });
    const res = await this.call('revoke', 'DELETE', `/v1/phones/${phone}/agentMessages/${encodeURIComponent(providerMessageId)}?${query.toString()}`);
    if (res.status === 200 || res.status === 204) {
      this.phones.delete(providerMessageId);
      return true;
    }
    if (res.status === 404) return false;
    throw this.failure('revoke', res);
  }

  // ----- webhooks -----

  /**
   * For RBM's webhook setup handshake (`{"clientToken","secret"}`): the secret the HTTP layer
   * must answer with (200, plain text) when the client token matches; otherwise undefined.
   */
  webhookVerificationSecret(request: WebhookRequest): string | undefined {
    const body = parseJson(request.rawBody);
    if (!isRecord(body) || typeof body['clientToken'] !== 'string' || typeof body['secret'] !== 'string') return undefined;
    return this.tokenMatches(body['clientToken']) ? body['secret'] : undefined;
  }

  async handleWebhook(request: WebhookRequest): Promise<readonly StatusEvent[]> {
    const body = parseJson(request.rawBody);
    if (isRecord(body) && !('message' in body) && typeof body['clientToken'] === 'string') {
      // The setup handshake carries the client token itself.
      if (!this.tokenMatches(body['clientToken'])) throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook handshake with a wrong client token');
      return [];
    }
    const message = isRecord(body) ? body['message'] : undefined;
    const data64 = isRecord(message) ? message['data'] : undefined;
    if (typeof data64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data64)) {
      throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook without a signed message');
    }
    const data = Buffer.from(data64, 'base64');
    const signature = request.headers['x-goog-signature'];
    if (signature === undefined || signature === '') throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook without X-Goog-Signature');
    const expected = Buffer.from(createHmac('sha512', this.clientToken).update(data).digest('base64'), 'ascii');
    const given = Buffer.from(signature.trim(), 'ascii');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ChannelError('rbm', 'webhook_signature_invalid', 'rbm webhook signature does not match');
    }

    const event = parseJson(data);
    if (!isRecord(event)) return [];
    if (event['agentId'] !== undefined && event['agentId'] !== this.options.agentId) return [];
    const messageId = event['messageId'];
    const eventType = event['eventType'];
    if (typeof messageId !== 'string' || typeof eventType !== 'string') return [];
    const at = typeof event['sendTime'] === 'string' && !Number.isNaN(Date.parse(event['sendTime'])) ? new Date(event['sendTime']) : new Date();

    const out: StatusEvent[] = [];
    const push = (status: StatusEvent['status'], reason?: FailureReason): void => {
      if (!this.firstTime(`${messageId}\u0000${status}`)) return;
      out.push({ channel: 'rbm', providerMessageId: messageId, status, at, ...(reason ? { reason } : {}) });
    };
    switch (eventType) {
      case 'DELIVERED':
        push('delivered');
        break;
      case 'READ':
        push('delivered'); // READ implies DELIVERED; a late DELIVERED is then a duplicate
        push('read');
        break;
      case 'TTL_EXPIRATION_REVOKED':
        push('failed', 'undeliverable');
        break;
      default:
        // IS_TYPING, user messages, suggestion taps, subscription and launch events: not status.
        return [];
    }
    if (eventType === 'TTL_EXPIRATION_REVOKED') this.phones.delete(messageId);
    for (const e of out) this.emitter.emit(e);
    return out;
  }

  private tokenMatches(candidate: string): boolean {
    const given = Buffer.from(candidate, 'utf8');
    return given.length === this.clientToken.length && timingSafeEqual(given, this.clientToken);
  }

  private firstTime(key: string): boolean {
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    if (this.seen.size > this.maxTracked * 2) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }

  onStatus(listener: StatusListener): () => void {
    return this.emitter.on(listener);
  }

  // ----- health -----

  async health(): Promise<ChannelHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    const last = this.outcome;
    if (last?.ok && Date.now() - last.at < this.healthMaxAgeMs) return { ok: true, detail: last.detail };
    // No recent success: probe with a capability check (any answer short of 5xx / auth failure is "up").
    try {
      const query = new URLSearchParams({ requestId: randomUUID(), agentId: this.options.agentId });
      await this.call('health', 'GET', `/v1/phones/${this.healthProbePhone}/capabilities?${query.toString()}`, undefined, Math.min(this.timeoutMs, 3000));
    } catch {
      // recorded in this.outcome
    }
    const now = this.outcome;
    return now ? { ok: now.ok, detail: now.detail } : { ok: false, detail: 'no answer' };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.inflight) c.abort();
    this.inflight.clear();
  }

  // ----- HTTP + OAuth -----

  /** One API call with a bearer token; on 401 gets a fresh token and tries once more. */
  private async call(
    op: string,
    method: string,
    path: string,
    payload?: { contentType: string; body: Uint8Array },
    timeoutMs = this.timeoutMs,
  ): Promise<ProviderResponse> {
    if (this.closed) throw new ChannelError('rbm', 'unavailable', 'rbm channel is closed');
    for (let attempt = 0; ; attempt++) {
      const token = await this.accessToken();
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (payload) headers['content-type'] = payload.contentType;
      const res = await this.request(op, `${this.baseUrl}${path}`, { method, headers, ...(payload ? { body: payload.body } : {}) }, timeoutMs);
      if (res.status === 401 && attempt === 0) {
        this.token = undefined;
        continue;
      }
      this.record(res.status);
      return res;
    }
  }

  private async request(op: string, url: string, init: { method: string; headers: Record<string, string>; body?: Uint8Array }, timeoutMs: number): Promise<ProviderResponse> {
    const controller = new AbortController();
    this.inflight.add(controller);
    const timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), timeoutMs);
    try {
      const res = await fetch(url, { method: init.method, headers: init.headers, ...(init.body ? { body: new Uint8Array(init.body) } : {}), signal: controller.signal });
      const text = await res.text();
      return { status: res.status, body: parseJson(Buffer.from(text, 'utf8')), retryAfterMs: retryAfter(res.headers.get('retry-after')) };
    } catch (cause) {
      const timedOut = controller.signal.aborted && !this.closed;
      this.outcome = { ok: false, detail: timedOut ? 'timeout' : 'unreachable', at: Date.now() };
      if (timedOut) throw new ChannelError('rbm', 'timeout', `rbm ${op}: no answer within ${timeoutMs} ms`, { cause });
      throw new ChannelError('rbm', 'unavailable', `rbm ${op}: provider unreachable`, { cause });
    } finally {
      clearTimeout(timer);
      this.inflight.delete(controller);
    }
  }

  private record(status: number): void {
    const at = Date.now();
    if (status >= 500) this.outcome = { ok: false, detail: `provider answered ${status}`, at };
    else if (status === 401 || status === 403) this.outcome = { ok: false, detail: 'auth_failed', at };
    else if (status === 429) this.outcome = { ok: false, detail: 'rate_limited', at };
    else this.outcome = { ok: true, detail: 'provider answering', at };
  }

  private failure(op: string, res: ProviderResponse): ChannelError {
    const err = isRecord(res.body) && isRecord(res.body['error']) ? res.body['error'] : undefined;
    const providerStatus = typeof err?.['status'] === 'string' ? err['status'] : undefined;
    const reason = reasonFor(op, res.status);
    const retryAfterMs = reason === 'rate_limited' || reason === 'unavailable' ? res.retryAfterMs : undefined;
    return new ChannelError('rbm', reason, `rbm ${op} failed: HTTP ${res.status}${providerStatus ? ` ${providerStatus}` : ''}`, {
      providerCode: providerStatus ?? res.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  private async accessToken(): Promise<string> {
    const cached = this.token;
    if (cached && Date.now() < cached.refreshAt) return cached.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const sa = this.options.serviceAccount;
    this.signingKey ??= importPKCS8(sa.private_key, 'RS256');
    let key: CryptoKey;
    try {
      key = await this.signingKey;
    } catch (cause) {
      this.signingKey = undefined;
      throw new ChannelError('rbm', 'auth_failed', 'rbm service account private key is not a PKCS#8 RSA key', { cause });
    }
    const assertion = await new SignJWT({ scope: RBM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(sa.private_key_id ? { kid: sa.private_key_id } : {}) })
      .setIssuer(sa.client_email)
      .setAudience(this.tokenUrl)
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
    const requestedAt = Date.now();
    const res = await this.request('token', this.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: Buffer.from(form.toString(), 'utf8'),
    }, this.timeoutMs);
    const body = isRecord(res.body) ? res.body : {};
    const accessToken = body['access_token'];
    const expiresIn = body['expires_in'];
    if (res.status === 200 && typeof accessToken === 'string' && accessToken !== '' && typeof expiresIn === 'number' && expiresIn > 0) {
      const lifetimeMs = expiresIn * 1000;
      this.token = { value: accessToken, refreshAt: requestedAt + lifetimeMs - Math.min(60_000, lifetimeMs / 2) };
      return accessToken;
    }
    const at = Date.now();
    const reason: FailureReason = res.status >= 500 ? 'unavailable' : res.status === 429 ? 'rate_limited' : 'auth_failed';
    this.outcome = { ok: false, detail: reason === 'auth_failed' ? 'auth_failed' : `token endpoint answered ${res.status}`, at };
    const code = typeof body['error'] === 'string' ? body['error'] : res.status;
    throw new ChannelError('rbm', reason, `rbm token request failed: HTTP ${res.status}${typeof code === 'string' ? ` ${code}` : ''}`, { providerCode: code });
  }
}

function reasonFor(op: string, status: number): FailureReason {
  if (status === 404) return op === 'send' ? 'not_capable' : 'rejected';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth_failed';
  if (status >= 500) return 'unavailable';
  return 'rejected';
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
