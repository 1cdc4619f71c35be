/**
 * parley-stream-v1: the streaming AEAD of attachments (docs/attachments.md, "The blob format").
 *
 * A file is encrypted under a fresh random 256-bit key K, in chunks of 64 KiB: chunk i is
 * AES-256-GCM (NIST SP 800-38D) under K with the 12-byte nonce `i` (11 bytes, big-endian) ‖
 * final flag (1 byte: 0x01 on the last chunk, else 0x00) and the additional data
 * `parley/v1/attachment`; the blob is the concatenation of the sealed chunks (ciphertext ‖
 * 16-byte tag each). This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár,
 * "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance" (CRYPTO 2015), with
 * the nonce layout age uses (C2SP age, "Payload"): every chunk is bound to its position and to
 * whether it ends the file, so a modified, reordered, swapped, dropped or appended chunk fails
 * authentication, and a stream cut at a chunk boundary lacks its final chunk.
 *
 * Both directions stream: input comes as pieces of any size and is re-chunked here, so no more
 * than one chunk (plus the piece being read) is held. The decryptor releases a chunk's plaintext
 * only once its tag verified, and holds back the final chunk until the whole ciphertext's
 * SHA-256 (FIPS 180-4) and the lengths match the reference: a consumer never receives the end
 * of a file whose hash does not match, and must discard what it received when the stream throws.
 *
 * The AES-GCM and SHA-256 implementations come through a seam (`StreamCrypto`): WebCrypto and
 * `@noble/hashes` here (browser-safe), node:crypto in stream-aead.node.ts (faster in Node).
 * Both produce the same bytes.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, equalBytes, fromBase64, randomBytes, toBase64Url, utf8 } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { AttachmentError } from './attachment-error.js';

/** Plaintext bytes per chunk (the last chunk may be shorter). */
export const STREAM_CHUNK_SIZE = 65536;
/** Bytes of the AES-GCM tag after each chunk. */
export const STREAM_TAG_SIZE = 16;
/** Bytes of a file key K (AES-256). */
export const STREAM_KEY_SIZE = 32;
/** Bytes of a chunk nonce: 11-byte big-endian chunk index ‖ 1-byte final flag. */
export const STREAM_NONCE_SIZE = 12;
/** The additional data of every chunk (UTF-8). */
export const STREAM_AAD_LABEL = 'parley/v1/attachment';

const SEALED_CHUNK_SIZE = STREAM_CHUNK_SIZE + STREAM_TAG_SIZE;
const AAD = /* @__PURE__ */ utf8(STREAM_AAD_LABEL);

/** One file's key, ready to seal and open chunks (a WebCrypto key is imported once per file). */
export interface ChunkKey {
  /** AES-256-GCM: `ciphertext ‖ 16-byte tag` of `plaintext` under `nonce` and `aad`. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** The plaintext of `sealed` (ciphertext ‖ tag), or undefined when the tag does not verify. */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined>;
}

/** Where AES-256-GCM comes from: binds a 32-byte key for one file. */
export interface ChunkCipher {
  readonly name: string;
  withKey(key: Uint8Array): Promise<ChunkKey>;
}

/** A SHA-256 fed piece by piece. */
export interface IncrementalHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** The primitives a stream uses: the chunk cipher and a streaming SHA-256. */
export interface StreamCrypto {
  readonly cipher: ChunkCipher;
  sha256(): IncrementalHash;
}

/** The key, hash and lengths of one encrypted blob (the byte form of an `EncryptedBlobRef`'s fields). */
export interface SealedBlobInfo {
  /** K, 32 bytes. */
  readonly key: Uint8Array;
  /** SHA-256 of the whole blob ciphertext. */
  readonly sha256: Uint8Array;
  /** Plaintext bytes. */
  readonly size: number;
  /** Ciphertext bytes: `streamCipherSize(size)`. */
  readonly cipherSize: number;
}

/** Pieces of bytes of any size, in order. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Options of `encryptStream` / `decryptStream`. */
export interface StreamOptions {
  /** The primitives (default `webStreamCrypto`; in Node `nodeStreamCrypto` from `@parley/core/media/node` is faster). */
  readonly crypto?: StreamCrypto;
}

