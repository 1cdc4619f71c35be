/**
 * Who is in a conversation, planned against the verified key log: which
 * devices are active (approved, not revoked), claiming and checking their
 * KeyPackages, and the commits that add, remove and reconcile members. The
 * server is never taken on its word: a claimed KeyPackage must be the named
 * device's, with the signature key the log shows.
 */
import { fromBase64, parseDeviceId, randomBytes, type ConversationId, type DeviceId, type IdentityId } from '@parley/core';
import { holdsSignatureKey } from '@parley/core/keylog';
import { createGroup, inspectKeyPackage } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { KeyLogAuthenticator } from './authenticator.js';
import type { Committer } from './commits.js';
import { ConversationState } from './conversation-state.js';
import type { ConversationRegistry } from './conversations.js';
import { KeyPackageError } from './errors.js';
import type { KeyStore } from './key-store.js';
import type { MlsSelf } from './mls-self.js';

/**
 * One device of an identity, as the verified key log names it.
 *
 * @example
 * const devices: DeviceRef[] = await device.activeDevices([customerId])
 */
export interface DeviceRef {
  readonly identityId: IdentityId;
  readonly deviceId: DeviceId;
}

/** @internal What membership planning needs from its device. */
export interface MembershipContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  readonly api: Pick<ApiClient, 'claimKeyPackages'>;
  readonly authenticator: Pick<KeyLogAuthenticator, 'keysOf' | 'authenticate'>;
  readonly conversations: ConversationRegistry;
  readonly committer: Committer;
  now(): Date;
  /** How often, per conversation, members are re-checked against the key log (default 30 s). */
  readonly trustCheckIntervalMs?: number;
}

/** KeyPackages claimed per request. */
const CLAIM_CHUNK = 100;

/** @internal Membership planning and reconciliation; not part of the SDK's API. */
export class Membership {
  private readonly trustChecked = new Map<string, number>();

  constructor(private readonly ctx: MembershipContext) {}

  private get self(): DeviceId {
    return this.ctx.mls.member.deviceId;
  }

  /** Approved devices of the given identities from the verified key log (this device excluded). */
  async activeDevices(identityIds: readonly string[]): Promise<DeviceRef[]> {
    const out: DeviceRef[] = [];
    for (const id of identityIds) {
      const keys = await this.ctx.authenticator.keysOf(id, true);
      for (const d of keys.devices.values()) {
        // Ids as the verified lookup states them; log entries passed the schema's device-id pattern, so parsing cannot fail.
        if (d.status === 'approved' && d.deviceId !== this.self) out.push({ identityId: keys.identity.identityId, deviceId: parseDeviceId(d.deviceId) });
      }
    }
    return out;
  }

  /** Claims and verifies one KeyPackage per device. */
  async claimKeyPackages(devices: readonly DeviceRef[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let i = 0; i < devices.length; i += CLAIM_CHUNK) {
      const chunk = devices.slice(i, i + CLAIM_CHUNK);
      const res = await this.ctx.api.claimKeyPackages(chunk.map((d) => d.deviceId));
      for (const want of chunk) {
        const got = res.keyPackages.find((k) => k.deviceId === want.deviceId);
        if (!got) throw new KeyPackageError('key_package_missing', 'the server returned no KeyPackage for a device', { deviceId: want.deviceId });
        const bytes = fromBase64(got.keyPackage, 'keyPackage');
        const info = await inspectKeyPackage(this.ctx.mls.suite, bytes);
        // The server must not substitute another device's (or its own) KeyPackage.
        if (info.member.deviceId !== want.deviceId || info.member.identityId !== want.identityId) {
          throw new KeyPackageError('key_package_substituted', 'the server returned a KeyPackage of another device', { deviceId: want.deviceId });
        }
        if (!(await this.ctx.authenticator.authenticate(info.member, info.signaturePublicKey))) {
          throw new KeyPackageError('key_package_unverified', 'KeyPackage key does not match the directory', { deviceId: want.deviceId });
        }
        out.push(bytes);
      }
    }
    return out;
  }

