/**
 * The one module that talks to ts-mls (RFC 9420). Everything else in Parley sees
 * only the types and functions exported here, so the ts-mls 1.x → 2.x upgrade is
 * contained in this file (and the crypto providers next to it).
 *
 * ts-mls values are immutable: every operation returns a new `MlsGroup` and leaves
 * the old one untouched, so a caller can persist the new state first and fall
 * back to the old one when the delivery service rejects a commit.
 */
import {
  createApplicationMessage,
  createCommit,
  createGroup as tsCreateGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  makePskIndex,
  processMessage,
  zeroOutUint8Array,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientConfig,
  type ClientState,
  type Credential,
  type CryptoProvider,
  type IncomingMessageAction,
  type KeyPackage,
  type LeafNode,
  type MLSMessage,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Proposal,
  type ProposalWithSender,
  type RatchetTree,
} from 'ts-mls';
import { defaultClientConfig } from 'ts-mls/clientConfig.js';
import { decodeGroupStateWithoutTree, encodeGroupStateWithoutTree } from 'ts-mls/clientState.js';
import { decodeRatchetTree, encodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { generateKeyPackageWithKey } from 'ts-mls/keyPackage.js';
import { makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { CryptoError, InvalidInputError, ParleyError } from '../errors.js';
import { equalBytes, fromUtf8, toBase64Url, utf8 } from '../bytes.js';
import { DEVICE_ID_PATTERN, IDENTITY_ID_PATTERN, type DeviceId, type IdentityId } from '../ids.js';

/** Cipher suites Parley offers. The first is the default (RFC 9420 §17.1). */
export const SUITES = ['MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', 'MLS_256_XWING_AES256GCM_SHA512_Ed25519'] as const;
export type SuiteName = (typeof SUITES)[number];
export const DEFAULT_SUITE: SuiteName = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

/** A loaded cipher suite: the algorithms ts-mls runs, backed by one crypto provider. */
export interface MlsSuite {
  readonly name: SuiteName;
  /** @internal ts-mls implementation object; do not use outside this module. */
  readonly impl: CiphersuiteImpl;
}

/**
 * Loads a cipher suite backed by `provider` (node:crypto in Node, WebCrypto in
 * browsers; defaults to ts-mls's own provider).
 *
 * @example
 * const suite = await loadSuite(DEFAULT_SUITE, nodeCryptoProvider)
 */
export async function loadSuite(name: SuiteName = DEFAULT_SUITE, provider?: CryptoProvider): Promise<MlsSuite> {
  if (!SUITES.includes(name)) throw new InvalidInputError('unsupported cipher suite', { code: 'unsupported_suite' });
  const cs = getCiphersuiteFromName(name as CiphersuiteName);
  const impl = provider ? await provider.getCiphersuiteImpl(cs) : await getCiphersuiteImpl(cs);
  return { name, impl };
}

// ---------------------------------------------------------------------------
// Credentials: an MLS basic credential (RFC 9420 §5.3) whose identity binds the
// Parley identity and device: UTF-8 `<identityId>/<deviceId>`.

/** Who a leaf of an MLS group claims to be. */
export interface MemberRef {
  readonly identityId: IdentityId;
  readonly deviceId: DeviceId;
}

const identityRe = new RegExp(IDENTITY_ID_PATTERN);
const deviceRe = new RegExp(DEVICE_ID_PATTERN);

/** The credential identity bytes for `member`. */
export function credentialIdentity(member: MemberRef): Uint8Array {
  return utf8(`${member.identityId}/${member.deviceId}`);
}

function credentialOf(member: MemberRef): Credential {
  return { credentialType: 'basic', identity: credentialIdentity(member) };
}

/** Parses a credential identity; `undefined` when it is not a Parley device credential. */
export function memberFromCredentialIdentity(identity: Uint8Array): MemberRef | undefined {
  let text: string;
  try {
    text = fromUtf8(identity);
  } catch {
    return undefined;
  }
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const identityId = text.slice(0, slash);
  const deviceId = text.slice(slash + 1);
  if (!identityRe.test(identityId) || !deviceRe.test(deviceId)) return undefined;
  return { identityId: identityId as IdentityId, deviceId: deviceId as DeviceId };
}

function memberFromCredential(credential: Credential): MemberRef | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  return memberFromCredentialIdentity(credential.identity);
}

/**
 * Decides whether a credential may appear in a group. Parley's replacement for
 * ts-mls's default authentication service, which accepts everything: the SDK
 * answers from the registry (later: the key transparency log).
 */
export type AuthenticateMember = (member: MemberRef, signaturePublicKey: Uint8Array) => Promise<boolean>;

function clientConfigFor(authenticate: AuthenticateMember): ClientConfig {
  return {
    ...defaultClientConfig,
    // Pad every application message to at least 256 bytes so the length of short
    // secrets (one-time codes) does not show through (RFC 9420 §6.3.1 padding).
    paddingConfig: { kind: 'padUntilLength', padUntilLength: 256 },
    authService: {
      async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
        const member = memberFromCredential(credential);
        if (member === undefined) return false;
        try {
          return await authenticate(member, signaturePublicKey);
        } catch {
          return false;
        }
      },
    },
  };
}

