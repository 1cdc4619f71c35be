import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE, numberToBytesLE } from '@noble/curves/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../../src/bytes.js';
import { ECVRF_LENGTHS, ecvrfProofToHash, ecvrfProve, ecvrfPublicKey, ecvrfVerify } from '../../src/vrf/ecvrf.js';
import {
  Q,
  type EdwardsPoint,
  challengeGeneration,
  decodeProof,
  encodeProof,
  encodeToCurveTai,
  gammaToHash,
  nonceGeneration,
  proveWithTrace,
  stringToPoint,
  validateKey,
  verifyWithTrace,
} from '../../src/vrf/ecvrf-edwards25519.js';

const Point = ed25519.Point;
const P = Point.Fp.ORDER;

// ---------------------------------------------------------------------------
// RFC 9381 Appendix B.3 vectors, read in place from the shared directory.

const VECTORS_PATH = fileURLToPath(
  new URL('../../../../../shared/vectors/ecvrf/rfc9381-edwards25519-sha512-tai.json', import.meta.url),
);
const vectorsPresent = existsSync(VECTORS_PATH);

interface Vector {
  readonly sk: Uint8Array;
  readonly pk: Uint8Array;
  readonly alpha: Uint8Array;
  readonly pi: Uint8Array;
  readonly beta: Uint8Array;
  /** Optional intermediates: x (clamped scalar), H, k (k_string), U = k*B, V = k*H. */
  readonly x: Uint8Array | undefined;
  readonly h: Uint8Array | undefined;
  readonly k: Uint8Array | undefined;
  readonly u: Uint8Array | undefined;
  readonly v: Uint8Array | undefined;
}

function hexField(entry: Record<string, unknown>, name: string, index: number): Uint8Array | undefined {
  const value = entry[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new Error(`vector ${index}: ${name} is not a hex string`);
  return fromHex(value, `vector ${index} ${name}`);
}

function requiredHex(entry: Record<string, unknown>, name: string, index: number): Uint8Array {
  const value = hexField(entry, name, index);
  if (value === undefined) throw new Error(`vector ${index}: ${name} missing`);
  return value;
}

function loadVectors(): Vector[] {
  if (!vectorsPresent) return [];
  const parsed: unknown = JSON.parse(readFileSync(VECTORS_PATH, 'utf8'));
  const list = typeof parsed === 'object' && parsed !== null ? (parsed as { vectors?: unknown }).vectors : undefined;
  if (!Array.isArray(list)) throw new Error('vector file has no "vectors" array');
  return list.map((raw: unknown, i) => {
    if (typeof raw !== 'object' || raw === null) throw new Error(`vector ${i} is not an object`);
    const entry = raw as Record<string, unknown>;
    return {
      sk: requiredHex(entry, 'SK', i),
      pk: requiredHex(entry, 'PK', i),
      alpha: requiredHex(entry, 'alpha', i),
      pi: requiredHex(entry, 'pi', i),
      beta: requiredHex(entry, 'beta', i),
      x: hexField(entry, 'x', i),
      h: hexField(entry, 'H', i),
      k: hexField(entry, 'k', i),
      u: hexField(entry, 'U', i),
      v: hexField(entry, 'V', i),
    };
  });
}

const vectors = loadVectors();

describe.skipIf(!vectorsPresent)(
  `RFC 9381 B.3 vectors (ECVRF-EDWARDS25519-SHA512-TAI)${vectorsPresent ? '' : ` — skipped: ${VECTORS_PATH} not found`}`,
  () => {
    it('has vectors', () => {
      expect(vectors.length).toBeGreaterThan(0);
    });

    vectors.forEach((vector, i) => {
      it(`example ${16 + i} (alpha = ${JSON.stringify(toHex(vector.alpha))})`, () => {
        // SK → PK (RFC 8032 §5.1.5).
        expect(toHex(ecvrfPublicKey(vector.sk))).toBe(toHex(vector.pk));

        const trace = proveWithTrace(vector.sk, vector.alpha);
        if (vector.x !== undefined) {
          // The vector gives the clamped scalar (unreduced); ours is reduced mod q.
          expect(toHex(ed25519.utils.getExtendedPublicKey(vector.sk).head)).toBe(toHex(vector.x));
          expect(trace.x).toBe(bytesToNumberLE(vector.x) % Q);
        }
        if (vector.h !== undefined) {
          expect(toHex(trace.hString)).toBe(toHex(vector.h));
          expect(toHex(encodeToCurveTai(vector.pk, vector.alpha).toBytes())).toBe(toHex(vector.h));
        }
        if (vector.k !== undefined) {
          // The vector gives k_string (64 bytes); k = string_to_int(k_string) mod q.
          const k = bytesToNumberLE(vector.k) % Q;
          expect(trace.k).toBe(k);
          expect(nonceGeneration(vector.sk, trace.hString)).toBe(k);
        }
        if (vector.u !== undefined) expect(toHex(trace.u.toBytes())).toBe(toHex(vector.u));
        if (vector.v !== undefined) expect(toHex(trace.v.toBytes())).toBe(toHex(vector.v));

        // pi and beta.
        const pi = ecvrfProve(vector.sk, vector.alpha);
        expect(toHex(pi)).toBe(toHex(vector.pi));
        expect(toHex(trace.pi)).toBe(toHex(vector.pi));
        expect(toHex(ecvrfProofToHash(vector.pi))).toBe(toHex(vector.beta));

        // The verifier recomputes the same U and V (s*B - c*Y, s*H - c*Gamma) …
        const y = validateKey(vector.pk);
        const proof = decodeProof(vector.pi);
        if (y === undefined || proof === undefined) throw new Error('vector key or proof does not decode');
        const check = verifyWithTrace(y, vector.pk, proof, vector.alpha);
        if (vector.h !== undefined) expect(toHex(check.h.toBytes())).toBe(toHex(vector.h));
        if (vector.u !== undefined) expect(toHex(check.u.toBytes())).toBe(toHex(vector.u));
        if (vector.v !== undefined) expect(toHex(check.v.toBytes())).toBe(toHex(vector.v));
        expect(check.cPrime).toBe(proof.c);

        // … and verify returns the same beta.
        const result = ecvrfVerify(vector.pk, vector.pi, vector.alpha);
        expect(result.valid).toBe(true);
        if (result.valid) expect(toHex(result.beta)).toBe(toHex(vector.beta));
      });
    });
  },
);

// ---------------------------------------------------------------------------
// Negative cases, on a fixed key of our own (independent of the vector file).

const SK = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const PK = ecvrfPublicKey(SK);
const ALPHA = utf8('acme:customer-42');
const PI = ecvrfProve(SK, ALPHA);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

function withS(pi: Uint8Array, s: bigint): Uint8Array {
  return concatBytes(pi.subarray(0, 48), numberToBytesLE(s, 32));
}

function expectInvalidProofError(pi: Uint8Array): void {
  expect(() => ecvrfProofToHash(pi)).toThrow(
    expect.objectContaining({ code: 'vrf_invalid_proof', name: 'InvalidInputError' }),
  );
}

/** The 8 points of the 8-torsion subgroup, canonically encoded (RFC 9381 §5.4.5 lists them too). */
const SMALL_ORDER_CANONICAL = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];

