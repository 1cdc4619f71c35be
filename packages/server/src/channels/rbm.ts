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
 *   scope rcsbusinessmessaging) from `google-auth.ts`: cached until shortly before expiry,
 *   single-flight refresh, and one retry with a fresh token on a 401.
 * - webhooks (`rbm-webhooks.ts`): Pub/Sub push bodies signed with `X-Goog-Signature`;
 *   DELIVERED and READ become `delivered` / `read`, TTL_EXPIRATION_REVOKED becomes
 *   `failed` (`undeliverable`); each (messageId, status) is emitted once.
 *
 * Error mapping: 404 on send → `not_capable`; 429 → `rate_limited`; 5xx → `unavailable`;
 * no answer within `timeoutMs` → `timeout`; 400 (and other 4xx) → `rejected`; 401/403
 * (including an unverified agent's `403 PERMISSION_DENIED`) → `auth_failed`.
 *
 * Health: ok while the provider answered (short of 5xx / auth failure) within
 * `healthMaxAgeMs`; otherwise a capability check probes it.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  ChannelError,
  StatusEmitter,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type ChannelLogger,
  type FailureReason,
  type OutboundEnvelope,
  type OutboundItem,
  type Recipient,
  type SendResult,
  type StatusEvent,
  type StatusListener,
  type WebhookRequest,
} from './channel.js';
import { GOOGLE_TOKEN_URL, GoogleAccessTokens, TokenEndpointError, type GoogleServiceAccountKey } from './google-auth.js';
import { isRecord, parseRetryAfter, providerFetch, providerIdentifier, type HttpAnswer } from './provider-http.js';
import { RbmWebhooks } from './rbm-webhooks.js';

/** The OAuth scope of the RBM API. */
export const RBM_SCOPE = 'https://www.googleapis.com/auth/rcsbusinessmessaging';
/** RBM's global endpoint. */
export const RBM_DEFAULT_BASE_URL = 'https://rcsbusinessmessaging.googleapis.com';
/** The capability feature that marks a Parley-enabled RCS client (Parley convention). */
export const RBM_PARLEY_FEATURE = 'PARLEY_E2E';

/** How to configure the RBM channel. */
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
  /** Clock (ms since epoch): token expiry, health age, events without a time. Default `Date.now`. */
  readonly now?: () => number;
  readonly logger?: ChannelLogger;
}

type ProviderOutcome = { readonly ok: boolean; readonly detail: string; readonly at: number };

const E164 = /^\+[1-9][0-9]{1,14}$/;
/** UUIDv5 namespace for RBM message ids (a fixed random UUID). */
const MESSAGE_ID_NAMESPACE = Buffer.from('6f1c2a8e4b7d4e0f9a3c5d2e1b0a9c8d', 'hex');

/**
 * The RBM (RCS) channel.
 *
 * @example
 * const rbm = new RbmChannel({ agentId, brand: 'Example Bank', serviceAccount, webhookClientToken });
 * const caps = await rbm.capabilities({ pseudonym, phone: '+15550100' });
 */
export class RbmChannel implements Channel {
  readonly name = 'rbm' as const;
  readonly carries: readonly OutboundItem['kind'][] = ['ciphertext', 'link'];

  private readonly emitter = new StatusEmitter();
  private readonly baseUrl: string;
  private readonly parleyFeature: string;
  private readonly capabilityTtlMs: number;
  private readonly notCapableTtlMs: number;
  private readonly timeoutMs: number;
  private readonly linkActionText: string;
  private readonly healthProbePhone: string;
  private readonly healthMaxAgeMs: number;
  private readonly maxTracked: number;
  private readonly now: () => number;
  private readonly auth: GoogleAccessTokens;
  private readonly webhooks: RbmWebhooks;
  /** Aborted by `close`: calls in flight end, and no new ones start. */
  private readonly closing = new AbortController();
  private readonly phones = new Map<string, string>();
  private outcome: ProviderOutcome | undefined;

