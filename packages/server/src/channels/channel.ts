/**
 * One interface for every delivery channel (the capability-first transport adapter):
 * the app (WebSocket relay), push wake-ups (FCM, APNs), RCS (RBM) and SMS (Twilio,
 * SMPP). The router asks a channel what it can do for a recipient, hands it an
 * outbound item and listens for status events; it never hands a channel message
 * content. What a channel may carry is fixed by `OutboundItem.kind`:
 *
 * - `wake`: an opaque push: the word "sync" and a collapse id, nothing else;
 * - `ciphertext`: MLS ciphertext bytes for a Parley-enabled client (RCS file payload);
 * - `link`: a short text made from a business template: brand + retrieval link.
 *
 * Each provider adapter speaks the provider's real wire format; in tests and the demo
 * the far end is an emulator from `@parley/emulators`.
 */

/** Provider adapters by name. */
export type ChannelName = 'app' | 'fcm' | 'apns' | 'rbm' | 'twilio' | 'smpp';

/** Why a send or a delivery failed: stable codes the router and metrics match on. */
export type FailureReason =
  /** The push token / phone registration is dead (FCM UNREGISTERED, APNs 410): drop it. */
  | 'unregistered'
  /** The recipient cannot receive on this channel (no RCS, RBM 404). */
  | 'not_capable'
  /** The provider is down or answered 5xx. */
  | 'unavailable'
  /** No answer within the adapter's timeout. */
  | 'timeout'
  /** The provider refused the request (4xx other than the above): a bug or bad config. */
  | 'rejected'
  /** The provider throttled us (429 / throttling error). */
  | 'rate_limited'
  /** Authentication with the provider failed (bad key, expired token). */
  | 'auth_failed'
  /** The message was revoked before delivery. */
  | 'revoked'
  /** Delivered status never came / carrier reported undeliverable. */
  | 'undeliverable';

/**
 * Every reason a `ChannelError` can carry: the delivery failures above, plus two that
 * are our side's fault and never a recipient's: a webhook whose signature did not verify,
 * and an item kind the channel does not carry.
 */
export type ChannelErrorReason = FailureReason | 'webhook_signature_invalid' | 'unsupported_item';

/** Where a recipient can be reached. Addresses only; no content. */
export interface Recipient {
  /** Pseudonymous id (HMAC of the phone number under a server key): cache and metrics key. */
  readonly pseudonym: string;
  /** E.164 phone number, when the channel needs it (RCS, SMS). */
  readonly phone?: string;
  /** Push token for FCM or APNs, when the channel needs it. */
  readonly pushToken?: string;
  /** Parley device ids, for the app channel. */
  readonly deviceIds?: readonly string[];
}

/** What a channel is handed to carry; never message content in the clear (see the file comment). */
export type OutboundItem =
  | { readonly kind: 'wake'; /** Collapse / coalescing id (opaque, e.g. the envelope id). */ readonly collapseId: string }
  | { readonly kind: 'ciphertext'; readonly bytes: Uint8Array; /** MIME type of the payload. */ readonly contentType: string }
  | { readonly kind: 'link'; /** Rendered template: brand + URL; never message content. */ readonly text: string; readonly url: string; readonly brand: string };

/** One delivery attempt: an item for a recipient. */
export interface OutboundEnvelope {
  /** Unique per delivery attempt; adapters use it as the provider-side idempotency key where the API has one. */
  readonly deliveryId: string;
  /** The Parley message this attempt belongs to (opaque id). */
  readonly messageId: string;
  readonly recipient: Recipient;
  readonly item: OutboundItem;
}

/** What `send` resolves with once the provider accepted the item. */
export interface SendResult {
  /** The provider's id for the message (FCM name, apns-id, RBM messageId, Twilio SID, SMPP message_id). */
  readonly providerMessageId: string;
}

/** Where a sent item is, as the provider (or the woken app) reports it. */
export type DeliveryStatus = 'accepted' | 'delivered' | 'read' | 'failed';

/** A status change of one sent item. */
export interface StatusEvent {
  readonly channel: ChannelName;
  readonly providerMessageId: string;
  readonly status: DeliveryStatus;
  readonly reason?: FailureReason;
  readonly at: Date;
}

