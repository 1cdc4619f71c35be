/**
 * Runners for the official RFC 9420 test vectors (github.com/mlswg/mls-implementations,
 * `test-vectors.md`), written after ts-mls's own `test/test-vectors/*.test.ts` (v1.6.x) but
 * parameterised by `CiphersuiteImpl`, so the same checks run against every crypto provider.
 * Each runner takes one vector object and throws (via `expect`) on any mismatch.
 */
import { expect } from 'vitest';
import type { CiphersuiteImpl, GroupContext, PrivateKeyPackage, RatchetTree } from 'ts-mls';
import { getCiphersuiteNameFromId, type CiphersuiteId } from 'ts-mls/crypto/ciphersuite.js';
import { refhash } from 'ts-mls/crypto/hash.js';
import { decryptWithLabel, encryptWithLabel, type Hpke } from 'ts-mls/crypto/hpke.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { signWithLabel, verifyWithLabel, type Signature } from 'ts-mls/crypto/signature.js';
import { expandSenderDataKey, expandSenderDataNonce } from 'ts-mls/sender.js';
import { createSecretTree, deriveKey, deriveNonce, ratchetUntil } from 'ts-mls/secretTree.js';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { defaultKeyRetentionConfig } from 'ts-mls/keyRetentionConfig.js';
import { defaultPaddingConfig } from 'ts-mls/paddingConfig.js';
import { defaultCapabilities } from 'ts-mls/defaultCapabilities.js';
import { decodeMlsMessage } from 'ts-mls/message.js';
import { protect, protectApplicationData, protectProposal, unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { protectProposalPublic, protectPublicMessage, unprotectPublicMessage } from 'ts-mls/messageProtectionPublic.js';
import { createContentCommitSignature } from 'ts-mls/framedContent.js';
import { decodeProposal, encodeProposal } from 'ts-mls/proposal.js';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import type { AuthenticatedContent } from 'ts-mls/authenticatedContent.js';
import { UsageError } from 'ts-mls/mlsError.js';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { initializeEpoch, mlsExporter } from 'ts-mls/keySchedule.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { constantTimeEqual } from 'ts-mls/util/constantTimeCompare.js';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { decodeRatchetTree, getHpkePublicKey } from 'ts-mls/ratchetTree.js';
import { applyUpdatePath, createUpdatePath, decodeUpdatePath, type UpdatePath } from 'ts-mls/updatePath.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { applyUpdatePathSecret } from 'ts-mls/createCommit.js';
import { getCommitSecret, type PathSecrets } from 'ts-mls/pathSecrets.js';
import { toPrivateKeyPath, type PrivateKeyPath } from 'ts-mls/privateKeyPath.js';
import { joinGroup, makePskIndex, type ClientState } from 'ts-mls/clientState.js';
import { processPrivateMessage, processPublicMessage } from 'ts-mls/processMessages.js';
import { bytesToBase64 } from 'ts-mls/util/byteArray.js';
import { fromHex, toHex } from '../../src/bytes.js';

const hex = (text: string): Uint8Array => fromHex(text);

/** Every vector object names its suite; some files have one vector per suite, some many. */
export interface SuiteVector {
  readonly cipher_suite: number;
}

function groupContext(suite: number, fields: Omit<GroupContext, 'version' | 'cipherSuite' | 'extensions'>): GroupContext {
  return {
    version: 'mls10',
    cipherSuite: getCiphersuiteNameFromId(suite as CiphersuiteId),
    extensions: [],
    ...fields,
  };
}

// ---------------------------------------------------------------------------- crypto-basics

interface CryptoBasicsVector extends SuiteVector {
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: {
    priv: string;
    pub: string;
    label: string;
    context: string;
    plaintext: string;
    kem_output: string;
    ciphertext: string;
  };
}

export async function runCryptoBasics(v: CryptoBasicsVector, impl: CiphersuiteImpl): Promise<void> {
  const r = v.ref_hash;
  expect(toHex(await refhash(r.label, hex(r.value), impl.hash))).toBe(r.out);

  const d = v.derive_secret;
  expect(toHex(await deriveSecret(hex(d.secret), d.label, impl.kdf))).toBe(d.out);

  const t = v.derive_tree_secret;
  expect(toHex(await deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, impl.kdf))).toBe(t.out);

  const e = v.expand_with_label;
  expect(toHex(await expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length, impl.kdf))).toBe(e.out);

  const s = v.sign_with_label;
  expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), impl.signature)).toBe(true);
  const signature = await signWithLabel(hex(s.priv), s.label, hex(s.content), impl.signature);
  expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), signature, impl.signature)).toBe(true);

  const h = v.encrypt_with_label;
  const privateKey = await impl.hpke.importPrivateKey(hex(h.priv));
  const publicKey = await impl.hpke.importPublicKey(hex(h.pub));
  const opened = await decryptWithLabel(privateKey, h.label, hex(h.context), hex(h.kem_output), hex(h.ciphertext), impl.hpke);
  expect(toHex(opened)).toBe(h.plaintext);
  const sealed = await encryptWithLabel(publicKey, h.label, hex(h.context), hex(h.plaintext), impl.hpke);
  const reopened = await decryptWithLabel(privateKey, h.label, hex(h.context), sealed.enc, sealed.ct, impl.hpke);
  expect(toHex(reopened)).toBe(h.plaintext);
}

