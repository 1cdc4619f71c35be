/**
 * Standard Webhooks (https://www.standardwebhooks.com/, spec 1.0.0), symmetric scheme only:
 * the signed content is `${webhook-id}.${webhook-timestamp}.${body}`, the signature
 * `v1,` + base64 HMAC-SHA256 under a `whsec_` secret, several space-separated signatures
 * during a secret rotation. The gateway signs with it; a bank verifies with it. Only
 * node:crypto, so a receiver importing `@parley/gateway/webhooks` pulls in nothing else.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The prefix of a serialized signing secret. */
const SECRET_PREFIX = 'whsec_';
/** Default replay window, each side of the receiver's clock (the reference libraries' value). */
const DEFAULT_TOLERANCE_SECONDS = 300;
/** HMAC-SHA256 output length. */
const SIGNATURE_BYTES = 32;

/** Why a webhook was rejected. */
export type WebhookVerificationCode =
  | 'webhook_headers_missing'
  | 'webhook_timestamp_invalid'
  | 'webhook_signature_invalid'
  | 'webhook_replayed'
  | 'webhook_payload_invalid';

/**
 * A webhook failed verification. `code` says why; the message never contains the body,
 * a signature or a secret.
 *
 * @example
 * try { verifyWebhook(secret, req.headers, raw) } catch (e) {
 *   if (e instanceof WebhookVerificationError) res.status(e.code === 'webhook_replayed' ? 200 : 400)
 * }
 */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationCode;
  constructor(code: WebhookVerificationCode, message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

/** The three Standard Webhooks request headers (a type alias, so it passes as a header record). */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** Request headers as a receiver has them: a fetch `Headers`, or Node's `IncomingHttpHeaders`. */
export type IncomingWebhookHeaders = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

/**
 * A new signing secret: `whsec_` + base64 of 32 random bytes. Give it to the receiver once,
 * over a safe channel; keep it like a password.
 *
 * @example
 * const secret = newWebhookSecret() // 'whsec_k3J…='
 */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The key bytes of a secret: `whsec_` stripped (optional), the rest strict base64. */
function decodeSecret(secret: string): Buffer {
  const text = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new TypeError('invalid webhook secret: expected whsec_ followed by base64');
  }
  return Buffer.from(text, 'base64');
}

function bodyBytes(body: string | Uint8Array): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function hmac(key: Buffer, msgId: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(`${msgId}.${timestamp}.`, 'utf8').update(body).digest();
}

function checkMessageId(msgId: string): void {
  // The spec: ids must not be user controlled or at least not contain `.` (the delimiter).
  if (!/^[\x21-\x7e]{1,256}$/.test(msgId) || msgId.includes('.')) throw new TypeError('invalid webhook id');
}

/**
 * Signs one webhook with every secret given (a rotation signs with the old and the new):
 * the `webhook-signature` header value, `v1,<base64>` per secret, space-separated.
 *
 * @example
 * const signature = signWebhook([secret], 'evt_x2…', Math.floor(Date.now() / 1000), body)
 */
export function signWebhook(secrets: readonly string[], msgId: string, timestampSeconds: number, body: string | Uint8Array): string {
  if (secrets.length === 0) throw new TypeError('no webhook secret to sign with');
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new TypeError('invalid webhook timestamp');
  checkMessageId(msgId);
  const bytes = bodyBytes(body);
  return secrets.map((s) => `v1,${hmac(decodeSecret(s), msgId, String(timestampSeconds), bytes).toString('base64')}`).join(' ');
}

/**
 * The three headers of one webhook request, signed with every secret given.
 *
 * @example
 * const body = JSON.stringify(payload)
 * await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json',
 *   ...webhookHeaders([secret], eventId, Math.floor(Date.now() / 1000), body) } })
 */
export function webhookHeaders(secrets: readonly string[], msgId: string, timestampSeconds: number, body: string | Uint8Array): WebhookHeaders {
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(secrets, msgId, timestampSeconds, body),
  };
}

/**
 * Remembers the `webhook-id`s a receiver accepted, each until its signed timestamp leaves
 * the replay window (after that the timestamp check rejects a replay anyway), so an exact
 * replay inside the window is refused with `webhook_replayed`. Memory is bounded: past
 * `maxEntries` live ids the oldest is forgotten. One process only; a receiver running
 * several instances also deduplicates by `webhook-id` where it stores the event.
 *
 * Note: the sender retries a delivery it did not see acknowledged under the same id. Answer
 * `webhook_replayed` with a 2xx (the event was accepted before), and call `forget(id)` when
 * you could not process an event you accepted, so its retry is let through.
 *
 * @example
 * const guard = new WebhookReplayGuard()
 * const event = verifyWebhook(secret, req.headers, raw, { replayGuard: guard })
 */
export class WebhookReplayGuard {
  private readonly maxEntries: number;
  /** id → expiry (ms); Map order is insertion order, the eviction order. */
  private readonly seen = new Map<string, number>();

