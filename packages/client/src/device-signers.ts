/**
 * Where a device's two Ed25519 keys sign: its identity key (registration proof, sessions,
 * commitments, receipts, approvals, revocations) and its MLS signature key (KeyPackages,
 * leaves, commits, application messages). Either key is a local key kept in the KeyStore
 * record (the default), or held by an external signer (an HSM, a KMS) that never shows
 * its private half: the record then keeps only the public key and a random 32-byte key
 * reference, and every later open must bring the same signer.
 */
import {
  equalBytes,
  fromBase64,
  generateIdentityKeyPair,
  localEd25519Signer,
  randomBytes,
  signerHoldsKey,
  toBase64,
  type Ed25519Signer,
} from '@parley/core';
import {
  EXTERNAL_KEY_REF_LENGTH,
  generateSignatureKeyPair,
  withExternalSignatureKey,
  type MlsSuite,
  type SuiteName,
  type SignatureKeyPair,
} from '@parley/core/mls';
import { DeviceRecordError, SignerError } from './errors.js';
import type { DeviceRecordV1 } from './records.js';

/**
 * External signers for a device's keys (an HSM, a KMS): `identity` for its identity key,
 * `mls` for its MLS signature key. A key without a signer is generated at enrollment and
 * kept in the KeyStore. A device enrolled with a signer must be opened with the same one.
 *
 * @example
 * const sender = await Sender.enroll({ serverUrl, enrollmentToken, store, signers: { identity: hsmIdentity, mls: hsmMls }, ...nodeRuntime })
 */
export interface DeviceSigners {
  readonly identity?: Ed25519Signer;
  readonly mls?: Ed25519Signer;
}

/** @internal A device's keys as its modules use them. */
export interface DeviceKeyring {
  /** Signs with the identity key (local or external). */
  readonly identity: Ed25519Signer;
  /** The device's first suite, wrapped to send signatures by an external MLS key to its signer. */
  readonly suite: MlsSuite;
  /** Every suite the device runs, each wrapped the same way (one Ed25519 MLS key serves them all). */
  readonly suites: ReadonlyMap<SuiteName, MlsSuite>;
  /** The MLS signature key pair ts-mls holds; for an external key, `privateKey` is its key reference. */
  readonly signatureKeys: SignatureKeyPair;
}

/** What a device record says about its keys. */
type KeyFields = Pick<DeviceRecordV1, 'identityPublicKey' | 'identityPrivateKey' | 'identityKeyRef' | 'signaturePublicKey' | 'signaturePrivateKey' | 'signatureKeyRef'>;

async function checkHolds(signer: Ed25519Signer, key: 'identity' | 'mls'): Promise<void> {
  if (!(signer.publicKey instanceof Uint8Array) || signer.publicKey.length !== 32) {
    throw new SignerError('signer_mismatch', key, `the ${key} signer has no 32-byte Ed25519 public key`);
  }
  if (!(await signerHoldsKey(signer))) {
    throw new SignerError('signer_mismatch', key, `the ${key} signer's signature does not verify under its public key`);
  }
}

/**
 * @internal A new device's keys: from the signers where given (checked: each must sign under
 * its public key), generated otherwise. Returns the record fields that describe them.
 */
export async function newKeyring(suites: readonly MlsSuite[], signers: DeviceSigners = {}): Promise<{ keyring: DeviceKeyring; fields: KeyFields }> {
  const suite = suites[0]!;
  let identity: Ed25519Signer;
  let identityFields: Pick<KeyFields, 'identityPublicKey' | 'identityPrivateKey' | 'identityKeyRef'>;
  if (signers.identity) {
    await checkHolds(signers.identity, 'identity');
    identity = signers.identity;
    identityFields = { identityPublicKey: toBase64(identity.publicKey), identityKeyRef: toBase64(randomBytes(EXTERNAL_KEY_REF_LENGTH)) };
  } else {
    const pair = generateIdentityKeyPair();
    identity = localEd25519Signer(pair.privateKey);
    identityFields = { identityPublicKey: toBase64(pair.publicKey), identityPrivateKey: toBase64(pair.privateKey) };
  }
  if (signers.mls) {
    await checkHolds(signers.mls, 'mls');
    const keyRef = randomBytes(EXTERNAL_KEY_REF_LENGTH);
    return {
      keyring: { identity, ...wrapSuites(suites, keyRef, signers.mls), signatureKeys: { publicKey: signers.mls.publicKey, privateKey: keyRef } },
      fields: { ...identityFields, signaturePublicKey: toBase64(signers.mls.publicKey), signatureKeyRef: toBase64(keyRef) },
    };
  }
  const signature = await generateSignatureKeyPair(suite);
  return {
    keyring: { identity, ...wrapSuites(suites), signatureKeys: signature },
    fields: { ...identityFields, signaturePublicKey: toBase64(signature.publicKey), signaturePrivateKey: toBase64(signature.privateKey) },
  };
}