/** Non-canonical encodings of small-order points: x = 0 with the sign bit set, or y ≥ p. */
const SMALL_ORDER_NON_CANONICAL = [
  '0100000000000000000000000000000000000000000000000000000000000080', // identity, x_0 = 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2, x_0 = 1
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p ≡ 0
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p ≡ 0, other x
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 ≡ 1
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p + 1, x_0 = 1
];

/** Every encoding with y ≥ p (y = p + 0 … p + 18) that a lenient (ZIP 215) decoder accepts. */
const NON_CANONICAL_Y: Uint8Array[] = (() => {
  const out: Uint8Array[] = [];
  for (let y = P; y < 2n ** 255n; y++) {
    for (const sign of [0, 0x80]) {
      const bytes = numberToBytesLE(y, 32);
      bytes[31]! |= sign;
      try {
        Point.fromBytes(bytes, true);
        out.push(bytes);
      } catch {
        // not on the curve under any decoding
      }
    }
  }
  return out;
})();

/**
 * A proof that passes the verification equations (RFC 9381 §5.3 steps 7-11) for a
 * small-order key T and any alpha, with Gamma = identity: U = s*B - c*T only depends
 * on c mod 8, so guess r = c mod ord(T) and retry until the challenge agrees.
 */
function forgeForSmallOrderKey(pkString: Uint8Array, t: EdwardsPoint, alpha: Uint8Array): Uint8Array {
  const h = encodeToCurveTai(pkString, alpha);
  for (let s = 1n; s < 1000n; s++) {
    const v = h.multiply(s);
    for (let r = 0n; r < 8n; r++) {
      const u = Point.BASE.multiply(s).subtract(t.multiplyUnsafe(r));
      const c = challengeGeneration(t, h, Point.ZERO, u, v);
      if (t.multiplyUnsafe(c).equals(t.multiplyUnsafe(r))) return encodeProof(Point.ZERO, c, s);
    }
  }
  throw new Error('no forgery found');
}

