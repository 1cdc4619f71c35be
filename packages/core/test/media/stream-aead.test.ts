/**
 * parley-stream-v1 (docs/attachments.md): round trips at the chunk-boundary sizes with input and
 * ciphertext in random pieces, on both primitive sets (WebCrypto + @noble/hashes, node:crypto),
 * which must produce the same bytes; and a known-answer check of the format computed here with
 * node:crypto alone (nonce layout, AAD, final flag, tag placement, hash).
 */
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  STREAM_AAD_LABEL,
  STREAM_CHUNK_SIZE,
  decodeSealedBlob,
  encodeSealedBlob,
  encryptStream,
  streamCipherSize,
  streamNonce,
  webStreamCrypto,
  type StreamCrypto,
} from '../../src/media/index.js';
import { nodeStreamCrypto } from '../../src/media/stream-aead.node.js';
import { EncryptedBlobRefSchema } from '../../src/media/index.js';
import { Compile } from 'typebox/compile';
import { chunksOf, collect, open, random, seal, SEALED } from './stream-helpers.js';

const CRYPTOS: readonly [string, StreamCrypto][] = [
  ['webcrypto', webStreamCrypto],
  ['node:crypto', nodeStreamCrypto],
];
const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 1_000_003];

/** The format, written out with node:crypto only (what docs/attachments.md tells a reader to do). */
function referenceEncrypt(key: Uint8Array, plain: Uint8Array): Uint8Array {
  const chunks: Uint8Array[] = [];
  const count = Math.max(1, Math.ceil(plain.length / STREAM_CHUNK_SIZE));
  for (let i = 0; i < count; i++) {
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(i, 5, 6); // the low 6 of the 11 index bytes
    nonce[11] = i === count - 1 ? 1 : 0;
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from('parley/v1/attachment', 'utf8'));
    const body = Buffer.concat([cipher.update(plain.subarray(i * STREAM_CHUNK_SIZE, (i + 1) * STREAM_CHUNK_SIZE)), cipher.final()]);
    chunks.push(Buffer.concat([body, cipher.getAuthTag()]));
  }
  return new Uint8Array(Buffer.concat(chunks));
}

/** docs/attachments.md, "Decrypting with node:crypto alone", as written there. */
function referenceDecrypt(ref: { key: string; sha256: string; size: number; cipherSize: number }, blob: Buffer): Buffer {
  const key = Buffer.from(ref.key, 'base64url');
  if (blob.length !== ref.cipherSize) throw new Error('attachment_size_mismatch');
  if (!createHash('sha256').update(blob).digest().equals(Buffer.from(ref.sha256, 'base64url'))) throw new Error('attachment_hash_mismatch');
  const out: Buffer[] = [];
  const count = Math.max(1, Math.ceil(ref.size / 65536));
  for (let i = 0; i < count; i++) {
    const sealed = blob.subarray(i * 65552, Math.min((i + 1) * 65552, blob.length));
    const nonce = Buffer.alloc(12);
    nonce.writeUIntBE(i, 5, 6);
    nonce[11] = i === count - 1 ? 1 : 0;
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(Buffer.from('parley/v1/attachment', 'utf8'));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    out.push(d.update(sealed.subarray(0, sealed.length - 16)), d.final());
  }
  return Buffer.concat(out);
}

