/**
 * Tree hashes and proofs computed from a log's stored hashes (see `stored-hashes.ts`): the
 * root of any tree size, RFC 9162 §2.1.3.1 inclusion proofs and §2.1.4.1 consistency proofs,
 * each from one read of at most O(log n) hashes. The same functions run client-side over
 * a `TileHashReader`.
 */
import { InvalidInputError } from '../errors.js';
import { emptyRoot, nodeHash } from './merkle.js';
import { assertSafeIndex, largestPowerOfTwoAtMost, largestPowerOfTwoBelow, log2Exact } from './safe-int.js';
import { readStoredHashes, storedHashIndex, type ReadHashes } from './stored-hashes.js';

/**
 * Stored-hash indexes of the complete subtrees that make up leaves [lo, hi), largest first
 * (RFC 6962 §2.1's left-to-right decomposition). `lo` must be aligned to the first subtree.
 *
 * @example
 * subtreeStoredIndexes(0, 3) // [storedHashIndex(1, 0), storedHashIndex(0, 2)]
 * @internal Used by the tile reader; not part of the package API.
 */
export function subtreeStoredIndexes(lo: number, hi: number): number[] {
  const out: number[] = [];
  while (lo < hi) {
    const k = largestPowerOfTwoAtMost(hi - lo);
    const level = log2Exact(k);
    if (lo % k !== 0) throw new Error('tlog: unaligned subtree decomposition'); // a bug here, not bad input
    out.push(storedHashIndex(level, lo / k));
    lo += k;
  }
  return out;
}

/**
 * Folds the hashes of a decomposition (from {@link subtreeStoredIndexes}) into the subtree's
 * Merkle Tree Hash: the right-most subtrees are combined first.
 *
 * @example
 * foldSubtrees([h01, h2]) // nodeHash(h01, h2)
 * @internal
 */
export function foldSubtrees(hashes: readonly Uint8Array[]): Uint8Array {
  let h = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) h = nodeHash(hashes[i]!, h);
  return h;
}

type Range = readonly [lo: number, hi: number];

/** RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]): the ranges whose hashes form the audit path, leaf first. */
function inclusionRanges(lo: number, hi: number, m: number, out: Range[]): void {
  if (hi - lo === 1) return;
  const k = largestPowerOfTwoBelow(hi - lo);
  if (m < lo + k) {
    inclusionRanges(lo, lo + k, m, out);
    out.push([lo + k, hi]);
  } else {
    inclusionRanges(lo + k, hi, m, out);
    out.push([lo, lo + k]);
  }
}

/** RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b): `b` holds while [lo, hi) starts the old tree. */
function consistencyRanges(lo: number, hi: number, m: number, b: boolean, out: Range[]): void {
  if (m === hi) {
    if (!b) out.push([lo, hi]);
    return;
  }
  const k = largestPowerOfTwoBelow(hi - lo);
  if (m <= lo + k) {
    consistencyRanges(lo, lo + k, m, b, out);
    out.push([lo + k, hi]);
  } else {
    consistencyRanges(lo + k, hi, m, false, out);
    out.push([lo, lo + k]);
  }
}

/** Reads, in one call, every hash needed for the given ranges, and folds each range's hash. */
async function hashRanges(ranges: readonly Range[], readHashes: ReadHashes): Promise<Uint8Array[]> {
  const parts = ranges.map(([lo, hi]) => subtreeStoredIndexes(lo, hi));
  const hashes = await readStoredHashes(readHashes, parts.flat());
  const out: Uint8Array[] = [];
  let at = 0;
  for (const part of parts) {
    out.push(foldSubtrees(hashes.slice(at, at + part.length)));
    at += part.length;
  }
  return out;
}

/**
 * The root hash of the tree with `treeSize` leaves, from stored hashes (at most
 * 1 + log2(treeSize) of them, in one read). The empty tree's root is {@link emptyRoot}.
 *
 * @example
 * const root = await treeHash(size, read);
 * const checkpointText = formatCheckpoint({ origin, treeSize: size, rootHash: root });
 */
export async function treeHash(treeSize: number, readHashes: ReadHashes): Promise<Uint8Array> {
  assertSafeIndex(treeSize, 'treeSize');
  if (treeSize === 0) return emptyRoot();
  const [root] = await hashRanges([[0, treeSize]], readHashes);
  return root!;
}

/**
 * The RFC 9162 §2.1.3.1 inclusion proof (audit path) that leaf `n` is in the tree of size
 * `treeSize`, from stored hashes; checked by `verifyInclusion`. Throws
 * `tlog_invalid_input` unless 0 ≤ n < treeSize.
 *
 * @example
 * const proof = await proveRecord(treeSize, n, read);
 * verifyInclusion(leafHash(entry), n, treeSize, proof, root) // true
 */
export async function proveRecord(treeSize: number, n: number, readHashes: ReadHashes): Promise<Uint8Array[]> {
  assertSafeIndex(treeSize, 'treeSize');
  assertSafeIndex(n, 'n');
  if (n >= treeSize) throw new InvalidInputError('record index must be below the tree size', { code: 'tlog_invalid_input', details: { field: 'n' } });
  const ranges: Range[] = [];
  inclusionRanges(0, treeSize, n, ranges);
  return hashRanges(ranges, readHashes);
}

/**
 * The RFC 9162 §2.1.4.1 consistency proof that the tree of size `treeSize` extends the tree
 * of size `n`, from stored hashes; checked by `verifyConsistency`. Throws
 * `tlog_invalid_input` unless 1 ≤ n ≤ treeSize (the proof for n = treeSize is empty).
 *
 * @example
 * const proof = await proveTree(newSize, oldSize, read);
 * verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot) // true
 */
export async function proveTree(treeSize: number, n: number, readHashes: ReadHashes): Promise<Uint8Array[]> {
  assertSafeIndex(treeSize, 'treeSize');
  assertSafeIndex(n, 'n');
  if (n < 1 || n > treeSize) {
    throw new InvalidInputError('old tree size must be in [1, treeSize]', { code: 'tlog_invalid_input', details: { field: 'n' } });
  }
  const ranges: Range[] = [];
  consistencyRanges(0, treeSize, n, true, ranges);
  return hashRanges(ranges, readHashes);
}
