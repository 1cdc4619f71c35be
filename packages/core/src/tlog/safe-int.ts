/**
 * Bit arithmetic on tree sizes and indexes held as JavaScript numbers.
 *
 * The tlog modules use `number` (a non-negative safe integer, below 2^53) for every
 * tree size, leaf index and stored-hash index: 2^53 leaves is far beyond any log, and
 * numbers keep JSON, paths and SQL parameters simple. JavaScript's bitwise operators
 * truncate to 32 bits, so every shift here is an exact division by a power of two
 * instead (exact in binary floating point for safe integers).
 *
 * Internal to `tlog/`; not exported from the package.
 */
import { InvalidInputError } from '../errors.js';

/**
 * Throws `tlog_invalid_input` unless `value` is an integer in [0, 2^53).
 *
 * @example
 * assertSafeIndex(treeSize, 'treeSize')
 */
export function assertSafeIndex(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${name} must be a non-negative safe integer`, { code: 'tlog_invalid_input', details: { field: name } });
  }
  return value;
}

/**
 * `x >> k` for a safe integer `x` (k may exceed 31).
 *
 * @example
 * shiftRight(2 ** 40, 38) // 4
 */
export function shiftRight(x: number, k: number): number {
  return Math.floor(x / 2 ** k);
}

/**
 * Number of trailing zero bits of `x` (0 for x = 0).
 *
 * @example
 * trailingZeros(12) // 2
 */
export function trailingZeros(x: number): number {
  if (x === 0) return 0;
  let count = 0;
  while (x % 2 === 0) {
    x /= 2;
    count++;
  }
  return count;
}

/**
 * True when `x` is 2^k for some k ≥ 0.
 *
 * @example
 * isPowerOfTwo(2 ** 52) // true
 */
export function isPowerOfTwo(x: number): boolean {
  return x > 0 && x === 2 ** trailingZeros(x);
}

/**
 * The largest power of two k with k < n, for n ≥ 2 — RFC 9162 §2.1.1's split point.
 *
 * @example
 * largestPowerOfTwoBelow(8) // 4
 */
export function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The largest power of two k with k ≤ n, for n ≥ 1.
 *
 * @example
 * largestPowerOfTwoAtMost(8) // 8
 */
export function largestPowerOfTwoAtMost(n: number): number {
  let k = 1;
  while (k * 2 <= n) k *= 2;
  return k;
}

/**
 * log2 of a power of two.
 *
 * @example
 * log2Exact(256) // 8
 */
export function log2Exact(k: number): number {
  return trailingZeros(k);
}
