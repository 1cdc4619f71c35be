/**
 * parley-stream-v1's decryptor against altered blobs and lying references: every alteration
 * fails with its AttachmentError code, no unverified plaintext is released, and the final
 * chunk is held back until the hash and lengths match (docs/attachments.md, "Errors").
 */
import { describe, expect, it } from 'vitest';
import { AttachmentError, STREAM_CHUNK_SIZE, streamCipherSize, webStreamCrypto, type AttachmentErrorCode, type SealedBlobInfo, type StreamCrypto } from '../../src/media/index.js';
import { isCoreErrorCode } from '../../src/index.js';
import { nodeStreamCrypto } from '../../src/media/stream-aead.node.js';
import { SEALED, chunksOf, concat, open, random, seal } from './stream-helpers.js';

const CRYPTOS: readonly [string, StreamCrypto][] = [
  ['webcrypto', webStreamCrypto],
  ['node:crypto', nodeStreamCrypto],
];

function expectCode(error: unknown, code: AttachmentErrorCode): void {
  expect(error).toBeInstanceOf(AttachmentError);
  expect((error as AttachmentError).code).toBe(code);
  expect((error as AttachmentError).name).toBe('AttachmentError');
}

describe.each(CRYPTOS)('parley-stream-v1 tampering (%s)', (_name, crypto) => {
  // Three full chunks and a short fourth; and a file whose last chunk is full.
  const plain = random(3 * STREAM_CHUNK_SIZE + 1000);
  const even = random(3 * STREAM_CHUNK_SIZE);

  it('a flipped byte in any chunk fails that chunk; only the chunks before it were released', async () => {
    const { blob, info } = await seal(plain, crypto);
    for (const [chunk, offset] of [[0, 5], [1, SEALED + 100], [2, 3 * SEALED - 1], [3, blob.length - 1], [3, 3 * SEALED + 2]] as const) {
      const bad = blob.slice();
      bad[offset]! ^= 0x01;
      const { released, error } = await open(bad, info, crypto);
      expectCode(error, 'attachment_tampered');
      expect((error as AttachmentError).details).toMatchObject({ chunk });
      expect(released.length).toBe(chunk * STREAM_CHUNK_SIZE);
      expect(Buffer.from(released).equals(Buffer.from(plain.subarray(0, released.length)))).toBe(true);
    }
  });

  it('swapped and reordered chunks fail', async () => {
    const { blob, info } = await seal(plain, crypto);
    const [c0, c1, c2, c3] = chunksOf(blob) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    for (const order of [[c1, c0, c2, c3], [c0, c2, c1, c3], [c0, c1, c3, c2], [c2, c0, c1, c3]]) {
      const { released, error } = await open(concat(order), info, crypto);
      expectCode(error, 'attachment_tampered');
      expect(released.length).toBeLessThan(plain.length);
    }
  });

  it('a stream cut at a chunk boundary (final chunk dropped) is truncated; so is one cut inside a chunk, and an empty one', async () => {
    for (const source of [plain, even]) {
      const { blob, info } = await seal(source, crypto);
      const chunks = chunksOf(blob);
      const cut = await open(concat(chunks.slice(0, -1)), info, crypto);
      expectCode(cut.error, 'attachment_truncated');
      // Chunks before the missing final one verified and were released; nothing after.
      expect(cut.released.length).toBe((chunks.length - 2) * STREAM_CHUNK_SIZE);
      expectCode((await open(blob.subarray(0, blob.length - 1), info, crypto)).error, 'attachment_truncated');
      expectCode((await open(blob.subarray(0, SEALED + 7), info, crypto)).error, 'attachment_truncated');
      expectCode((await open(new Uint8Array(0), info, crypto)).error, 'attachment_truncated');
    }
  });

  it('a chunk appended after the final one fails, with a full or a short final chunk', async () => {
    for (const source of [plain, even]) {
      const { blob, info } = await seal(source, crypto);
      const chunks = chunksOf(blob);
      for (const extra of [chunks[0]!, chunks[chunks.length - 1]!, random(10), random(SEALED)]) {
        const { released, error } = await open(concat([blob, extra]), info, crypto);
        expectCode(error, 'attachment_tampered');
        expect(released.length).toBeLessThan(source.length);
      }
    }
  });

  it('a wrong key fails the first chunk and releases nothing', async () => {
    for (const source of [plain, random(5), new Uint8Array(0)]) {
      const { blob, info } = await seal(source, crypto);
      const { released, error } = await open(blob, { ...info, key: random(32) }, crypto);
      expectCode(error, 'attachment_tampered');
      expect(released.length).toBe(0);
    }
  });

  it('a hash mismatch: every chunk authenticates, but the final chunk is never released', async () => {
    for (const source of [plain, even, random(3)]) {
      const { blob, info } = await seal(source, crypto);
      const wrong = info.sha256.slice();
      wrong[0]! ^= 0x80;
      const { released, error } = await open(blob, { ...info, sha256: wrong }, crypto);
      expectCode(error, 'attachment_hash_mismatch');
      const finalLength = source.length - (Math.ceil(source.length / STREAM_CHUNK_SIZE) - 1) * STREAM_CHUNK_SIZE;
      expect(released.length).toBe(source.length - finalLength);
    }
  });

  it('a size mismatch: a reference whose lengths are not the blob\'s, or do not agree with each other', async () => {
    const { blob, info } = await seal(plain, crypto);
    const lie = (size: number): SealedBlobInfo => ({ ...info, size, cipherSize: streamCipherSize(size) });
    for (const size of [plain.length - 1, plain.length + 1, plain.length + STREAM_CHUNK_SIZE, 3 * STREAM_CHUNK_SIZE]) {
      const { released, error } = await open(blob, lie(size), crypto);
      expectCode(error, 'attachment_size_mismatch');
      expect(released.length).toBeLessThan(plain.length);
    }
    // The reference says a smaller file: stopped as soon as more plaintext than that verified.
    const small = await open(blob, lie(1000), crypto);
    expectCode(small.error, 'attachment_size_mismatch');
    expect(small.released.length).toBe(0);
    // Lengths that contradict each other are refused before anything is read.
    expectCode((await open(blob, { ...info, cipherSize: info.cipherSize + 1 }, crypto)).error, 'attachment_size_mismatch');
  });

  it('the codes are core error codes', () => {
    for (const code of ['attachment_tampered', 'attachment_truncated', 'attachment_hash_mismatch', 'attachment_size_mismatch']) expect(isCoreErrorCode(code), code).toBe(true);
  });
});
