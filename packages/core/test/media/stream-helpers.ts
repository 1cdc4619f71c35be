/** Shared by the parley-stream-v1 tests: deterministic piece splitting, collecting, chunk surgery. */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { STREAM_CHUNK_SIZE, STREAM_TAG_SIZE, decryptStream, encryptStream, type SealedBlobInfo, type StreamCrypto } from '../../src/media/index.js';

export const SEALED = STREAM_CHUNK_SIZE + STREAM_TAG_SIZE;

/** A small seeded PRNG (xorshift32): piece sizes that are the same on every run. */
export function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

export function random(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}

/** `bytes` as pieces of random sizes (0 included) up to `max`. */
export function* pieces(bytes: Uint8Array, seed: number, max = 150_000): Generator<Uint8Array> {
  const next = prng(seed);
  for (let at = 0; at < bytes.length; ) {
    const n = next(max + 1);
    yield bytes.subarray(at, at + n);
    at += n;
  }
  yield new Uint8Array(0);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return concat(parts);
}

/** Encrypts `plain` (in random pieces) and returns the blob with its key, hash and lengths. */
export async function seal(plain: Uint8Array, crypto: StreamCrypto, seed = 1, key?: Uint8Array): Promise<{ blob: Uint8Array; info: SealedBlobInfo }> {
  const enc = encryptStream(pieces(plain, seed), { crypto, ...(key ? { key } : {}) });
  const blob = await collect(enc.ciphertext);
  return { blob, info: enc.result() };
}

/** Decrypts, keeping what was released before an error: `{ released, error }`. */
export async function open(blob: Uint8Array, info: SealedBlobInfo, crypto: StreamCrypto, seed = 2): Promise<{ released: Uint8Array; error: unknown }> {
  const parts: Uint8Array[] = [];
  try {
    for await (const p of decryptStream(pieces(blob, seed), info, { crypto })) parts.push(p);
    return { released: concat(parts), error: undefined };
  } catch (error) {
    return { released: concat(parts), error };
  }
}

/** The sealed chunks of a blob. */
export function chunksOf(blob: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < blob.length; at += SEALED) out.push(blob.subarray(at, at + SEALED));
  return out;
}
