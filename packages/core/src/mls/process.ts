/**
 * Messages within a group: encrypting application data (RFC 9420 §6.3) and processing
 * what arrives (§6.3.2 application data with its authenticated sender; §12.4.2 commits,
 * with Parley's rule that an external commit is only ever a member's resync).
 */
import {
  createApplicationMessage,
  encodeMlsMessage,
  type IncomingMessageAction,
  makePskIndex,
  type PrivateMessage,
  processMessage,
  type ProposalWithSender,
  type RatchetTree,
  unprotectPrivateMessage,
  zeroOutUint8Array,
} from './ts-mls.js';
import { equalBytes } from '../bytes.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import { mapMlsError, memberAtLeaf, MlsGroup, newLeaves, type GroupMember } from './group.js';
import type { MlsSuite } from './suite.js';
import { decodeMessage, wireInfoOf } from './wire-inspect.js';

/**
 * Encrypts application data as a PrivateMessage (RFC 9420 §6.3), padded to at least 256 bytes.
 *
 * @example
 * const { group: next, message } = await encryptApplication(suite, group, encodeContent(content));
 * await persist(next); // before the ciphertext leaves the device
 */
export async function encryptApplication(
  suite: MlsSuite,
  group: MlsGroup,
  plaintext: Uint8Array,
): Promise<{ group: MlsGroup; message: Uint8Array }> {
  try {
    const { newState, privateMessage, consumed } = await createApplicationMessage(group.state, plaintext, suite.impl);
    consumed.forEach(zeroOutUint8Array);
    return {
      group: new MlsGroup(newState),
      message: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage }),
    };
  } catch (cause) {
    throw mapMlsError(cause, 'mls_encrypt_failed', 'could not encrypt the message');
  }
}

/**
 * The outcome of processing one incoming handshake or application message.
 *
 * @example
 * const result: ProcessResult = await processIncoming(suite, group, bytes);
 * if (result.kind === 'application') show(result.sender.member, decodeContent(result.plaintext));
 */
export type ProcessResult =
  | {
      readonly kind: 'application';
      readonly group: MlsGroup;
      readonly plaintext: Uint8Array;
      readonly sender: GroupMember;
      readonly epoch: bigint;
    }
  | {
      readonly kind: 'commit';
      readonly group: MlsGroup;
      /** Undefined for an external commit (resync). */
      readonly committer: GroupMember | undefined;
      readonly added: readonly GroupMember[];
      readonly removed: readonly GroupMember[];
      /** True when this commit removed this device. */
      readonly selfRemoved: boolean;
      readonly epoch: bigint;
    }
  | { readonly kind: 'proposal'; readonly group: MlsGroup }
  /** The message belongs to a later epoch: keep it and retry after the missing commit. */
  | { readonly kind: 'future-epoch'; readonly epoch: bigint }
  /** A handshake message for an epoch this device already left (a duplicate). */
  | { readonly kind: 'stale'; readonly epoch: bigint };

/**
 * Processes an incoming PrivateMessage or PublicMessage for `group`.
 * Application messages report the authenticated sender (its leaf's credential);
 * external commits are accepted only as a resync of an existing member's own
 * leaf (same identity and device), anything else is rejected.
 *
 * @example
 * const result = await processIncoming(suite, group, fromBase64(envelope.payload));
 * if (result.kind === 'future-epoch') holdUntilCommit(envelope);
 * else if ('group' in result) group = result.group;
 */
export async function processIncoming(suite: MlsSuite, group: MlsGroup, bytes: Uint8Array): Promise<ProcessResult> {
  const message = decodeMessage(bytes, 'invalid_mls_message', 'message');
  if (message.wireformat !== 'mls_private_message' && message.wireformat !== 'mls_public_message') {
    throw new InvalidInputError('expected a private or public MLS message', { code: 'invalid_mls_message' });
  }
  const info = wireInfoOf(message);
  if (info.groupId === undefined || !equalBytes(info.groupId, group.groupId)) {
    throw new CryptoError('mls_wrong_group', 'the message belongs to another group');
  }
  const epoch = info.epoch ?? 0n;
  if (epoch > group.epoch) return { kind: 'future-epoch', epoch };

  if (message.wireformat === 'mls_private_message' && message.privateMessage.contentType === 'application') {
    return processApplication(suite, group, message.privateMessage);
  }
  if (epoch < group.epoch) return { kind: 'stale', epoch };

  let seen: { senderLeafIndex: number | undefined; proposals: ProposalWithSender[] } | undefined;
  const policy = (incoming: Parameters<Parameters<typeof processMessage>[3]>[0]): IncomingMessageAction => {
    if (incoming.kind === 'commit') seen = { senderLeafIndex: incoming.senderLeafIndex, proposals: incoming.proposals };
    return 'accept';
  };
  let result;
  try {
    result = await processMessage(message, group.state, makePskIndex(group.state, {}), policy, suite.impl);
  } catch (cause) {
    throw mapMlsError(cause, 'mls_process_failed', 'could not process the handshake message');
  }
  result.consumed.forEach(zeroOutUint8Array);
  const next = new MlsGroup(result.newState);
  if (result.kind === 'applicationMessage' || seen === undefined) return { kind: 'proposal', group: next };

  const { added, removed } = membershipChanges(group.state.ratchetTree, next.state.ratchetTree);
  const selfRemoved = !next.active;
  let committer: GroupMember | undefined;
  if (seen.senderLeafIndex !== undefined) {
    committer = group.memberAt(seen.senderLeafIndex);
  } else {
    // External commit: acceptable only as a resync of the joiner's own old leaf:
    // exactly one Remove, and the one new leaf carries the same device credential.
    const removedLeaves = seen.proposals.flatMap((p) => (p.proposal.proposalType === 'remove' ? [p.proposal.remove.removed] : []));
    const old = removedLeaves.length === 1 ? group.memberAt(removedLeaves[0]!) : undefined;
    const joiners = newLeaves(group.state.ratchetTree, next.state.ratchetTree);
    const joiner = joiners.length === 1 ? joiners[0] : undefined;
    if (
      joiner === undefined ||
      old === undefined ||
      old.member.identityId !== joiner.member.identityId ||
      old.member.deviceId !== joiner.member.deviceId
    ) {
      throw new CryptoError('mls_external_join_rejected', 'external commit is not a resync of an existing member');
    }
  }
  return { kind: 'commit', group: next, committer, added, removed, selfRemoved, epoch };
}