/** Options of `encryptStream`. */
export interface EncryptStreamOptions extends StreamOptions {
  /**
   * The file key; default 32 fresh random bytes, which is what every real file must get. Given
   * only for known-answer tests: a key must never encrypt two files.
   */
  readonly key?: Uint8Array;
}

/** A file being encrypted: read `ciphertext` to its end, then `result()`. */
export interface EncryptedStream {
  /** The blob ciphertext, one sealed chunk per piece; can be iterated once. */
  readonly ciphertext: AsyncIterable<Uint8Array>;
  /** Key, hash and lengths, once the final chunk has been produced (else `invalid_request`). */
  result(): SealedBlobInfo;
}

/**
 * The blob length of a file of `size` bytes: one tag per chunk, and one chunk at least.
 *
 * @example
 * streamCipherSize(0) // 16; streamCipherSize(65536) // 65552; streamCipherSize(65537) // 65569
 */
export function streamCipherSize(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw new InvalidInputError('a file size is a non-negative integer');
  return size + STREAM_TAG_SIZE * Math.max(1, Math.ceil(size / STREAM_CHUNK_SIZE));
}

/**
 * The nonce of chunk `index` (0-based): 11-byte big-endian index ‖ 0x01 when final, else 0x00.
 *
 * @example
 * streamNonce(1, true) // 00 00 00 00 00 00 00 00 00 00 01 01
 */
export function streamNonce(index: number, final: boolean): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new InvalidInputError('a chunk index is a non-negative integer');
  const nonce = new Uint8Array(STREAM_NONCE_SIZE);
  const view = new DataView(nonce.buffer);
  // Indices below 2^53 fill the low 8 of the 11 index bytes; the top 3 stay zero.
  view.setUint32(3, Math.floor(index / 2 ** 32));
  view.setUint32(7, index >>> 0);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

/** A copy only when the bytes do not sit in a plain ArrayBuffer (WebCrypto's `BufferSource`). */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

/**
 * AES-256-GCM on WebCrypto (`globalThis.crypto.subtle`): browsers, workers, Node.
 *
 * @example
 * const key = await webChunkCipher.withKey(k)
 * const sealed = await key.seal(streamNonce(0, true), plaintext, utf8(STREAM_AAD_LABEL))
 */
