/**
 * The `Range` header of a blob download (RFC 9110 §14): one range of bytes only —
 * `bytes=a-b`, `bytes=a-`, `bytes=-n`. Anything else that names ranges (several, another
 * unit, a malformed one) and a range that selects nothing of the blob are 416
 * `range_not_satisfiable` (with `Content-Range: bytes *\/size`, set by the route).
 */
import { ParleyError } from '@parley/core';

/** A satisfiable range, both ends inclusive; `partial`: the answer is 206. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
  readonly partial: boolean;
}

/** Longest Range header read (anything longer is no single range). */
const MAX_HEADER = 64;
const SINGLE = /^bytes=(?:(\d{1,16})-(\d{0,16})|-(\d{1,16}))$/;

function unsatisfiable(size: number): ParleyError {
  return new ParleyError('range_not_satisfiable', 'send one range of bytes within the blob: bytes=a-b, bytes=a- or bytes=-n', {
    status: 416,
    details: { size },
  });
}

/**
 * The bytes a GET with `header` answers, for a blob of `size` (≥ 1) bytes.
 *
 * @example
 * byteRange('bytes=-10', 100) // { start: 90, end: 99, partial: true }
 * byteRange(undefined, 100)   // { start: 0, end: 99, partial: false }
 */
export function byteRange(header: string | string[] | undefined, size: number): ByteRange {
  if (header === undefined) return { start: 0, end: size - 1, partial: false };
  if (Array.isArray(header) || header.length > MAX_HEADER) throw unsatisfiable(size);
  const m = SINGLE.exec(header.trim());
  if (!m) throw unsatisfiable(size);
  const [, first, last, suffix] = m;
  if (suffix !== undefined) {
    const n = Number(suffix);
    if (n === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - n), end: size - 1, partial: true };
  }
  const start = Number(first);
  const end = last === undefined || last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== undefined && last !== '' && Number(last) < start)) throw unsatisfiable(size);
  return { start, end, partial: true };
}
