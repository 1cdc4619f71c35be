/**
 * The blob store's calls (`/v1/blobs`, core's wire/blobs.ts): create, append a piece at an
 * offset (tus-style `Upload-Offset`), ask the offset, fetch (optionally from an offset, as a
 * streamed `Response`), delete. Every call goes through `ApiClient.send` (the device's session,
 * error bodies as `ApiError`); JSON answers are checked against the wire schema. Beside them,
 * what the resumable transfers share: which failures are worth another try, and the backoff.
 */
import { Compile } from '@parley/core/typebox';
import { BLOB_SHA256_HEADER, BLOB_UPLOAD_CONTENT_TYPE, CreateBlobResponseSchema, callDeadline, type CreateBlobResponse } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { ApiError, TransportError } from './errors.js';

const createBlobResponse = Compile(CreateBlobResponseSchema);

/** A non-negative integer header, or undefined. */
function integerHeader(res: Response, name: string): number | undefined {
  const value = res.headers.get(name);
  return value !== null && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
}

/** @internal What a `PATCH` left on the server. */
export interface AppendResult {
  /** The blob's offset after this piece. */
  readonly offset: number;
  /** The stored blob's SHA-256 (base64url), on the request that completed it. */
  readonly sha256: string | undefined;
}

/** @internal The `/v1/blobs` endpoints, with the device's session. */
export class BlobApi {
  constructor(private readonly api: ApiClient) {}

  /** `POST /v1/blobs`: reserves a blob of `size` ciphertext bytes. */
  async create(size: number, signal?: AbortSignal): Promise<CreateBlobResponse> {
    const res = await this.api.send('POST', '/v1/blobs', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size }), ...(signal ? { signal } : {}) }, true);
    let json: unknown;
    try {
      json = await res.json();
    } catch (cause) {
      throw new TransportError(`server answered ${res.status} without JSON`, { cause });
    }
    if (!createBlobResponse.Check(json)) throw new TransportError('server response to POST /v1/blobs does not match the API schema');
    return json;
  }

  /** `PATCH /v1/blobs/:id`: `bytes` at `offset`; the server's new offset. */
  async append(blobId: string, offset: number, bytes: Uint8Array, signal?: AbortSignal): Promise<AppendResult> {
    const headers = { 'content-type': BLOB_UPLOAD_CONTENT_TYPE, 'upload-offset': String(offset) };
    const res = await this.api.send('PATCH', this.path(blobId), { headers, body: bytes, ...(signal ? { signal } : {}) }, true);
    await res.body?.cancel();
    const next = integerHeader(res, 'upload-offset');
    if (next === undefined) throw new TransportError(`server answered PATCH ${this.path(blobId)} without Upload-Offset`);
    return { offset: next, sha256: res.headers.get(BLOB_SHA256_HEADER) ?? undefined };
  }

  /** `HEAD /v1/blobs/:id`: how many bytes the server holds (`Upload-Offset`). */
  async offset(blobId: string, signal?: AbortSignal): Promise<number> {
    const res = await this.api.send('HEAD', this.path(blobId), signal ? { signal } : {}, true);
    await res.body?.cancel();
    const offset = integerHeader(res, 'upload-offset');
    if (offset === undefined) throw new TransportError(`server answered HEAD ${this.path(blobId)} without Upload-Offset`);
    return offset;
  }

  /**
   * `GET /v1/blobs/:id`, from byte `from` on (`Range: bytes=from-`): the response, its body
   * unread. `signal` is the caller's deadline and cancellation, the body's reading included.
   */
  fetch(blobId: string, from: number, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = from > 0 ? { range: `bytes=${from}-` } : {};
    return this.api.send('GET', this.path(blobId), { headers, ...(signal ? { signal } : {}) }, true);
  }

  /** `DELETE /v1/blobs/:id` (the uploader's, while incomplete or never shared). */
  async delete(blobId: string, signal?: AbortSignal): Promise<void> {
    const res = await this.api.send('DELETE', this.path(blobId), signal ? { signal } : {}, true);
    await res.body?.cancel();
  }

  private path(blobId: string): string {
    return `/v1/blobs/${encodeURIComponent(blobId)}`;
  }
}

/** @internal Worth another try: the network, a timeout, or the server's own trouble (5xx, 408, 429). */
export function transient(error: unknown): boolean {
  return error instanceof TransportError || (error instanceof ApiError && error.retryable);
}

/** @internal `call` under a deadline of `ms` that `signal` can also end (the request's own `AbortSignal`). */
export async function withDeadline<T>(ms: number, signal: AbortSignal | undefined, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = callDeadline(ms, signal ? [signal] : []);
  try {
    return await call(deadline.signal);
  } finally {
    deadline.clear();
  }
}

/** @internal Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** @internal Exponential backoff with jitter: `base · 2^attempt`, at most 10 s, from half to all of it. */
export function backoff(base: number, attempt: number, error?: unknown): number {
  const retryAfter = error instanceof ApiError && typeof error.details?.['retryAfterMs'] === 'number' ? error.details['retryAfterMs'] : 0;
  const ms = Math.min(10_000, base * 2 ** attempt);
  return Math.max(retryAfter, ms / 2 + Math.random() * (ms / 2));
}
