/**
 * Groups: the immutable {@link MlsGroup} handle and its members, creating a group (RFC 9420
 * §11) and joining one from a Welcome (§12.4.3.1).
 *
 * ts-mls values are immutable: every operation returns a new `MlsGroup` and leaves
 * the old one untouched, so a caller can persist the new state first and fall
 * back to the old one when the delivery service rejects a commit.
 */
import {
  type ClientConfig,
  type ClientState,
  createGroup as tsCreateGroup,
  defaultClientConfig,
  emptyPskIndex,
  joinGroup,
  type LeafNode,
  type RatchetTree,
} from './ts-mls.js';
import { equalBytes, toBase64Url } from '../bytes.js';
import type { CoreErrorCode } from '../error-codes.js';
import { CryptoError, InvalidInputError, ParleyError } from '../errors.js';
import { authServiceFor, memberFromCredential, type AuthenticateMember, type MemberRef } from './credential.js';
import { decodeKeyPackageMessage, decodePrivateKeyPackage, leafFor, type KeyPackageSecret, type SignatureKeyPair } from './key-package.js';
import { parseSuiteName, type MlsSuite, type SuiteName } from './suite.js';
import { decodeMessage } from './wire-inspect.js';

/**
 * One member (leaf) of a group.
 *
 * @example
 * const devices = group.members().map((m: GroupMember) => m.member.deviceId);
 */
export interface GroupMember {
  readonly leafIndex: number;
  readonly member: MemberRef;
  readonly signaturePublicKey: Uint8Array;
}

/**
 * An MLS group as seen by this device. Immutable.
 *
 * @example
 * const group: MlsGroup = await createGroup(suite, randomBytes(32), me, keys, authenticate);
 * group.epoch;          // 0n
 * group.conversationId; // base64url of the group id
 */
export class MlsGroup {
  /** @internal */
  readonly state: ClientState;

  /** @internal */
  constructor(state: ClientState) {
    this.state = state;
  }

  get groupId(): Uint8Array {
    return this.state.groupContext.groupId;
  }

  /** base64url of the group id: the conversation id used on the wire. */
  get conversationId(): string {
    return toBase64Url(this.state.groupContext.groupId);
  }

