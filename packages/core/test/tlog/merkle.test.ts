/**
 * RFC 6962/9162 Merkle hashing and proofs: the transparency-dev/merkle vectors from
 * ../shared/vectors/rfc6962-merkle (read in place), and property tests of the storage-based
 * server functions against naive reference implementations.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBase64, toHex, utf8 } from '../../src/bytes.js';
import { isParleyError } from '../../src/errors.js';
import {
  emptyRoot,
  leafHash,
  nodeHash,
  proveRecord,
  proveTree,
  rootOfLeaves,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../../src/tlog/index.js';
import { HAVE_VECTORS, MemoryLog, VECTOR_DIR, expectCode, expectRejectCode, flipBit, naiveConsistencyProof, naiveInclusionProof } from './helpers.js';

// ------------------------------------------------------------------------------- vectors

const MERKLE_DIR = new URL('rfc6962-merkle/', VECTOR_DIR);
if (!HAVE_VECTORS) console.warn(`tlog: vectors not found at ${fileURLToPath(VECTOR_DIR)}; skipping vector tests`);

function jsonFiles(dir: URL): string[] {
  const root = fileURLToPath(dir);
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(root + rel).sort()) {
      const path = rel + name;
      if (statSync(root + path).isDirectory()) walk(`${path}/`);
      else if (name.endsWith('.json')) out.push(path);
    }
  };
  walk('');
  return out;
}

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

const b64 = (s: string): Uint8Array => fromBase64(s);

/** wantErr ⇒ false or a typed (ParleyError) throw; !wantErr ⇒ true. */
function outcome(run: () => boolean): 'ok' | 'rejected' {
  try {
    return run() ? 'ok' : 'rejected';
  } catch (error) {
    if (!isParleyError(error)) throw error;
    return 'rejected';
  }
}

describe.skipIf(!HAVE_VECTORS)('RFC 6962 vectors (transparency-dev/merkle)', () => {
  const inclusion = HAVE_VECTORS ? jsonFiles(new URL('inclusion/', MERKLE_DIR)) : [];
  const consistency = HAVE_VECTORS ? jsonFiles(new URL('consistency/', MERKLE_DIR)) : [];

  it('finds the vector files', () => {
    expect(inclusion.length).toBeGreaterThanOrEqual(90);
    expect(consistency.length).toBeGreaterThanOrEqual(90);
  });

  it.each(inclusion)('inclusion/%s', (file) => {
    const v = JSON.parse(readFileSync(new URL(`inclusion/${file}`, MERKLE_DIR), 'utf8')) as InclusionVector;
    const result = outcome(() => verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64), b64(v.root)));
    expect(result, v.desc).toBe(v.wantErr ? 'rejected' : 'ok');
  });

  it.each(consistency)('consistency/%s', (file) => {
    const v = JSON.parse(readFileSync(new URL(`consistency/${file}`, MERKLE_DIR), 'utf8')) as ConsistencyVector;
    const result = outcome(() => verifyConsistency(v.size1, v.size2, (v.proof ?? []).map(b64), b64(v.root1), b64(v.root2)));
    expect(result, v.desc).toBe(v.wantErr ? 'rejected' : 'ok');
  });
});

// ---------------------------------------------------------------------------- hashing

