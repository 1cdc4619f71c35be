/**
 * The page's whole-blob decryptor (core/src/web/attachment-stream.js, served as
 * /assets/attachment-stream.js) against the SDK's streaming encryptor (core/src/media/
 * stream-aead.ts): the same bytes open to the same plaintext, at chunk boundaries too, and
 * every kind of damage fails with its code before any byte is released.
 */
import { describe, expect, it } from 'vitest';
import { encodeSealedBlob, encryptStream } from '@parley/core/media';
import { AttachmentStreamError, MAX_WEB_ATTACHMENT_BYTES, attachmentCipherSize, openAttachment } from '@parley/core/attachment-stream';

async function seal(plain: Uint8Array): Promise<{ blob: Uint8Array; ref: { key: string; sha256: string; size: number; cipherSize: number } }> {
  const encrypted = encryptStream([plain]);
  const pieces: Uint8Array[] = [];
  for await (const piece of encrypted.ciphertext) pieces.push(piece);
  const blob = new Uint8Array(Buffer.concat(pieces));
  return { blob, ref: encodeSealedBlob(await encrypted.result()) };
}

function bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) % 256;
  return out;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'opened';
  } catch (error) {
    expect(error).toBeInstanceOf(AttachmentStreamError);
    return (error as AttachmentStreamError).code;
  }
}

describe('attachment-stream.js (the page decryptor)', () => {
  it('opens what the SDK sealed, at every chunk boundary', async () => {
    for (const n of [0, 1, 65535, 65536, 65537, 131072, 200_000]) {
      const plain = bytes(n);
      const { blob, ref } = await seal(plain);
      expect(blob.length).toBe(attachmentCipherSize(n));
      expect(Buffer.from(await openAttachment(blob, ref)).equals(Buffer.from(plain))).toBe(true);
    }
  });

  it('refuses damage with a code', async () => {
    const { blob, ref } = await seal(bytes(150_000));
    const flipped = blob.slice();
    flipped[70_000] = flipped[70_000]! ^ 1;
    expect(await codeOf(openAttachment(flipped, ref))).toBe('attachment_tampered');
    // Two full chunks swapped: each fails its position.
    const swapped = new Uint8Array(blob.length);
    swapped.set(blob.subarray(65552, 131104), 0);
    swapped.set(blob.subarray(0, 65552), 65552);
    swapped.set(blob.subarray(131104), 131104);
    expect(await codeOf(openAttachment(swapped, ref))).toBe('attachment_tampered');
    // Cut at a chunk boundary, with a reference that agrees (the final flag is missing).
    const cut = blob.slice(0, 131104);
    expect(await codeOf(openAttachment(cut, { ...ref, size: 131072, cipherSize: 131104 }))).toBe('attachment_tampered');
    expect(await codeOf(openAttachment(cut, ref))).toBe('attachment_truncated');
    expect(await codeOf(openAttachment(new Uint8Array([...blob, 0]), ref))).toBe('attachment_size_mismatch');
    expect(await codeOf(openAttachment(blob, { ...ref, size: ref.size + 1 }))).toBe('attachment_size_mismatch');
    // Every chunk authentic, but the reference names another hash.
    expect(await codeOf(openAttachment(blob, { ...ref, sha256: 'A'.repeat(43) }))).toBe('attachment_hash_mismatch');
    // A wrong key.
    const other = await seal(bytes(150_000));
    expect(await codeOf(openAttachment(blob, { ...ref, key: other.ref.key }))).toBe('attachment_tampered');
    expect(await codeOf(openAttachment(blob, { ...ref, cipherSize: MAX_WEB_ATTACHMENT_BYTES + 1 }))).toBe('attachment_too_large');
  });
});