  /** The group's cipher suite (RFC 9420 §8.1 GroupContext.cipher_suite), by name. */
  get suite(): SuiteName {
    return this.state.groupContext.cipherSuite as SuiteName;
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  get ownLeafIndex(): number {
    return this.state.privatePath.leafIndex;
  }

  /** False once this device was removed from the group. */
  get active(): boolean {
    return this.state.groupActiveState.kind === 'active';
  }

  /** Current members, in leaf order. */
  members(): GroupMember[] {
    return membersOfTree(this.state.ratchetTree);
  }

  /** The member at `leafIndex`, if any. */
  memberAt(leafIndex: number): GroupMember | undefined {
    return memberAtLeaf(this.state.ratchetTree, leafIndex);
  }
}

/** @internal The Parley member at leaf `leafIndex` of `tree` (leaf i is node 2i, RFC 9420 §4.1). */
export function memberAtLeaf(tree: RatchetTree, leafIndex: number): GroupMember | undefined {
  const node = tree[leafIndex * 2];
  if (node === undefined || node.nodeType !== 'leaf') return undefined;
  return leafToMember(node.leaf, leafIndex);
}

function leafToMember(leaf: LeafNode, leafIndex: number): GroupMember | undefined {
  const member = memberFromCredential(leaf.credential);
  if (member === undefined) return undefined;
  return { leafIndex, member, signaturePublicKey: leaf.signaturePublicKey };
}

/** @internal Leaves of `after` whose HPKE key is not in `before` at the same index (new or replaced leaves). */
export function newLeaves(before: RatchetTree, after: RatchetTree): GroupMember[] {
  const out: GroupMember[] = [];
  for (let i = 0; i * 2 < after.length; i++) {
    const a = after[i * 2];
    if (a === undefined || a.nodeType !== 'leaf') continue;
    const b = before[i * 2];
    if (b !== undefined && b.nodeType === 'leaf' && equalBytes(a.leaf.hpkePublicKey, b.leaf.hpkePublicKey)) continue;
    const m = leafToMember(a.leaf, i);
    if (m) out.push(m);
  }
  return out;
}

function membersOfTree(tree: RatchetTree): GroupMember[] {
  const out: GroupMember[] = [];
  for (let i = 0; i * 2 < tree.length; i++) {
    const m = memberAtLeaf(tree, i);
    if (m) out.push(m);
  }
  return out;
}

/** @internal A ts-mls failure as a `CryptoError` with `code`; Parley errors pass through unchanged. */
export function mapMlsError(cause: unknown, code: CoreErrorCode, message: string): ParleyError {
  if (cause instanceof ParleyError) return cause;
  return new CryptoError(code, message, { cause });
}

/**
 * Two leaves are the same client when they carry the same signature key or the same device
 * credential (identity and device id). ts-mls's default compares signature keys only, so a
 * device that rotated its key (docs/key-rotation.md) would not find its old leaf in a resync
 * (RFC 9420 §12.4.3.2) — and ts-mls 1.6 then loops on the index it did not find.
 */
function sameClient(a: LeafNode, b: LeafNode): boolean {
  if (equalBytes(a.signaturePublicKey, b.signaturePublicKey)) return true;
  const ma = memberFromCredential(a.credential);
  const mb = memberFromCredential(b.credential);
  return ma !== undefined && mb !== undefined && ma.identityId === mb.identityId && ma.deviceId === mb.deviceId;
}

/** @internal The ts-mls client configuration of every Parley group. */
export function clientConfigFor(authenticate: AuthenticateMember): ClientConfig {
  return {
    ...defaultClientConfig,
    keyPackageEqualityConfig: {
      compareKeyPackages: (a, b) => sameClient(a.leafNode, b.leafNode),
      compareKeyPackageToLeafNode: (a, b) => sameClient(a.leafNode, b),
    },
    // Pad every application message to at least 256 bytes so the length of short
    // secrets (one-time codes) does not show through (RFC 9420 §6.3.1 padding).
    paddingConfig: { kind: 'padUntilLength', padUntilLength: 256 },
    authService: authServiceFor(authenticate),
  };
}

/**
 * Creates a new group containing only this device, at epoch 0 (RFC 9420 §11).
 *
 * @example
 * const group = await createGroup(suite, randomBytes(32), member, signatureKeys, authenticate)
 */
export async function createGroup(
  suite: MlsSuite,
  groupId: Uint8Array,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  authenticate: AuthenticateMember,
): Promise<MlsGroup> {
  const { publicPackage, privatePackage } = await leafFor(suite, member, signatureKeys);
  const state = await tsCreateGroup(groupId, publicPackage, privatePackage, [], suite.impl, clientConfigFor(authenticate));
  return new MlsGroup(state);
}

/**
 * The suite a Welcome is for (RFC 9420 §12.4.3.1 `cipher_suite`), read before joining with it.
 * Throws `invalid_mls_message` when malformed, `unsupported_suite` for a suite Parley does not offer.
 *
 * @example
 * const { group } = await joinFromWelcome(suites.get(welcomeSuite(bytes))!, bytes, key, find, authenticate);
 */
export function welcomeSuite(welcomeBytes: Uint8Array): SuiteName {
  const message = decodeMessage(welcomeBytes, 'invalid_mls_message', 'Welcome');
  if (message.wireformat !== 'mls_welcome') throw new InvalidInputError('expected a Welcome', { code: 'invalid_mls_message' });
  const name = parseSuiteName(message.welcome.cipherSuite);
  if (name === undefined) throw new InvalidInputError('Welcome uses a cipher suite Parley does not offer', { code: 'unsupported_suite' });
  return name;
}

/**
 * Joins a group from a Welcome (RFC 9420 §12.4.3.1). `findKeyPackage` resolves
 * the KeyPackageRefs the Welcome is addressed to. Returns the group and the ref
 * used, so the caller can delete a consumed one-time KeyPackage.
 *
 * @example
 * const { group, keyPackageRef } = await joinFromWelcome(suite, welcome, keys.privateKey, (ref) => store.keyPackage(ref), authenticate);
 * await store.deleteKeyPackage(keyPackageRef);
 */
export async function joinFromWelcome(
  suite: MlsSuite,
  welcomeBytes: Uint8Array,
  signaturePrivateKey: Uint8Array,
  findKeyPackage: (ref: Uint8Array) => Promise<KeyPackageSecret | undefined>,
  authenticate: AuthenticateMember,
): Promise<{ group: MlsGroup; keyPackageRef: Uint8Array }> {
  const message = decodeMessage(welcomeBytes, 'invalid_mls_message', 'Welcome');
  if (message.wireformat !== 'mls_welcome') throw new InvalidInputError('expected a Welcome', { code: 'invalid_mls_message' });
  for (const secret of message.welcome.secrets) {
    const found = await findKeyPackage(secret.newMember);
    if (found === undefined) continue;
    try {
      const state = await joinGroup(
        message.welcome,
        decodeKeyPackageMessage(found.keyPackage),
        decodePrivateKeyPackage(found.privateKey, signaturePrivateKey),
        emptyPskIndex,
        suite.impl,
        undefined,
        undefined,
        clientConfigFor(authenticate),
      );
      return { group: new MlsGroup(state), keyPackageRef: secret.newMember };
    } catch (cause) {
      throw mapMlsError(cause, 'mls_welcome_rejected', 'could not join the group from the Welcome');
    }
  }
  throw new CryptoError('mls_welcome_not_for_us', 'the Welcome is not addressed to any KeyPackage of this device');
}