describe('RFC 6962 §2.1 hashing', () => {
  it('hashes the empty tree, leaves and nodes with domain separation', () => {
    expect(toHex(emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // RFC 6962 test data (transparency-dev/merkle roots[0]): the one-leaf tree over the empty entry.
    expect(toHex(leafHash(new Uint8Array(0)))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
    const a = leafHash(utf8('a'));
    const b = leafHash(utf8('b'));
    expect(nodeHash(a, b)).not.toEqual(nodeHash(b, a));
    expect(rootOfLeaves([a])).toEqual(a);
    expect(rootOfLeaves([a, b])).toEqual(nodeHash(a, b));
    expect(rootOfLeaves([])).toEqual(emptyRoot());
  });

  it('matches the RFC 6962 reference roots for the eight test leaves', () => {
    const leaves = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
      leafHash(Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16))),
    );
    const roots = [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
      '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
      'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    ];
    roots.forEach((root, i) => expect(toHex(rootOfLeaves(leaves.slice(0, i + 1)))).toBe(root));
  });

  it('rejects arguments of the wrong type with typed errors', () => {
    const h = leafHash(utf8('x'));
    expectCode(() => verifyInclusion(h, -1, 1, [], h), 'tlog_invalid_input');
    expectCode(() => verifyInclusion(h, 0.5, 1, [], h), 'tlog_invalid_input');
    expectCode(() => verifyInclusion(h, 0, 2 ** 53, [], h), 'tlog_invalid_input');
    expectCode(() => verifyInclusion(h, 0, 1, 'nope' as unknown as Uint8Array[], h), 'tlog_invalid_input');
    expectCode(() => verifyInclusion(h, 0, 1, [[1, 2] as unknown as Uint8Array], h), 'invalid_bytes');
    expectCode(() => verifyConsistency(1, Number.NaN, [], h, h), 'tlog_invalid_input');
    expectCode(() => nodeHash(h, new Uint8Array(31)), 'invalid_bytes');
    // Mis-sized hashes are a bad proof, not a bad call.
    expect(verifyInclusion(h.subarray(1), 0, 1, [], h.subarray(1))).toBe(false);
    expect(verifyInclusion(h, 0, 2, [new Uint8Array(33)], h)).toBe(false);
  });
});

// ------------------------------------------------------------------------ stored hashes

describe('stored hash layout', () => {
  it('numbers hashes in append order and inverts', () => {
    // Leaves 0,1 then node(1,0); leaf 2; leaf 3, node(1,1), node(2,0); …
    expect([0, 1, 2, 3].map((n) => storedHashIndex(0, n))).toEqual([0, 1, 3, 4]);
    expect(storedHashIndex(1, 0)).toBe(2);
    expect(storedHashIndex(1, 1)).toBe(5);
    expect(storedHashIndex(2, 0)).toBe(6);
    for (let index = 0; index < 5000; index++) {
      const { level, n } = splitStoredHashIndex(index);
      expect(storedHashIndex(level, n)).toBe(index);
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }).chain((level) => fc.tuple(fc.constant(level), fc.integer({ min: 0, max: 2 ** (51 - level) - 1 }))),
        ([level, n]) => {
        const index = storedHashIndex(level, n);
        expect(splitStoredHashIndex(index)).toEqual({ level, n });
        },
      ),
    );
    expect(splitStoredHashIndex(2 ** 53 - 1).level).toBeGreaterThanOrEqual(0);
    expectCode(() => storedHashIndex(60, 2 ** 52), 'tlog_invalid_input');
    expectCode(() => storedHashIndex(64, 0), 'tlog_invalid_input');
  });

  it('stores exactly storedHashCount hashes', async () => {
    const log = await MemoryLog.withSize(600);
    for (let n = 0; n <= 600; n++) {
      const count = storedHashCount(n);
      if (n === 600) expect(count).toBe(log.stored.length);
      expect(count).toBe(n === 0 ? 0 : storedHashIndex(0, n - 1) + 1 + trailingOnes(n - 1));
    }
  });

  it('refuses a store that breaks the readHashes contract', async () => {
    const log = await MemoryLog.withSize(5);
    await expectRejectCode(
      treeHash(5, async (ix) => ix.slice(1).map(() => new Uint8Array(32))),
      'tlog_bad_hashes',
    );
    await expectRejectCode(
      proveRecord(5, 1, async (ix) => ix.map(() => new Uint8Array(31))),
      'tlog_bad_hashes',
    );
    await expectRejectCode(proveRecord(5, 5, log.readHashes), 'tlog_invalid_input');
    await expectRejectCode(proveTree(5, 0, log.readHashes), 'tlog_invalid_input');
    await expectRejectCode(proveTree(5, 6, log.readHashes), 'tlog_invalid_input');
  });
});

function trailingOnes(x: number): number {
  let c = 0;
  while (x % 2 === 1) {
    c++;
    x = (x - 1) / 2;
  }
  return c;
}

// ------------------------------------------------------------------ proofs from storage

