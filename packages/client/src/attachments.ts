/**
 * Encrypted attachments, the SDK's side of the transfer (docs/attachments.md). The sender's
 * device encrypts a file with a fresh key as it reads it (parley-stream-v1, core's
 * media/stream-aead.ts), uploads the ciphertext to the server's blob store in resumable
 * segments, and gets back the `AttachmentRef` that travels inside the MLS message (blob id, key,
 * ciphertext hash, sizes, media type, name, thumbnail). A receiving device downloads the blob
 * (resuming by range), checking every chunk and the hash while it decrypts. Neither direction
 * holds the file: memory stays at a segment (upload) or a chunk (download).
 */
import { Compile, Type } from '@parley/core/typebox';
import { AttachmentRefSchema, EncryptedBlobRefSchema, type AttachmentRef, type EncryptedBlobRef } from '@parley/core';
import { decodeSealedBlob, decryptStream, encodeSealedBlob, encryptStream, streamCipherSize, webStreamCrypto, type StreamCrypto } from '@parley/core/media';
import type { ApiClient } from './api-client.js';
import { BlobApi, withDeadline } from './blob-api.js';
import { blobBody } from './attachment-download.js';
import { exactly, isByteInput, piecesOf, uploadSegments, type ByteInput, type SegmentOptions } from './attachment-upload.js';
import { InvalidArgumentError, TransportError } from './errors.js';

/** The largest segment (one `PATCH`), and the default. */
const MAX_SEGMENT_BYTES = 4 * 1024 * 1024;
/** Largest file (the reference's limit). */
const MAX_SIZE = 2 ** 40;

const describedFile = Compile(Type.Object({ mime: AttachmentRefSchema.properties.mime, name: AttachmentRefSchema.properties.name }));
const blobRef = Compile(EncryptedBlobRefSchema);

/**
 * A file to send: its bytes (read once, as they are needed), how many there are, its media type,
 * the name shown to the recipient, and an optional small preview (encrypted under its own key).
 *
 * @example
 * const input: AttachmentInput = { data: file, size: file.size, mime: 'application/pdf', name: 'statement.pdf' }
 */
export interface AttachmentInput {
  /** The plaintext: a whole array, a `Blob` / `File`, a `ReadableStream`, or an (async) iterable of pieces. */
  readonly data: ByteInput;
  /** Plaintext bytes; the data must hold exactly this many (else `invalid_argument`, and the upload is deleted). */
  readonly size: number;
  /** RFC 6838 `type/subtype`, lower case, without parameters. */
  readonly mime: string;
  /** 1–255 characters; shown to the recipient, never used as a path. */
  readonly name?: string;
  readonly thumbnail?: { readonly data: Uint8Array; readonly mime: string };
}

/**
 * Options of the transfers.
 *
 * @example
 * const options: TransferOptions = { signal: AbortSignal.timeout(600_000), retries: 8 }
 */
export interface TransferOptions {
  /** Cancels the transfer (an upload's blobs are then deleted). */
  readonly signal?: AbortSignal;
  /** AES-GCM and SHA-256 (default WebCrypto + @noble/hashes; in Node `nodeStreamCrypto` from `@parley/core/media/node` is faster). */
  readonly crypto?: StreamCrypto;
  /** Failed tries in a row before a network or 5xx error is thrown (default 5). */
  readonly retries?: number;
  /** The first backoff, doubled per try up to 10 s (default 250 ms). */
  readonly retryDelayMs?: number;
  /** A request's deadline (for a download: the answer's headers, and any silence in its body); default 60 s. */
  readonly requestTimeoutMs?: number;
}

/**
 * Options of `uploadAttachment`.
 *
 * @example
 * const options: UploadAttachmentOptions = { onProgress: (sent, total) => bar.set(sent / total) }
 */
export interface UploadAttachmentOptions extends TransferOptions {
  /** Ciphertext bytes of the file the server has, of its total (thumbnail not counted). */
  readonly onProgress?: (sentBytes: number, totalBytes: number) => void;
  /** Bytes per `PATCH`, the only ciphertext held in memory (default and most 4 MiB). */
  readonly segmentBytes?: number;
}

function segmentOptions(options: UploadAttachmentOptions): SegmentOptions {
  return {
    signal: options.signal,
    onProgress: options.onProgress,
    segmentBytes: Math.min(MAX_SEGMENT_BYTES, Math.max(1024, Math.floor(options.segmentBytes ?? MAX_SEGMENT_BYTES))),
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 250,
    requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
  };
}

function checkInput(input: AttachmentInput): void {
  if (!isByteInput(input.data)) throw new InvalidArgumentError('data', 'is not a Uint8Array, Blob, ReadableStream or (async) iterable of Uint8Array');
  if (!Number.isSafeInteger(input.size) || input.size < 0 || input.size > MAX_SIZE) throw new InvalidArgumentError('size', 'is a whole number of bytes from 0 to 2^40');
  if (!describedFile.Check({ mime: input.mime })) throw new InvalidArgumentError('mime', 'is a media type `type/subtype` (RFC 6838, lower case)');
  if (input.name !== undefined && !describedFile.Check({ mime: input.mime, name: input.name })) throw new InvalidArgumentError('name', 'is 1 to 255 characters');
  const thumb = input.thumbnail;
  if (thumb !== undefined) {
    if (!(thumb.data instanceof Uint8Array)) throw new InvalidArgumentError('thumbnail.data', 'is a Uint8Array');
    if (!describedFile.Check({ mime: thumb.mime })) throw new InvalidArgumentError('thumbnail.mime', 'is a media type `type/subtype` (RFC 6838, lower case)');
  }
}