// ---------------------------------------------------------------------------
// Signature keys and KeyPackages (RFC 9420 §10)

export interface SignatureKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** A fresh MLS signature key pair for the suite (Ed25519 for the default suite). */
export async function generateSignatureKeyPair(suite: MlsSuite): Promise<SignatureKeyPair> {
  const { publicKey, signKey } = await suite.impl.signature.keygen();
  return { publicKey, privateKey: signKey };
}

/** A KeyPackage as published (`keyPackage`) and the private half the device keeps. */
export interface KeyPackageBundle {
  /** MLSMessage (wire format mls_key_package) bytes, safe to publish. */
  readonly keyPackage: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2), used to find the private half for a Welcome. */
  readonly ref: Uint8Array;
  /** Encoded init and HPKE private keys. Secret. */
  readonly privateKey: Uint8Array;
}

/**
 * Creates a KeyPackage for `member`, signed with the device's MLS signature key.
 *
 * @example
 * const kp = await createKeyPackage(suite, { identityId, deviceId }, signatureKeys)
 */
export async function createKeyPackage(
  suite: MlsSuite,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  options: { lifetimeSeconds?: number; now?: Date } = {},
): Promise<KeyPackageBundle> {
  const now = BigInt(Math.floor((options.now ?? new Date()).getTime() / 1000));
  const lifetime = { notBefore: now - 3600n, notAfter: now + BigInt(options.lifetimeSeconds ?? 28 * 24 * 3600) };
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credentialOf(member),
    defaultCapabilities(),
    lifetime,
    [],
    { signKey: signatureKeys.privateKey, publicKey: signatureKeys.publicKey },
    suite.impl,
  );
  const ref = await makeKeyPackageRef(publicPackage, suite.impl.hash);
  return {
    keyPackage: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
    ref,
    privateKey: encodePrivateKeyPackage(privatePackage),
  };
}

function encodePrivateKeyPackage(p: PrivateKeyPackage): Uint8Array {
  // version(1) || len(2) || init || len(2) || hpke. The signature key is the device's and is stored once, elsewhere.
  const out = new Uint8Array(1 + 2 + p.initPrivateKey.length + 2 + p.hpkePrivateKey.length);
  const view = new DataView(out.buffer);
  out[0] = 1;
  view.setUint16(1, p.initPrivateKey.length);
  out.set(p.initPrivateKey, 3);
  view.setUint16(3 + p.initPrivateKey.length, p.hpkePrivateKey.length);
  out.set(p.hpkePrivateKey, 5 + p.initPrivateKey.length);
  return out;
}

