/**
 * The typed failure of an attachment's decryption (stream-aead.ts, docs/attachments.md): the
 * receiving side names what was wrong with the blob, never what it contained. Every one of
 * these means "do not use this file": a consumer that already received earlier plaintext
 * chunks discards them.
 */
import { ParleyError } from '../errors.js';

/**
 * What was wrong with an attachment's blob:
 *
 * - `attachment_tampered`: a chunk failed authentication (modified, swapped, reordered, wrong
 *   key, or data after the final chunk);
 * - `attachment_truncated`: the stream ended before a final chunk;
 * - `attachment_hash_mismatch`: the SHA-256 of the whole ciphertext is not the reference's;
 * - `attachment_size_mismatch`: the plaintext or ciphertext length is not the reference's.
 *
 * @example
 * const fatal: readonly AttachmentErrorCode[] = ['attachment_tampered', 'attachment_hash_mismatch']
 */
export type AttachmentErrorCode = 'attachment_tampered' | 'attachment_truncated' | 'attachment_hash_mismatch' | 'attachment_size_mismatch';

/**
 * An attachment's blob does not decrypt to what its reference promises (status 400).
 * `details` may say which chunk (`chunk`, 0-based) or which lengths disagreed.
 *
 * @example
 * try { for await (const piece of decryptStream(body, sealed)) out.write(piece) }
 * catch (e) { if (e instanceof AttachmentError) discardPartialFile(e.code) }
 */
export class AttachmentError extends ParleyError {
  declare readonly code: AttachmentErrorCode;

  constructor(message: string, options: { code: AttachmentErrorCode; details?: Record<string, unknown>; cause?: unknown }) {
    super(options.code, message, {
      status: 400,
      ...(options.details ? { details: options.details } : {}),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.name = 'AttachmentError';
  }
}
