/**
 * The media section's crypto, no server: MB/s of the SDK's stream encryption and decryption
 * (`encryptStream` / `decryptStream` from `@parley/core/media`, parley-stream-v1: 64 KiB chunks,
 * AES-256-GCM each, SHA-256 over the whole ciphertext) with node:crypto primitives
 * (`nodeStreamCrypto`, what `nodeRuntime` gives a device) and with the browser-safe ones
 * (`webStreamCrypto`: WebCrypto AES-GCM, `@noble/hashes` SHA-256), over the same generated
 * file. The peers, measured in the same run on the same bytes:
 * - raw AES-256-GCM on node:crypto: one `createCipheriv` fed the file in 64 KiB pieces, no
 *   hashing, no chunk framing — the physical limit of this machine;
 * - SHA-256 alone (node:crypto) over the file;
 * - the format by hand: per 64 KiB chunk a `createCipheriv` with its nonce and AAD, the tag, and
 *   SHA-256 over the output, synchronously — the work parley-stream-v1 cannot avoid, without
 *   the SDK's async iteration and copies.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { decryptStream, encryptStream, streamNonce, STREAM_AAD_LABEL, webStreamCrypto, type SealedBlobInfo, type StreamCrypto } from '@parley/core/media';
import { nodeStreamCrypto } from '@parley/core/media/node';
import { quantile } from './lib/stats.js';
import { MB, mbPerSecond, pattern, pieces, type Pattern } from './media-data.js';

/** One measured operation: the median of its runs (nearest rank, lib/stats.ts) and every run. */
export interface CryptoFigure {
  readonly name: string;
  readonly mbPerSecond: number;
  readonly runsMbPerSecond: number[];
}

export interface MediaCryptoResult {
  readonly fileBytes: number;
  readonly runs: number;
  readonly sdk: {
    readonly nodeEncrypt: CryptoFigure;
    readonly nodeDecrypt: CryptoFigure;
    readonly webEncrypt: CryptoFigure;
    readonly webDecrypt: CryptoFigure;
  };
  readonly peer: {
    readonly rawGcmEncrypt: CryptoFigure;
    readonly rawGcmDecrypt: CryptoFigure;
    readonly sha256: CryptoFigure;
    readonly formatByHandEncrypt: CryptoFigure;
  };
}

const AAD = Buffer.from(STREAM_AAD_LABEL, 'utf8');