describe('proofs from stored hashes, against the naive reference tree', async () => {
  const MAX = 3000;
  const log = await MemoryLog.withSize(MAX);
  const roots = new Map<number, Uint8Array>();
  const rootAt = (n: number): Uint8Array => {
    let r = roots.get(n);
    if (r === undefined) {
      r = rootOfLeaves(log.leaves.slice(0, n));
      roots.set(n, r);
    }
    return r;
  };

  it('treeHash equals MTH for every size up to 300 and random sizes up to 3000', async () => {
    expect(await treeHash(0, log.readHashes)).toEqual(emptyRoot());
    for (let n = 1; n <= 300; n++) expect(await treeHash(n, log.readHashes)).toEqual(rootAt(n));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: MAX }), async (n) => {
        expect(await treeHash(n, log.readHashes)).toEqual(rootAt(n));
      }),
      { numRuns: 40 },
    );
  });

  it('proveRecord equals RFC 6962 PATH and verifies for all pairs in small trees', async () => {
    for (let n = 1; n <= 40; n++) {
      for (let m = 0; m < n; m++) {
        const proof = await proveRecord(n, m, log.readHashes);
        expect(proof).toEqual(naiveInclusionProof(log.leaves.slice(0, n), m));
        expect(verifyInclusion(log.leaves[m]!, m, n, proof, rootAt(n))).toBe(true);
      }
    }
  });

  it('proveTree equals RFC 6962 PROOF and verifies for all pairs in small trees', async () => {
    for (let n = 1; n <= 40; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = await proveTree(n, m, log.readHashes);
        expect(proof).toEqual(naiveConsistencyProof(log.leaves.slice(0, n), m));
        expect(verifyConsistency(m, n, proof, rootAt(m), rootAt(n))).toBe(true);
      }
    }
  });

  it('inclusion proofs verify and every tampering fails, for random (index, size)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: MAX }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }), fc.nat(255))),
        async ([n, m, bit]) => {
          const proof = await proveRecord(n, m, log.readHashes);
          const root = rootAt(n);
          const leaf = log.leaves[m]!;
          expect(verifyInclusion(leaf, m, n, proof, root)).toBe(true);
          for (let i = 0; i < proof.length; i++) expect(verifyInclusion(leaf, m, n, flipBit(proof, i, bit), root)).toBe(false);
          expect(verifyInclusion(flipBit([leaf], 0, bit)[0]!, m, n, proof, root)).toBe(false);
          expect(verifyInclusion(leaf, m, n, proof, flipBit([root], 0, bit)[0]!)).toBe(false);
          if (proof.length > 0) expect(verifyInclusion(leaf, m, n, proof.slice(0, -1), root)).toBe(false);
          expect(verifyInclusion(leaf, m, n, [...proof, root], root)).toBe(false);
          expect(verifyInclusion(leaf, m, m, proof, root)).toBe(false);
          // Another leaf of the same tree is not proven by this path.
          if (n > 1) expect(verifyInclusion(log.leaves[(m + 1) % n]!, m, n, proof, root)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('consistency proofs verify and every tampering fails, for random (m, n)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: MAX }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n), fc.nat(255))),
        async ([m, n, bit]) => {
          const proof = await proveTree(n, m, log.readHashes);
          const r1 = rootAt(m);
          const r2 = rootAt(n);
          expect(verifyConsistency(m, n, proof, r1, r2)).toBe(true);
          for (let i = 0; i < proof.length; i++) expect(verifyConsistency(m, n, flipBit(proof, i, bit), r1, r2)).toBe(false);
          expect(verifyConsistency(m, n, proof, flipBit([r1], 0, bit)[0]!, r2)).toBe(false);
          expect(verifyConsistency(m, n, proof, r1, flipBit([r2], 0, bit)[0]!)).toBe(false);
          if (proof.length > 0) {
            expect(verifyConsistency(m, n, proof.slice(0, -1), r1, r2)).toBe(false);
            expect(verifyConsistency(m, n, proof.slice(1), r1, r2)).toBe(false);
          }
          expect(verifyConsistency(m, n, [...proof, r2], r1, r2)).toBe(false);
          // A forked log: same size, one different leaf.
          if (m < n) {
            const forked = log.leaves.slice(0, n);
            forked[Math.min(m - 1, n - 1)] = leafHash(utf8('forged'));
            expect(verifyConsistency(m, n, proof, r1, rootOfLeaves(forked))).toBe(false);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads storage once per proof', async () => {
    const before = log.reads;
    await proveRecord(2999, 1234, log.readHashes);
    await proveTree(2999, 1234, log.readHashes);
    await treeHash(2999, log.readHashes);
    expect(log.reads - before).toBe(3);
  });
});