/** Best effort: an upload that did not finish leaves no blob behind. */
async function discard(blobs: BlobApi, blobIds: readonly string[]): Promise<void> {
  for (const blobId of blobIds) await blobs.delete(blobId, AbortSignal.timeout(10_000)).catch(() => undefined);
}

/** Encrypts and uploads one blob; `created` learns its id as soon as it exists. */
async function uploadBlob(blobs: BlobApi, data: ByteInput, size: number, mime: string, options: UploadAttachmentOptions, created: string[]): Promise<EncryptedBlobRef> {
  const segment = segmentOptions(options);
  const cipherSize = streamCipherSize(size);
  const plaintext = exactly(piecesOf(data), size);
  const { blobId } = await withDeadline(segment.requestTimeoutMs, options.signal, (signal) => blobs.create(cipherSize, signal));
  created.push(blobId);
  const encrypted = encryptStream(plaintext, { crypto: options.crypto ?? webStreamCrypto });
  const stored = await uploadSegments(blobs, blobId, cipherSize, encrypted.ciphertext, segment);
  const fields = encodeSealedBlob(encrypted.result());
  if (stored !== undefined && stored !== fields.sha256) throw new TransportError('the server stored a blob whose SHA-256 is not the ciphertext sent');
  return { blobId, ...fields, mime };
}

/**
 * Encrypts a file under a fresh key while reading it, uploads the ciphertext (resumable, in
 * segments of at most 4 MiB), and returns the reference to put in a message. Its thumbnail, if
 * any, is a blob of its own under its own key. Invalid input: `InvalidArgumentError` (checked
 * first; a wrong `size` is found while reading, and the upload is then deleted). Network and
 * 5xx failures are retried from the server's offset; other server refusals are `ApiError`s.
 *
 * @example
 * const ref = await uploadAttachment(phone.api, { data: file, size: file.size, mime: 'image/jpeg', name: 'receipt.jpg' })
 * // `ref` (key included) goes inside the end-to-end encrypted message, never anywhere else
 */
export async function uploadAttachment(api: ApiClient, input: AttachmentInput, options: UploadAttachmentOptions = {}): Promise<AttachmentRef> {
  checkInput(input);
  const blobs = new BlobApi(api);
  const created: string[] = [];
  try {
    const thumbnail = input.thumbnail === undefined ? undefined : await uploadBlob(blobs, input.thumbnail.data, input.thumbnail.data.length, input.thumbnail.mime, { ...options, onProgress: undefined }, created);
    const file = await uploadBlob(blobs, input.data, input.size, input.mime, options, created);
    return { ...file, ...(input.name === undefined ? {} : { name: input.name }), ...(thumbnail ? { thumbnail } : {}) };
  } catch (error) {
    await discard(blobs, created);
    throw error;
  }
}

/**
 * Downloads and decrypts an attachment (or its `thumbnail`): its plaintext, chunk by chunk, each
 * released only once authenticated; the last one only once the whole ciphertext's SHA-256 and
 * the lengths match the reference. A dropped connection resumes with `Range`. Fails with
 * `AttachmentError` (core: `attachment_tampered`, `attachment_truncated`,
 * `attachment_hash_mismatch`, `attachment_size_mismatch`): then discard whatever was received.
 *
 * @example
 * const out = createWriteStream(tmpPath)
 * for await (const piece of downloadAttachment(phone.api, ref)) out.write(piece)
 */
export function downloadAttachment(api: ApiClient, ref: EncryptedBlobRef, options: TransferOptions = {}): AsyncIterable<Uint8Array> {
  if (typeof ref !== 'object' || ref === null || !blobRef.Check(withoutFileFields(ref))) throw new InvalidArgumentError('ref', 'is not an attachment reference');
  const body = blobBody(new BlobApi(api), ref.blobId, ref.cipherSize, {
    signal: options.signal,
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 250,
    requestTimeoutMs: options.requestTimeoutMs ?? 60_000,
  });
  return decryptStream(body, decodeSealedBlob(ref), { crypto: options.crypto ?? webStreamCrypto });
}

/** An `AttachmentRef` is an `EncryptedBlobRef` with a name and a thumbnail. */
function withoutFileFields(ref: EncryptedBlobRef): EncryptedBlobRef {
  const { blobId, key, sha256, size, cipherSize, mime } = ref;
  return { blobId, key, sha256, size, cipherSize, mime };
}

/**
 * A small attachment (or thumbnail) whole, verified: refused up front when the reference says
 * it is larger than `maxBytes`.
 *
 * @example
 * const preview = ref.thumbnail ? await downloadAttachmentBytes(phone.api, ref.thumbnail, 256 * 1024) : undefined
 */
export async function downloadAttachmentBytes(api: ApiClient, ref: EncryptedBlobRef, maxBytes: number, options: TransferOptions = {}): Promise<Uint8Array> {
  if (!Number.isSafeInteger(ref.size) || ref.size > maxBytes) throw new InvalidArgumentError('maxBytes', `the attachment has ${ref.size} bytes, more than ${maxBytes}`);
  const out = new Uint8Array(ref.size);
  let at = 0;
  // The decryptor never releases more than the reference's size.
  for await (const piece of downloadAttachment(api, ref, options)) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}
