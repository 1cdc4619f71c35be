/** Plaintext bytes per chunk (65536). */
export declare const ATTACHMENT_CHUNK_SIZE: 65536;
/** Bytes of a GCM tag (16). */
export declare const ATTACHMENT_TAG_SIZE: 16;
/** Additional authenticated data of every chunk. */
export declare const ATTACHMENT_AAD: 'parley/v1/attachment';
/** Largest ciphertext the retrieval page decrypts in memory (32 MiB). */
export declare const MAX_WEB_ATTACHMENT_BYTES: number;

/**
 * A failed check of an attachment opened whole.
 *
 * @example
 * try { await openAttachment(blob, ref) } catch (e) { if (e instanceof AttachmentStreamError) console.log(e.code) }
 */
export declare class AttachmentStreamError extends Error {
  readonly code: 'attachment_tampered' | 'attachment_truncated' | 'attachment_hash_mismatch' | 'attachment_size_mismatch' | 'attachment_too_large';
  /** The chunk that failed (attachment_tampered). */
  readonly chunk?: number;
  constructor(code: string, message: string, chunk?: number);
}

/**
 * The ciphertext length of `size` plaintext bytes (parley-stream-v1).
 *
 * @example
 * attachmentCipherSize(0) // 16
 */
export declare function attachmentCipherSize(size: number): number;

/**
 * Decrypts a whole parley-stream-v1 blob against its reference (WebCrypto only): every chunk's
 * tag, the final flag, the SHA-256 and both sizes are checked before any byte is returned.
 *
 * @example
 * const bytes = await openAttachment(blob, ref);
 */
export declare function openAttachment(blob: Uint8Array, ref: { readonly key: string; readonly sha256: string; readonly size: number; readonly cipherSize: number }): Promise<Uint8Array>;
