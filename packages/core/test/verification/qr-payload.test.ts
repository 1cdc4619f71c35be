import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromBase64, toBase64, toBase64Url } from '../../src/bytes.js';
import { generateIdentityKeyPair } from '../../src/identity-keys.js';
import {
  PARLEY_FINGERPRINT_VERSION,
  QR_PAYLOAD_PREFIX,
  compareScanned,
  decodeQrPayload,
  encodeQrPayload,
  encodeScannable,
  fingerprintBytes,
  parleyFingerprintParty,
  parleyKeyBytes,
  safetyNumber,
  scannableFingerprint,
  type FingerprintParty,
  type ScannableFingerprint,
} from '../../src/verification/index.js';

const ITERATIONS = 3;

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

const scannableArb: fc.Arbitrary<ScannableFingerprint> = fc.record({
  version: fc.integer({ min: 1, max: 0xffff_ffff }),
  local: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  remote: fc.uint8Array({ minLength: 32, maxLength: 32 }),
});

const payloadOf = (s: ScannableFingerprint): string => `parley-verify:1:${toBase64Url(encodeScannable(s))}`;

describe('Parley binding', () => {
  it('prefixes the 32-byte Ed25519 key with 0x45', () => {
    const { publicKey } = generateIdentityKeyPair();
    const keyBytes = parleyKeyBytes(publicKey);
    expect(keyBytes).toHaveLength(33);
    expect(keyBytes[0]).toBe(0x45);
    expect(keyBytes.subarray(1)).toEqual(publicKey);
    expect(code(() => parleyKeyBytes(publicKey.subarray(1)))).toBe('invalid_bytes');
    expect(code(() => parleyKeyBytes(new Uint8Array(33)))).toBe('invalid_bytes');
  });

  it('never equals Signal’s fingerprint of the same 32 key bytes', () => {
    const { publicKey } = generateIdentityKeyPair();
    const signalStyle = Uint8Array.of(0x05, ...publicKey);
    const id = 'example-bank:c-1001';
    expect(fingerprintBytes(parleyKeyBytes(publicKey), id, ITERATIONS)).not.toEqual(fingerprintBytes(signalStyle, id, ITERATIONS));
  });

  it('uses the identity id as UTF-8 stable id and validates it', () => {
    const { publicKey } = generateIdentityKeyPair();
    const party = parleyFingerprintParty(publicKey, 'example-bank:c-1001');
    expect(party.stableId).toBe('example-bank:c-1001');
    expect(party.identityKey).toEqual(parleyKeyBytes(publicKey));
    expect(code(() => parleyFingerprintParty(publicKey, 'not an id'))).toBe('invalid_identity_id');
  });

  it('verifies two Parley devices end to end', () => {
    const alice = parleyFingerprintParty(generateIdentityKeyPair().publicKey, 'example-bank:staff-7');
    const bob = parleyFingerprintParty(generateIdentityKeyPair().publicKey, 'example-bank:c-1001');
    const mallory = parleyFingerprintParty(generateIdentityKeyPair().publicKey, 'example-bank:c-1001');
    expect(safetyNumber({ local: alice, remote: bob }).digits).toBe(safetyNumber({ local: bob, remote: alice }).digits);
    const bobShows = encodeQrPayload(bob, alice);
    expect(bobShows).toMatch(/^parley-verify:1:[A-Za-z0-9_-]{99}$/);
    expect(decodeQrPayload(bobShows).version).toBe(PARLEY_FINGERPRINT_VERSION);
    expect(compareScanned(alice, bob, bobShows)).toBe('match');
    expect(compareScanned(bob, alice, encodeQrPayload(alice, bob))).toBe('match');
    // Alice holds Mallory's key for bob (or Mallory shows the code): no match either way.
    expect(compareScanned(alice, mallory, bobShows)).toBe('mismatch');
    expect(compareScanned(alice, bob, encodeQrPayload(mallory, alice))).toBe('mismatch');
  });
});