/** What a channel can do for a recipient (the router caches it for `ttlMs`). */
export interface Capabilities {
  /** Can this channel reach the recipient at all? */
  readonly reachable: boolean;
  /** Is what it carries end-to-end encrypted (MLS ciphertext for a Parley client)? */
  readonly endToEnd: boolean;
  /** Provider-reported features (e.g. RBM `RICHCARD_STANDALONE`, `PARLEY_E2E`). */
  readonly features: readonly string[];
  /** Where the answer came from. */
  readonly source: 'device-report' | 'provider-check' | 'delivery-receipt' | 'failure' | 'static';
  /** How long the answer may be cached. */
  readonly ttlMs: number;
}

/** A channel's health: ok or not, and why (no secrets, no addresses). */
export interface ChannelHealth {
  readonly ok: boolean;
  readonly detail: string;
}

/** An inbound provider webhook (status callback), as the HTTP layer received it. */
export interface WebhookRequest {
  /** Full public URL the provider called (Twilio signs it). */
  readonly url: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The raw body bytes, exactly as received (signatures cover them). */
  readonly rawBody: Uint8Array;
}

/** Receives status events. */
export type StatusListener = (event: StatusEvent) => void;

/**
 * The subset of a pino logger the adapters use (a pino `Logger` fits). Adapters log
 * reasons, codes and pseudonyms, never a token, key, phone number or message body.
 */
export interface ChannelLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

/** The default logger: drops everything. */
export const silentLogger: ChannelLogger = {
  warn: () => undefined,
  debug: () => undefined,
};

/**
 * A delivery channel: the one interface the router talks to.
 *
 * @example
 * const caps = await channel.capabilities(recipient);
 * if (caps.reachable) await channel.send({ deliveryId, messageId, recipient, item: { kind: 'wake', collapseId } });
 */
export interface Channel {
  readonly name: ChannelName;
  /** Which item kinds this channel carries. */
  readonly carries: readonly OutboundItem['kind'][];
  capabilities(recipient: Recipient): Promise<Capabilities>;
  /** Hands the item to the provider; resolves once the provider accepted it. Throws ChannelError. */
  send(envelope: OutboundEnvelope): Promise<SendResult>;
  /** Revokes an undelivered message where the provider can (RBM); false if it was already delivered. */
  revoke?(providerMessageId: string): Promise<boolean>;
  /** Verifies a status webhook's signature and turns it into events. Throws ChannelError(`webhook_signature_invalid`). */
  handleWebhook?(request: WebhookRequest): Promise<readonly StatusEvent[]>;
  /** Subscribes to status events (from webhooks or a provider connection such as SMPP deliver_sm). */
  onStatus(listener: StatusListener): () => void;
  health(): Promise<ChannelHealth>;
  close(): Promise<void>;
}

/** A channel operation failed. `reason` is what the router acts on; the message never holds content. */
export class ChannelError extends Error {
  constructor(
    readonly channel: ChannelName,
    readonly reason: ChannelErrorReason,
    message: string,
    options: { cause?: unknown; /** provider HTTP status or error code */ providerCode?: string | number; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChannelError';
    this.providerCode = options.providerCode;
    this.retryAfterMs = options.retryAfterMs;
  }
  readonly providerCode: string | number | undefined;
  readonly retryAfterMs: number | undefined;

  /** Worth retrying later on the same channel (with backoff)? */
  get retryable(): boolean {
    return this.reason === 'unavailable' || this.reason === 'timeout' || this.reason === 'rate_limited';
  }
}

/** Helper for adapters: a set of status listeners. */
export class StatusEmitter {
  private readonly listeners = new Set<StatusListener>();
  on(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: StatusEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // a listener's failure must not stop the others
      }
    }
  }
}

/**
 * Helper for adapters: a set that forgets its oldest members beyond `max` entries (sent ids,
 * dead-token digests, webhook dedup keys), so no provider can grow an adapter's memory.
 *
 * @example
 * const sent = new BoundedSet(100_000);
 * sent.add(providerMessageId);
 */
export class BoundedSet {
  private readonly items = new Set<string>();
  constructor(private readonly max: number) {}
  add(value: string): void {
    this.items.delete(value);
    this.items.add(value);
    while (this.items.size > this.max) {
      const oldest = this.items.values().next();
      if (oldest.done === true) break;
      this.items.delete(oldest.value);
    }
  }
  has(value: string): boolean {
    return this.items.has(value);
  }
  delete(value: string): boolean {
    return this.items.delete(value);
  }
}
