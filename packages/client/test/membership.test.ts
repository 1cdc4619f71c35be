/**
 * Membership planning without a server: who is added, removed or kept is
 * decided from the (here: faked) verified key log, and a claimed KeyPackage
 * is checked before it goes into a commit.
 */
import { describe, expect, it } from 'vitest';
import { parseIdentityId, type IdentityId } from '@parley/core';
import type { DeviceKeyState, DeviceKeyStatus } from '@parley/core/keylog';
import { createKeyPackage, generateSignatureKeyPair, type AuthenticateMember, type MemberRef } from '@parley/core/mls';
import type { IdentityKeys } from '../src/authenticator.js';
import { KeyPackageError } from '../src/errors.js';
import { Membership } from '../src/membership.js';
import { memberRef, mlsSelf, rig, suite, type Rig } from './unit-fixture.js';

interface LoggedDevice {
  member: MemberRef;
  state: DeviceKeyState;
}

/** The verified key log as `Membership` sees it, and the server's KeyPackage stock. */
class Directory {
  readonly devices = new Map<string, LoggedDevice>();
  /** Devices whose keys the log must not vouch for (`authenticate` says no). */
  readonly unverified = new Set<string>();

  constructor(private readonly r: Rig) {}

  async add(identity: string, device: string, status: DeviceKeyStatus): Promise<MemberRef> {
    const s = await suite();
    const member = memberRef(identity, device);
    const keys = await generateSignatureKeyPair(s);
    this.r.api.keyPackages.set(member.deviceId, (await createKeyPackage(s, member, keys)).keyPackage);
    this.devices.set(member.deviceId, {
      member,
      state: {
        deviceId: member.deviceId,
        kind: 'customer',
        identityKey: new Uint8Array(32),
        signatureKey: keys.publicKey,
        previousKeys: [],
        suite: s.name,
        suites: [s.name],
        suitesSeq: 0,
        status,
        addedAt: this.devices.size,
        approvedBy: undefined,
        revokedBy: undefined,
      },
    });
    return member;
  }

  setStatus(member: MemberRef, status: DeviceKeyStatus): void {
    this.devices.get(member.deviceId)!.state.status = status;
  }

  readonly keysOf = async (identityId: string): Promise<IdentityKeys> => {
    const id: IdentityId = parseIdentityId(identityId);
    const devices = new Map<string, DeviceKeyState>(
      [...this.devices.values()].filter((d) => d.member.identityId === id).map((d) => [d.member.deviceId, d.state]),
    );
    return {
      identity: { identityId: id, label: new Uint8Array(32), devices, checkpoint: { size: 1, rootHash: new Uint8Array(32), note: '' } },
      devices,
    };
  };

  readonly authenticate: AuthenticateMember = async (member) => !this.unverified.has(member.deviceId);
}

async function setup(trustCheckIntervalMs = 0) {
  const self = await mlsSelf(memberRef('bank:agent', 'agent-device'));
  const r = await rig({ self });
  const directory = new Directory(r);
  const membership = new Membership({
    store: r.store,
    mls: self,
    api: r.api,
    authenticator: { keysOf: directory.keysOf, authenticate: directory.authenticate },
    conversations: r.conversations,
    committer: r.committer,
    now: () => new Date(),
    trustCheckIntervalMs,
  });
  const deviceIds = (id: string) => r.conversations.require(id).group.members().map((m) => m.member.deviceId).sort();
  return { r, directory, membership, deviceIds };
}

