/**
 * The server side of a transparency log's Merkle tree: a dense "stored hash" numbering of
 * every complete subtree (Crosby and Wallach, "Efficient Data Structures for Tamper-Evident
 * Logging", §3.3, as used by golang.org/x/mod/sumdb/tlog), the hashes to persist on each
 * append, and reading them back through a {@link ReadHashes} callback.
 *
 * Sizes and indexes are `number`s: non-negative safe integers (below 2^53). Stored-hash
 * indexes are about twice the leaf count, so these functions work for trees of up to
 * about 2^52 leaves.
 */
import { assertBytes } from '../bytes.js';
import { InvalidInputError, ParleyError } from '../errors.js';
import { HASH_SIZE, leafHash, nodeHash } from './merkle.js';
import { assertSafeIndex, shiftRight, trailingZeros } from './safe-int.js';

/**
 * Reads previously stored hashes by stored-hash index (see {@link storedHashIndex}). Must
 * resolve to exactly one 32-byte hash per requested index, in the same order. Indexes are
 * requested in increasing order where the algorithm allows, so a range scan serves them well.
 *
 * @example
 * const store: Uint8Array[] = [];
 * const readHashes: ReadHashes = async (indexes) => indexes.map((i) => store[i]!);
 */
export type ReadHashes = (indexes: number[]) => Promise<Uint8Array[]>;

const MAX_LEVEL = 63;

function assertLevel(level: unknown): number {
  if (typeof level !== 'number' || !Number.isInteger(level) || level < 0 || level > MAX_LEVEL) {
    throw new InvalidInputError('level must be an integer in [0, 63]', { code: 'tlog_invalid_input', details: { field: 'level' } });
  }
  return level;
}

function tooLarge(field: string): InvalidInputError {
  return new InvalidInputError(`${field} is too large for a safe stored-hash index`, { code: 'tlog_invalid_input', details: { field } });
}

/**
 * Maps tree coordinates to the dense stored-hash numbering: `level` is the height above the
 * leaves (0 for leaf hashes) and `n` the subtree's position within its level; the subtree
 * covers leaves [n·2^level, (n+1)·2^level). Hashes are numbered in the order an append-only
 * log completes them, so a log can persist them in one growing array (Crosby–Wallach §3.3).
 *
 * @example
 * storedHashIndex(0, 0) // 0: leaf 0
 * storedHashIndex(0, 1) // 1: leaf 1
 * storedHashIndex(1, 0) // 2: the node over leaves 0 and 1, stored right after leaf 1
 */
export function storedHashIndex(level: number, n: number): number {
  assertLevel(level);
  assertSafeIndex(n, 'n');
  // Level L's n-th hash is stored right after level L-1's (2n+1)-th hash: walk down to level 0.
  let m = n;
  for (let l = level; l > 0; l--) {
    if (m > (Number.MAX_SAFE_INTEGER - 1) / 2) throw tooLarge('n');
    m = 2 * m + 1;
  }
  // Leaf m is stored after every hash completed by leaves 0..m-1: m + m/2 + m/4 + … of them.
  let index = 0;
  for (let x = m; x > 0; x = shiftRight(x, 1)) index += x;
  index += level;
  if (!Number.isSafeInteger(index)) throw tooLarge('n');
  return index;
}

/**
 * The inverse of {@link storedHashIndex}.
 *
 * @example
 * splitStoredHashIndex(2) // { level: 1, n: 0 }
 */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  assertSafeIndex(index, 'index');
  // storedHashIndex(0, n) ≤ 2n, so the last leaf stored at or before `index` is at least index/2.
  let n = shiftRight(index, 1);
  let leafIndex = storedHashIndex(0, n);
  for (;;) {
    // Appending leaf n stores 1 + trailingZeros(n + 1) hashes (the leaf and the subtrees it completes).
    const next = leafIndex + 1 + trailingZeros(n + 1);
    if (next > index) break;
    n++;
    leafIndex = next;
  }
  // The hash was stored with leaf n: it is (0, n), (1, n/2), (2, n/4), …
  const level = index - leafIndex;
  return { level, n: shiftRight(n, level) };
}

/**
 * The number of stored hashes of a tree with `treeSize` leaves.
 *
 * @example
 * storedHashCount(2) // 3: two leaves and their parent
 */
export function storedHashCount(treeSize: number): number {
  assertSafeIndex(treeSize, 'treeSize');
  if (treeSize === 0) return 0;
  const last = treeSize - 1;
  // The last leaf, plus one hash per subtree it completes (one per trailing 1 bit).
  return storedHashIndex(0, last) + 1 + trailingZeros(last + 1);
}

function storageError(message: string): ParleyError {
  return new ParleyError('tlog_bad_hashes', message, { status: 500 });
}

/**
 * Calls `readHashes` (skipping the call for no indexes) and checks it kept its contract; a
 * broken store throws `ParleyError` with code `tlog_bad_hashes` (status 500).
 *
 * @example
 * const [a, b] = await readStoredHashes(readHashes, [0, 1]);
 * @internal
 */
export async function readStoredHashes(readHashes: ReadHashes, indexes: number[]): Promise<Uint8Array[]> {
  if (indexes.length === 0) return [];
  const hashes: unknown = await readHashes(indexes);
  if (!Array.isArray(hashes) || hashes.length !== indexes.length) {
    throw storageError(`readHashes returned ${Array.isArray(hashes) ? hashes.length : 'no'} hashes for ${indexes.length} indexes`);
  }
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw storageError('readHashes returned a value that is not a 32-byte hash');
  }
  return hashes as Uint8Array[];
}

/**
 * The hashes a log must persist when it appends leaf `n` whose leaf hash is `recordHash`:
 * the leaf hash, then the hash of every subtree that leaf completes, bottom-up. Store them
 * at indexes `storedHashIndex(0, n)`, `+1`, `+2`, …. Reads at most log2(n) earlier hashes.
 *
 * @example
 * const stored: Uint8Array[] = [];
 * const read: ReadHashes = async (ix) => ix.map((i) => stored[i]!);
 * for (const [n, entry] of entries.entries()) stored.push(...(await storedHashesForRecordHash(n, leafHash(entry), read)));
 */
export async function storedHashesForRecordHash(n: number, recordHash: Uint8Array, readHashes: ReadHashes): Promise<Uint8Array[]> {
  assertSafeIndex(n, 'n');
  assertBytes(recordHash, 'recordHash', HASH_SIZE);
  // Each trailing 1 bit of n completes a subtree whose left sibling is already stored.
  const completes = trailingZeros(n + 1);
  const indexes: number[] = [];
  for (let level = completes - 1; level >= 0; level--) {
    indexes.push(storedHashIndex(level, shiftRight(n, level) - 1)); // increasing order
  }
  const siblings = await readStoredHashes(readHashes, indexes);
  const out = [recordHash];
  let h = recordHash;
  for (let level = 0; level < completes; level++) {
    h = nodeHash(siblings[completes - 1 - level]!, h);
    out.push(h);
  }
  return out;
}

/**
 * {@link storedHashesForRecordHash} for the entry itself.
 *
 * @example
 * stored.push(...(await storedHashes(n, entry, read)));
 */
export async function storedHashes(n: number, entry: Uint8Array, readHashes: ReadHashes): Promise<Uint8Array[]> {
  return storedHashesForRecordHash(n, leafHash(entry), readHashes);
}