async function processApplication(suite: MlsSuite, group: MlsGroup, pm: PrivateMessage): Promise<ProcessResult> {
  // Mirrors ts-mls processPrivateMessage for application data, but keeps the
  // authenticated sender (its public API drops it).
  const state = group.state;
  try {
    if (pm.epoch < state.groupContext.epoch) {
      const receiverData = state.historicalReceiverData.get(pm.epoch);
      if (receiverData === undefined) throw new CryptoError('mls_epoch_too_old', 'the message epoch is no longer retained');
      const result = await unprotectPrivateMessage(
        receiverData.senderDataSecret,
        pm,
        receiverData.secretTree,
        receiverData.ratchetTree,
        receiverData.groupContext,
        state.clientConfig.keyRetentionConfig,
        suite.impl,
      );
      const sender = senderOf(result.content.content.sender, receiverData.ratchetTree);
      if (result.content.content.contentType !== 'application') throw new CryptoError('mls_process_failed', 'unexpected content');
      const history = new Map(state.historicalReceiverData);
      history.set(pm.epoch, { ...receiverData, secretTree: result.tree });
      result.consumed.forEach(zeroOutUint8Array);
      return {
        kind: 'application',
        group: new MlsGroup({ ...state, historicalReceiverData: history }),
        plaintext: result.content.content.applicationData,
        sender,
        epoch: pm.epoch,
      };
    }
    const result = await unprotectPrivateMessage(
      state.keySchedule.senderDataSecret,
      pm,
      state.secretTree,
      state.ratchetTree,
      state.groupContext,
      state.clientConfig.keyRetentionConfig,
      suite.impl,
    );
    if (result.content.content.contentType !== 'application') throw new CryptoError('mls_process_failed', 'unexpected content');
    const sender = senderOf(result.content.content.sender, state.ratchetTree);
    result.consumed.forEach(zeroOutUint8Array);
    return {
      kind: 'application',
      group: new MlsGroup({ ...state, secretTree: result.tree }),
      plaintext: result.content.content.applicationData,
      sender,
      epoch: pm.epoch,
    };
  } catch (cause) {
    throw mapMlsError(cause, 'mls_decrypt_failed', 'could not decrypt the message');
  }
}

function senderOf(sender: { senderType: string; leafIndex?: number }, tree: RatchetTree): GroupMember {
  const member = sender.senderType === 'member' && sender.leafIndex !== undefined ? memberAtLeaf(tree, sender.leafIndex) : undefined;
  if (member === undefined) throw new CryptoError('mls_unknown_sender', 'the message sender is not a Parley member');
  return member;
}

/**
 * Membership changes by device (a resync keeps the device, so it is neither added nor
 * removed): members (identity, device and signature key) in `before` and not in `after`,
 * and the reverse. ts-mls's trees are immutable and share unchanged nodes, so a leaf slot
 * holding the very same node object on both sides is the same member and is skipped: an
 * update commit in a large group looks up only the committer's leaf in the other tree.
 */
function membershipChanges(before: RatchetTree, after: RatchetTree): { added: GroupMember[]; removed: GroupMember[] } {
  const added: GroupMember[] = [];
  const removed: GroupMember[] = [];
  for (let i = 0; i * 2 < Math.max(before.length, after.length); i++) {
    if (before[i * 2] === after[i * 2]) continue;
    const b = memberAtLeaf(before, i);
    const a = memberAtLeaf(after, i);
    // A member that moved to another slot is still a member: look in the whole other tree.
    if (b !== undefined && !hasMember(after, b)) removed.push(b);
    if (a !== undefined && !hasMember(before, a)) added.push(a);
  }
  return { added, removed };
}

/** Whether some leaf of `tree` is `m`: the same signature key, identity and device. */
function hasMember(tree: RatchetTree, m: GroupMember): boolean {
  for (let i = 0; i * 2 < tree.length; i++) {
    const node = tree[i * 2];
    if (node === undefined || node.nodeType !== 'leaf' || !equalBytes(node.leaf.signaturePublicKey, m.signaturePublicKey)) continue;
    const other = memberAtLeaf(tree, i);
    if (other !== undefined && other.member.identityId === m.member.identityId && other.member.deviceId === m.member.deviceId) return true;
  }
  return false;
}