/** The suites by name, each wrapped for an external MLS key when there is one; the first is the device's own. */
function wrapSuites(suites: readonly MlsSuite[], keyRef?: Uint8Array, signer?: Ed25519Signer): Pick<DeviceKeyring, 'suite' | 'suites'> {
  const wrapped = suites.map((suite) => (keyRef && signer ? withExternalSignatureKey(suite, keyRef, signer) : suite));
  return { suite: wrapped[0]!, suites: new Map(wrapped.map((suite) => [suite.name, suite])) };
}

function invalid(): never {
  throw new DeviceRecordError('device_record_invalid', 'stored device record is invalid');
}

function decode(value: string, length?: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(value);
  } catch {
    return invalid();
  }
  if (length !== undefined && bytes.length !== length) invalid();
  return bytes;
}

/**
 * @internal The signer of one key a record describes: its local key, or the external signer
 * given for it (`signer_required` without one; `signer_mismatch` for another key, or for a
 * signer given where the record keeps the key itself).
 */
async function signerFor(key: 'identity' | 'mls', publicKey: string, privateKey: string | undefined, keyRef: string | undefined, signer: Ed25519Signer | undefined): Promise<Ed25519Signer | undefined> {
  if (keyRef === undefined) {
    if (privateKey === undefined) invalid();
    if (signer) throw new SignerError('signer_mismatch', key, `this device's ${key} key is kept in its store, not by the signer given`);
    return undefined;
  }
  if (!signer) throw new SignerError('signer_required', key, `this device's ${key} key is held by an external signer: pass signers.${key}`);
  if (!(signer.publicKey instanceof Uint8Array) || !equalBytes(signer.publicKey, decode(publicKey))) {
    throw new SignerError('signer_mismatch', key, `the ${key} signer holds another key than this device's`);
  }
  await checkHolds(signer, key);
  return signer;
}

/**
 * @internal The identity key of a stored device: its local key, or the signer given for it
 * (see {@link signerFor}). What a reader that never signs in MLS needs (`EvidenceReader`).
 */
export async function openIdentity(record: KeyFields, signers: DeviceSigners = {}): Promise<Ed25519Signer> {
  const external = await signerFor('identity', record.identityPublicKey, record.identityPrivateKey, record.identityKeyRef, signers.identity);
  const identity = external ?? localEd25519Signer(decode(record.identityPrivateKey!, 32));
  if (!equalBytes(identity.publicKey, decode(record.identityPublicKey))) invalid();
  return identity;
}

/** @internal The keys of a stored device, with the signers its record requires (see {@link signerFor}). */
export async function openKeyring(record: KeyFields, suites: readonly MlsSuite[], signers: DeviceSigners = {}): Promise<DeviceKeyring> {
  const identity = await openIdentity(record, signers);
  const external = await signerFor('mls', record.signaturePublicKey, record.signaturePrivateKey, record.signatureKeyRef, signers.mls);
  const publicKey = decode(record.signaturePublicKey);
  if (external) {
    const keyRef = decode(record.signatureKeyRef!, EXTERNAL_KEY_REF_LENGTH);
    return { identity, ...wrapSuites(suites, keyRef, external), signatureKeys: { publicKey, privateKey: keyRef } };
  }
  return { identity, ...wrapSuites(suites), signatureKeys: { publicKey, privateKey: decode(record.signaturePrivateKey!) } };
}