  /** A new group with every active device of the identities (and this identity's other devices), in one commit. */
  async createConversation(identityIds: readonly string[]): Promise<ConversationId> {
    const { suite, member, signatureKeys, authenticate } = this.ctx.mls;
    const targets = await this.activeDevices([...new Set([member.identityId, ...identityIds])]);
    const keyPackages = await this.claimKeyPackages(targets);
    const group = await createGroup(suite, randomBytes(32), member, signatureKeys, authenticate);
    const conversation = ConversationState.fresh(group, this.ctx.now());
    await this.ctx.conversations.run(conversation.id, async () => {
      await this.ctx.store.write([...conversation.stateOps(group), ...conversation.metaOps()]);
      conversation.adopt(group);
      this.ctx.conversations.add(conversation);
      await this.ctx.committer.commitLocked(conversation, { add: keyPackages });
    });
    return conversation.id;
  }

  /** Adds every active device of the given identities that is not yet a member. */
  async addMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    await this.ctx.committer.commit(conversationId, async (state) => {
      const present = new Set<string>(state.group.members().map((m) => m.member.deviceId));
      const wanted = (await this.activeDevices(identityIds)).filter((d) => !present.has(d.deviceId));
      return wanted.length === 0 ? undefined : { add: await this.claimKeyPackages(wanted) };
    });
  }

  /** Removes devices (by id) from the conversation; this device never removes itself. */
  async removeDevices(conversationId: string, deviceIds: readonly string[]): Promise<void> {
    await this.ctx.committer.commit(conversationId, async (state) => {
      const leaves = state.group
        .members()
        .filter((m) => deviceIds.includes(m.member.deviceId) && m.member.deviceId !== this.self)
        .map((m) => m.leafIndex);
      return leaves.length === 0 ? undefined : { remove: leaves };
    });
  }

  /** Removes every device of the given identities. */
  async removeMembers(conversationId: string, identityIds: readonly string[]): Promise<void> {
    const ids = this.ctx.conversations
      .require(conversationId)
      .group.members()
      .filter((m) => identityIds.includes(m.member.identityId))
      .map((m) => m.member.deviceId);
    await this.removeDevices(conversationId, ids);
  }

  /** Adds the identity's new active devices and removes its revoked ones, in one commit; returns what changed. */
  async reconcileIdentity(conversationId: string, identityId: string): Promise<{ added: DeviceId[]; removed: DeviceId[] }> {
    const changed = { added: [] as DeviceId[], removed: [] as DeviceId[] };
    await this.ctx.committer.commit(conversationId, async (state) => {
      const active = (await this.activeDevices([identityId])).filter((d) => d.identityId === identityId);
      const activeIds = new Set<string>(active.map((d) => d.deviceId));
      const members = state.group.members().filter((m) => m.member.identityId === identityId && m.member.deviceId !== this.self);
      const present = new Set<string>(members.map((m) => m.member.deviceId));
      const add = active.filter((d) => !present.has(d.deviceId));
      const remove = members.filter((m) => !activeIds.has(m.member.deviceId));
      changed.added = add.map((d) => d.deviceId);
      changed.removed = remove.map((m) => m.member.deviceId);
      if (add.length === 0 && remove.length === 0) return undefined;
      return { add: await this.claimKeyPackages(add), remove: remove.map((m) => m.leafIndex) };
    });
    return changed;
  }

  /**
   * Before sending: removes members whose keys the verified key log no longer
   * shows as approved (revoked devices), so a revoked device is out of every
   * conversation by the next commit of any member. Checked at most once per
   * interval per conversation; identity lookups are cached.
   */
  async dropUntrustedMembers(conversationId: string): Promise<void> {
    const interval = this.ctx.trustCheckIntervalMs ?? 30_000;
    const last = this.trustChecked.get(conversationId) ?? 0;
    if (Date.now() - last < interval) return;
    this.trustChecked.set(conversationId, Date.now());
    const members = this.ctx.conversations
      .require(conversationId)
      .group.members()
      .filter((m) => m.member.deviceId !== this.self);
    const untrusted: string[] = [];
    for (const identityId of new Set(members.map((m) => m.member.identityId))) {
      const keys = await this.ctx.authenticator.keysOf(identityId, interval === 0);
      for (const m of members) {
        if (m.member.identityId !== identityId) continue;
        const d = keys.devices.get(m.member.deviceId);
        if (!d || d.status !== 'approved' || !holdsSignatureKey(d, m.signaturePublicKey)) untrusted.push(m.member.deviceId);
      }
    }
    if (untrusted.length > 0) await this.removeDevices(conversationId, untrusted);
  }

  /** An update commit: fresh path secrets (post-compromise security, RFC 9420 §12.4). */
  async updateKeys(conversationId: string): Promise<void> {
    await this.ctx.committer.commit(conversationId, async () => ({}));
  }
}
