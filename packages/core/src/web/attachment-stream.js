// The attachment format (parley-stream-v1, docs/attachments.md) opened in a browser: the
// retrieval page fetches a blob's ciphertext whole and decrypts it here with WebCrypto alone
// (AES-256-GCM per 64 KiB chunk, SHA-256 over the whole ciphertext). This file is served
// unchanged to the page (/assets/attachment-stream.js); it is plain JavaScript (typed by
// attachment-stream.d.ts) and holds the whole blob in memory, so the page refuses blobs above
// MAX_WEB_ATTACHMENT_BYTES. The SDK's streaming implementation (core/src/media/stream-aead.ts)
// is the format's reference; the tests check both agree.
//
// Nothing is released unless EVERY check passed: each chunk's tag (its nonce carries its
// index and the final flag, so reordering, truncation and appended bytes fail), the whole
// ciphertext's SHA-256 and both sizes. A failure is an AttachmentStreamError with a `code`.

/** Plaintext bytes per chunk. */
export const ATTACHMENT_CHUNK_SIZE = 65536;
/** Bytes of a GCM tag. */
export const ATTACHMENT_TAG_SIZE = 16;
/** Additional authenticated data of every chunk. */
export const ATTACHMENT_AAD = 'parley/v1/attachment';
/** Largest ciphertext the page decrypts (it holds the blob and the plaintext in memory): 32 MiB. */
export const MAX_WEB_ATTACHMENT_BYTES = 32 * 1024 * 1024;

/** A failed check: `code` is attachment_tampered, attachment_truncated, attachment_hash_mismatch, attachment_size_mismatch or attachment_too_large. */
export class AttachmentStreamError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {number} [chunk]
   */
  constructor(code, message, chunk) {
    super(message);
    this.name = 'AttachmentStreamError';
    this.code = code;
    if (chunk !== undefined) this.chunk = chunk;
  }
}

/**
 * base64url (or base64) without padding to bytes.
 * @param {string} text
 * @returns {Uint8Array}
 */
function fromB64(text) {
  let s = text.replace(/-/g, '+').replace(/_/g, '/');
  while (s.length % 4) s += '=';
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The ciphertext length of `size` plaintext bytes.
 * @param {number} size
 * @returns {number}
 */
export function attachmentCipherSize(size) {
  return size + ATTACHMENT_TAG_SIZE * Math.max(1, Math.ceil(size / ATTACHMENT_CHUNK_SIZE));
}

/**
 * The 12-byte nonce of chunk `index`: the index as an 11-byte big-endian integer ‖ the final flag.
 * @param {number} index
 * @param {boolean} final
 * @returns {Uint8Array}
 */
function nonce(index, final) {
  const n = new Uint8Array(12);
  let rest = index;
  for (let i = 10; i >= 0 && rest > 0; i--) {
    n[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  n[11] = final ? 1 : 0;
  return n;
}

/**
 * Decrypts a whole blob against its reference; rejects with an AttachmentStreamError.
 * @param {Uint8Array} blob the ciphertext as stored
 * @param {{ key: string, sha256: string, size: number, cipherSize: number }} ref
 * @returns {Promise<Uint8Array>} exactly `ref.size` bytes
 */
export async function openAttachment(blob, ref) {
  const subtle = globalThis.crypto.subtle;
  if (ref.cipherSize > MAX_WEB_ATTACHMENT_BYTES) throw new AttachmentStreamError('attachment_too_large', 'the attachment is too large to open in a browser');
  if (!Number.isSafeInteger(ref.size) || ref.size < 0 || attachmentCipherSize(ref.size) !== ref.cipherSize) {
    throw new AttachmentStreamError('attachment_size_mismatch', "the reference's sizes disagree");
  }
  if (blob.length !== ref.cipherSize) {
    if (blob.length < ref.cipherSize) throw new AttachmentStreamError('attachment_truncated', 'the attachment ended early');
    throw new AttachmentStreamError('attachment_size_mismatch', 'the attachment is longer than its reference says');
  }
  const key = fromB64(ref.key);
  const expected = fromB64(ref.sha256);
  if (key.length !== 32 || expected.length !== 32) throw new AttachmentStreamError('attachment_size_mismatch', 'bad key or hash in the reference');
  const cryptoKey = await subtle.importKey('raw', key, { name: 'AES-GCM' }, false, ['decrypt']);
  key.fill(0);
  const aad = new TextEncoder().encode(ATTACHMENT_AAD);
  const count = Math.max(1, Math.ceil(ref.size / ATTACHMENT_CHUNK_SIZE));
  const sealedChunk = ATTACHMENT_CHUNK_SIZE + ATTACHMENT_TAG_SIZE;
  const plain = new Uint8Array(ref.size);
  for (let i = 0; i < count; i++) {
    const sealed = blob.subarray(i * sealedChunk, Math.min((i + 1) * sealedChunk, blob.length));
    let opened;
    try {
      opened = new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce(i, i === count - 1), additionalData: aad, tagLength: 128 }, cryptoKey, sealed));
    } catch {
      plain.fill(0);
      throw new AttachmentStreamError('attachment_tampered', `chunk ${i} does not authenticate`, i);
    }
    plain.set(opened, i * ATTACHMENT_CHUNK_SIZE);
  }
  const digest = new Uint8Array(await subtle.digest('SHA-256', blob));
  let same = 0;
  for (let i = 0; i < 32; i++) same |= digest[i] ^ expected[i];
  if (same !== 0) {
    plain.fill(0);
    throw new AttachmentStreamError('attachment_hash_mismatch', "the attachment's SHA-256 is not the reference's");
  }
  return plain;
}
