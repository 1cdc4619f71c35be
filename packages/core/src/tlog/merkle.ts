/**
 * RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree hashing and proofs, for both sides of a
 * transparency log:
 *
 * - the verifier: {@link verifyInclusion} and {@link verifyConsistency}, implementing the
 *   RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms step by step;
 * - the server: a dense "stored hash" numbering of every complete subtree (Crosby and
 *   Wallach, "Efficient Data Structures for Tamper-Evident Logging", §3.3, as used by
 *   golang.org/x/mod/sumdb/tlog), the hashes to persist on each append, and tree hashes and
 *   proofs computed from previously stored hashes through a {@link ReadHashes} callback.
 *
 * Sizes and indexes are `number`s: non-negative safe integers (below 2^53). Stored-hash
 * indexes are about twice the leaf count, so the storage functions work for trees of up to
 * about 2^52 leaves. Hashes are 32-byte SHA-256 outputs (`Uint8Array`).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, equalBytes } from '../bytes.js';
import { InvalidInputError, ParleyError } from '../errors.js';
import {
  assertSafeIndex,
  isPowerOfTwo,
  largestPowerOfTwoAtMost,
  largestPowerOfTwoBelow,
  log2Exact,
  shiftRight,
  trailingZeros,
} from './safe-int.js';

/**
 * Size in bytes of every tree hash (SHA-256).
 *
 * @example
 * if (root.length !== HASH_SIZE) throw new Error('not a tree hash');
 */
export const HASH_SIZE = 32;

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

// RFC 6962 §2.1: domain separation between leaves and interior nodes (second-preimage resistance).
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = 0x01;

/**
 * The leaf hash of a log entry: SHA-256(0x00 ‖ entry) (RFC 6962 §2.1, RFC 9162 §2.1.1).
 *
 * @example
 * const h = leafHash(utf8('hello')); // 32 bytes
 */
export function leafHash(entry: Uint8Array): Uint8Array {
  assertBytes(entry, 'entry');
  return sha256.create().update(LEAF_PREFIX).update(entry).digest();
}

/**
 * The hash of an interior node: SHA-256(0x01 ‖ left ‖ right) (RFC 6962 §2.1).
 *
 * @example
 * const root = nodeHash(leafHash(a), leafHash(b)); // the root of the two-leaf tree [a, b]
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertBytes(left, 'left', HASH_SIZE);
  assertBytes(right, 'right', HASH_SIZE);
  const buf = new Uint8Array(1 + 2 * HASH_SIZE);
  buf[0] = NODE_PREFIX;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_SIZE);
  return sha256(buf);
}

/**
 * The root hash of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1, MTH({})).
 * (golang.org/x/mod/sumdb/tlog uses an all-zero hash instead; C2SP checkpoints use this.)
 *
 * @example
 * toHex(emptyRoot()) // 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/**
 * Naive reference Merkle Tree Hash, MTH(D[n]) of RFC 6962 §2.1, computed from all the leaf
 * hashes by the recursive definition. O(n) hashes per call: for tests and tiny trees.
 *
 * @example
 * rootOfLeaves([leafHash(a), leafHash(b), leafHash(c)])
 * // = nodeHash(nodeHash(leafHash(a), leafHash(b)), leafHash(c))
 */
export function rootOfLeaves(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leafHashes)) throw new InvalidInputError('leafHashes must be an array', { code: 'tlog_invalid_input' });
  leafHashes.forEach((h, i) => assertBytes(h, `leafHashes[${i}]`, HASH_SIZE));
  if (leafHashes.length === 0) return emptyRoot();
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHashes[lo]!;
    // RFC 6962 §2.1: k is the largest power of two smaller than n.
    const k = largestPowerOfTwoBelow(hi - lo);
    return nodeHash(mth(lo, lo + k), mth(lo + k, hi));
  };
  return mth(0, leafHashes.length);
}

// ---------------------------------------------------------------------------- verification

function assertProof(proof: unknown): readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new InvalidInputError('proof must be an array of hashes', { code: 'tlog_invalid_input' });
  proof.forEach((p, i) => assertBytes(p, `proof[${i}]`));
  return proof as readonly Uint8Array[];
}

function allHashSized(hashes: readonly Uint8Array[]): boolean {
  return hashes.every((h) => h.length === HASH_SIZE);
}

