/**
 * A commitment's canonical bytes (RFC 8785), its signing message and its SHA-256, from ONE
 * canonical encoding: the core's signing message frames the canonical bytes
 * (`context ‖ 0x00 ‖ uint32 length ‖ bytes`), so the bytes are its tail. SHA-256 is
 * node:crypto's (OpenSSL), several times faster than the pure-JS hash on this hot path;
 * both compute the same function, so hashes equal `commitmentHash` from `@parley/core/audit`.
 */
import { createHash } from 'node:crypto';
import { commitmentBytes, commitmentSigningMessage, type Commitment } from '@parley/core/audit';

export interface CommitmentEncoding {
  /** The canonical commitment (what `commitmentBytes` returns). */
  readonly bytes: Uint8Array;
  /** What the sender's identity key signed (what `commitmentSigningMessage` returns). */
  readonly signingMessage: Uint8Array;
  /** SHA-256 of `bytes` (what `commitmentHash` returns). */
  readonly hash: Uint8Array;
}

/** SHA-256 through node:crypto, as a plain Uint8Array. */
export function sha256Fast(bytes: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(bytes).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * Encodes a parsed commitment once.
 *
 * @example
 * const { signingMessage, hash } = commitmentEncoding(parseCommitment(body));
 */
export function commitmentEncoding(commitment: Commitment): CommitmentEncoding {
  const signingMessage = commitmentSigningMessage(commitment);
  // The frame: the context (text, no NUL), 0x00, the body's length (uint32 BE), the body. Checked, not assumed.
  const nul = signingMessage.indexOf(0);
  const start = nul + 5;
  let bytes: Uint8Array | undefined;
  if (nul > 0 && start < signingMessage.length) {
    const length = new DataView(signingMessage.buffer, signingMessage.byteOffset + nul + 1, 4).getUint32(0);
    if (length === signingMessage.length - start) bytes = signingMessage.subarray(start);
  }
  bytes ??= commitmentBytes(commitment);
  return { bytes, signingMessage, hash: sha256Fast(bytes) };
}
