import { describe, expect, it } from 'vitest';
import {
  commitChanges,
  createGroup,
  createKeyPackage,
  decodeGroup,
  encodeGroup,
  encryptApplication,
  generateSignatureKeyPair,
  inspectKeyPackage,
  inspectMessage,
  joinFromWelcome,
  loadSuite,
  processIncoming,
  rejoinExternally,
  type AuthenticateMember,
  type KeyPackageBundle,
  type MemberRef,
  type MlsGroup,
  type MlsSuite,
  type SignatureKeyPair,
} from '../../src/mls/index.js';
import { equalBytes, fromUtf8, randomBytes, toHex, utf8 } from '../../src/bytes.js';
import type { DeviceId, IdentityId } from '../../src/ids.js';

interface TestDevice {
  ref: MemberRef;
  keys: SignatureKeyPair;
  kp: KeyPackageBundle;
}

async function device(suite: MlsSuite, identity: string, n: number): Promise<TestDevice> {
  const ref = { identityId: identity as IdentityId, deviceId: `device-${n}-aaaaaaaaaaaaaaaa` as DeviceId };
  const keys = await generateSignatureKeyPair(suite);
  return { ref, keys, kp: await createKeyPackage(suite, ref, keys) };
}

function registryOf(devices: TestDevice[]): AuthenticateMember {
  return async (member, key) =>
    devices.some((d) => d.ref.deviceId === member.deviceId && d.ref.identityId === member.identityId && equalBytes(d.keys.publicKey, key));
}

async function join(suite: MlsSuite, d: TestDevice, welcome: Uint8Array, auth: AuthenticateMember): Promise<MlsGroup> {
  const { group } = await joinFromWelcome(suite, welcome, d.keys.privateKey, async (ref) =>
    equalBytes(ref, d.kp.ref) ? { keyPackage: d.kp.keyPackage, privateKey: d.kp.privateKey } : undefined, auth);
  return group;
}

describe('ts-mls adapter', () => {
  it('runs a business conversation with two customer devices, removal and resync', async () => {
    const suite = await loadSuite();
    const bank = await device(suite, 'bank:sender', 1);
    const phone = await device(suite, 'bank:alice', 2);
    const tablet = await device(suite, 'bank:alice', 3);
    const auth = registryOf([bank, phone, tablet]);

    const info = await inspectKeyPackage(suite, phone.kp.keyPackage);
    expect(info.member).toEqual(phone.ref);
    expect(toHex(info.ref)).toBe(toHex(phone.kp.ref));

    let b = await createGroup(suite, randomBytes(32), bank.ref, bank.keys, auth);
    const c1 = await commitChanges(suite, b, { add: [phone.kp.keyPackage, tablet.kp.keyPackage] });
    expect(c1.epoch).toBe(0n);
    expect(inspectMessage(c1.commit)).toMatchObject({ kind: 'private', contentType: 'commit', epoch: 0n });
    b = c1.group;
    let p = await join(suite, phone, c1.welcome!, auth);
    let t = await join(suite, tablet, c1.welcome!, auth);
    expect(p.epoch).toBe(1n);
    expect(p.members().map((m) => m.member.deviceId).sort()).toEqual([bank, phone, tablet].map((d) => d.ref.deviceId).sort());

    const enc = await encryptApplication(suite, b, utf8('payment alert'));
    b = enc.group;
    const r1 = await processIncoming(suite, p, enc.message);
    expect(r1.kind).toBe('application');
    if (r1.kind !== 'application') throw new Error('unreachable');
    expect(fromUtf8(r1.plaintext)).toBe('payment alert');
    expect(r1.sender.member).toEqual(bank.ref);
    p = r1.group;

    // state survives serialization
    t = decodeGroup(encodeGroup(t), auth);
    const r2 = await processIncoming(suite, t, enc.message);
    expect(r2.kind).toBe('application');
    if (r2.kind === 'application') t = r2.group;

    // the tablet falls behind: bank removes nobody, just updates twice; tablet misses both commits
    const u1 = await commitChanges(suite, b, {});
    b = u1.group;
    const pr = await processIncoming(suite, p, u1.commit);
    expect(pr.kind).toBe('commit');
    if (pr.kind === 'commit') p = pr.group;
    const u2 = await commitChanges(suite, b, {});
    b = u2.group;
    const pr2 = await processIncoming(suite, p, u2.commit);
    if (pr2.kind === 'commit') p = pr2.group;
    // a later message is a future epoch for the stale tablet
    const later = await encryptApplication(suite, b, utf8('otp 123456'));
    b = later.group;
    expect((await processIncoming(suite, t, later.message)).kind).toBe('future-epoch');

    // tablet resyncs with an external commit from the latest GroupInfo
    const rejoin = await rejoinExternally(suite, u2.groupInfo, tablet.ref, tablet.keys, auth);
    t = rejoin.group;
    const br = await processIncoming(suite, b, rejoin.commit);
    expect(br.kind).toBe('commit');
    if (br.kind !== 'commit') throw new Error('unreachable');
    expect(br.committer).toBeUndefined();
    b = br.group;
    const pr3 = await processIncoming(suite, p, rejoin.commit);
    if (pr3.kind === 'commit') p = pr3.group;
    const again = await encryptApplication(suite, b, utf8('after resync'));
    b = again.group;
    const tr = await processIncoming(suite, t, again.message);
    expect(tr.kind).toBe('application');

    // remove the tablet: it learns it was removed
    const tabletLeaf = b.members().find((m) => m.member.deviceId === tablet.ref.deviceId)!.leafIndex;
    const rm = await commitChanges(suite, b, { remove: [tabletLeaf] });
    const tr2 = await processIncoming(suite, t, rm.commit);
    expect(tr2.kind).toBe('commit');
    if (tr2.kind === 'commit') expect(tr2.selfRemoved).toBe(true);
  });

  it('rejects credentials the registry does not know', async () => {
    const suite = await loadSuite();
    const bank = await device(suite, 'bank:sender', 1);
    const mallory = await device(suite, 'bank:alice', 2);
    const auth = registryOf([bank]);
    const b = await createGroup(suite, randomBytes(32), bank.ref, bank.keys, auth);
    await expect(commitChanges(suite, b, { add: [mallory.kp.keyPackage] })).rejects.toMatchObject({ code: expect.any(String) });
  });

  it('rejects garbage as invalid_mls_message', () => {
    expect(() => inspectMessage(randomBytes(40))).toThrow(expect.objectContaining({ code: 'invalid_mls_message' }));
  });
});
