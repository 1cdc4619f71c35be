/**
 * Replaying a device's MLS suites from the key log (docs/post-quantum.md): the suites of a
 * `device-added` entry and of later `device-suites` entries hold only when the device's identity
 * key signed them; a statement's seq must grow; an entry without suites means the classic suite.
 */
import { describe, expect, it } from 'vitest';
import { generateIdentityKeyPair, signEd25519, toBase64Url } from '../../src/index.js';
import { replayIdentity, suitesMessage, type KeyLogEntry, type LoggedEntry } from '../../src/keylog/index.js';
import { directoryAttester, type Pair } from './attest.js';

const CLASSIC = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
const XWING = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';
const { directory, attest } = directoryAttester();
const label = toBase64Url(new Uint8Array(32).fill(9));
const deviceId = 'dev_' + 'B'.repeat(22);

function sign(by: Pair, identity: Pair, seq: number, suites: string[]): string {
  return toBase64Url(signEd25519(by.privateKey, suitesMessage({ deviceId, identityKey: toBase64Url(identity.publicKey), seq, suites })));
}

function added(identity: Pair, suites?: { names: string[]; signer?: Pair }): KeyLogEntry {
  return attest({
    v: 1, type: 'device-added', label, deviceId, time: '2026-12-06T10:00:00Z', kind: 'customer',
    identityKey: toBase64Url(identity.publicKey), signatureKey: toBase64Url(generateIdentityKeyPair().publicKey), suite: CLASSIC,
    ...(suites ? { suites: suites.names, suitesProof: sign(suites.signer ?? identity, identity, 0, suites.names) } : {}),
    approval: 'enrollment',
  });
}

function stated(identity: Pair, seq: number, suites: string[], signer: Pair = identity): KeyLogEntry {
  return attest({ v: 1, type: 'device-suites', label, deviceId, time: '2026-12-06T11:00:00Z', seq, suites, signature: sign(signer, identity, seq, suites) });
}

const logged = (...entries: KeyLogEntry[]): LoggedEntry[] => entries.map((entry, index) => ({ index, entry }));
const replay = (...entries: KeyLogEntry[]) => replayIdentity(label, logged(...entries), directory.publicKey).get(deviceId)!;

describe('device suites in the key log', () => {
  const k = generateIdentityKeyPair();
  const other = generateIdentityKeyPair();

  it('an entry without suites means the classic suite; with them, the signed list', () => {
    expect(replay(added(k)).suites).toEqual([CLASSIC]);
    expect(replay(added(k, { names: [CLASSIC, XWING] })).suites).toEqual([CLASSIC, XWING]);
  });

  it('refuses suites the device did not sign, or without its own suite', () => {
    expect(() => replay(added(k, { names: [CLASSIC, XWING], signer: other }))).toThrow(/suites not signed/);
    expect(() => replay(added(k, { names: [XWING] }))).toThrow(/do not include/);
  });

  it('follows later statements in seq order, and refuses a replayed or forged one', () => {
    expect(replay(added(k), stated(k, 1, [CLASSIC, XWING])).suites).toEqual([CLASSIC, XWING]);
    expect(replay(added(k), stated(k, 1, [CLASSIC, XWING]), stated(k, 2, [CLASSIC])).suites).toEqual([CLASSIC]);
    expect(() => replay(added(k), stated(k, 2, [CLASSIC, XWING]), stated(k, 1, [CLASSIC]))).toThrow(/replayed/);
    expect(() => replay(added(k), stated(k, 1, [CLASSIC, XWING], other))).toThrow(/not signed/);
  });
});
