/**
 * Who is in a conversation, planned against the verified key log: which
 * devices are active (approved, not revoked), claiming and checking their
 * KeyPackages, and the commits that add, remove and reconcile members. The
 * server is never taken on its word: a claimed KeyPackage must be the named
 * device's, with the signature key the log shows.
 */
import { fromBase64, parseDeviceId, randomBytes, type ConversationId, type DeviceId, type IdentityId } from '@parley/core';
import { holdsSignatureKey } from '@parley/core/keylog';
import { CLASSIC_SUITE, XWING_SUITE, createGroup, inspectKeyPackage, keyPackageSuite, type SuiteName } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { KeyLogAuthenticator } from './authenticator.js';
import type { Committer } from './commits.js';
import { ConversationState } from './conversation-state.js';
import type { ConversationRegistry } from './conversations.js';
import { ApiError, KeyPackageError, SuiteError } from './errors.js';
import type { KeyStore } from './key-store.js';
import { suiteOf, type MlsSelf } from './mls-self.js';

/**
 * One device of an identity, as the verified key log names it.
 *
 * @example
 * const devices: DeviceRef[] = await device.activeDevices([customerId])
 */
export interface DeviceRef {
  readonly identityId: IdentityId;
  readonly deviceId: DeviceId;
  /** The MLS suites the device supports, as its signed key-log statements say (docs/post-quantum.md). */
  readonly suites?: readonly string[];
}

/**
 * How much a conversation must be post-quantum (per message class, docs/post-quantum.md):
 * `required` (X-Wing or nothing), `preferred` (X-Wing when every device supports it), `off`.
 *
 * @example
 * await device.createConversation([customerId], { pq: 'required' })
 */
export type PostQuantumMode = 'required' | 'preferred' | 'off';

/**
 * Whether a device (as its verified key-log statements say) supports `suite`; a device that never
 * stated suites has the classic one.
 *
 * @example
 * const lacking = devices.filter((d) => !deviceSupports(d, XWING_SUITE))
 */
export function deviceSupports(device: DeviceRef, suite: string): boolean {
  return (device.suites ?? [CLASSIC_SUITE]).includes(suite);
}

/**
 * The suite a new conversation with `devices` (this device's own included) gets under `pq`;
 * throws `SuiteError` `post_quantum_unavailable`, naming the devices without X-Wing, when
 * `required` cannot be met. Never a silent downgrade.
 *
 * @example
 * const suite = chooseSuite(devices, [...self.suites.keys()], 'preferred')
 */