/** Milliseconds `run` takes. */
async function timed(run: () => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

/** SDK encryption; keeps the sealed chunks for the decryption that follows. */
async function sdkEncrypt(p: Pattern, size: number, crypto: StreamCrypto): Promise<{ ms: number; sealed: Uint8Array[]; info: SealedBlobInfo }> {
  const sealed: Uint8Array[] = [];
  let info: SealedBlobInfo | undefined;
  const ms = await timed(async () => {
    const enc = encryptStream(pieces(p, size), { crypto });
    for await (const chunk of enc.ciphertext) sealed.push(chunk);
    info = enc.result();
  });
  if (info?.size !== size) throw new Error(`encrypted ${info?.size ?? 0} of ${size} bytes`);
  return { ms, sealed, info };
}

async function sdkDecrypt(sealed: readonly Uint8Array[], info: SealedBlobInfo, crypto: StreamCrypto): Promise<number> {
  let bytes = 0;
  const ms = await timed(async () => {
    for await (const plain of decryptStream(sealed, info, { crypto })) bytes += plain.length;
  });
  if (bytes !== info.size) throw new Error(`decrypted ${bytes} of ${info.size} bytes`);
  return ms;
}

/** One AES-256-GCM over the whole file, in 64 KiB pieces; keeps the output for the decryption. */
function rawEncrypt(p: Pattern, size: number, key: Buffer, iv: Buffer): { ms: number; out: Buffer[]; tag: Buffer } {
  const out: Buffer[] = [];
  let tag = Buffer.alloc(0);
  const t0 = performance.now();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  for (const piece of pieces(p, size)) out.push(cipher.update(piece));
  out.push(cipher.final());
  tag = cipher.getAuthTag();
  return { ms: performance.now() - t0, out, tag };
}

function rawDecrypt(sealed: readonly Buffer[], key: Buffer, iv: Buffer, tag: Buffer, size: number): number {
  let bytes = 0;
  const t0 = performance.now();
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  for (const piece of sealed) bytes += decipher.update(piece).length;
  bytes += decipher.final().length;
  const ms = performance.now() - t0;
  if (bytes !== size) throw new Error(`raw decryption gave ${bytes} of ${size} bytes`);
  return ms;
}

function sha256Alone(p: Pattern, size: number): number {
  const t0 = performance.now();
  const h = createHash('sha256');
  for (const piece of pieces(p, size)) h.update(piece);
  h.digest();
  return performance.now() - t0;
}

/** parley-stream-v1 written out with node:crypto, synchronously (the same bytes as the SDK's). */
function formatByHand(p: Pattern, size: number, key: Buffer): number {
  const t0 = performance.now();
  const h = createHash('sha256');
  const count = Math.max(1, Math.ceil(size / (64 * 1024)));
  let index = 0;
  for (const piece of pieces(p, size)) {
    const cipher = createCipheriv('aes-256-gcm', key, streamNonce(index, index === count - 1), { authTagLength: 16 });
    cipher.setAAD(AAD);
    h.update(cipher.update(piece));
    h.update(cipher.final());
    h.update(cipher.getAuthTag());
    index++;
  }
  h.digest();
  return performance.now() - t0;
}

function figure(name: string, size: number, ms: readonly number[]): CryptoFigure {
  const runs = ms.map((m) => mbPerSecond(size, m));
  return { name, mbPerSecond: quantile(runs, 0.5), runsMbPerSecond: runs };
}

/**
 * Every operation `runs` times over a file of `size` bytes, interleaved (one round of each
 * operation, then the next round), after a warm-up round on 4 MB.
 *
 * @example
 * const crypto = await runMediaCrypto({ size: 16 * MB, runs: 2, onProgress: console.log });
 */
export async function runMediaCrypto(o: { size: number; runs: number; onProgress: (line: string) => void }): Promise<MediaCryptoResult> {
  const p = pattern();
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const names = ['nodeEncrypt', 'nodeDecrypt', 'webEncrypt', 'webDecrypt', 'rawGcmEncrypt', 'rawGcmDecrypt', 'sha256', 'formatByHandEncrypt'] as const;
  const ms = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<(typeof names)[number], number[]>;
  const round = async (size: number, record: boolean) => {
    const add = (name: (typeof names)[number], m: number) => {
      if (record) ms[name].push(m);
    };
    const raw = rawEncrypt(p, size, key, iv);
    add('rawGcmEncrypt', raw.ms);
    add('rawGcmDecrypt', rawDecrypt(raw.out, key, iv, raw.tag, size));
    raw.out.length = 0;
    add('sha256', sha256Alone(p, size));
    add('formatByHandEncrypt', formatByHand(p, size, key));
    for (const [label, crypto] of [
      ['node', nodeStreamCrypto],
      ['web', webStreamCrypto],
    ] as const) {
      const enc = await sdkEncrypt(p, size, crypto);
      add(`${label}Encrypt`, enc.ms);
      add(`${label}Decrypt`, await sdkDecrypt(enc.sealed, enc.info, crypto));
      enc.sealed.length = 0;
    }
  };
  await round(4 * MB, false);
  for (let r = 0; r < o.runs; r++) {
    await round(o.size, true);
    const last = (n: (typeof names)[number]) => mbPerSecond(o.size, ms[n].at(-1)!);
    o.onProgress(
      `media/crypto round ${r + 1}/${o.runs} (${o.size / MB} MB): SDK node enc ${last('nodeEncrypt')} dec ${last('nodeDecrypt')}, SDK web enc ${last('webEncrypt')} dec ${last('webDecrypt')}, raw GCM enc ${last('rawGcmEncrypt')} dec ${last('rawGcmDecrypt')}, SHA-256 ${last('sha256')}, format by hand ${last('formatByHandEncrypt')} MB/s`,
    );
  }
  return {
    fileBytes: o.size,
    runs: o.runs,
    sdk: {
      nodeEncrypt: figure('SDK encryptStream, nodeStreamCrypto', o.size, ms.nodeEncrypt),
      nodeDecrypt: figure('SDK decryptStream (verified), nodeStreamCrypto', o.size, ms.nodeDecrypt),
      webEncrypt: figure('SDK encryptStream, webStreamCrypto (WebCrypto + @noble/hashes)', o.size, ms.webEncrypt),
      webDecrypt: figure('SDK decryptStream (verified), webStreamCrypto (WebCrypto + @noble/hashes)', o.size, ms.webDecrypt),
    },
    peer: {
      rawGcmEncrypt: figure('raw AES-256-GCM, one createCipheriv, 64 KiB pieces, no hash', o.size, ms.rawGcmEncrypt),
      rawGcmDecrypt: figure('raw AES-256-GCM, one createDecipheriv, 64 KiB pieces, no hash', o.size, ms.rawGcmDecrypt),
      sha256: figure('SHA-256 alone (node:crypto)', o.size, ms.sha256),
      formatByHandEncrypt: figure('parley-stream-v1 by hand: createCipheriv per 64 KiB chunk + SHA-256, synchronous', o.size, ms.formatByHandEncrypt),
    },
  };
}
