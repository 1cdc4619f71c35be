/**
 * RFC 6962 §2.1 / RFC 9162 §2.1 Merkle tree hashing: leaf and interior-node hashes with
 * their domain separation, the empty tree's root, and a naive reference tree hash.
 *
 * The rest of the transparency-log Merkle code builds on these:
 * - `verify-proofs.ts`: the verifier, `verifyInclusion` and `verifyConsistency`
 *   (RFC 9162 §2.1.3.2 and §2.1.4.2, step by step);
 * - `stored-hashes.ts`: the server's dense numbering of every complete subtree and the hashes
 *   to persist on each append;
 * - `stored-proofs.ts`: tree hashes and proofs computed from those stored hashes.
 *
 * Hashes are 32-byte SHA-256 outputs (`Uint8Array`).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { largestPowerOfTwoBelow } from './safe-int.js';

/**
 * Size in bytes of every tree hash (SHA-256).
 *
 * @example
 * if (root.length !== HASH_SIZE) throw new Error('not a tree hash');
 */
export const HASH_SIZE = 32;

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