export function chooseSuite(devices: readonly DeviceRef[], own: readonly string[], pq: PostQuantumMode): SuiteName {
  if (pq === 'off') return CLASSIC_SUITE;
  const lacking = devices.filter((d) => !deviceSupports(d, XWING_SUITE)).map((d) => d.deviceId);
  if (lacking.length === 0 && own.includes(XWING_SUITE)) return XWING_SUITE;
  if (pq === 'preferred') return CLASSIC_SUITE;
  throw new SuiteError('post_quantum_unavailable', 'some devices do not support the post-quantum suite', { suite: XWING_SUITE, devices: lacking });
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
  /**
   * A business's device (sender, agent, bot): at the same check it also adds the customers'
   * new approved devices (a phone re-enrolled after a loss), as the Sender does for its own
   * conversations, so every conversation with the business reaches the new device.
   */
  addsCustomerDevices?(): boolean;
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

  /** Approved devices of the given identities from the verified key log (this device excluded); `fresh: false` takes a lookup cached for a few seconds. */
  async activeDevices(identityIds: readonly string[], fresh = true): Promise<DeviceRef[]> {
    const out: DeviceRef[] = [];
    for (const id of identityIds) {
      const keys = await this.ctx.authenticator.keysOf(id, fresh);
      for (const d of keys.devices.values()) {
        // Ids as the verified lookup states them; log entries passed the schema's device-id pattern, so parsing cannot fail.
        if (d.status === 'approved' && d.deviceId !== this.self) out.push({ identityId: keys.identity.identityId, deviceId: parseDeviceId(d.deviceId), suites: d.suites });
      }
    }
    return out;
  }

  /**
   * Claims and verifies one KeyPackage per device in `suite`. A server that answers
   * `no_key_package` for a post-quantum suite the device's verified log states is withholding
   * it (every stated suite has a last-resort KeyPackage): `key_package_withheld`.
   */
  async claimKeyPackages(devices: readonly DeviceRef[], suite: SuiteName = CLASSIC_SUITE): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const loaded = suiteOf(this.ctx.mls, suite);
    for (let i = 0; i < devices.length; i += CLAIM_CHUNK) {
      const chunk = devices.slice(i, i + CLAIM_CHUNK);
      let res;
      try {
        res = await this.ctx.api.claimKeyPackages(
          chunk.map((d) => d.deviceId),
          suite === CLASSIC_SUITE ? undefined : suite,
        );
      } catch (error) {
        const deviceId = error instanceof ApiError && error.code === 'no_key_package' ? (error.details as { deviceId?: string } | undefined)?.deviceId : undefined;
        const named = chunk.find((d) => d.deviceId === deviceId);
        // Only a post-quantum suite: hiding it would push the conversation down to classic. (A
        // device offline past its KeyPackages' lifetime has none of ANY suite: no downgrade then.)
        if (named && suite !== CLASSIC_SUITE && (named.suites ?? []).includes(suite)) {
          throw new KeyPackageError('key_package_withheld', `the server gives no ${suite} KeyPackage of a device the key log says supports it`, { deviceId: named.deviceId });
        }
        throw error;
      }
      for (const want of chunk) {
        const got = res.keyPackages.find((k) => k.deviceId === want.deviceId);
        if (!got) throw new KeyPackageError('key_package_missing', 'the server returned no KeyPackage for a device', { deviceId: want.deviceId });
        const bytes = fromBase64(got.keyPackage, 'keyPackage');
        // A KeyPackage of another suite than asked for is a substitution (a downgrade).
        if (keyPackageSuite(bytes) !== suite) throw new KeyPackageError('key_package_substituted', 'the server returned a KeyPackage of another suite', { deviceId: want.deviceId });
        const info = await inspectKeyPackage(loaded, bytes);
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

  /**
   * A new group with every active device of the identities (and this identity's other devices),
   * in one commit, on the suite `pq` allows (chooseSuite). `only` narrows the other identities'
   * devices (a post-quantum group of the devices that support it).
   */
  async createConversation(identityIds: readonly string[], pq: PostQuantumMode = 'preferred', only?: (device: DeviceRef) => boolean): Promise<ConversationId> {
    const { member, signatureKeys, authenticate } = this.ctx.mls;
    const targets = (await this.activeDevices([...new Set([member.identityId, ...identityIds])])).filter(
      (d) => only === undefined || d.identityId === member.identityId || only(d),
    );
    const suite = chooseSuite(targets, [...this.ctx.mls.suites.keys()], pq);
    const keyPackages = await this.claimKeyPackages(targets, suite);
    const group = await createGroup(suiteOf(this.ctx.mls, suite), randomBytes(32), member, signatureKeys, authenticate);
    const conversation = ConversationState.fresh(group, this.ctx.now());
    if (only !== undefined) conversation.meta.chosenDevices = true;
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
      // A device without the group's suite cannot join it (a post-quantum conversation is never downgraded for it).
      const wanted = (await this.activeDevices(identityIds)).filter((d) => !present.has(d.deviceId) && deviceSupports(d, state.group.suite));
      return wanted.length === 0 ? undefined : { add: await this.claimKeyPackages(wanted, state.group.suite) };
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
      // A device without the group's suite stays out (the Sender gives it the class's `otherwise`).
      const add = active.filter((d) => !present.has(d.deviceId) && deviceSupports(d, state.group.suite));
      const remove = members.filter((m) => !activeIds.has(m.member.deviceId));
      changed.added = add.map((d) => d.deviceId);
      changed.removed = remove.map((m) => m.member.deviceId);
      if (add.length === 0 && remove.length === 0) return undefined;
      return { add: await this.claimKeyPackages(add, state.group.suite), remove: remove.map((m) => m.leafIndex) };
    });
    return changed;
  }

  /**
   * Before sending: removes members whose keys the verified key log no longer
   * shows as approved (revoked devices), so a revoked device is out of every
   * conversation by the next commit of any member; a business's device also adds
   * customers' new approved devices. Checked at most once per interval per
   * conversation; identity lookups are cached.
   */
  async dropUntrustedMembers(conversationId: string): Promise<void> {
    const interval = this.ctx.trustCheckIntervalMs ?? 30_000;
    const last = this.trustChecked.get(conversationId) ?? 0;
    if (Date.now() - last < interval) return;
    this.trustChecked.set(conversationId, Date.now());
    const state = this.ctx.conversations.require(conversationId);
    const members = state.group.members().filter((m) => m.member.deviceId !== this.self);
    const untrusted: string[] = [];
    const withNewDevices: string[] = [];
    for (const identityId of new Set(members.map((m) => m.member.identityId))) {
      const keys = await this.ctx.authenticator.keysOf(identityId, interval === 0);
      for (const m of members) {
        if (m.member.identityId !== identityId) continue;
        const d = keys.devices.get(m.member.deviceId);
        if (!d || d.status !== 'approved' || !holdsSignatureKey(d, m.signaturePublicKey)) untrusted.push(m.member.deviceId);
      }
      const present = new Set<string>(members.map((m) => m.member.deviceId));
      const added = [...keys.devices.values()].some((d) => d.status === 'approved' && d.kind === 'customer' && d.deviceId !== this.self && !present.has(d.deviceId));
      if (added && this.ctx.addsCustomerDevices?.() && state.meta.chosenDevices !== true) withNewDevices.push(identityId);
    }
    if (untrusted.length > 0) await this.removeDevices(conversationId, untrusted);
    for (const identityId of withNewDevices) await this.reconcileIdentity(conversationId, identityId);
  }

  /** An update commit: fresh path secrets (post-compromise security, RFC 9420 §12.4). */
  async updateKeys(conversationId: string): Promise<void> {
    await this.ctx.committer.commit(conversationId, async () => ({}));
  }
}
