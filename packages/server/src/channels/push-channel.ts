/**
 * The push wake-up channel, whatever the provider: what FCM and APNs share, so that each
 * of their files holds only its request building and its error mapping.
 *
 * - Items: `wake` only (the word "sync" and a collapse id); a recipient needs a push token.
 * - Capabilities: reachable with a push token, unless the provider declared that token
 *   dead (`unregistered`); a push only wakes the app, so nothing here is end-to-end.
 * - Send bookkeeping: `accepted` when the provider takes the push; on failure the token
 *   is remembered as dead (`unregistered`), the outcome is kept for `health`, and one
 *   warning is logged (pseudonym, delivery id, reason, provider code; never a token).
 * - Delivery: neither provider reports delivery of one push, so `delivered` comes from
 *   the woken app itself: the router calls `confirmDelivered(providerMessageId)` when the
 *   app synced after the push. Only ids this channel sent produce an event, once each.
 * - Health: the provider's own probe (`probe`), plus the outcome of the last real send.
 *
 * Dead tokens are remembered as SHA-256 digests, never in the clear, so a heap dump or a
 * debug print of the adapter does not list them.
 */
import { createHash } from 'node:crypto';
import {
  BoundedSet,
  ChannelError,
  StatusEmitter,
  silentLogger,
  type Capabilities,
  type Channel,
  type ChannelHealth,
  type ChannelLogger,
  type OutboundEnvelope,
  type Recipient,
  type SendResult,
  type StatusListener,
} from './channel.js';

/** Options every push channel takes. */
export interface PushChannelOptions {
  /** How long `capabilities` answers may be cached; default 1 h. */
  readonly capabilityTtlMs?: number;
  /** Clock (ms since epoch); tests move it to age tokens. */
  readonly now?: () => number;
  readonly logger?: ChannelLogger;
}

/** What a provider's health probe found: reachable (with what it proved), or the mapped failure. */
export type ProbeResult = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly error: ChannelError };

/** How many sent-but-unconfirmed ids and dead-token digests are remembered. */
const MEMORY = 100_000;

/**
 * The base of the FCM and APNs adapters. A subclass implements `push` (one wake-up to
 * one token: build the provider request, map its errors), `probe` and `shutdown`.
 *
 * @example
 * class ExamplePush extends PushChannel {
 *   readonly name = 'fcm' as const;
 *   protected async push(token: string, collapseId: string): Promise<string> { … return providerId; }
 *   protected async probe(): Promise<ProbeResult> { return { ok: true, detail: 'reachable' }; }
 *   protected async shutdown(): Promise<void> {}
 * }
 */
export abstract class PushChannel implements Channel {
  abstract readonly name: 'fcm' | 'apns';
  readonly carries = ['wake'] as const;

  protected readonly now: () => number;
  protected readonly log: ChannelLogger;
  private readonly capabilityTtlMs: number;
  private readonly status = new StatusEmitter();
  /** Provider ids sent and not yet confirmed delivered. */
  private readonly outstanding = new BoundedSet(MEMORY);
  /** Digests of tokens the provider declared dead. */
  private readonly deadTokens = new BoundedSet(MEMORY);
  private lastSend: { readonly detail: string; readonly at: number } | undefined;
  private closed = false;

  constructor(options: PushChannelOptions) {
    this.capabilityTtlMs = options.capabilityTtlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silentLogger;
  }

  /** Has `close()` been called? */
  protected get isClosed(): boolean {
    return this.closed;
  }

  /**
   * One wake-up push to `pushToken`; resolves with the provider's id for it. Throws a
   * ChannelError mapped from the provider's answer.
   */
  protected abstract push(pushToken: string, collapseId: string, envelope: OutboundEnvelope): Promise<string>;

  /** Checks, without delivering anything, that the provider answers and accepts our credentials. */
  protected abstract probe(): Promise<ProbeResult>;

  /** Releases the provider connection (called once, by `close`). */
  protected abstract shutdown(): Promise<void>;

