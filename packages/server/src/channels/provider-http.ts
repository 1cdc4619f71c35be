/**
 * Talking to a provider safely: one HTTP call with a deadline and the channel's close
 * signal, `Retry-After` parsing, and the scrubbing that keeps secrets out of every error
 * message and log line. Used by the Google OAuth client and the HTTP adapters (FCM, RBM,
 * Twilio); the text helpers also serve APNs (HTTP/2) and the RBM webhooks.
 *
 * A network failure is described by its error codes and class names only (never by the
 * library's message, which may quote a URL or a header), and whatever provider text
 * reaches an error is passed through `scrub` with every secret the caller holds.
 */
import { callDeadline } from '@parley/core';
import { ChannelError, type ChannelName } from './channel.js';

/** A provider's answer: status, headers and the body parsed as JSON (undefined when empty or not JSON). */
export interface HttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** One HTTP call to a provider. */
export interface ProviderCall {
  readonly channel: ChannelName;
  /** What the call is for, as error messages name it ("send", "token endpoint", "upload" …). */
  readonly what: string;
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** The whole call, response body included. */
  readonly timeoutMs: number;
  /** Aborted when the channel closes: the call then fails as `unavailable`. */
  readonly closing: AbortSignal;
  /** Secrets to cut out of a network error's description (tokens the request carried). */
  readonly secrets?: readonly (string | undefined)[];
}

/**
 * Makes the call. Any HTTP answer resolves (the caller maps statuses); no answer throws
 * a `ChannelError`: `timeout` past `timeoutMs`, `unavailable` when the channel closed or
 * the connection failed.
 *
 * @example
 * const answer = await providerFetch({ channel: 'fcm', what: 'send', url, method: 'POST',
 *   headers: { authorization: `Bearer ${token}` }, body: json, timeoutMs: 10_000,
 *   closing: controller.signal, secrets: [token] });
 */
export async function providerFetch(call: ProviderCall): Promise<HttpAnswer> {
  const { channel, what } = call;
  if (call.closing.aborted) throw new ChannelError(channel, 'unavailable', `${channel} ${what}: channel closed`);
  // Not AbortSignal.any + AbortSignal.timeout: its timer can be collected and never fire (core deadline.ts).
  const deadline = callDeadline(call.timeoutMs, [call.closing]);
  const signal = deadline.signal;
  try {
    const response = await fetch(call.url, {
      method: call.method,
      headers: call.headers,
      // a copy: fetch wants bytes over a plain ArrayBuffer
      ...(call.body === undefined ? {} : { body: typeof call.body === 'string' ? call.body : new Uint8Array(call.body) }),
      signal,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: parseJson(text) };
  } catch (error) {
    if (call.closing.aborted) throw new ChannelError(channel, 'unavailable', `${channel} ${what}: channel closed`);
    if (isTimeout(error)) throw new ChannelError(channel, 'timeout', `${channel} ${what}: no answer within ${call.timeoutMs} ms`);
    throw new ChannelError(channel, 'unavailable', `${channel} ${what}: ${scrub(describeNetworkError(error), call.secrets ?? [])}`, { cause: error });
  } finally {
    deadline.clear();
  }
}

/**
 * A provider's text (an answer or a webhook body) parsed as JSON; undefined when it is empty or not JSON.
 *
 * @example
 * parseJson('{"sid":"SM…"}'); // { sid: 'SM…' }
 * parseJson('<html>');        // undefined
 */
export function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns
 * milliseconds from `nowMs`, or undefined when absent or unreadable.
 *
 * @example
 * parseRetryAfter('17', Date.now()); // 17_000
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
 *
 * @example
 * scrub(`bad token ${token}`, [token]); // 'bad token [redacted]'
 */
export function scrub(text: string, secrets: readonly (string | undefined)[], max = 200): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  out = out.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

/**
 * A failed network call: did it run out of time?
 *
 * @example
 * isTimeout(new DOMException('late', 'TimeoutError')); // true
 */
export function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === 'TimeoutError' || (error as { code?: unknown }).code === 'ETIMEDOUT');
}

/**
 * A short, secret-free description of a network failure (error code and class only).
 *
 * @example
 * describeNetworkError(fetchError); // 'TypeError / ECONNREFUSED'
 */
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
 * A provider's error code (an enum word such as `UNREGISTERED`, `NOT_FOUND` or
 * `BadDeviceToken`), or undefined when the value is anything else. Codes go into error
 * messages, log lines and `providerCode` without `scrub`, so free text (which could echo
 * a token or a phone number) never passes as one.
 *
 * @example
 * providerIdentifier('QUOTA_EXCEEDED');      // 'QUOTA_EXCEEDED'
 * providerIdentifier('bad token abc.def…');  // undefined
 */
export function providerIdentifier(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(value) ? value : undefined;
}

/**
 * A JSON object (not null, not an array): how provider bodies are narrowed before reading fields.
 *
 * @example
 * if (isRecord(answer.body) && typeof answer.body['name'] === 'string') use(answer.body['name']);
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