// ---------------------------------------------------------------------------- secret-tree

interface SecretTreeVector extends SuiteVector {
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  encryption_secret: string;
  leaves: {
    generation: number;
    handshake_key: string;
    handshake_nonce: string;
    application_key: string;
    application_nonce: string;
  }[][];
}

export async function runSecretTree(v: SecretTreeVector, impl: CiphersuiteImpl): Promise<void> {
  const sd = v.sender_data;
  expect(toHex(await expandSenderDataKey(impl, hex(sd.sender_data_secret), hex(sd.ciphertext)))).toBe(sd.key);
  expect(toHex(await expandSenderDataNonce(impl, hex(sd.sender_data_secret), hex(sd.ciphertext)))).toBe(sd.nonce);

  const tree = await createSecretTree(v.leaves.length, hex(v.encryption_secret), impl.kdf);
  for (const [index, generations] of v.leaves.entries()) {
    const node = tree[leafToNodeIndex(toLeafIndex(index))];
    if (node === undefined) throw new Error(`no secret tree node for leaf ${index}`);
    for (const gen of generations) {
      const [handshake] = await ratchetUntil(node.handshake, gen.generation, defaultKeyRetentionConfig, impl.kdf);
      expect(handshake.generation).toBe(gen.generation);
      expect(toHex(await deriveKey(handshake.secret, handshake.generation, impl))).toBe(gen.handshake_key);
      expect(toHex(await deriveNonce(handshake.secret, handshake.generation, impl))).toBe(gen.handshake_nonce);

      const [application] = await ratchetUntil(node.application, gen.generation, defaultKeyRetentionConfig, impl.kdf);
      expect(toHex(await deriveKey(application.secret, application.generation, impl))).toBe(gen.application_key);
      expect(toHex(await deriveNonce(application.secret, application.generation, impl))).toBe(gen.application_nonce);
    }
  }
}

// ---------------------------------------------------------------------------- message-protection

interface MessageProtectionVector extends SuiteVector {
  group_id: string;
  epoch: number;
  tree_hash: string;
  confirmed_transcript_hash: string;
  signature_priv: string;
  signature_pub: string;
  encryption_secret: string;
  sender_data_secret: string;
  membership_key: string;
  proposal: string;
  proposal_priv: string;
  proposal_pub: string;
  commit: string;
  commit_priv: string;
  commit_pub: string;
  application: string;
  application_priv: string;
}

// Sender-data validation needs a non-blank leaf at index 1 (the vectors' sender).
const TREE_WITH_LEAF_1: RatchetTree = [
  undefined,
  undefined,
  {
    nodeType: 'leaf',
    leaf: {
      leafNodeSource: 'commit',
      hpkePublicKey: new Uint8Array(),
      signaturePublicKey: new Uint8Array(),
      capabilities: defaultCapabilities(),
      parentHash: new Uint8Array(),
      extensions: [],
      signature: new Uint8Array(),
      credential: { credentialType: 'basic', identity: new Uint8Array() },
    },
  },
];