describe('ECVRF verification rejects', () => {
  it('sanity: the fixed proof verifies', () => {
    expect(PI.length).toBe(ECVRF_LENGTHS.proof);
    expect(ecvrfVerify(PK, PI, ALPHA)).toEqual({ valid: true, beta: ecvrfProofToHash(PI) });
  });

  it.each([
    ['Gamma', 0, 256],
    ['c', 256, 384],
    ['s', 384, 640],
  ])('every single-bit flip in %s', (_name, from, to) => {
    for (let bit = from; bit < to; bit++) {
      expect(ecvrfVerify(PK, flipBit(PI, bit), ALPHA).valid, `bit ${bit}`).toBe(false);
    }
  });

  it('s ≥ q (and decoding rejects it before any curve arithmetic)', () => {
    const s = bytesToNumberLE(PI.subarray(48));
    for (const bad of [Q, s + Q, Q + 1n, 2n ** 253n, 2n ** 256n - 1n]) {
      const pi = withS(PI, bad);
      expect(decodeProof(pi)).toBeUndefined();
      expect(ecvrfVerify(PK, pi, ALPHA).valid).toBe(false);
      expectInvalidProofError(pi);
    }
    // q - 1 is the largest s that decodes; it is still the wrong s.
    expect(decodeProof(withS(PI, Q - 1n))).toBeDefined();
    expect(ecvrfVerify(PK, withS(PI, Q - 1n), ALPHA).valid).toBe(false);
  });

  it('a wrong alpha', () => {
    const wrong = [new Uint8Array(0), utf8('acme:customer-43'), utf8('acme:customer-42 '), concatBytes(ALPHA, new Uint8Array(1))];
    for (const alpha of wrong) {
      expect(ecvrfVerify(PK, PI, alpha).valid).toBe(false);
    }
  });

  it('a wrong public key', () => {
    const other = ecvrfPublicKey(new Uint8Array(32).fill(7));
    expect(ecvrfVerify(other, PI, ALPHA).valid).toBe(false);
    // The right point plus an 8-torsion component passes validate_key (RFC 9381 §5.4.5
    // checks only cofactor*Y ≠ identity) but not verification.
    const mixed = Point.fromBytes(PK).add(Point.fromHex(SMALL_ORDER_CANONICAL[4]!)).toBytes();
    expect(validateKey(mixed)).toBeDefined();
    expect(ecvrfVerify(mixed, PI, ALPHA).valid).toBe(false);
  });

  it('all 8 small-order public keys (and their non-canonical encodings), even with a proof that satisfies the equations', () => {
    // The list is the whole 8-torsion subgroup: 8 distinct points, each killed by 8.
    const points = SMALL_ORDER_CANONICAL.map((hex) => Point.fromHex(hex));
    for (const p of points) expect(p.multiplyUnsafe(8n).is0()).toBe(true);
    expect(new Set(points.map((p) => p.toHex())).size).toBe(8);
    expect(points.map((p) => p.toHex())).toEqual(SMALL_ORDER_CANONICAL);

    const encodings = [...SMALL_ORDER_CANONICAL, ...SMALL_ORDER_NON_CANONICAL];
    for (const hex of encodings) {
      const pk = fromHex(hex);
      const t = Point.fromBytes(pk, true); // lenient, to build the forgery
      expect(t.isSmallOrder()).toBe(true);
      expect(validateKey(pk), hex).toBeUndefined();

      const alpha = utf8(`any identity ${hex}`);
      const forged = forgeForSmallOrderKey(pk, t, alpha);
      const decoded = decodeProof(forged);
      if (decoded === undefined) throw new Error('forgery does not decode');
      // Without ECVRF_validate_key this would verify, with beta independent of alpha.
      expect(verifyWithTrace(t, pk, decoded, alpha).cPrime).toBe(decoded.c);
      expect(ecvrfProofToHash(forged)).toEqual(gammaToHash(Point.ZERO));
      expect(ecvrfVerify(pk, forged, alpha), hex).toEqual({ valid: false });
    }
  });

  it('non-canonical point encodings, as the public key and as Gamma', () => {
    const nonCanonical = [
      ...NON_CANONICAL_Y,
      ...SMALL_ORDER_NON_CANONICAL.slice(0, 2).map((hex) => fromHex(hex)), // x = 0 with x_0 = 1
    ];
    // y = p … p + 18 with both signs: the lenient decoder accepts 24 of the 38.
    expect(NON_CANONICAL_Y.length).toBe(24);
    for (const enc of nonCanonical) {
      const label = toHex(enc);
      expect(() => Point.fromBytes(enc, true), label).not.toThrow();
      expect(stringToPoint(enc), label).toBeUndefined();
      expect(validateKey(enc), label).toBeUndefined();
      expect(ecvrfVerify(enc, PI, ALPHA).valid, label).toBe(false);

      const pi = concatBytes(enc, PI.subarray(32));
      expect(decodeProof(pi), label).toBeUndefined();
      expect(ecvrfVerify(PK, pi, ALPHA).valid, label).toBe(false);
      expectInvalidProofError(pi);
    }
  });

  it('wrong lengths and non-byte arguments, without throwing', () => {
    const notBytes = 'not bytes' as unknown as Uint8Array;
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [PK.subarray(0, 31), PI, ALPHA],
      [concatBytes(PK, new Uint8Array(1)), PI, ALPHA],
      [new Uint8Array(0), PI, ALPHA],
      [PK, PI.subarray(0, 79), ALPHA],
      [PK, concatBytes(PI, new Uint8Array(1)), ALPHA],
      [PK, new Uint8Array(0), ALPHA],
      [notBytes, PI, ALPHA],
      [PK, notBytes, ALPHA],
      [PK, PI, notBytes],
    ];
    for (const [pk, pi, alpha] of cases) expect(ecvrfVerify(pk, pi, alpha)).toEqual({ valid: false });
    for (const pi of [PI.subarray(0, 79), concatBytes(PI, new Uint8Array(1)), new Uint8Array(0), notBytes]) {
      expectInvalidProofError(pi);
    }
  });

  it('prove and public key derivation check their inputs', () => {
    for (const sk of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(() => ecvrfProve(sk, ALPHA)).toThrow(expect.objectContaining({ code: 'invalid_bytes' }));
      expect(() => ecvrfPublicKey(sk)).toThrow(expect.objectContaining({ code: 'invalid_bytes' }));
    }
    expect(() => ecvrfProve(SK, 'x' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'invalid_bytes' }));
  });
});