  constructor(options: { maxEntries?: number } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  /** How many ids are remembered now. */
  get size(): number {
    return this.seen.size;
  }

  /**
   * Records `id` until `expiresAtMs`; false when it is already recorded and not expired.
   *
   * @example
   * if (!guard.remember(id, (timestamp + 300) * 1000)) throw new Error('replay')
   */
  remember(id: string, expiresAtMs: number, nowMs: number = Date.now()): boolean {
    const known = this.seen.get(id);
    if (known !== undefined && known > nowMs) return false;
    this.seen.delete(id);
    this.prune(nowMs);
    while (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done === true) break;
      this.seen.delete(oldest.value);
    }
    this.seen.set(id, expiresAtMs);
    return true;
  }

  /**
   * Forgets `id` (the receiver could not process it: let the sender's retry through).
   *
   * @example
   * try { await handle(event) } catch (e) { guard.forget(id); throw e }
   */
  forget(id: string): void {
    this.seen.delete(id);
  }

  /** Drops expired ids from the oldest end until a live one (bounded work per call). */
  private prune(nowMs: number): void {
    let budget = 64;
    for (const [id, expiresAt] of this.seen) {
      if (expiresAt > nowMs || budget-- === 0) break;
      this.seen.delete(id);
    }
  }
}

export interface VerifyWebhookOptions {
  /** Accepted distance between `webhook-timestamp` and now, each way (default 300). */
  toleranceSeconds?: number;
  /** The clock, in milliseconds (default Date.now). */
  now?: () => number;
  /** Refuse an id seen before inside the window (`webhook_replayed`). */
  replayGuard?: WebhookReplayGuard;
}

function header(headers: IncomingWebhookHeaders, name: keyof WebhookHeaders): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  if (Array.isArray(value)) return value.length === 1 ? (value[0] as string) : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** The `v1` signatures of the header, decoded; other versions and malformed entries are skipped. */
function v1Signatures(value: string): Buffer[] {
  const out: Buffer[] = [];
  for (const entry of value.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const text = entry.slice(comma + 1);
    if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) continue;
    out.push(Buffer.from(text, 'base64'));
  }
  return out;
}

/**
 * Verifies one received webhook and returns its parsed JSON body. Checks, in order: the three
 * headers are present, the timestamp is within the tolerance of now (the replay window), one
 * of the `v1` signatures matches one of the secrets (constant-time comparison; unknown
 * versions ignored), the id was not seen before (only with `replayGuard`). Pass the raw body
 * exactly as received — never re-serialized JSON.
 *
 * @throws WebhookVerificationError with `code` `webhook_headers_missing`,
 *   `webhook_timestamp_invalid`, `webhook_signature_invalid`, `webhook_replayed` or
 *   `webhook_payload_invalid` (signed, but not JSON).
 * @example
 * app.post('/parley-webhooks', express.raw({ type: 'application/json' }), (req, res) => {
 *   const event = verifyWebhook(process.env.PARLEY_WEBHOOK_SECRET, req.headers, req.body)
 *   res.sendStatus(204)
 * })
 */
export function verifyWebhook(
  secretOrSecrets: string | readonly string[],
  headers: IncomingWebhookHeaders,
  rawBody: string | Uint8Array,
  options: VerifyWebhookOptions = {},
): unknown {
  const secrets = typeof secretOrSecrets === 'string' ? [secretOrSecrets] : secretOrSecrets;
  if (secrets.length === 0) throw new TypeError('no webhook secret to verify with');
  const keys = secrets.map(decodeSecret);
  const msgId = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signature = header(headers, 'webhook-signature');
  if (!msgId || !timestamp || !signature) throw new WebhookVerificationError('webhook_headers_missing', 'the webhook-id, webhook-timestamp and webhook-signature headers are required');

  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const nowMs = (options.now ?? Date.now)();
  const nowSeconds = Math.floor(nowMs / 1000);
  const seconds = /^\d{1,15}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (Number.isNaN(seconds)) throw new WebhookVerificationError('webhook_timestamp_invalid', 'webhook-timestamp is not an integer');
  if (nowSeconds - seconds > tolerance) throw new WebhookVerificationError('webhook_timestamp_invalid', 'webhook-timestamp is too old');
  if (seconds - nowSeconds > tolerance) throw new WebhookVerificationError('webhook_timestamp_invalid', 'webhook-timestamp is in the future');

  const bytes = bodyBytes(rawBody);
  const expected = keys.map((key) => hmac(key, msgId, timestamp, bytes));
  const passed = v1Signatures(signature);
  let match = false;
  // Every pair is compared (no early exit): the time taken depends on counts only.
  for (const sig of passed) {
    for (const want of expected) {
      if (sig.length === SIGNATURE_BYTES && timingSafeEqual(sig, want)) match = true;
    }
  }
  if (!match) throw new WebhookVerificationError('webhook_signature_invalid', 'no webhook signature matches');

  if (options.replayGuard && !options.replayGuard.remember(msgId, (seconds + tolerance) * 1000, nowMs)) {
    throw new WebhookVerificationError('webhook_replayed', 'this webhook-id was accepted before');
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    options.replayGuard?.forget(msgId);
    throw new WebhookVerificationError('webhook_payload_invalid', 'the webhook body is not JSON');
  }
}
