/**
 * One blob's resumable upload (docs/attachments.md, "Upload"): the ciphertext, produced while
 * the file is read, is cut into segments (at most 4 MiB) and each is sent with `PATCH` at its
 * `Upload-Offset`. Only the current segment is held. When a request fails on the network or
 * with a 5xx (or 408/429), the server is asked how far it got (`HEAD`, or the offset a 409
 * `blob_offset_mismatch` names) and the segment is resent from there, with a bounded number of
 * tries and exponential backoff; any other 4xx is the caller's `ApiError`.
 */
import { ApiError, InvalidArgumentError, TransportError } from './errors.js';
import { backoff, pause, transient, withDeadline, type BlobApi } from './blob-api.js';

/** @internal How one blob is sent. */
export interface SegmentOptions {
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((sentBytes: number, totalBytes: number) => void) | undefined;
  /** Bytes per `PATCH` (the segment held in memory). */
  readonly segmentBytes: number;
  /** Failed tries in a row, per segment, before the error is the caller's. */
  readonly retries: number;
  /** The first backoff (doubled on every try, at most 10 s). */
  readonly retryDelayMs: number;
  /** One request's deadline. */
  readonly requestTimeoutMs: number;
}

/** @internal A byte source: a whole array, a `Blob` (a `File`), a `ReadableStream`, or any (async) iterable of pieces. */
export type ByteInput = Uint8Array | Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

async function* fromReadableStream(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // Stopped early (an error, an abort): the source is not read any further.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

function isBlob(data: unknown): data is Blob {
  return typeof Blob !== 'undefined' && data instanceof Blob;
}

function isReadableStream(data: unknown): data is ReadableStream<Uint8Array> {
  return typeof (data as ReadableStream<Uint8Array> | undefined)?.getReader === 'function';
}

function isIterable(data: unknown): data is AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  if (typeof data !== 'object' || data === null) return false;
  const d = data as Partial<AsyncIterable<Uint8Array> & Iterable<Uint8Array>>;
  return typeof d[Symbol.asyncIterator] === 'function' || typeof d[Symbol.iterator] === 'function';
}

/** @internal True when `data` is one of the byte sources `piecesOf` reads. */
export function isByteInput(data: unknown): data is ByteInput {
  return data instanceof Uint8Array || isBlob(data) || isReadableStream(data) || isIterable(data);
}

/** @internal The pieces of `data`, read as they are needed (a `Blob` through its stream). */
export function piecesOf(data: ByteInput): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  if (data instanceof Uint8Array) return [data];
  if (isBlob(data)) return fromReadableStream(data.stream());
  if (isReadableStream(data)) return fromReadableStream(data);
  if (isIterable(data)) return data;
  throw new InvalidArgumentError('data', 'is not a Uint8Array, Blob, ReadableStream or (async) iterable of Uint8Array');
}

/** @internal `source`, refused with `invalid_argument` as soon as it holds more or fewer bytes than `size`. */
export async function* exactly(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let read = 0;
  for await (const piece of source) {
    if (!(piece instanceof Uint8Array)) throw new InvalidArgumentError('data', 'yields a piece that is not a Uint8Array');
    read += piece.length;
    if (read > size) throw new InvalidArgumentError('size', `the data holds more than the ${size} bytes stated`);
    yield piece;
  }
  if (read !== size) throw new InvalidArgumentError('size', `the data holds ${read} bytes, not the ${size} stated`);
}

/**
 * @internal Sends `ciphertext` (exactly `cipherSize` bytes) into the created blob `blobId`,
 * segment by segment; returns the `Parley-Blob-Sha256` the completing request carried, if its
 * answer arrived.
 */
export async function uploadSegments(blobs: BlobApi, blobId: string, cipherSize: number, ciphertext: AsyncIterable<Uint8Array>, options: SegmentOptions): Promise<string | undefined> {
  const segmentBytes = Math.max(1, Math.min(options.segmentBytes, cipherSize));
  let start = 0;
  let sha256: string | undefined;
  let segment = new Uint8Array(segmentBytes);
  let filled = 0;
  for await (const piece of ciphertext) {
    for (let at = 0; at < piece.length; ) {
      if (start + filled + (piece.length - at) > cipherSize) throw new InvalidArgumentError('size', `the ciphertext outgrows the ${cipherSize} bytes declared`);
      const n = Math.min(segment.length - filled, piece.length - at);
      segment.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === segment.length) {
        sha256 = await sendSegment(blobs, blobId, segment, start, cipherSize, options);
        start += filled;
        // A new array: the last request's body is never written to again.
        segment = new Uint8Array(Math.min(segmentBytes, Math.max(1, cipherSize - start)));
        filled = 0;
      }
    }
  }
  if (filled > 0) {
    sha256 = await sendSegment(blobs, blobId, segment.subarray(0, filled), start, cipherSize, options);
    start += filled;
  }
  if (start !== cipherSize) throw new InvalidArgumentError('size', `the ciphertext holds ${start} bytes, not the ${cipherSize} declared`);
  return sha256;
}

/** One segment, `[start, start + segment.length)`, resent from the server's offset after a transient failure. */
async function sendSegment(blobs: BlobApi, blobId: string, segment: Uint8Array, start: number, total: number, options: SegmentOptions): Promise<string | undefined> {
  const { signal, retries, retryDelayMs, requestTimeoutMs } = options;
  const end = start + segment.length;
  let at = start;
  let sha256: string | undefined;
  let failures = 0;
  while (at < end) {
    signal?.throwIfAborted();
    let answer: Awaited<ReturnType<BlobApi['append']>> | undefined;
    try {
      answer = await withDeadline(requestTimeoutMs, signal, (s) => blobs.append(blobId, at, segment.subarray(at - start), s));
    } catch (error) {
      signal?.throwIfAborted();
      const mismatch = error instanceof ApiError && error.code === 'blob_offset_mismatch';
      // An earlier try completed the blob but its answer was lost.
      const complete = error instanceof ApiError && error.code === 'blob_complete';
      if (!(transient(error) || mismatch || complete) || failures >= retries) throw error;
      if (!complete) await pause(backoff(retryDelayMs, failures++, error), signal);
      const named = complete ? total : mismatch && !error.details?.['busy'] ? error.details?.['offset'] : undefined;
      const server = typeof named === 'number' ? named : await withDeadline(requestTimeoutMs, signal, (s) => blobs.offset(blobId, s)).catch((e: unknown) => {
        signal?.throwIfAborted();
        // Not known yet: the next PATCH's answer (or its 409) will say.
        if (transient(e)) return at;
        throw e;
      });
      if (server < start || server > end) throw new TransportError(`the server holds ${server} bytes of the blob; this segment is [${start}, ${end})`);
      at = server;
      options.onProgress?.(at, total);
      continue;
    }
    if (answer.offset <= at || answer.offset > end) throw new TransportError(`the server moved the blob's offset from ${at} to ${answer.offset}`);
    at = answer.offset;
    sha256 = answer.sha256;
    failures = 0;
    options.onProgress?.(at, total);
  }
  return sha256;
}