// ---------------------------------------------------------------------------
// Properties.

const secretKeyArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const alphaArb = fc.uint8Array({ maxLength: 80 });

describe('ECVRF properties', () => {
  it('prove → verify round-trips, with beta = proof_to_hash(pi)', () => {
    fc.assert(
      fc.property(secretKeyArb, alphaArb, (sk, alpha) => {
        const pk = ecvrfPublicKey(sk);
        expect(pk).toEqual(ed25519.getPublicKey(sk));
        const pi = ecvrfProve(sk, alpha);
        expect(pi.length).toBe(ECVRF_LENGTHS.proof);
        const beta = ecvrfProofToHash(pi);
        expect(beta.length).toBe(ECVRF_LENGTHS.output);
        expect(ecvrfVerify(pk, pi, alpha)).toEqual({ valid: true, beta });
      }),
      { numRuns: 60 },
    );
  });

  it('a proof does not verify for any other alpha', () => {
    fc.assert(
      fc.property(secretKeyArb, alphaArb, alphaArb, (sk, alpha, other) => {
        fc.pre(toHex(alpha) !== toHex(other));
        expect(ecvrfVerify(ecvrfPublicKey(sk), ecvrfProve(sk, alpha), other).valid).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('beta is deterministic and differs across alphas', () => {
    fc.assert(
      fc.property(secretKeyArb, alphaArb, alphaArb, (sk, a1, a2) => {
        fc.pre(toHex(a1) !== toHex(a2));
        const pi1 = ecvrfProve(sk, a1);
        expect(ecvrfProve(sk, a1)).toEqual(pi1);
        const beta1 = ecvrfProofToHash(pi1);
        const beta2 = ecvrfProofToHash(ecvrfProve(sk, a2));
        expect(toHex(beta1)).not.toBe(toHex(beta2));
      }),
      { numRuns: 40 },
    );
  });

  it('proof codec: decode accepts exactly strict Gamma with s < q, and re-encodes to the same bytes', () => {
    const gammaArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
    const cArb = fc.uint8Array({ minLength: 16, maxLength: 16 });
    const sArb = fc.oneof(fc.bigInt({ min: 0n, max: Q - 1n }), fc.bigInt({ min: Q, max: 2n ** 256n - 1n }));
    fc.assert(
      fc.property(gammaArb, cArb, sArb, (gamma, c, s) => {
        const pi = concatBytes(gamma, c, numberToBytesLE(s, 32));
        const decoded = decodeProof(pi);
        expect(decoded !== undefined).toBe(stringToPoint(gamma) !== undefined && s < Q);
        if (decoded === undefined) {
          expectInvalidProofError(pi);
        } else {
          expect(toHex(encodeProof(decoded.gamma, decoded.c, decoded.s))).toBe(toHex(pi));
          expect(ecvrfProofToHash(pi).length).toBe(64);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('verify never throws on arbitrary bytes', () => {
    const bytes = (max: number) => fc.uint8Array({ maxLength: max });
    const pkArb = fc.oneof(bytes(40), fc.constant(PK));
    const piArb = fc.oneof(bytes(100), fc.uint8Array({ minLength: 80, maxLength: 80 }));
    fc.assert(
      fc.property(pkArb, piArb, bytes(20), (pk, pi, alpha) => {
        expect(ecvrfVerify(pk, pi, alpha).valid).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});