describe('parley-stream-v1 format', () => {
  it('sizes: one tag per 64 KiB chunk, one chunk at least', () => {
    expect([0, 1, 65535, 65536, 65537, 3 * 65536, 3 * 65536 + 1].map(streamCipherSize)).toEqual([16, 17, 65551, 65552, 65569, 3 * 65552, 3 * 65552 + 17]);
    expect(() => streamCipherSize(-1)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });

  it('nonces: 11-byte big-endian index and the final flag', () => {
    expect(Buffer.from(streamNonce(0, false)).toString('hex')).toBe('000000000000000000000000');
    expect(Buffer.from(streamNonce(1, true)).toString('hex')).toBe('000000000000000000000101');
    expect(Buffer.from(streamNonce(0x0102030405, false)).toString('hex')).toBe('000000000000010203040500');
    expect(Buffer.from(streamNonce(2 ** 40 + 7, true)).toString('hex')).toBe('000000000001000000000701');
    expect(STREAM_AAD_LABEL).toBe('parley/v1/attachment');
  });

  for (const [name, crypto] of CRYPTOS) {
    it(`known answer (${name}): equals the format computed with createCipheriv and createHash`, async () => {
      const key = random(32);
      for (const size of [0, 10, 65536, 65536 * 2 + 5]) {
        const plain = random(size);
        const { blob, info } = await seal(plain, crypto, size + 3, key);
        const expected = referenceEncrypt(key, plain);
        expect(Buffer.from(blob).equals(Buffer.from(expected)), `size ${size}`).toBe(true);
        expect(Buffer.from(info.sha256).equals(createHash('sha256').update(expected).digest())).toBe(true);
        expect(info).toMatchObject({ size, cipherSize: streamCipherSize(size) });
      }
    });
  }

  for (const [name, crypto] of CRYPTOS) {
    it(`the documented node:crypto decryptor opens what ${name} sealed`, async () => {
      for (const size of [0, 1, 65536, 65537, 3 * 65536]) {
        const plain = random(size);
        const { blob, info } = await seal(plain, crypto, size + 5);
        expect(referenceDecrypt(encodeSealedBlob(info), Buffer.from(blob)).equals(Buffer.from(plain)), `size ${size}`).toBe(true);
      }
    });
  }

  for (const [name, crypto] of CRYPTOS) {
    for (const size of SIZES) {
      it(`round trip of ${size} bytes in random pieces (${name})`, async () => {
        const plain = random(size);
        const { blob, info } = await seal(plain, crypto, size + 11);
        expect(blob.length).toBe(streamCipherSize(size));
        expect(info.cipherSize).toBe(blob.length);
        expect(info.size).toBe(size);
        expect(chunksOf(blob).length).toBe(Math.max(1, Math.ceil(size / STREAM_CHUNK_SIZE)));
        const { released, error } = await open(blob, info, crypto, size + 13);
        expect(error).toBeUndefined();
        expect(Buffer.from(released).equals(Buffer.from(plain))).toBe(true);
      });
    }
  }

  it('WebCrypto and node:crypto produce the same bytes and open each other\'s blobs', async () => {
    const plain = random(3 * 65536 + 999);
    const key = random(32);
    const web = await seal(plain, webStreamCrypto, 5, key);
    const node = await seal(plain, nodeStreamCrypto, 6, key);
    expect(Buffer.from(web.blob).equals(Buffer.from(node.blob))).toBe(true);
    expect(web.info).toEqual(node.info);
    // Fresh keys: each side decrypts the other's.
    const a = await seal(plain, webStreamCrypto, 7);
    const b = await seal(plain, nodeStreamCrypto, 8);
    expect(Buffer.from((await open(a.blob, a.info, nodeStreamCrypto)).released).equals(Buffer.from(plain))).toBe(true);
    expect(Buffer.from((await open(b.blob, b.info, webStreamCrypto)).released).equals(Buffer.from(plain))).toBe(true);
  });

  it('a fresh 32-byte key per file; pieces are one sealed chunk each; an encrypted stream is read once', async () => {
    const one = encryptStream([random(10)]);
    const two = encryptStream([random(10)]);
    await collect(one.ciphertext);
    await collect(two.ciphertext);
    expect(one.result().key).toHaveLength(32);
    expect(Buffer.from(one.result().key).equals(Buffer.from(two.result().key))).toBe(false);

    const enc = encryptStream([random(65536 * 2), random(1)], { crypto: nodeStreamCrypto });
    expect(() => enc.result()).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    const sizes: number[] = [];
    for await (const piece of enc.ciphertext) sizes.push(piece.length);
    expect(sizes).toEqual([SEALED, SEALED, 17]);
    expect(() => enc.ciphertext[Symbol.asyncIterator]()).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });

  it('the reference fields: base64url key and hash that the AttachmentRef schema accepts, and back', async () => {
    const { info } = await seal(random(100), nodeStreamCrypto);
    const fields = encodeSealedBlob(info);
    expect(Compile(EncryptedBlobRefSchema).Check({ blobId: 'A'.repeat(22), mime: 'image/png', ...fields })).toBe(true);
    expect(decodeSealedBlob(fields)).toEqual(info);
    expect(() => decodeSealedBlob({ ...fields, key: fields.key.slice(0, -3) })).toThrow(expect.objectContaining({ code: 'invalid_bytes' }));
  });
});
