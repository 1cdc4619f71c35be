/**
 * The media section's file contents: a generated stream of any length, cheap to produce and to
 * check, so that neither generating nor checking the bytes weighs on the figures. The bytes
 * repeat with a period of 1 MiB of random data (the cipher never sees a pattern: every file has
 * a fresh key, and AES-GCM's speed does not depend on the plaintext).
 */
import { randomBytes } from 'node:crypto';

/** A megabyte as the figures count it: 10^6 bytes (MB/s = bytes ÷ µs). */
export const MB = 1_000_000;

/** The pieces a file reader would hand over (Node's `fs` streams read 64 KiB at a time). */
export const PIECE_BYTES = 64 * 1024;

const PERIOD = 1 << 20;

/** One period of random bytes, twice over, so any piece of at most a period is one view. */
export interface Pattern {
  readonly bytes: Uint8Array;
}

/**
 * A fresh random pattern.
 *
 * @example
 * const p = pattern();
 */
export function pattern(): Pattern {
  const period = randomBytes(PERIOD);
  const bytes = new Uint8Array(2 * PERIOD);
  bytes.set(period, 0);
  bytes.set(period, PERIOD);
  return { bytes };
}

/**
 * The file's `size` bytes in pieces of `pieceBytes` (views into the pattern: nothing is copied).
 *
 * @example
 * for (const piece of pieces(p, 100 * MB)) hash.update(piece);
 */
export function* pieces(p: Pattern, size: number, pieceBytes = PIECE_BYTES): Generator<Uint8Array> {
  for (let at = 0; at < size; at += pieceBytes) {
    const start = at % PERIOD;
    yield p.bytes.subarray(start, start + Math.min(pieceBytes, size - at));
  }
}

/**
 * Checks that pieces read back from a download are the file's bytes, in order; the byte count.
 * Throws at the first piece that differs or is longer than a period.
 *
 * @example
 * const n = await sameBytes(p, device.attachments.download(ref));
 */
export async function sameBytes(p: Pattern, source: AsyncIterable<Uint8Array>): Promise<number> {
  let at = 0;
  for await (const piece of source) {
    if (piece.length > PERIOD) throw new Error(`a ${piece.length}-byte piece (longer than the pattern's period)`);
    const start = at % PERIOD;
    if (Buffer.compare(Buffer.from(piece.buffer, piece.byteOffset, piece.length), Buffer.from(p.bytes.buffer, p.bytes.byteOffset + start, piece.length)) !== 0) {
      throw new Error(`downloaded bytes differ from the file somewhere in [${at}, ${at + piece.length})`);
    }
    at += piece.length;
  }
  return at;
}

/**
 * MB/s of `bytes` in `ms`, with one decimal.
 *
 * @example
 * mbPerSecond(100 * MB, 812); // 123.2
 */
export function mbPerSecond(bytes: number, ms: number): number {
  return Math.round((bytes / MB / (ms / 1000)) * 10) / 10;
}