export async function runMessageProtection(v: MessageProtectionVector, impl: CiphersuiteImpl): Promise<void> {
  const gc = groupContext(v.cipher_suite, {
    groupId: hex(v.group_id),
    epoch: BigInt(v.epoch),
    treeHash: hex(v.tree_hash),
    confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
  });
  const signPriv = hex(v.signature_priv);
  const signPub = hex(v.signature_pub);
  const membershipKey = hex(v.membership_key);
  const senderDataSecret = hex(v.sender_data_secret);
  const proposal = decodeProposal(hex(v.proposal), 0)?.[0];
  const commit = decodeCommit(hex(v.commit), 0)?.[0];
  if (proposal === undefined || commit === undefined) throw new Error('cannot decode proposal/commit');
  const freshSecretTree = () => createSecretTree(2, hex(v.encryption_secret), impl.kdf);
  const unprotect = async (privateMessageHex: string) => {
    const msg = decodeMlsMessage(hex(privateMessageHex), 0)?.[0];
    if (msg === undefined || msg.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
    return unprotectPrivateMessage(
      senderDataSecret,
      msg.privateMessage,
      await freshSecretTree(),
      TREE_WITH_LEAF_1,
      gc,
      defaultKeyRetentionConfig,
      impl,
      signPub,
    );
  };
  const unprotectPublic = async (bytes: Uint8Array) => {
    const msg = decodeMlsMessage(bytes, 0)?.[0];
    if (msg === undefined || msg.wireformat !== 'mls_public_message') throw new Error('expected a PublicMessage');
    return unprotectPublicMessage(membershipKey, gc, [], msg.publicMessage, impl, signPub);
  };

  // Published public proposal and commit verify (membership tag + signature).
  const pubProposal = await unprotectPublic(hex(v.proposal_pub));
  if (pubProposal.content.contentType !== 'proposal') throw new Error('not a proposal');
  expect(toHex(encodeProposal(pubProposal.content.proposal))).toBe(v.proposal);
  const pubCommit = await unprotectPublic(hex(v.commit_pub));
  if (pubCommit.content.contentType !== 'commit') throw new Error('not a commit');
  expect(toHex(encodeCommit(pubCommit.content.commit))).toBe(v.commit);

  // Our own public proposal and commit round-trip.
  const protectedProposal = await protectProposalPublic(signPriv, membershipKey, gc, new Uint8Array(), proposal, 1, impl);
  const p2 = await unprotectPublicMessage(membershipKey, gc, [], protectedProposal.publicMessage, impl, signPub);
  if (p2.content.contentType !== 'proposal') throw new Error('not a proposal');
  expect(toHex(encodeProposal(p2.content.proposal))).toBe(v.proposal);

  const confirmationTag = impl.rng.randomBytes(impl.kdf.size);
  const publicCommitSig = await createContentCommitSignature(
    gc,
    'mls_public_message',
    commit,
    { leafIndex: 1, senderType: 'member' },
    new Uint8Array(),
    signPriv,
    impl.signature,
  );
  const publicCommitContent: AuthenticatedContent = {
    wireformat: 'mls_public_message',
    content: publicCommitSig.framedContent,
    auth: { contentType: 'commit', signature: publicCommitSig.signature, confirmationTag },
  };
  const protectedCommit = await protectPublicMessage(membershipKey, gc, publicCommitContent, impl);
  const c2 = await unprotectPublicMessage(membershipKey, gc, [], protectedCommit, impl, signPub);
  if (c2.content.contentType !== 'commit') throw new Error('not a commit');
  expect(toHex(encodeCommit(c2.content.commit))).toBe(v.commit);

  // Published private proposal, application message and commit decrypt.
  const privProposal = await unprotect(v.proposal_priv);
  if (privProposal.content.content.contentType !== 'proposal') throw new Error('not a proposal');
  expect(toHex(encodeProposal(privProposal.content.content.proposal))).toBe(v.proposal);
  const privApplication = await unprotect(v.application_priv);
  if (privApplication.content.content.contentType !== 'application') throw new Error('not application data');
  expect(toHex(privApplication.content.content.applicationData)).toBe(v.application);
  const privCommit = await unprotect(v.commit_priv);
  if (privCommit.content.content.contentType !== 'commit') throw new Error('not a commit');
  expect(toHex(encodeCommit(privCommit.content.content.commit))).toBe(v.commit);

  // Our own private proposal, application message and commit round-trip.
  const ownTree = await freshSecretTree();
  const roundTrip = async (privateMessage: Parameters<typeof unprotectPrivateMessage>[1]) =>
    unprotectPrivateMessage(senderDataSecret, privateMessage, ownTree, TREE_WITH_LEAF_1, gc, defaultKeyRetentionConfig, impl, signPub);

  const ownProposal = await protectProposal(signPriv, senderDataSecret, proposal, new Uint8Array(), gc, ownTree, 1, defaultPaddingConfig, impl);
  const op = await roundTrip(ownProposal.privateMessage);
  if (op.content.content.contentType !== 'proposal') throw new Error('not a proposal');
  expect(toHex(encodeProposal(op.content.content.proposal))).toBe(v.proposal);

  const ownApplication = await protectApplicationData(
    signPriv,
    senderDataSecret,
    hex(v.application),
    new Uint8Array(),
    gc,
    ownTree,
    1,
    defaultPaddingConfig,
    impl,
  );
  const oa = await roundTrip(ownApplication.privateMessage);
  if (oa.content.content.contentType !== 'application') throw new Error('not application data');
  expect(toHex(oa.content.content.applicationData)).toBe(v.application);

  const privateCommitSig = await createContentCommitSignature(
    gc,
    'mls_private_message',
    commit,
    { leafIndex: 1, senderType: 'member' },
    new Uint8Array(),
    signPriv,
    impl.signature,
  );
  const ownCommit = await protect(
    senderDataSecret,
    new Uint8Array(),
    gc,
    ownTree,
    {
      ...privateCommitSig.framedContent,
      auth: { contentType: 'commit', signature: privateCommitSig.signature, confirmationTag },
    },
    1,
    defaultPaddingConfig,
    impl,
  );
  const oc = await roundTrip(ownCommit.privateMessage);
  if (oc.content.content.contentType !== 'commit') throw new Error('not a commit');
  expect(toHex(encodeCommit(oc.content.content.commit))).toBe(v.commit);

  // Application data must never go out as a PublicMessage (RFC 9420 §6.2).
  const app = await unprotect(v.application_priv);
  if (app.content.content.contentType !== 'application') throw new Error('not application data');
  const asPublic: AuthenticatedContent = {
    wireformat: 'mls_public_message',
    content: {
      ...app.content.content,
      contentType: 'application',
      groupId: gc.groupId,
      sender: { leafIndex: 0, senderType: 'member' },
      epoch: gc.epoch,
      authenticatedData: new Uint8Array(),
    },
    auth: app.content.auth,
  };
  await expect(protectPublicMessage(membershipKey, gc, asPublic, impl)).rejects.toThrow(UsageError);
}

// ---------------------------------------------------------------------------- key-schedule

interface KeyScheduleVector extends SuiteVector {
  group_id: string;
  initial_init_secret: string;
  epochs: {
    commit_secret: string;
    confirmation_key: string;
    confirmed_transcript_hash: string;
    encryption_secret: string;
    epoch_authenticator: string;
    exporter: { context: string; label: string; length: number; secret: string };
    exporter_secret: string;
    external_pub: string;
    external_secret: string;
    group_context: string;
    init_secret: string;
    joiner_secret: string;
    membership_key: string;
    psk_secret: string;
    resumption_psk: string;
    sender_data_secret: string;
    tree_hash: string;
    welcome_secret: string;
  }[];
}

export async function runKeySchedule(v: KeyScheduleVector, impl: CiphersuiteImpl): Promise<void> {
  let initSecret = hex(v.initial_init_secret);
  for (const [index, epoch] of v.epochs.entries()) {
    const gc = groupContext(v.cipher_suite, {
      groupId: hex(v.group_id),
      epoch: BigInt(index),
      treeHash: hex(epoch.tree_hash),
      confirmedTranscriptHash: hex(epoch.confirmed_transcript_hash),
    });
    expect(toHex(encodeGroupContext(gc))).toBe(epoch.group_context);
    const { keySchedule, joinerSecret, welcomeSecret, encryptionSecret } = await initializeEpoch(
      initSecret,
      hex(epoch.commit_secret),
      gc,
      hex(epoch.psk_secret),
      impl.kdf,
    );
    expect(toHex(joinerSecret)).toBe(epoch.joiner_secret);
    expect(toHex(welcomeSecret)).toBe(epoch.welcome_secret);
    expect(toHex(keySchedule.initSecret)).toBe(epoch.init_secret);
    expect(toHex(keySchedule.senderDataSecret)).toBe(epoch.sender_data_secret);
    expect(toHex(encryptionSecret)).toBe(epoch.encryption_secret);
    expect(toHex(keySchedule.exporterSecret)).toBe(epoch.exporter_secret);
    expect(toHex(keySchedule.externalSecret)).toBe(epoch.external_secret);
    expect(toHex(keySchedule.confirmationKey)).toBe(epoch.confirmation_key);
    expect(toHex(keySchedule.membershipKey)).toBe(epoch.membership_key);
    expect(toHex(keySchedule.resumptionPsk)).toBe(epoch.resumption_psk);
    expect(toHex(keySchedule.epochAuthenticator)).toBe(epoch.epoch_authenticator);

    const { publicKey } = await impl.hpke.deriveKeyPair(hex(epoch.external_secret));
    expect(toHex(await impl.hpke.exportPublicKey(publicKey))).toBe(epoch.external_pub);

    const x = epoch.exporter;
    expect(toHex(await mlsExporter(keySchedule.exporterSecret, x.label, hex(x.context), x.length, impl))).toBe(x.secret);
    initSecret = keySchedule.initSecret;
  }
}

// ---------------------------------------------------------------------------- welcome

interface WelcomeVector extends SuiteVector {
  init_priv: string;
  key_package: string;
  signer_pub: string;
  welcome: string;
}

export async function runWelcome(v: WelcomeVector, impl: CiphersuiteImpl): Promise<void> {
  const welcome = decodeMlsMessage(hex(v.welcome), 0)?.[0];
  if (welcome === undefined || welcome.wireformat !== 'mls_welcome') throw new Error('not a Welcome');
  const keyPackage = decodeMlsMessage(hex(v.key_package), 0)?.[0];
  if (keyPackage === undefined || keyPackage.wireformat !== 'mls_key_package') throw new Error('not a KeyPackage');
  const ref = await makeKeyPackageRef(keyPackage.keyPackage, impl.hash);
  expect(welcome.welcome.secrets.some((s) => constantTimeEqual(s.newMember, ref))).toBe(true);

  const initKey = await impl.hpke.importPrivateKey(hex(v.init_priv));
  const groupSecrets = await decryptGroupSecrets(initKey, ref, welcome.welcome, impl.hpke);
  if (groupSecrets === undefined) throw new Error('cannot decrypt GroupSecrets');
  const pskSecret = new Uint8Array(impl.kdf.size);
  const groupInfo = await decryptGroupInfo(welcome.welcome, groupSecrets.joinerSecret, pskSecret, impl);
  if (groupInfo === undefined) throw new Error('cannot decrypt GroupInfo');
  expect(await verifyGroupInfoConfirmationTag(groupInfo, groupSecrets.joinerSecret, pskSecret, impl)).toBe(true);
  expect(await verifyGroupInfoSignature(groupInfo, hex(v.signer_pub), impl.signature)).toBe(true);
}

// ---------------------------------------------------------------------------- treekem

interface TreeKemVector extends SuiteVector {
  confirmed_transcript_hash: string;
  epoch: number;
  group_id: string;
  ratchet_tree: string;
  leaves_private: {
    index: number;
    encryption_priv: string;
    signature_priv: string;
    path_secrets: { node: number; path_secret: string }[];
  }[];
  update_paths: {
    sender: number;
    commit_secret: string;
    path_secrets: (string | null)[];
    tree_hash_after: string;
    update_path: string;
  }[];
}

/** The ts-mls test helper: a public/private HPKE pair matches when seal→open round-trips. */
export async function hpkeKeysMatch(publicKey: Uint8Array, privateKey: Uint8Array, hpke: Hpke): Promise<boolean> {
  const plaintext = new TextEncoder().encode('test');
  const info = new TextEncoder().encode('key check');
  const { ct, enc } = await hpke.seal(await hpke.importPublicKey(publicKey), plaintext, info);
  const opened = await hpke.open(await hpke.importPrivateKey(privateKey), enc, ct, info);
  return new TextDecoder().decode(opened) === 'test';
}

export async function signatureKeysMatch(publicKey: Uint8Array, privateKey: Uint8Array, s: Signature): Promise<boolean> {
  const message = new TextEncoder().encode('test');
  return s.verify(publicKey, message, await s.sign(privateKey, message));
}

function pathSecretsOf(leaf: TreeKemVector['leaves_private'][number]): PathSecrets {
  const secrets: Record<number, Uint8Array> = {};
  for (const ps of leaf.path_secrets) secrets[ps.node] = hex(ps.path_secret);
  return secrets as PathSecrets;
}

export async function runTreeKem(v: TreeKemVector, impl: CiphersuiteImpl): Promise<void> {
  const tree = decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0];
  if (tree === undefined) throw new Error('cannot decode ratchet tree');
  const gc = groupContext(v.cipher_suite, {
    groupId: hex(v.group_id),
    epoch: BigInt(v.epoch),
    treeHash: await treeHashRoot(tree, impl.hash),
    confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
  });

  const privatePaths: PrivateKeyPath[] = [];
  for (const leaf of v.leaves_private) {
    const secrets = pathSecretsOf(leaf);
    const node = tree[leafToNodeIndex(toLeafIndex(leaf.index))];
    if (node === undefined || node.nodeType !== 'leaf') throw new Error('no leaf at index');
    expect(await hpkeKeysMatch(node.leaf.hpkePublicKey, hex(leaf.encryption_priv), impl.hpke)).toBe(true);
    for (const [nodeIndex, pathSecret] of Object.entries(secrets) as [string, Uint8Array][]) {
      const { publicKey } = await impl.hpke.deriveKeyPair(await deriveSecret(pathSecret, 'node', impl.kdf));
      const treeNode = tree[Number(nodeIndex)];
      if (treeNode === undefined) throw new Error('no node at index');
      expect(toHex(getHpkePublicKey(treeNode))).toBe(toHex(await impl.hpke.exportPublicKey(publicKey)));
    }
    const path = await toPrivateKeyPath(secrets, leaf.index, impl);
    privatePaths.push({
      ...path,
      privateKeys: { ...path.privateKeys, [leafToNodeIndex(toLeafIndex(leaf.index))]: hex(leaf.encryption_priv) },
    });
  }

  for (const up of v.update_paths) {
    const updatePath = decodeUpdatePath(hex(up.update_path), 0)?.[0];
    if (updatePath === undefined) throw new Error('cannot decode UpdatePath');
    const sender = toLeafIndex(up.sender);
    const updatedTree = await applyUpdatePath(tree, sender, updatePath, impl.hash);
    const treeHashAfter = await treeHashRoot(updatedTree, impl.hash);
    expect(toHex(treeHashAfter)).toBe(up.tree_hash_after);
    const updatedGc = { ...gc, treeHash: treeHashAfter };

    const senderLeaf = v.leaves_private.find((l) => l.index === up.sender);
    if (senderLeaf === undefined) throw new Error('no private state for sender');
    const [newTree, newPath, newSecrets] = await createUpdatePath(updatedTree, sender, updatedGc, hex(senderLeaf.signature_priv), impl);
    const rootSecret = newSecrets.at(-1);
    if (rootSecret === undefined) throw new Error('no path secrets');
    const newCommitSecret = await deriveSecret(rootSecret.secret, 'path', impl.kdf);
    const newGc = { ...gc, treeHash: await treeHashRoot(newTree, impl.hash), epoch: gc.epoch + 1n };

    for (const pp of privatePaths) {
      if (pp.leafIndex === up.sender) {
        expect(up.path_secrets[pp.leafIndex]).toBeNull();
        continue;
      }
      // The published UpdatePath decrypts to the published path secret and commit secret.
      const published = await applyUpdatePathSecret(tree, pp, sender, updatedGc, updatePath, [], impl);
      expect(toHex(published.pathSecret)).toBe(up.path_secrets[pp.leafIndex]);
      expect(toHex(await getCommitSecret(tree, published.nodeIndex, published.pathSecret, impl.kdf))).toBe(up.commit_secret);
      // An UpdatePath we created decrypts to our commit secret.
      const ours = await applyUpdatePathSecret(tree, pp, sender, newGc, newPath as UpdatePath, [], impl);
      expect(toHex(await getCommitSecret(tree, ours.nodeIndex, ours.pathSecret, impl.kdf))).toBe(toHex(newCommitSecret));
    }
  }
}