function decodePrivateKeyPackage(bytes: Uint8Array, signaturePrivateKey: Uint8Array): PrivateKeyPackage {
  const fail = (): never => {
    throw new CryptoError('invalid_private_key_package', 'stored KeyPackage private key is malformed');
  };
  if (bytes.length < 5 || bytes[0] !== 1) fail();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const initLen = view.getUint16(1);
  if (3 + initLen + 2 > bytes.length) fail();
  const hpkeLen = view.getUint16(3 + initLen);
  if (5 + initLen + hpkeLen !== bytes.length) fail();
  return {
    initPrivateKey: bytes.slice(3, 3 + initLen),
    hpkePrivateKey: bytes.slice(5 + initLen),
    signaturePrivateKey,
  };
}

/** What a published KeyPackage says about its owner (signature already verified). */
export interface KeyPackageInfo {
  readonly member: MemberRef;
  readonly signaturePublicKey: Uint8Array;
  readonly ref: Uint8Array;
  readonly suite: string;
  /** Lifetime end, seconds since the epoch. */
  readonly notAfter: bigint;
}

function decodeMessage(bytes: Uint8Array, code: string, what: string): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new InvalidInputError(`${what} is not a valid MLS message`, { code, cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new InvalidInputError(`${what} is not a valid MLS message`, { code });
  }
  return decoded[0];
}

function decodeKeyPackageMessage(bytes: Uint8Array): KeyPackage {
  const message = decodeMessage(bytes, 'invalid_key_package', 'KeyPackage');
  if (message.wireformat !== 'mls_key_package') {
    throw new InvalidInputError('expected an MLS KeyPackage', { code: 'invalid_key_package' });
  }
  return message.keyPackage;
}

/**
 * Decodes a published KeyPackage and verifies its signature and credential format.
 * Throws `invalid_key_package` for anything malformed, forged or of another suite.
 */
export async function inspectKeyPackage(suite: MlsSuite, bytes: Uint8Array): Promise<KeyPackageInfo> {
  const kp = decodeKeyPackageMessage(bytes);
  if (kp.cipherSuite !== suite.name) {
    throw new InvalidInputError('KeyPackage uses another cipher suite', { code: 'invalid_key_package' });
  }
  const member = memberFromCredential(kp.leafNode.credential);
  if (member === undefined) {
    throw new InvalidInputError('KeyPackage credential is not a Parley device credential', { code: 'invalid_key_package' });
  }
  let valid = false;
  try {
    valid = await verifyKeyPackage(kp, suite.impl.signature);
  } catch {
    valid = false;
  }
  if (!valid) throw new InvalidInputError('KeyPackage signature is invalid', { code: 'invalid_key_package' });
  return {
    member,
    signaturePublicKey: kp.leafNode.signaturePublicKey,
    ref: await makeKeyPackageRef(kp, suite.impl.hash),
    suite: kp.cipherSuite,
    notAfter: kp.leafNode.lifetime.notAfter,
  };
}

// ---------------------------------------------------------------------------
// Wire inspection for the delivery service: what can be read without keys.

export type WireKind = 'private' | 'public' | 'welcome' | 'group_info' | 'key_package';

export interface WireInfo {
  readonly kind: WireKind;
  /** Group id, for private and public messages and GroupInfo. */
  readonly groupId?: Uint8Array;
  readonly epoch?: bigint;
  readonly contentType?: 'application' | 'proposal' | 'commit';
  /** For public messages: `member`, `external`, `new_member_commit` … */
  readonly senderType?: string;
}

/**
 * Reads the clear framing of an MLSMessage (RFC 9420 §6): wire format, group id,
 * epoch and content type. Throws `invalid_mls_message` for anything else.
 */
export function inspectMessage(bytes: Uint8Array): WireInfo {
  return readPrivateMessageHeader(bytes) ?? wireInfoOf(decodeMessage(bytes, 'invalid_mls_message', 'message'));
}

/**
 * Fast path for the relay's hot loop: the clear framing of an MLSMessage that is
 * a PrivateMessage (RFC 9420 §6.3.1), read without copying its ciphertext:
 * version (uint16 = mls10), wire_format (uint16 = 2), group_id<V>, epoch
 * (uint64), content_type (uint8: 1 application, 2 proposal, 3 commit),
 * authenticated_data<V>, encrypted_sender_data<V>, ciphertext<V>, and nothing
 * after. Vector lengths are RFC 9420 §2.1.2 variable-size integers. Returns
 * undefined for anything else (the full decoder then decides).
 */
