/**
 * Test helpers for the tlog suites: where the published vectors live, an in-memory log
 * built with the server-side storage functions, and naive RFC 6962 §2.1.1/§2.1.2 proof
 * generators (straight from the recursive definitions) to compare against.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { leafHash, rootOfLeaves } from '../../src/tlog/merkle.js';
import { storedHashesForRecordHash, type ReadHashes } from '../../src/tlog/stored-hashes.js';
import { isParleyError } from '../../src/errors.js';

/** ../shared/vectors from the repository root, read in place. */
export const VECTOR_DIR = new URL('../../../../../shared/vectors/', import.meta.url);
export const HAVE_VECTORS = existsSync(fileURLToPath(VECTOR_DIR));

/** An append-only log held in memory, persisting exactly what a server would store. */
export class MemoryLog {
  readonly leaves: Uint8Array[] = [];
  readonly stored: Uint8Array[] = [];
  reads = 0;
  readonly readHashes: ReadHashes = async (indexes) => {
    this.reads++;
    return indexes.map((i) => {
      const h = this.stored[i];
      if (h === undefined) throw new Error(`read of unstored hash ${i}`);
      return h;
    });
  };

  async append(entry: Uint8Array): Promise<void> {
    const h = leafHash(entry);
    const hashes = await storedHashesForRecordHash(this.leaves.length, h, this.readHashes);
    this.leaves.push(h);
    this.stored.push(...hashes);
  }

  static async withSize(n: number, seed = 0): Promise<MemoryLog> {
    const log = new MemoryLog();
    for (let i = 0; i < n; i++) await log.append(entryBytes(i, seed));
    return log;
  }
}

/** A deterministic, distinct entry per (i, seed). */
export function entryBytes(i: number, seed = 0): Uint8Array {
  return new TextEncoder().encode(`entry ${seed}/${i}`);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 §2.1.1 PATH(m, D[n]), naive. */
export function naiveInclusionProof(leaves: readonly Uint8Array[], m: number): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  if (m < k) return [...naiveInclusionProof(leaves.slice(0, k), m), rootOfLeaves(leaves.slice(k))];
  return [...naiveInclusionProof(leaves.slice(k), m - k), rootOfLeaves(leaves.slice(0, k))];
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), naive. */
export function naiveConsistencyProof(leaves: readonly Uint8Array[], m: number): Uint8Array[] {
  const sub = (d: readonly Uint8Array[], m: number, b: boolean): Uint8Array[] => {
    if (m === d.length) return b ? [] : [rootOfLeaves(d)];
    const k = largestPowerOfTwoBelow(d.length);
    if (m <= k) return [...sub(d.slice(0, k), m, b), rootOfLeaves(d.slice(k))];
    return [...sub(d.slice(k), m - k, false), rootOfLeaves(d.slice(0, k))];
  };
  return sub(leaves, m, true);
}

/** A copy of `proof` with one bit flipped in element `i`. */
export function flipBit(proof: readonly Uint8Array[], i: number, bit: number): Uint8Array[] {
  return proof.map((p, j) => {
    if (j !== i) return p;
    const q = p.slice();
    q[bit >> 3]! ^= 1 << (bit & 7);
    return q;
  });
}

/** Asserts `fn` throws a ParleyError with `code`. */
export function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code}`).toBeDefined();
  expect(isParleyError(thrown)).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
}

/** Asserts the promise rejects with a ParleyError with `code`. */
export async function expectRejectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toSatisfy((error: unknown) => isParleyError(error) && (error as { code: string }).code === code);
}
