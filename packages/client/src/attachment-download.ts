/**
 * A blob's ciphertext as one stream of pieces (docs/attachments.md, "Download"), read from
 * `GET /v1/blobs/:id` as it arrives. A connection that drops mid-body, stalls, or ends early is
 * picked up where it stopped with `Range: bytes=<received>-`, with a bounded number of tries in
 * a row and backoff; the decryptor downstream sees one continuous stream. A request has a
 * deadline for its answer and one for every silence in its body, never one for the whole body.
 */
import { ApiError, TransportError } from './errors.js';
import { backoff, pause, transient, type BlobApi } from './blob-api.js';

/** @internal How a blob is read. */
export interface BodyOptions {
  readonly signal: AbortSignal | undefined;
  /** Failed tries in a row (no byte received in between) before the error is the caller's. */
  readonly retries: number;
  readonly retryDelayMs: number;
  /** Deadline of the answer's headers, and of any silence within its body. */
  readonly requestTimeoutMs: number;
}

function timeout(message: string): DOMException {
  return new DOMException(message, 'TimeoutError');
}

/** Bytes to drop from an answer to `GET` from `offset` (a server may ignore `Range` and send it all). */
function bytesToSkip(res: Response, offset: number): number {
  if (res.status === 200) return offset;
  if (res.status === 206) {
    const range = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (range && Number(range[1]) === offset) return 0;
    throw new TransportError(`the server answered a range from ${offset} with Content-Range ${res.headers.get('content-range') ?? '(none)'}`);
  }
  throw new TransportError(`the server answered GET with ${res.status}`);
}

/**
 * @internal The ciphertext of `blobId` (`cipherSize` bytes expected), resuming after a dropped
 * connection. It ends when the server has no more bytes; whether they are the right ones is the
 * decryptor's to say.
 */
export async function* blobBody(blobs: BlobApi, blobId: string, cipherSize: number, options: BodyOptions): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal, retries, retryDelayMs, requestTimeoutMs } = options;
  let offset = 0;
  let failures = 0;
  for (;;) {
    signal?.throwIfAborted();
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = (what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(timeout(`${what} within ${requestTimeoutMs} ms`)), requestTimeoutMs);
    };
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let finished = false;
    try {
      arm('no answer');
      const res = await blobs.fetch(blobId, offset, controller.signal);
      let skip = bytesToSkip(res, offset);
      if (!res.body) throw new TransportError('the server answered GET without a body');
      reader = res.body.getReader();
      for (;;) {
        arm('no data');
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (cause) {
          throw new TransportError(`the connection dropped after ${offset} bytes of the blob`, { cause });
        }
        clearTimeout(timer);
        if (next.done) break;
        let piece = next.value;
        if (skip > 0) {
          const n = Math.min(skip, piece.length);
          skip -= n;
          piece = piece.subarray(n);
        }
        if (piece.length === 0) continue;
        offset += piece.length;
        failures = 0;
        yield piece;
      }
      finished = true;
      if (offset >= cipherSize) return;
      throw new TransportError(`the blob's body ended after ${offset} of ${cipherSize} bytes`);
    } catch (error) {
      signal?.throwIfAborted();
      // Nothing more from there: the stream ends, and the decryptor judges what it got.
      if (error instanceof ApiError && error.status === 416 && offset > 0) return;
      if (!transient(error) || failures >= retries) throw error;
      await pause(backoff(retryDelayMs, failures++, error), signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (reader && !finished) await reader.cancel().catch(() => undefined);
    }
  }
}