describe('Membership', () => {
  it('creates a conversation with the approved devices of the identities and of its own identity, never pending or revoked ones', async () => {
    const { r, directory, membership, deviceIds } = await setup();
    const colleague = await directory.add('bank:agent', 'agent-tablet', 'approved');
    const phone = await directory.add('bank:cust', 'cust-phone', 'approved');
    await directory.add('bank:cust', 'cust-tablet', 'pending');
    await directory.add('bank:cust', 'cust-old', 'revoked');

    const id = await membership.createConversation(['bank:cust']);
    expect(deviceIds(id)).toEqual([r.self.member.deviceId, colleague.deviceId, phone.deviceId].sort());
    expect(r.api.claims).toEqual([[colleague.deviceId, phone.deviceId]]);
    expect(r.api.requests).toHaveLength(1);
    expect(r.api.requests[0]!.welcome).toBeDefined();
    expect(r.conversations.require(id).group.epoch).toBe(1n);
    expect(await membership.activeDevices(['bank:cust'])).toEqual([{ identityId: 'bank:cust', deviceId: phone.deviceId, suites: [(await suite()).name] }]);
  });

  it('adds only devices not yet in the conversation, and commits nothing when there are none', async () => {
    const { r, directory, membership, deviceIds } = await setup();
    const phone = await directory.add('bank:cust', 'cust-phone', 'approved');
    const tablet = await directory.add('bank:cust', 'cust-tablet', 'pending');
    const id = await membership.createConversation(['bank:cust']);
    await membership.addMembers(id, ['bank:cust']);
    expect(r.api.requests).toHaveLength(1);

    directory.setStatus(tablet, 'approved');
    await membership.addMembers(id, ['bank:cust']);
    expect(r.api.claims.at(-1)).toEqual([tablet.deviceId]);
    expect(deviceIds(id)).toEqual([r.self.member.deviceId, phone.deviceId, tablet.deviceId].sort());
    expect(r.conversations.require(id).group.epoch).toBe(2n);
  });

  it('reconciles an identity in one commit: adds its new devices, removes its revoked ones, reports both', async () => {
    const { r, directory, membership, deviceIds } = await setup();
    const phone = await directory.add('bank:cust', 'cust-phone', 'approved');
    const id = await membership.createConversation(['bank:cust']);
    const tablet = await directory.add('bank:cust', 'cust-tablet', 'approved');
    directory.setStatus(phone, 'revoked');

    expect(await membership.reconcileIdentity(id, 'bank:cust')).toEqual({ added: [tablet.deviceId], removed: [phone.deviceId] });
    expect(deviceIds(id)).toEqual([r.self.member.deviceId, tablet.deviceId].sort());
    expect(r.conversations.require(id).group.epoch).toBe(2n);
    expect(await membership.reconcileIdentity(id, 'bank:cust')).toEqual({ added: [], removed: [] });
    expect(r.api.requests).toHaveLength(2);
  });

  it('refuses a KeyPackage the server left out, substituted, or whose key the log does not vouch for', async () => {
    const { r, directory, membership } = await setup();
    const phone = await directory.add('bank:cust', 'cust-phone', 'approved');
    const other = await directory.add('bank:other', 'other-phone', 'approved');
    const expectRefusal = async (code: string) => {
      const error: unknown = await membership.createConversation(['bank:cust']).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyPackageError);
      expect(error).toMatchObject({ code, details: { deviceId: phone.deviceId } });
    };

    const genuine = r.api.keyPackages.get(phone.deviceId)!;
    r.api.keyPackages.delete(phone.deviceId);
    await expectRefusal('key_package_missing');
    r.api.keyPackages.set(phone.deviceId, r.api.keyPackages.get(other.deviceId)!);
    await expectRefusal('key_package_substituted');
    r.api.keyPackages.set(phone.deviceId, genuine);
    directory.unverified.add(phone.deviceId);
    await expectRefusal('key_package_unverified');
    expect(r.api.requests).toHaveLength(0);
    expect([...r.conversations.all()]).toHaveLength(0);
  });

  it('removes members the log no longer shows as approved before sending', async () => {
    const { r, directory, membership, deviceIds } = await setup(0);
    const phone = await directory.add('bank:cust', 'cust-phone', 'approved');
    const tablet = await directory.add('bank:cust', 'cust-tablet', 'approved');
    const id = await membership.createConversation(['bank:cust']);
    await membership.dropUntrustedMembers(id);
    expect(r.api.requests).toHaveLength(1);

    directory.setStatus(tablet, 'revoked');
    await membership.dropUntrustedMembers(id);
    expect(deviceIds(id)).toEqual([r.self.member.deviceId, phone.deviceId].sort());
    expect(r.api.requests).toHaveLength(2);
  });

  it('checks members against the log at most once per interval', async () => {
    const { r, directory, membership, deviceIds } = await setup(60_000);
    const tablet = await directory.add('bank:cust', 'cust-tablet', 'approved');
    const id = await membership.createConversation(['bank:cust']);
    await membership.dropUntrustedMembers(id);
    directory.setStatus(tablet, 'revoked');
    await membership.dropUntrustedMembers(id);
    expect(deviceIds(id)).toContain(tablet.deviceId);
    expect(r.api.requests).toHaveLength(1);
  });
});
