/**
 * Signal's numeric fingerprint vectors (libsignal testVectorsVersion1/2, described in
 * shared/vectors/safety-number/signal-numeric-fingerprint.json): the construction run with
 * Signal's own 33-byte key encoding (0x05 ‖ key) and phone-number stable ids.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromHex, toBase64Url, toHex } from '../../src/bytes.js';
import {
  compareScanned,
  decodeQrPayload,
  encodeQrPayload,
  fingerprintBytes,
  parseScannable,
  safetyNumber,
  scannableFingerprint,
  type FingerprintParty,
} from '../../src/verification/index.js';

const VECTOR_FILE = new URL('../../../../../shared/vectors/safety-number/signal-numeric-fingerprint.json', import.meta.url);
const HAVE_VECTORS = existsSync(fileURLToPath(VECTOR_FILE));
if (!HAVE_VECTORS) console.warn(`safety-number vectors not found at ${fileURLToPath(VECTOR_FILE)}; skipping`);

interface Vector {
  iterations: number;
  alice: { stableId: string; keyBytes: string };
  bob: { stableId: string; keyBytes: string };
  displayable: string;
  aliceScannableV1: string;
  bobScannableV1: string;
  aliceScannableV2: string;
}

function load(): Vector | undefined {
  if (!HAVE_VECTORS) return undefined;
  const v = JSON.parse(readFileSync(VECTOR_FILE, 'utf8')) as Vector;
  for (const key of ['displayable', 'aliceScannableV1', 'bobScannableV1', 'aliceScannableV2'] as const) {
    if (typeof v[key] !== 'string') throw new Error(`vector file lacks ${key}`);
  }
  return v;
}

const v = load();
const party = (p: { stableId: string; keyBytes: string }): FingerprintParty => ({ identityKey: fromHex(p.keyBytes), stableId: p.stableId });

describe.skipIf(v === undefined)('Signal numeric fingerprint vectors', () => {
  const vec = v!;
  const alice = party(vec.alice);
  const bob = party(vec.bob);
  const url = (hex: string) => `parley-verify:1:${toBase64Url(fromHex(hex))}`;

  it('uses 5200 iterations, the default', () => {
    expect(vec.iterations).toBe(5200);
    expect(fingerprintBytes(alice.identityKey, alice.stableId)).toEqual(fingerprintBytes(alice.identityKey, alice.stableId, vec.iterations));
  });

  it('displays the same 60 digits in both orders', () => {
    const a = safetyNumber({ local: alice, remote: bob });
    const b = safetyNumber({ local: bob, remote: alice });
    expect(a.digits).toBe(vec.displayable);
    expect(b.digits).toBe(vec.displayable);
    expect(a.groups).toHaveLength(12);
    expect(a.groups.join('')).toBe(vec.displayable);
    expect(b.groups).toEqual(a.groups);
  });

  it('produces the scannable v1 and v2 bytes exactly', () => {
    expect(toHex(scannableFingerprint(alice, bob, 1))).toBe(vec.aliceScannableV1);
    expect(toHex(scannableFingerprint(bob, alice, 1))).toBe(vec.bobScannableV1);
    expect(toHex(scannableFingerprint(alice, bob, 2))).toBe(vec.aliceScannableV2);
  });

  it('parses the vector bytes and round-trips them', () => {
    const a1 = parseScannable(fromHex(vec.aliceScannableV1));
    const b1 = parseScannable(fromHex(vec.bobScannableV1));
    const a2 = parseScannable(fromHex(vec.aliceScannableV2));
    expect(a1.version).toBe(1);
    expect(a2.version).toBe(2);
    expect(a1.local).toEqual(b1.remote);
    expect(a1.remote).toEqual(b1.local);
    expect(a2.local).toEqual(a1.local);
    expect(a1.local).toEqual(fingerprintBytes(alice.identityKey, alice.stableId).slice(0, 32));
    expect(decodeQrPayload(url(vec.aliceScannableV1))).toEqual(a1);
    expect(encodeQrPayload(alice, bob, { version: 1 })).toBe(url(vec.aliceScannableV1));
  });

  it('matches when alice scans bob’s code, and the other way round', () => {
    expect(compareScanned(alice, bob, url(vec.bobScannableV1), { version: 1 })).toBe('match');
    expect(compareScanned(bob, alice, url(vec.aliceScannableV1), { version: 1 })).toBe('match');
    // Scanning one's own code is not a match: the roles are swapped.
    expect(compareScanned(alice, bob, url(vec.aliceScannableV1), { version: 1 })).toBe('mismatch');
  });

  it('is a mismatch when any key changes', () => {
    const changed = (p: FingerprintParty): FingerprintParty => {
      const key = p.identityKey.slice();
      key[key.length - 1]! ^= 1;
      return { ...p, identityKey: key };
    };
    expect(compareScanned(changed(alice), bob, url(vec.bobScannableV1), { version: 1 })).toBe('mismatch');
    expect(compareScanned(alice, changed(bob), url(vec.bobScannableV1), { version: 1 })).toBe('mismatch');
    expect(compareScanned(alice, { ...bob, stableId: '+14153333334' }, url(vec.bobScannableV1), { version: 1 })).toBe('mismatch');
  });

  it('reports a version mismatch before comparing', () => {
    expect(compareScanned(bob, alice, url(vec.aliceScannableV2), { version: 1 })).toBe('version-mismatch');
    expect(compareScanned(bob, alice, url(vec.aliceScannableV2), { version: 2 })).toBe('match');
    expect(compareScanned(bob, alice, url(vec.aliceScannableV1), { version: 2 })).toBe('version-mismatch');
  });
});