function readPrivateMessageHeader(bytes: Uint8Array): WireInfo | undefined {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 1 || bytes[2] !== 0 || bytes[3] !== 2) return undefined;
  let offset = 4;
  const vector = (): [number, number] | undefined => {
    if (offset >= bytes.length) return undefined;
    const first = bytes[offset]!;
    const prefix = first >> 6;
    if (prefix === 3) return undefined;
    const size = 1 << prefix;
    if (offset + size > bytes.length) return undefined;
    let length = first & 0x3f;
    for (let i = 1; i < size; i++) length = length * 256 + bytes[offset + i]!;
    // Minimal encoding is required (RFC 9420 §2.1.2).
    if ((size === 2 && length < 64) || (size === 4 && length < 16384)) return undefined;
    const start = offset + size;
    if (start + length > bytes.length) return undefined;
    offset = start + length;
    return [start, length];
  };
  const groupId = vector();
  if (!groupId || offset + 9 > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 8);
  const epoch = view.getBigUint64(0);
  const contentType = bytes[offset + 8];
  offset += 9;
  if (contentType !== 1 && contentType !== 2 && contentType !== 3) return undefined;
  if (!vector() || !vector() || !vector() || offset !== bytes.length) return undefined;
  return {
    kind: 'private',
    groupId: bytes.subarray(groupId[0], groupId[0] + groupId[1]),
    epoch,
    contentType: contentType === 1 ? 'application' : contentType === 2 ? 'proposal' : 'commit',
  };
}

function wireInfoOf(message: MLSMessage): WireInfo {
  switch (message.wireformat) {
    case 'mls_private_message':
      return {
        kind: 'private',
        groupId: message.privateMessage.groupId,
        epoch: message.privateMessage.epoch,
        contentType: message.privateMessage.contentType,
      };
    case 'mls_public_message':
      return {
        kind: 'public',
        groupId: message.publicMessage.content.groupId,
        epoch: message.publicMessage.content.epoch,
        contentType: message.publicMessage.content.contentType,
        senderType: message.publicMessage.content.sender.senderType,
      };
    case 'mls_welcome':
      return { kind: 'welcome' };
    case 'mls_group_info':
      return {
        kind: 'group_info',
        groupId: message.groupInfo.groupContext.groupId,
        epoch: message.groupInfo.groupContext.epoch,
      };
    case 'mls_key_package':
      return { kind: 'key_package' };
  }
}

// ---------------------------------------------------------------------------
// Groups

/** One member (leaf) of a group. */
export interface GroupMember {
  readonly leafIndex: number;
  readonly member: MemberRef;
  readonly signaturePublicKey: Uint8Array;
}

/** An MLS group as seen by this device. Immutable. */
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

function memberAtLeaf(tree: RatchetTree, leafIndex: number): GroupMember | undefined {
  const node = tree[leafIndex * 2];
  if (node === undefined || node.nodeType !== 'leaf') return undefined;
  return leafToMember(node.leaf, leafIndex);
}

function leafToMember(leaf: LeafNode, leafIndex: number): GroupMember | undefined {
  const member = memberFromCredential(leaf.credential);
  if (member === undefined) return undefined;
  return { leafIndex, member, signaturePublicKey: leaf.signaturePublicKey };
}

/** Leaves of `after` whose HPKE key is not in `before` at the same index (new or replaced leaves). */
function newLeaves(before: RatchetTree, after: RatchetTree): GroupMember[] {
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

function mapMlsError(cause: unknown, code: string, message: string): ParleyError {
  if (cause instanceof ParleyError) return cause;
  return new CryptoError(code, message, { cause });
}

/**
 * Creates a new group containing only this device, at epoch 0.
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
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credentialOf(member),
    defaultCapabilities(),
    { notBefore: 0n, notAfter: 9223372036854775807n },
    [],
    { signKey: signatureKeys.privateKey, publicKey: signatureKeys.publicKey },
    suite.impl,
  );
  const state = await tsCreateGroup(groupId, publicPackage, privatePackage, [], suite.impl, clientConfigFor(authenticate));
  return new MlsGroup(state);
}

/** What a commit this device created carries to the delivery service. */
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
 * keys, post-compromise security).
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
      { extraProposals: proposals, ratchetTreeExtension: true },
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

