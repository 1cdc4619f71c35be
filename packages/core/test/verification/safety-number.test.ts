import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, utf8 } from '../../src/bytes.js';
import {
  encodeScannable,
  fingerprintBytes,
  parseScannable,
  safetyNumber,
  scannableFingerprint,
  type FingerprintParty,
  type ScannableFingerprint,
} from '../../src/verification/index.js';

// The properties hold for any iteration count; a small one keeps thousands of runs fast.
const ITERATIONS = 3;

const partyArb: fc.Arbitrary<FingerprintParty> = fc.record({
  identityKey: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  stableId: fc.oneof(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 30 })),
});

const scannableArb: fc.Arbitrary<ScannableFingerprint> = fc.record({
  version: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 0xffff_ffff })),
  local: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  remote: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

const varintLength = (v: number): number => (v < 2 ** 7 ? 1 : v < 2 ** 14 ? 2 : v < 2 ** 21 ? 3 : v < 2 ** 28 ? 4 : 5);

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('fingerprintBytes', () => {
  it('is SHA-512(0x0000 ‖ key ‖ id ‖ key), then SHA-512(buf ‖ key) per further iteration', () => {
    fc.assert(
      fc.property(partyArb, fc.integer({ min: 1, max: 4 }), ({ identityKey, stableId }, n) => {
        const id = typeof stableId === 'string' ? utf8(stableId) : stableId;
        let expected = sha512(concatBytes(new Uint8Array(2), identityKey, id, identityKey));
        for (let i = 1; i < n; i++) expected = sha512(concatBytes(expected, identityKey));
        expect(fingerprintBytes(identityKey, stableId, n)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('hashes a string stable id as its UTF-8 bytes', () => {
    const key = fromHex('05'.padEnd(66, 'ab'));
    expect(fingerprintBytes(key, 'example-bank:c-1001', 2)).toEqual(fingerprintBytes(key, utf8('example-bank:c-1001'), 2));
  });

  it('rejects bad input with typed errors', () => {
    const key = new Uint8Array(33);
    expect(code(() => fingerprintBytes(new Uint8Array(0), 'x'))).toBe('invalid_bytes');
    expect(code(() => fingerprintBytes('key' as unknown as Uint8Array, 'x'))).toBe('invalid_bytes');
    expect(code(() => fingerprintBytes(key, 'x', 0))).toBe('invalid_iterations');
    expect(code(() => fingerprintBytes(key, 'x', 1.5))).toBe('invalid_iterations');
    expect(code(() => fingerprintBytes(key, 'a\uD800b', 1))).toBe('invalid_encoding');
    expect(code(() => fingerprintBytes(key, '\uD83D\uDE00', 1))).toBeUndefined();
  });
});

describe('safetyNumber', () => {
  it('is symmetric in (local, remote) and has 60 digits in 12 groups of 5', () => {
    fc.assert(
      fc.property(partyArb, partyArb, (a, b) => {
        const ab = safetyNumber({ local: a, remote: b, iterations: ITERATIONS });
        const ba = safetyNumber({ local: b, remote: a, iterations: ITERATIONS });
        expect(ab).toEqual(ba);
        expect(ab.digits).toMatch(/^[0-9]{60}$/);
        expect(ab.groups).toHaveLength(12);
        for (const g of ab.groups) expect(g).toMatch(/^[0-9]{5}$/);
        expect(ab.groups.join('')).toBe(ab.digits);
        // Each party's 30 digits, in ascending order.
        expect(ab.digits.slice(0, 30) <= ab.digits.slice(30)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('changes when any key byte of either party changes', () => {
    fc.assert(
      fc.property(partyArb, partyArb, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (a, b, index, mask, changeLocal) => {
        const target = changeLocal ? a : b;
        const key = target.identityKey.slice();
        key[index % key.length]! ^= mask;
        const changed = { ...target, identityKey: key };
        const before = safetyNumber({ local: a, remote: b, iterations: ITERATIONS }).digits;
        const after = safetyNumber(changeLocal ? { local: changed, remote: b, iterations: ITERATIONS } : { local: a, remote: changed, iterations: ITERATIONS }).digits;
        expect(after).not.toBe(before);
      }),
      { numRuns: 500 },
    );
  });

  it('uses 5200 iterations by default', () => {
    const a = { identityKey: new Uint8Array(33).fill(1), stableId: 'a' };
    const b = { identityKey: new Uint8Array(33).fill(2), stableId: 'b' };
    expect(safetyNumber({ local: a, remote: b })).toEqual(safetyNumber({ local: a, remote: b, iterations: 5200 }));
    expect(safetyNumber({ local: a, remote: b })).not.toEqual(safetyNumber({ local: a, remote: b, iterations: 5199 }));
  });
});

describe('scannable protobuf codec', () => {
  it('round-trips every fingerprint through the canonical encoding', () => {
    fc.assert(
      fc.property(scannableArb, (s) => {
        const bytes = encodeScannable(s);
        expect(bytes.length).toBe(73 + varintLength(s.version));
        expect(parseScannable(bytes)).toEqual(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('scannableFingerprint carries the first 32 bytes of each party’s hash', () => {
    fc.assert(
      fc.property(partyArb, partyArb, fc.integer({ min: 1, max: 0xffff_ffff }), (a, b, version) => {
        const parsed = parseScannable(scannableFingerprint(a, b, version, { iterations: ITERATIONS }));
        expect(parsed.version).toBe(version);
        expect(parsed.local).toEqual(fingerprintBytes(a.identityKey, a.stableId, ITERATIONS).slice(0, 32));
        expect(parsed.remote).toEqual(fingerprintBytes(b.identityKey, b.stableId, ITERATIONS).slice(0, 32));
      }),
      { numRuns: 100 },
    );
  });

  it('refuses to encode what it would not decode', () => {
    const c = new Uint8Array(32);
    for (const version of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(code(() => encodeScannable({ version, local: c, remote: c }))).toBe('invalid_fingerprint_version');
    }
    expect(code(() => encodeScannable({ version: 1, local: new Uint8Array(31), remote: c }))).toBe('invalid_bytes');
    expect(code(() => encodeScannable({ version: 1, local: c, remote: new Uint8Array(33) }))).toBe('invalid_bytes');
  });

  it('rejects every truncation', () => {
    fc.assert(
      fc.property(scannableArb, (s) => {
        const bytes = encodeScannable(s);
        for (let n = 0; n < bytes.length; n++) expect(code(() => parseScannable(bytes.subarray(0, n)))).toBe('invalid_scannable');
      }),
      { numRuns: 200 },
    );
  });

  const isCanonical = (bytes: Uint8Array): boolean => {
    let parsed: ScannableFingerprint;
    try {
      parsed = parseScannable(bytes);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('invalid_scannable');
      return false;
    }
    // Accepted bytes are exactly the canonical encoding of what they decode to.
    expect(encodeScannable(parsed)).toEqual(bytes);
    return true;
  };

  const edit = fc.oneof(
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
  );

  it('rejects every random mutation that is not a valid encoding', () => {
    fc.assert(
      fc.property(scannableArb, fc.array(edit, { minLength: 1, maxLength: 4 }), (s, edits) => {
        const bytes = [...encodeScannable(s)];
        for (const e of edits) {
          const at = e.at % (bytes.length + (e.op === 'insert' ? 1 : 0));
          if (e.op === 'set') bytes[at] = e.value;
          else if (e.op === 'insert') bytes.splice(at, 0, e.value);
          else bytes.splice(at, 1);
        }
        isCanonical(Uint8Array.from(bytes));
      }),
      { numRuns: 5000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 90 }), (bytes) => void isCanonical(bytes)), { numRuns: 2000 });
  });

  it('rejects unknown fields, wrong wire types, non-canonical forms and trailing bytes', () => {
    const c = new Uint8Array(32).fill(7);
    const good = [...encodeScannable({ version: 1, local: c, remote: c })];
    const logical = good.slice(2, 38);
    const bad: Record<string, number[]> = {
      empty: [],
      'trailing byte': [...good, 0],
      'unknown field 4': [...good, 0x20, 0x01],
      'unknown field first': [0x20, 0x01, ...good],
      'version as length-delimited': [0x0a, 0x01, 0x01, ...good.slice(2)],
      'version as fixed32': [0x0d, 1, 0, 0, 0, ...good.slice(2)],
      'local as varint': [0x08, 0x01, 0x10, 0x01, ...good.slice(38)],
      'version 0': [0x08, 0x00, ...good.slice(2)],
      'version missing': good.slice(2),
      'non-minimal version': [0x08, 0x81, 0x00, ...good.slice(2)],
      'version over 32 bits': [0x08, 0x80, 0x80, 0x80, 0x80, 0x10, ...good.slice(2)],
      'version six bytes': [0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, ...good.slice(2)],
      'fields swapped': [0x08, 0x01, 0x1a, ...logical.slice(1), 0x12, ...logical.slice(1)],
      'remote missing': good.slice(0, 38),
      'local repeated': [...good.slice(0, 38), ...good.slice(2)],
      'content 31 bytes': [0x08, 0x01, 0x12, 0x21, 0x0a, 0x1f, ...c.slice(1), 0x1a, 0x21, 0x0a, 0x1f, ...c.slice(1)],
      'content 33 bytes': [0x08, 0x01, 0x12, 0x23, 0x0a, 0x21, ...c, 0, 0x1a, 0x23, 0x0a, 0x21, ...c, 0],
      'logical with extra field': [0x08, 0x01, 0x12, 0x24, ...logical.slice(2), 0x10, 0x01, ...good.slice(38)],
      'content wire type 0': [0x08, 0x01, 0x12, 0x22, 0x08, ...good.slice(5)],
    };
    for (const [name, bytes] of Object.entries(bad)) {
      expect(code(() => parseScannable(Uint8Array.from(bytes))), name).toBe('invalid_scannable');
    }
    expect(code(() => parseScannable('08' as unknown as Uint8Array))).toBe('invalid_scannable');
    expect(parseScannable(Uint8Array.from(good)).version).toBe(1);
  });
});
