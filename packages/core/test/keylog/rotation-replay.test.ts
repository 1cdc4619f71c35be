/**
 * Replaying `device-rotated` key-log entries: a rotation holds only when the key it replaces
 * and the new key both signed it, for an approved device, to a key it never held; statements
 * signed before a rotation keep verifying with the key in effect then, never after.
 */
import { describe, expect, it } from 'vitest';
import { generateIdentityKeyPair, signEd25519, toBase64Url } from '../../src/index.js';
import { directoryAttester, type Pair } from './attest.js';
import {
  attestationMessage,
  compareLogTimes,
  holdsSignatureKey,
  identityKeysAt,
  replayIdentity,
  rotationMessage,
  type KeyLogEntry,
  type LoggedEntry,
} from '../../src/keylog/index.js';

const { directory, attest } = directoryAttester();
const label = toBase64Url(new Uint8Array(32).fill(7));
const deviceId = 'dev_' + 'A'.repeat(22);

function added(identity: Pair, mls: Pair, approval: 'enrollment' | 'pending' = 'enrollment'): KeyLogEntry {
  return attest({
    v: 1, type: 'device-added', label, deviceId, time: '2026-12-06T10:00:00Z', kind: 'customer',
    identityKey: toBase64Url(identity.publicKey), signatureKey: toBase64Url(mls.publicKey), suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', approval,
  });
}

function rotated(from: Pair, to: Pair, mls: Pair, time: string, signers: { old?: Pair; proof?: Pair } = {}): KeyLogEntry {
  const message = rotationMessage({
    label, deviceId, previousIdentityKey: toBase64Url(from.publicKey), identityKey: toBase64Url(to.publicKey), signatureKey: toBase64Url(mls.publicKey),
  });
  return attest({
    v: 1, type: 'device-rotated', label, deviceId, time,
    identityKey: toBase64Url(to.publicKey), signatureKey: toBase64Url(mls.publicKey),
    signature: toBase64Url(signEd25519((signers.old ?? from).privateKey, message)),
    proof: toBase64Url(signEd25519((signers.proof ?? to).privateKey, message)),
  });
}

const logged = (...entries: KeyLogEntry[]): LoggedEntry[] => entries.map((entry, index) => ({ index, entry }));
const replay = (...entries: KeyLogEntry[]) => replayIdentity(label, logged(...entries), directory.publicKey).get(deviceId)!;

describe('device-rotated entries', () => {
  const k0 = generateIdentityKeyPair();
  const k1 = generateIdentityKeyPair();
  const k2 = generateIdentityKeyPair();
  const m0 = generateIdentityKeyPair();
  const m1 = generateIdentityKeyPair();
  const m2 = generateIdentityKeyPair();

  it('follows a chain of signed rotations and keeps the keys it replaced, in order', () => {
    const device = replay(added(k0, m0), rotated(k0, k1, m1, '2026-12-06T11:00:00Z'), rotated(k1, k2, m2, '2026-12-06T12:00:00.5Z'));
    expect(device.identityKey).toEqual(k2.publicKey);
    expect(device.signatureKey).toEqual(m2.publicKey);
    expect(device.previousKeys.map((k) => [k.identityKey, k.signatureKey, k.rotatedAt])).toEqual([
      [k0.publicKey, m0.publicKey, 1],
      [k1.publicKey, m1.publicKey, 2],
    ]);
    expect(holdsSignatureKey(device, m0.publicKey)).toBe(true);
    expect(holdsSignatureKey(device, generateIdentityKeyPair().publicKey)).toBe(false);
    // A statement dated before the first rotation may carry k0 (or a later key); one dated after it never k0.
    expect(identityKeysAt(device, '2026-12-06T10:30:00Z')).toEqual([k0.publicKey, k1.publicKey, k2.publicKey]);
    expect(identityKeysAt(device, '2026-12-06T12:00:00.4Z')).toEqual([k1.publicKey, k2.publicKey]);
    expect(identityKeysAt(device, '2026-12-06T12:00:00.5Z')).toEqual([k2.publicKey]);
    expect(compareLogTimes('2026-12-06T12:00:00Z', '2026-12-06T12:00:00.000Z')).toBe(0);
  });

  it.each([
    ['signed by another key than the one replaced', () => rotated(k0, k1, m1, '2026-12-06T11:00:00Z', { old: k2 }), 'rotation not signed by the previous identity key'],
    ['without proof of the new key', () => rotated(k0, k1, m1, '2026-12-06T11:00:00Z', { proof: k2 }), 'rotation not signed by the new identity key'],
    ['back to the key it holds', () => rotated(k0, k0, m1, '2026-12-06T11:00:00Z'), 'rotation to an identity key the device held before'],
  ])('refuses a rotation %s', (_what, entry, message) => {
    expect(() => replay(added(k0, m0), entry())).toThrow(message);
  });

  it('refuses a return to a key replaced earlier, and a rotation of a pending device', () => {
    expect(() => replay(added(k0, m0), rotated(k0, k1, m1, '2026-12-06T11:00:00Z'), rotated(k1, k0, m2, '2026-12-06T12:00:00Z'))).toThrow('held before');
    expect(() => replay(added(k0, m0, 'pending'), rotated(k0, k1, m1, '2026-12-06T11:00:00Z'))).toThrow('not approved');
  });

  it('refuses an entry the directory did not attest', () => {
    const entry = rotated(k0, k1, m1, '2026-12-06T11:00:00Z');
    const forged = { ...entry, attestation: toBase64Url(signEd25519(k0.privateKey, attestationMessage(entry))) } as KeyLogEntry;
    expect(() => replay(added(k0, m0), forged)).toThrow('attestation');
  });
});
