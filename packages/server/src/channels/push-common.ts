/**
 * Small pieces the two push wake-up adapters (FCM, APNs) share: bounded memories
 * (sent-but-unconfirmed ids, tokens the provider declared dead), the token digest they
 * remember instead of a token, and APNs' collapse-id limit (FCM's `apns` block obeys it too).
 *
 * Nothing here stores a push token in the clear: dead tokens are kept as SHA-256
 * digests, so a heap dump or a debug print of the adapter does not list them.
 */
import { createHash } from 'node:crypto';

// The logger shape is part of the channel contract; re-exported for the push adapters' callers.
export type { ChannelLogger } from './channel.js';

/**
 * A set that forgets its oldest members beyond `max` entries.
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

/**
 * A digest of a push token: what the adapters remember instead of the token.
 *
 * @example
 * deadTokens.add(tokenDigest(pushToken));
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * APNs caps `apns-collapse-id` at 64 bytes; a longer collapse id is replaced by its
 * SHA-256 digest (base64url, 43 characters), which still coalesces equal ids.
 *
 * @example
 * apnsCollapseId('x'.repeat(100)); // 43 characters
 */
export function apnsCollapseId(collapseId: string): string {
  if (Buffer.byteLength(collapseId, 'utf8') <= 64) return collapseId;
  return createHash('sha256').update(collapseId, 'utf8').digest('base64url');
}