// ---------------------------------------------------------------------------- passive client

interface PassiveClientVector extends SuiteVector {
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

async function processHandshake(state: ClientState, bytes: Uint8Array, psks: Record<string, Uint8Array>, impl: CiphersuiteImpl): Promise<ClientState> {
  const msg = decodeMlsMessage(bytes, 0)?.[0];
  if (msg === undefined) throw new Error('cannot decode handshake message');
  if (msg.wireformat === 'mls_private_message') {
    return (await processPrivateMessage(state, msg.privateMessage, makePskIndex(state, psks), impl)).newState;
  }
  if (msg.wireformat === 'mls_public_message') {
    return (await processPublicMessage(state, msg.publicMessage, makePskIndex(state, psks), impl)).newState;
  }
  throw new Error(`unexpected wire format ${msg.wireformat}`);
}

/** Joins from the Welcome, then processes every epoch's proposals and commit (RFC 9420 test-vectors "passive client"). */
export async function runPassiveClient(v: PassiveClientVector, impl: CiphersuiteImpl): Promise<void> {
  const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
  if (kp === undefined || kp.wireformat !== 'mls_key_package') throw new Error('not a KeyPackage');
  expect(await hpkeKeysMatch(kp.keyPackage.leafNode.hpkePublicKey, hex(v.encryption_priv), impl.hpke)).toBe(true);
  expect(await hpkeKeysMatch(kp.keyPackage.initKey, hex(v.init_priv), impl.hpke)).toBe(true);
  expect(await signatureKeysMatch(kp.keyPackage.leafNode.signaturePublicKey, hex(v.signature_priv), impl.signature)).toBe(true);

  const welcome = decodeMlsMessage(hex(v.welcome), 0)?.[0];
  if (welcome === undefined || welcome.wireformat !== 'mls_welcome') throw new Error('not a Welcome');
  const privateKeys: PrivateKeyPackage = {
    hpkePrivateKey: hex(v.encryption_priv),
    initPrivateKey: hex(v.init_priv),
    signaturePrivateKey: hex(v.signature_priv),
  };
  const tree = v.ratchet_tree === null ? undefined : decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0];
  const psks: Record<string, Uint8Array> = {};
  for (const psk of v.external_psks) psks[bytesToBase64(hex(psk.psk_id))] = hex(psk.psk);

  let state = await joinGroup(welcome.welcome, kp.keyPackage, privateKeys, makePskIndex(undefined, psks), impl, tree);
  expect(toHex(state.keySchedule.epochAuthenticator)).toBe(v.initial_epoch_authenticator);
  for (const epoch of v.epochs) {
    for (const proposal of epoch.proposals) state = await processHandshake(state, hex(proposal), psks, impl);
    state = await processHandshake(state, hex(epoch.commit), psks, impl);
    expect(toHex(state.keySchedule.epochAuthenticator)).toBe(epoch.epoch_authenticator);
  }
}