  capabilities(recipient: Recipient): Promise<Capabilities> {
    const token = recipient.pushToken;
    if (token === undefined || token.length === 0) {
      return Promise.resolve({ reachable: false, endToEnd: false, features: [], source: 'static', ttlMs: this.capabilityTtlMs });
    }
    if (this.deadTokens.has(tokenDigest(token))) {
      return Promise.resolve({ reachable: false, endToEnd: false, features: [], source: 'failure', ttlMs: this.capabilityTtlMs });
    }
    // A push only wakes the app; the content travels over the app channel, so this
    // channel itself carries nothing end-to-end encrypted.
    return Promise.resolve({ reachable: true, endToEnd: false, features: ['wake'], source: 'device-report', ttlMs: this.capabilityTtlMs });
  }

  async send(envelope: OutboundEnvelope): Promise<SendResult> {
    const item = envelope.item;
    if (item.kind !== 'wake') throw new ChannelError(this.name, 'unsupported_item', `${this.name} carries only wake items, not ${item.kind}`);
    const pushToken = envelope.recipient.pushToken;
    if (pushToken === undefined || pushToken.length === 0) throw new ChannelError(this.name, 'not_capable', 'recipient has no push token');
    if (this.closed) throw new ChannelError(this.name, 'unavailable', `${this.name} channel is closed`);
    try {
      const providerMessageId = await this.push(pushToken, item.collapseId, envelope);
      this.outstanding.add(providerMessageId);
      this.lastSend = { detail: 'accepted', at: this.now() };
      this.status.emit({ channel: this.name, providerMessageId, status: 'accepted', at: new Date(this.now()) });
      return { providerMessageId };
    } catch (error) {
      const failure = error instanceof ChannelError ? error : new ChannelError(this.name, 'unavailable', `${this.name} send failed`);
      if (failure.reason === 'unregistered') this.deadTokens.add(tokenDigest(pushToken));
      this.lastSend = { detail: failure.reason, at: this.now() };
      this.log.warn(
        { channel: this.name, recipient: envelope.recipient.pseudonym, deliveryId: envelope.deliveryId, reason: failure.reason, providerCode: failure.providerCode },
        `${this.name} send failed`,
      );
      throw failure;
    }
  }

  /**
   * The woken app confirmed it synced after the push `providerMessageId` (the router
   * calls this). Emits `delivered` once for an id this adapter sent; returns false (and
   * emits nothing) for an unknown or already confirmed id.
   */
  confirmDelivered(providerMessageId: string, at: Date = new Date(this.now())): boolean {
    if (!this.outstanding.delete(providerMessageId)) return false;
    this.status.emit({ channel: this.name, providerMessageId, status: 'delivered', at });
    return true;
  }

  onStatus(listener: StatusListener): () => void {
    return this.status.on(listener);
  }

  async health(): Promise<ChannelHealth> {
    const last = this.lastSend === undefined ? 'no send yet' : `last send ${this.lastSend.detail} ${Math.round((this.now() - this.lastSend.at) / 1000)} s ago`;
    try {
      const result = await this.probe();
      if (result.ok) return { ok: true, detail: `${result.detail}; ${last}` };
      return { ok: false, detail: `${this.name} probe failed: ${result.error.reason} (${String(result.error.providerCode)}); ${last}` };
    } catch (error) {
      const reason = error instanceof ChannelError ? error.reason : 'unavailable';
      return { ok: false, detail: `${this.name} probe failed: ${reason}; ${last}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.shutdown();
  }
}

/** A digest of a push token: what the push base remembers instead of the token. */
function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * APNs caps `apns-collapse-id` at 64 bytes; a longer collapse id is replaced by its
 * SHA-256 digest (base64url, 43 characters), which still coalesces equal ids. Both push
 * adapters use it: APNs for its header, FCM for the `apns` block of its messages.
 *
 * @example
 * apnsCollapseId('x'.repeat(100)); // 43 characters
 */
export function apnsCollapseId(collapseId: string): string {
  if (Buffer.byteLength(collapseId, 'utf8') <= 64) return collapseId;
  return createHash('sha256').update(collapseId, 'utf8').digest('base64url');
}