/**
 * Verifies an RFC 9162 §2.1.3.2 inclusion proof: that `leafHash` is leaf number `index`
 * (0-based) of the tree of `treeSize` leaves whose root is `root`. The proof is the audit
 * path, ordered from the leaf's sibling up to the root's child.
 *
 * Returns false for any proof that does not prove it — including `index >= treeSize` and
 * hashes that are not 32 bytes long, since those describe a bad proof, not bad arguments.
 * Throws `InvalidInputError` (`tlog_invalid_input` / `invalid_bytes`) only when an argument
 * has the wrong type: a size or index that is not a non-negative safe integer, or a hash
 * that is not a `Uint8Array`.
 *
 * @example
 * const ok = verifyInclusion(leafHash(entry), 5, checkpoint.treeSize, proof, checkpoint.rootHash);
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  assertBytes(leafHash, 'leafHash');
  assertSafeIndex(index, 'index');
  assertSafeIndex(treeSize, 'treeSize');
  const path = assertProof(proof);
  assertBytes(root, 'root');
  // Step 1: the leaf must be inside the tree.
  if (index >= treeSize) return false;
  if (leafHash.length !== HASH_SIZE || root.length !== HASH_SIZE || !allHashSized(path)) return false;
  // Steps 2-3.
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  // Step 4.
  for (const p of path) {
    if (sn === 0) return false; // 4a: the path is longer than the tree is deep.
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r); // 4b.i
      // 4b.ii: on the right border, skip the levels where this node has no right sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = shiftRight(sn, 1);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = shiftRight(fn, 1); // 4c
    sn = shiftRight(sn, 1);
  }
  // Step 5.
  return sn === 0 && equalBytes(r, root);
}

/**
 * Verifies an RFC 9162 §2.1.4.2 consistency proof: that the tree of `size2` leaves with root
 * `root2` extends (append-only) the tree of `size1` leaves with root `root1`.
 *
 * RFC 9162 defines consistency proofs for 0 < size1 < size2. Beyond that, as in the
 * transparency-dev/merkle reference: size1 = size2 is consistent exactly when the proof is
 * empty and the two roots are byte-for-byte equal; size1 = 0 and size1 > size2 are never
 * consistent (a client whose last checkpoint is the empty tree has nothing to check).
 *
 * Returns false for every proof that does not verify (including mis-sized hashes); throws
 * `InvalidInputError` only for arguments of the wrong type, as {@link verifyInclusion}.
 *
 * @example
 * if (!verifyConsistency(old.treeSize, now.treeSize, proof, old.rootHash, now.rootHash)) {
 *   // the log rewrote history (or the proof is wrong): keep the old checkpoint, report it
 * }
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): boolean {
  assertSafeIndex(size1, 'size1');
  assertSafeIndex(size2, 'size2');
  const given = assertProof(proof);
  assertBytes(root1, 'root1');
  assertBytes(root2, 'root2');
  if (size1 > size2 || size1 === 0) return false;
  if (size1 === size2) return given.length === 0 && equalBytes(root1, root2);
  // Step 1.
  if (given.length === 0) return false;
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE || !allHashSized(given)) return false;
  // Step 2: when the old tree is a complete subtree, its root is the proof's implicit first node.
  const path = isPowerOfTwo(size1) ? [root1, ...given] : given;
  // Step 3.
  let fn = size1 - 1;
  let sn = size2 - 1;
  // Step 4.
  while (fn % 2 === 1) {
    fn = shiftRight(fn, 1);
    sn = shiftRight(sn, 1);
  }
  // Step 5.
  let fr = path[0]!;
  let sr = path[0]!;
  // Step 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false; // 6a
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr); // 6b.i
      sr = nodeHash(c, sr); // 6b.ii
      while (fn % 2 === 0 && fn !== 0) {
        // 6b.iii
        fn /= 2;
        sn = shiftRight(sn, 1);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = shiftRight(fn, 1); // 6c
    sn = shiftRight(sn, 1);
  }
  // Step 7.
  const firstOk = equalBytes(fr, root1);
  const secondOk = equalBytes(sr, root2);
  return sn === 0 && firstOk && secondOk;
}

// ----------------------------------------------------------------------- stored hash layout

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

// ------------------------------------------------------------------- proofs from storage

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
 * `treeSize`, from stored hashes; checked by {@link verifyInclusion}. Throws
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
 * of size `n`, from stored hashes; checked by {@link verifyConsistency}. Throws
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
