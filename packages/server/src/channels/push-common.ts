/**
 * Pieces the two push wake-up adapters (FCM, APNs) share: the logger shape they
 * accept, bounded memories (sent-but-unconfirmed ids, tokens the provider declared
 * dead), Retry-After parsing and scrubbing of secrets out of provider text.
 *
 * Nothing here stores a push token in the clear: dead tokens are kept as SHA-256
 * digests, so a heap dump or a debug print of the adapter does not list them.
 */
import { createHash } from 'node:crypto';

/** The subset of a pino logger the adapters use (a pino `Logger` fits). */
export interface ChannelLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  debug(obj: Record<string, unknown>, msg: string): void;
}

export const silentLogger: ChannelLogger = {
  warn: () => undefined,
  debug: () => undefined,
};

/** A set that forgets its oldest members beyond `max` entries. */
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

/** A digest of a push token: what the adapters remember instead of the token. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns
 * milliseconds from `nowMs`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined | null, nowMs: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number.parseInt(text, 10) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Provider text (an error message) made safe to put into a log line or an exception:
 * every secret the adapter holds is cut out, control characters are dropped, and the
 * text is truncated.
 */
export function scrub(text: string, secrets: readonly (string | undefined)[], max = 200): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  out = out.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/** A failed network call: did it run out of time? */
export function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || (error as { code?: unknown }).code === 'ETIMEDOUT');
}

/** A short, secret-free description of a network failure (error code and class only). */
export function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === 'string' ? code : current.name);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(' / ') : 'unknown error';
}

/**
 * APNs caps `apns-collapse-id` at 64 bytes; a longer collapse id is replaced by its
 * SHA-256 digest (base64url, 43 characters), which still coalesces equal ids.
 */
export function apnsCollapseId(collapseId: string): string {
  if (Buffer.byteLength(collapseId, 'utf8') <= 64) return collapseId;
  return createHash('sha256').update(collapseId, 'utf8').digest('base64url');
}