/** GroupInfo for the current epoch with the external public key and ratchet tree (RFC 9420 §12.4.3). */
export async function exportGroupInfo(suite: MlsSuite, group: MlsGroup): Promise<Uint8Array> {
  const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(group.state, [], suite.impl);
  return encodeMlsMessage({ version: 'mls10', wireformat: 'mls_group_info', groupInfo });
}

/** Private half of one of this device's KeyPackages, looked up by KeyPackageRef. */
export interface KeyPackageSecret {
  readonly keyPackage: Uint8Array;
  readonly privateKey: Uint8Array;
}

/**
 * Joins a group from a Welcome (RFC 9420 §12.4.3.1). `findKeyPackage` resolves
 * the KeyPackageRefs the Welcome is addressed to. Returns the group and the ref
 * used, so the caller can delete a consumed one-time KeyPackage.
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

/**
 * Rejoins a group this device fell out of sync with, by an external commit that
 * removes its old leaf (RFC 9420 §12.4.3.2, "resync").
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
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credentialOf(member),
    defaultCapabilities(),
    { notBefore: 0n, notAfter: 9223372036854775807n },
    [],
    { signKey: signatureKeys.privateKey, publicKey: signatureKeys.publicKey },
    suite.impl,
  );
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

/** Encrypts application data as a PrivateMessage (RFC 9420 §6.3). */
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

/** The outcome of processing one incoming handshake or application message. */
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

  // Membership changes by device (a resync keeps the device, so it is neither added nor removed).
  const before = group.members();
  const after = next.members();
  const key = (m: GroupMember) => `${m.member.identityId}/${m.member.deviceId}/${toBase64Url(m.signaturePublicKey)}`;
  const afterKeys = new Set(after.map(key));
  const beforeKeys = new Set(before.map(key));
  const removed = before.filter((m) => !afterKeys.has(key(m)));
  const added = after.filter((m) => !beforeKeys.has(key(m)));
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

/** Serializes group state (secret: contains the epoch secrets and signature key). */
export function encodeGroup(group: MlsGroup): Uint8Array {
  return encodeGroupState(group.state);
}

/**
 * Serializes group state in two parts: the ratchet tree, which changes only with
 * the epoch, and the rest (secret tree, key schedule…), which changes with every
 * message. Persisting the tree once per epoch keeps per-message writes small in
 * large groups.
 */
export function encodeGroupParts(group: MlsGroup, withTree = true): { tree: Uint8Array | undefined; rest: Uint8Array } {
  return { tree: withTree ? encodeRatchetTree(group.state.ratchetTree) : undefined, rest: encodeGroupStateWithoutTree(group.state) };
}

/** Restores group state from `encodeGroupParts` output. */
export function decodeGroupParts(tree: Uint8Array, rest: Uint8Array, authenticate: AuthenticateMember): MlsGroup {
  try {
    const t = decodeRatchetTree(tree, 0);
    if (t === undefined || t[1] !== tree.length) throw new Error('tree');
    const decoded = decodeGroupStateWithoutTree(t[0])(rest, 0);
    if (decoded === undefined || decoded[1] !== rest.length) throw new Error('state');
    return new MlsGroup({ ...decoded[0], clientConfig: clientConfigFor(authenticate) });
  } catch (cause) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed', { cause });
  }
}

/** Restores group state from `encodeGroup` output. */
export function decodeGroup(bytes: Uint8Array, authenticate: AuthenticateMember): MlsGroup {
  let decoded;
  try {
    decoded = decodeGroupState(bytes, 0);
  } catch (cause) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed', { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new CryptoError('invalid_group_state', 'stored group state is malformed');
  }
  return new MlsGroup({ ...decoded[0], clientConfig: clientConfigFor(authenticate) });
}
