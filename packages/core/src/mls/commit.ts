/**
 * Commits this device creates (RFC 9420 §12.4): membership changes and updates, the
 * GroupInfo published with each epoch, and the external commit that rejoins a group this
 * device fell out of sync with (§12.4.3.2).
 */
import {
  createCommit,
  createGroupInfoWithExternalPubAndRatchetTree,
  encodeMlsMessage,
  joinGroupExternal,
  zeroOutUint8Array,
  type Proposal,
} from './ts-mls.js';
import { InvalidInputError } from '../errors.js';
import type { AuthenticateMember, MemberRef } from './credential.js';
import { clientConfigFor, mapMlsError, MlsGroup } from './group.js';
import { decodeKeyPackageMessage, leafFor, type SignatureKeyPair } from './key-package.js';
import type { MlsSuite } from './suite.js';
import { decodeMessage } from './wire-inspect.js';

/**
 * What a commit this device created carries to the delivery service.
 *
 * @example
 * const { group, commit, welcome, groupInfo, epoch }: CommitOutput = await commitChanges(suite, group, { add: [kp] });
 */
export interface CommitOutput {
  readonly group: MlsGroup;
  /** The commit for existing members. */
  readonly commit: Uint8Array;
  /** Welcome for added members, if any were added. */
  readonly welcome: Uint8Array | undefined;
  /** GroupInfo of the new epoch (with external public key and ratchet tree) for resync. */
  readonly groupInfo: Uint8Array;
  /** Epoch in which the commit was sent (the delivery service orders on it). */
  readonly epoch: bigint;
}

/**
 * Commits membership changes (RFC 9420 §12.4): adds the given KeyPackages and
 * removes the given leaves; with no changes it is an update commit (fresh path
 * keys, post-compromise security). The commit carries the ratchet tree extension
 * (§12.4.3.3), and its Welcome is present only when members were added.
 *
 * @example
 * const out = await commitChanges(suite, group, { add: [claimed.keyPackage], remove: [gone.leafIndex] });
 * await deliveryService.submitCommit(out.epoch, out.commit, out.welcome, out.groupInfo);
 */
export async function commitChanges(
  suite: MlsSuite,
  group: MlsGroup,
  changes: { add?: readonly Uint8Array[]; remove?: readonly number[] },
): Promise<CommitOutput> {
  const proposals: Proposal[] = [];
  for (const bytes of changes.add ?? []) {
    proposals.push({ proposalType: 'add', add: { keyPackage: decodeKeyPackageMessage(bytes) } });
  }
  for (const leafIndex of changes.remove ?? []) {
    proposals.push({ proposalType: 'remove', remove: { removed: leafIndex } });
  }
  let result;
  try {
    result = await createCommit(
      { state: group.state, cipherSuite: suite.impl },
      // The ratchet tree extension only goes into the Welcome's GroupInfo; without adds there
      // is no Welcome, and encoding the whole tree for it would be wasted work.
      { extraProposals: proposals, ratchetTreeExtension: (changes.add?.length ?? 0) > 0 },
    );
  } catch (cause) {
    throw mapMlsError(cause, 'mls_commit_failed', 'could not create the commit');
  }
  result.consumed.forEach(zeroOutUint8Array);
  const welcome =
    result.welcome !== undefined && result.welcome.secrets.length > 0
      ? encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome })
      : undefined;
  const next = new MlsGroup(result.newState);
  return {
    group: next,
    commit: encodeMlsMessage(result.commit),
    welcome,
    groupInfo: await exportGroupInfo(suite, next),
    epoch: group.epoch,
  };
}

/**
 * GroupInfo for the current epoch with the external public key and ratchet tree (RFC 9420 §12.4.3).
 *
 * @example
 * const groupInfo = await exportGroupInfo(suite, group); // what rejoinExternally needs
 */
export async function exportGroupInfo(suite: MlsSuite, group: MlsGroup): Promise<Uint8Array> {
  const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(group.state, [], suite.impl);
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo });
}

/**
 * Rejoins a group this device fell out of sync with, by an external commit that
 * removes its old leaf (RFC 9420 §12.4.3.2, "resync").
 *
 * @example
 * const { group, commit, epoch, groupInfo } = await rejoinExternally(suite, fromBase64(latest.groupInfo), me, keys, authenticate);
 */
export async function rejoinExternally(
  suite: MlsSuite,
  groupInfoBytes: Uint8Array,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  authenticate: AuthenticateMember,
): Promise<{ group: MlsGroup; commit: Uint8Array; epoch: bigint; groupInfo: Uint8Array }> {
  const message = decodeMessage(groupInfoBytes, 'invalid_mls_message', 'GroupInfo');
  if (message.wireformat !== 'mls_group_info') throw new InvalidInputError('expected a GroupInfo', { code: 'invalid_mls_message' });
  const { publicPackage, privatePackage } = await leafFor(suite, member, signatureKeys);
  try {
    const { publicMessage, newState } = await joinGroupExternal(
      message.groupInfo,
      publicPackage,
      privatePackage,
      true,
      suite.impl,
      undefined,
      clientConfigFor(authenticate),
    );
    const group = new MlsGroup(newState);
    return {
      group,
      commit: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_public_message', publicMessage }),
      epoch: message.groupInfo.groupContext.epoch,
      groupInfo: await exportGroupInfo(suite, group),
    };
  } catch (cause) {
    throw mapMlsError(cause, 'mls_rejoin_failed', 'could not rejoin the group');
  }
}