  constructor(private readonly options: RbmChannelOptions) {
    if (!options.agentId) throw new Error('rbm: agentId is required');
    if (!options.brand) throw new Error('rbm: brand is required');
    if (!options.webhookClientToken) throw new Error('rbm: webhookClientToken is required');
    this.baseUrl = (options.baseUrl ?? RBM_DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.parleyFeature = options.parleyFeature ?? RBM_PARLEY_FEATURE;
    this.capabilityTtlMs = options.capabilityTtlMs ?? 5 * 60_000;
    this.notCapableTtlMs = options.notCapableTtlMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.linkActionText = options.linkActionText ?? 'Open message';
    if (this.linkActionText.length === 0 || this.linkActionText.length > 25) throw new Error('rbm: linkActionText must be 1..25 characters');
    this.healthProbePhone = options.healthProbePhone ?? '+15555550100';
    this.healthMaxAgeMs = options.healthMaxAgeMs ?? 30_000;
    this.maxTracked = options.maxTrackedMessages ?? 100_000;
    this.now = options.now ?? Date.now;
    this.auth = new GoogleAccessTokens({
      channel: 'rbm',
      serviceAccount: options.serviceAccount,
      scope: RBM_SCOPE,
      tokenUrl: options.tokenUrl ?? options.serviceAccount.token_uri ?? GOOGLE_TOKEN_URL,
      timeoutMs: this.timeoutMs,
      now: this.now,
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.webhooks = new RbmWebhooks({ agentId: options.agentId, clientToken: options.webhookClientToken, maxTracked: this.maxTracked, now: this.now });
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
    return this.webhooks.verificationSecret(request);
  }

  async handleWebhook(request: WebhookRequest): Promise<readonly StatusEvent[]> {
    const events = this.webhooks.events(request);
    for (const e of events) {
      // RBM revoked it (TTL): nothing left to revoke.
      if (e.status === 'failed') this.phones.delete(e.providerMessageId);
      this.emitter.emit(e);
    }
    return events;
  }

  onStatus(listener: StatusListener): () => void {
    return this.emitter.on(listener);
  }

  // ----- health -----

  async health(): Promise<ChannelHealth> {
    if (this.closing.signal.aborted) return { ok: false, detail: 'closed' };
    const last = this.outcome;
    if (last?.ok && this.now() - last.at < this.healthMaxAgeMs) return { ok: true, detail: last.detail };
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

  close(): Promise<void> {
    this.closing.abort();
    this.auth.close();
    return Promise.resolve();
  }

  // ----- HTTP -----

  /** One API call with a bearer token; on 401 gets a fresh token and tries once more. */
  private async call(
    op: string,
    method: string,
    path: string,
    payload?: { contentType: string; body: Uint8Array },
    timeoutMs = this.timeoutMs,
  ): Promise<HttpAnswer> {
    if (this.closing.signal.aborted) throw new ChannelError('rbm', 'unavailable', 'rbm channel is closed');
    for (let attempt = 0; ; attempt++) {
      const token = await this.accessToken();
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
      if (payload) headers['content-type'] = payload.contentType;
      let res: HttpAnswer;
      try {
        res = await providerFetch({
          channel: 'rbm',
          what: op,
          url: `${this.baseUrl}${path}`,
          method,
          headers,
          ...(payload ? { body: payload.body } : {}),
          timeoutMs,
          closing: this.closing.signal,
          secrets: [token],
        });
      } catch (error) {
        const timedOut = error instanceof ChannelError && error.reason === 'timeout';
        this.outcome = { ok: false, detail: timedOut ? 'timeout' : 'unreachable', at: this.now() };
        throw error;
      }
      if (res.status === 401 && attempt === 0) {
        this.auth.invalidate(token);
        continue;
      }
      this.record(res.status);
      return res;
    }
  }

  /** The access token; a token endpoint failure is recorded for `health`. */
  private async accessToken(): Promise<string> {
    try {
      return await this.auth.accessToken();
    } catch (error) {
      this.outcome = { ok: false, detail: tokenFailureDetail(error), at: this.now() };
      throw error;
    }
  }

  private record(status: number): void {
    const at = this.now();
    if (status >= 500) this.outcome = { ok: false, detail: `provider answered ${status}`, at };
    else if (status === 401 || status === 403) this.outcome = { ok: false, detail: 'auth_failed', at };
    else if (status === 429) this.outcome = { ok: false, detail: 'rate_limited', at };
    else this.outcome = { ok: true, detail: 'provider answering', at };
  }

  private failure(op: string, res: HttpAnswer): ChannelError {
    const err = isRecord(res.body) && isRecord(res.body['error']) ? res.body['error'] : undefined;
    const providerStatus = providerIdentifier(err?.['status']);
    const reason = reasonFor(op, res.status);
    const retryAfterMs = reason === 'rate_limited' || reason === 'unavailable' ? parseRetryAfter(res.headers.get('retry-after'), this.now()) : undefined;
    return new ChannelError('rbm', reason, `rbm ${op} failed: HTTP ${res.status}${providerStatus ? ` ${providerStatus}` : ''}`, {
      providerCode: providerStatus ?? res.status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
}

function reasonFor(op: string, status: number): FailureReason {
  if (status === 404) return op === 'send' ? 'not_capable' : 'rejected';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth_failed';
  if (status >= 500) return 'unavailable';
  return 'rejected';
}

/** What `health` says after the token endpoint failed. */
function tokenFailureDetail(error: unknown): string {
  if (!(error instanceof TokenEndpointError)) return 'unreachable';
  if (error.reason === 'auth_failed') return 'auth_failed';
  if (error.httpStatus !== undefined) return `token endpoint answered ${error.httpStatus}`;
  return error.reason === 'timeout' ? 'timeout' : 'unreachable';
}
