/**
 * The transparency-log verifier: RFC 9162 §2.1.3.2 inclusion and §2.1.4.2 consistency proof
 * verification, implementing the RFC's algorithms step by step (the step numbers in the
 * comments are the RFC's). Sizes and indexes are non-negative safe integers (below 2^53).
 */
import { assertBytes, equalBytes } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { HASH_SIZE, nodeHash } from './merkle.js';
import { assertSafeIndex, isPowerOfTwo, shiftRight } from './safe-int.js';

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