export const webChunkCipher: ChunkCipher = {
  name: 'webcrypto',
  async withKey(key) {
    const subtle = globalThis.crypto.subtle;
    const cryptoKey = await subtle.importKey('raw', source(assertBytes(key, 'key', STREAM_KEY_SIZE)), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
    const params = (nonce: Uint8Array, aad: Uint8Array): AesGcmParams => ({ name: 'AES-GCM', iv: source(nonce), additionalData: source(aad), tagLength: 128 });
    return {
      async seal(nonce, plaintext, aad) {
        return new Uint8Array(await subtle.encrypt(params(nonce, aad), cryptoKey, source(plaintext)));
      },
      async open(nonce, sealed, aad) {
        if (sealed.length < STREAM_TAG_SIZE) return undefined;
        try {
          return new Uint8Array(await subtle.decrypt(params(nonce, aad), cryptoKey, source(sealed)));
        } catch (error) {
          // WebCrypto's answer to a tag that does not verify; anything else is not ours to hide.
          if (error instanceof Error && error.name === 'OperationError') return undefined;
          throw error;
        }
      },
    };
  },
};

/**
 * The browser-safe primitives: WebCrypto AES-256-GCM and `@noble/hashes` SHA-256.
 *
 * @example
 * const { ciphertext, result } = encryptStream(file.stream(), { crypto: webStreamCrypto })
 */
export const webStreamCrypto: StreamCrypto = {
  cipher: webChunkCipher,
  sha256: () => {
    const h = sha256.create();
    return { update: (data) => void h.update(data), digest: () => h.digest() };
  },
};

function checkPiece(piece: unknown): Uint8Array {
  if (!(piece instanceof Uint8Array)) throw new InvalidInputError('a stream yields Uint8Array pieces', { code: 'invalid_bytes' });
  return piece;
}

/**
 * Encrypts a file read piece by piece under a fresh key (parley-stream-v1). The final chunk is
 * known only when the input ends, so one full chunk is held back until more input arrives.
 *
 * @example
 * const enc = encryptStream(pieces)
 * for await (const sealed of enc.ciphertext) await upload(sealed)
 * const { key, sha256, size, cipherSize } = enc.result()
 */
export function encryptStream(input: ByteSource, options: EncryptStreamOptions = {}): EncryptedStream {
  const crypto = options.crypto ?? webStreamCrypto;
  const key = options.key === undefined ? randomBytes(STREAM_KEY_SIZE) : assertBytes(options.key, 'key', STREAM_KEY_SIZE);
  let result: SealedBlobInfo | undefined;
  let started = false;

  async function* run(): AsyncGenerator<Uint8Array, void, undefined> {
    const chunkKey = await crypto.cipher.withKey(key);
    const hash = crypto.sha256();
    let index = 0;
    let size = 0;
    let cipherSize = 0;
    const seal = async (plaintext: Uint8Array, final: boolean): Promise<Uint8Array> => {
      const sealed = await chunkKey.seal(streamNonce(index++, final), plaintext, AAD);
      hash.update(sealed);
      cipherSize += sealed.length;
      return sealed;
    };
    let chunk = new Uint8Array(STREAM_CHUNK_SIZE);
    let filled = 0;
    for await (const raw of input) {
      const piece = checkPiece(raw);
      size += piece.length;
      for (let at = 0; at < piece.length; ) {
        // A full chunk with more input behind it is not the final one.
        if (filled === STREAM_CHUNK_SIZE) {
          yield await seal(chunk, false);
          chunk = new Uint8Array(STREAM_CHUNK_SIZE);
          filled = 0;
        }
        const n = Math.min(STREAM_CHUNK_SIZE - filled, piece.length - at);
        chunk.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
      }
    }
    const last = await seal(chunk.subarray(0, filled), true);
    result = { key, sha256: hash.digest(), size, cipherSize };
    yield last;
  }

  return {
    ciphertext: {
      [Symbol.asyncIterator]() {
        if (started) throw new InvalidInputError('an encrypted stream can be read once');
        started = true;
        return run();
      },
    },
    result() {
      if (!result) throw new InvalidInputError('the ciphertext has not been read to its final chunk');
      return result;
    },
  };
}

/**
 * Decrypts a blob read piece by piece, checking it against its reference: yields each chunk's
 * plaintext once its tag verified, and the final chunk only once the lengths and the SHA-256 of
 * the whole ciphertext match. Throws `AttachmentError` (`attachment_tampered`,
 * `attachment_truncated`, `attachment_size_mismatch`, `attachment_hash_mismatch`); whatever was
 * yielded before an error must be discarded.
 *
 * @example
 * for await (const plain of decryptStream(body, decodeSealedBlob(ref))) file.write(plain)
 */
export async function* decryptStream(input: ByteSource, sealed: SealedBlobInfo, options: StreamOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const crypto = options.crypto ?? webStreamCrypto;
  const key = assertBytes(sealed.key, 'key', STREAM_KEY_SIZE);
  const expectedHash = assertBytes(sealed.sha256, 'sha256', 32);
  if (streamCipherSize(sealed.size) !== sealed.cipherSize) {
    throw new AttachmentError(`a ${sealed.size}-byte file has a ${streamCipherSize(sealed.size)}-byte blob, not ${sealed.cipherSize}`, {
      code: 'attachment_size_mismatch',
      details: { size: sealed.size, cipherSize: sealed.cipherSize },
    });
  }
  const chunkKey = await crypto.cipher.withKey(key);
  const hash = crypto.sha256();
  let index = 0;
  let cipherBytes = 0;
  let plainBytes = 0;
  let window = new Uint8Array(SEALED_CHUNK_SIZE);
  let filled = 0;
  for await (const raw of input) {
    const piece = checkPiece(raw);
    hash.update(piece);
    cipherBytes += piece.length;
    for (let at = 0; at < piece.length; ) {
      // A full sealed chunk with more bytes behind it must open as a non-final chunk.
      if (filled === SEALED_CHUNK_SIZE) {
        const plain = await openInner(chunkKey, window, index++);
        plainBytes += plain.length;
        if (plainBytes > sealed.size) throw sizeMismatch(plainBytes, cipherBytes, sealed);
        yield plain;
        window = new Uint8Array(SEALED_CHUNK_SIZE);
        filled = 0;
      }
      const n = Math.min(SEALED_CHUNK_SIZE - filled, piece.length - at);
      window.set(piece.subarray(at, at + n), filled);
      filled += n;
      at += n;
    }
  }
  const last = await openLast(chunkKey, window.subarray(0, filled), index, cipherBytes < sealed.cipherSize);
  plainBytes += last.length;
  if (plainBytes !== sealed.size || cipherBytes !== sealed.cipherSize) throw sizeMismatch(plainBytes, cipherBytes, sealed);
  if (!equalBytes(hash.digest(), expectedHash)) {
    throw new AttachmentError('the blob ciphertext does not hash to the reference\'s SHA-256', { code: 'attachment_hash_mismatch' });
  }
  if (last.length > 0) yield last;
}

async function openInner(key: ChunkKey, sealed: Uint8Array, index: number): Promise<Uint8Array> {
  const plain = await key.open(streamNonce(index, false), sealed, AAD);
  if (plain) return plain;
  const afterFinal = (await key.open(streamNonce(index, true), sealed, AAD)) !== undefined;
  throw new AttachmentError(afterFinal ? `data follows the final chunk (${index})` : `chunk ${index} does not authenticate`, {
    code: 'attachment_tampered',
    details: { chunk: index },
  });
}

async function openLast(key: ChunkKey, sealed: Uint8Array, index: number, short: boolean): Promise<Uint8Array> {
  if (sealed.length >= STREAM_TAG_SIZE) {
    const plain = await key.open(streamNonce(index, true), sealed, AAD);
    if (plain) return plain;
  }
  // A whole non-final chunk at the end: the stream was cut at a chunk boundary. Fewer bytes than
  // the reference's and no chunk that opens: it was cut inside a chunk.
  const inner = sealed.length >= STREAM_TAG_SIZE && (await key.open(streamNonce(index, false), sealed, AAD)) !== undefined;
  if (inner || short || sealed.length === 0) {
    throw new AttachmentError(`the blob ends before its final chunk (after ${inner ? index + 1 : index} chunks)`, {
      code: 'attachment_truncated',
      details: { chunk: index },
    });
  }
  throw new AttachmentError(`the final chunk (${index}) does not authenticate`, { code: 'attachment_tampered', details: { chunk: index } });
}

function sizeMismatch(plainBytes: number, cipherBytes: number, sealed: SealedBlobInfo): AttachmentError {
  return new AttachmentError(`the blob holds ${plainBytes} plaintext bytes (${cipherBytes} ciphertext bytes so far); the reference says ${sealed.size} (${sealed.cipherSize})`, {
    code: 'attachment_size_mismatch',
    details: { size: sealed.size, cipherSize: sealed.cipherSize, plainBytes, cipherBytes },
  });
}

/**
 * The bytes of a reference's key, hash and lengths (`invalid_encoding` / `invalid_bytes` when malformed).
 *
 * @example
 * for await (const plain of decryptStream(body, decodeSealedBlob(attachmentRef))) …
 */
export function decodeSealedBlob(ref: { readonly key: string; readonly sha256: string; readonly size: number; readonly cipherSize: number }): SealedBlobInfo {
  return {
    key: assertBytes(fromBase64(ref.key, 'key'), 'key', STREAM_KEY_SIZE),
    sha256: assertBytes(fromBase64(ref.sha256, 'sha256'), 'sha256', 32),
    size: ref.size,
    cipherSize: ref.cipherSize,
  };
}

/**
 * A reference's `key`, `sha256`, `size`, `cipherSize` fields (base64url, RFC 4648 §5) from an encryption's result.
 *
 * @example
 * const ref: EncryptedBlobRef = { blobId, mime, ...encodeSealedBlob(enc.result()) }
 */
export function encodeSealedBlob(info: SealedBlobInfo): { key: string; sha256: string; size: number; cipherSize: number } {
  return { key: toBase64Url(info.key), sha256: toBase64Url(info.sha256), size: info.size, cipherSize: info.cipherSize };
}