describe('QR payload', () => {
  it('is the prefix, version 1 and the unpadded base64url scannable bytes', () => {
    const a: FingerprintParty = { identityKey: new Uint8Array(33).fill(1), stableId: 'a' };
    const b: FingerprintParty = { identityKey: new Uint8Array(33).fill(2), stableId: 'b' };
    const text = encodeQrPayload(a, b, { iterations: ITERATIONS });
    expect(text.startsWith(QR_PAYLOAD_PREFIX)).toBe(true);
    expect(text).toBe(`parley-verify:1:${toBase64Url(scannableFingerprint(a, b, 1, { iterations: ITERATIONS }))}`);
    expect(text).toHaveLength(115);
  });

  it('round-trips every scannable fingerprint', () => {
    fc.assert(
      fc.property(scannableArb, (s) => {
        expect(decodeQrPayload(payloadOf(s))).toEqual(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('reports another format version as unsupported, with the version', () => {
    for (const text of ['parley-verify:2:AAAA', 'parley-verify:2', 'parley-verify:17:anything:at:all', 'parley-verify:999999999:']) {
      let error: unknown;
      try {
        decodeQrPayload(text);
      } catch (e) {
        error = e;
      }
      expect(error, text).toMatchObject({ code: 'unsupported_qr_version' });
      expect((error as { details: { version: number } }).details.version).toBe(Number(text.split(':')[1]));
    }
  });

  it('rejects everything that is not exactly the format', () => {
    // 0xfb/0xff bytes give '-' and '_' in base64url ('+' and '/' in base64).
    const good = payloadOf({ version: 1, local: new Uint8Array(32).fill(0xfb), remote: new Uint8Array(32).fill(0xff) });
    const body = good.slice('parley-verify:1:'.length);
    expect(body).toMatch(/-/);
    expect(body).toMatch(/_/);
    const bad = [
      '',
      'parley-verify',
      'parley-verify:',
      'parley-verify:1',
      'parley-verify:1:',
      'parley-verify:01:' + body,
      'parley-verify:+1:' + body,
      'parley-verify:1.0:' + body,
      'parley-verify:0:' + body,
      'parley-verify:1234567890:' + body,
      'PARLEY-VERIFY:1:' + body,
      'Parley-verify:1:' + body,
      'parley-verify::1:' + body,
      'parley-verify:1:' + body + '=',
      'parley-verify:1:' + toBase64(fromBase64(body)),
      'parley-verify:1:' + body.replace(/-/g, '+').replace(/_/g, '/'),
      ' ' + good,
      good + ' ',
      good + '\n',
      good + ':',
      good + 'A',
      good + 'AA',
      good.slice(0, -1),
      good.slice(0, -2),
      'parley-verify:1:' + body.slice(0, -1) + 'R', // 99 characters: the last one's low 2 bits must be 0
      'parley-verify:1:' + 'A'.repeat(5000),
      'parley-verify:1:' + toBase64Url(new Uint8Array(74)),
      'signal:' + body,
    ];
    for (const text of bad) expect(code(() => decodeQrPayload(text)), JSON.stringify(text)).toBe('invalid_qr_payload');
    expect(code(() => decodeQrPayload(42 as unknown as string))).toBe('invalid_qr_payload');
    expect(decodeQrPayload(good).version).toBe(1);
  });

  it('rejects random edits of a valid payload unless the result is itself canonical', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=: .';
    fc.assert(
      fc.property(scannableArb, fc.nat(), fc.constantFrom(...alphabet.split('')), fc.boolean(), (s, at, ch, insert) => {
        const text = payloadOf(s);
        const i = at % (text.length + 1);
        const edited = insert ? text.slice(0, i) + ch + text.slice(i) : text.slice(0, i) + ch + text.slice(i + 1);
        let decoded: ScannableFingerprint;
        try {
          decoded = decodeQrPayload(edited);
        } catch (error) {
          expect(['invalid_qr_payload', 'unsupported_qr_version']).toContain((error as { code?: string }).code);
          return;
        }
        expect(payloadOf(decoded)).toBe(edited);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('compareScanned', () => {
  const partyArb: fc.Arbitrary<FingerprintParty> = fc.record({
    identityKey: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    stableId: fc.string({ maxLength: 20 }),
  });
  const opts = { iterations: ITERATIONS };

  it('matches exactly when the scanned local/remote are our remote/local', () => {
    fc.assert(
      fc.property(partyArb, partyArb, partyArb, (a, b, c) => {
        const bShows = encodeQrPayload(b, a, opts);
        expect(compareScanned(a, b, bShows, opts)).toBe('match');
        expect(compareScanned(a, b, decodeQrPayload(bShows), opts)).toBe('match');
        const same = (x: FingerprintParty, y: FingerprintParty) => fingerprintBytes(x.identityKey, x.stableId, 1).join() === fingerprintBytes(y.identityKey, y.stableId, 1).join();
        if (!same(b, c)) {
          expect(compareScanned(a, c, bShows, opts)).toBe('mismatch');
          expect(compareScanned(a, b, encodeQrPayload(c, a, opts), opts)).toBe('mismatch');
        }
        if (!same(a, c)) expect(compareScanned(c, b, bShows, opts)).toBe('mismatch');
      }),
      { numRuns: 200 },
    );
  });

  it('is a mismatch when either 32-byte half differs anywhere', () => {
    const a: FingerprintParty = { identityKey: new Uint8Array(33).fill(1), stableId: 'a' };
    const b: FingerprintParty = { identityKey: new Uint8Array(33).fill(2), stableId: 'b' };
    const shown = decodeQrPayload(encodeQrPayload(b, a, opts));
    for (let i = 0; i < 64; i++) {
      const local = shown.local.slice();
      const remote = shown.remote.slice();
      (i < 32 ? local : remote)[i % 32]! ^= 0x80;
      expect(compareScanned(a, b, { version: shown.version, local, remote }, opts), `byte ${i}`).toBe('mismatch');
    }
    expect(compareScanned(a, b, shown, opts)).toBe('match');
  });

  it('reports a version mismatch', () => {
    const a: FingerprintParty = { identityKey: new Uint8Array(33).fill(1), stableId: 'a' };
    const b: FingerprintParty = { identityKey: new Uint8Array(33).fill(2), stableId: 'b' };
    const v2 = encodeQrPayload(b, a, { ...opts, version: 2 });
    expect(compareScanned(a, b, v2, opts)).toBe('version-mismatch');
    expect(compareScanned(a, b, v2, { ...opts, version: 2 })).toBe('match');
    expect(compareScanned(a, b, encodeQrPayload(b, a, opts), { ...opts, version: 2 })).toBe('version-mismatch');
  });

  it('throws on malformed scanned input', () => {
    const a: FingerprintParty = { identityKey: new Uint8Array(33).fill(1), stableId: 'a' };
    expect(code(() => compareScanned(a, a, 'https://example.com'))).toBe('invalid_qr_payload');
    expect(code(() => compareScanned(a, a, 'parley-verify:9:x'))).toBe('unsupported_qr_version');
    expect(code(() => compareScanned(a, a, { version: 1, local: new Uint8Array(31), remote: new Uint8Array(32) }))).toBe('invalid_bytes');
  });
});
