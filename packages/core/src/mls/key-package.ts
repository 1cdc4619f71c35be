/**
 * Signature keys and KeyPackages (RFC 9420 §10): creating a device's KeyPackages and the
 * private half it keeps, verifying published ones, and the one place a leaf is made
 * ({@link leafFor}) for KeyPackages, new groups and external joins alike.
 */
import {
  defaultCapabilities,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  type KeyPackage,
  type Lifetime,
  makeKeyPackageRef,
  type PrivateKeyPackage,
  verifyKeyPackage,
} from './ts-mls.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import { credentialOf, memberFromCredential, type MemberRef } from './credential.js';
import { parseSuiteName, type MlsSuite, type SuiteName } from './suite.js';
import { decodeMessage } from './wire-inspect.js';

/**
 * A device's MLS signature key pair.
 *
 * @example
 * const keys: SignatureKeyPair = await generateSignatureKeyPair(suite);
 */
export interface SignatureKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/**
 * A fresh MLS signature key pair for the suite (Ed25519 for the default suite).
 *
 * @example
 * const { publicKey, privateKey } = await generateSignatureKeyPair(suite);
 */
export async function generateSignatureKeyPair(suite: MlsSuite): Promise<SignatureKeyPair> {
  const { publicKey, signKey } = await suite.impl.signature.keygen();
  return { publicKey, privateKey: signKey };
}

/**
 * A KeyPackage as published (`keyPackage`) and the private half the device keeps.
 *
 * @example
 * const { keyPackage, ref, privateKey }: KeyPackageBundle = await createKeyPackage(suite, member, keys);
 */
export interface KeyPackageBundle {
  /** MLSMessage (wire format mls_key_package) bytes, safe to publish. */
  readonly keyPackage: Uint8Array;
  /** KeyPackageRef (RFC 9420 §5.2), used to find the private half for a Welcome. */
  readonly ref: Uint8Array;
  /** Encoded init and HPKE private keys. Secret. */
  readonly privateKey: Uint8Array;
  /** End of its lifetime (RFC 9420 §7.2), seconds since the epoch: after it, no one may use it. */
  readonly notAfter: bigint;
}

/** A lifetime that never ends, for leaves that are never published as KeyPackages. */
const UNBOUNDED: Lifetime = { notBefore: 0n, notAfter: 9223372036854775807n };

/**
 * @internal A KeyPackage with its LeafNode (RFC 9420 §7.2, §10) for `member`, signed with the
 * device's signature key: default capabilities, no extensions. `createKeyPackage` publishes it
 * with a bounded lifetime; `createGroup` and `rejoinExternally` use it, unbounded, as the
 * device's own leaf.
 */
export async function leafFor(
  suite: MlsSuite,
  member: MemberRef,
  signatureKeys: SignatureKeyPair,
  lifetime: Lifetime = UNBOUNDED,
): Promise<{ publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }> {
  return generateKeyPackageWithKey(
    credentialOf(member),
    defaultCapabilities(),
    lifetime,
    [],
    { signKey: signatureKeys.privateKey, publicKey: signatureKeys.publicKey },
    suite.impl,
  );
}

/**
 * Creates a KeyPackage for `member`, signed with the device's MLS signature key. It is
 * valid from an hour ago (clock skew) for `lifetimeSeconds` (default 28 days).
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
  const { publicPackage, privatePackage } = await leafFor(suite, member, signatureKeys, lifetime);
  const ref = await makeKeyPackageRef(publicPackage, suite.impl.hash);
  return {
    keyPackage: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: publicPackage }),
    ref,
    privateKey: encodePrivateKeyPackage(privatePackage),
    notAfter: lifetime.notAfter,
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

/** @internal Inverse of the private-half encoding of {@link createKeyPackage}; throws `invalid_private_key_package`. */
export function decodePrivateKeyPackage(bytes: Uint8Array, signaturePrivateKey: Uint8Array): PrivateKeyPackage {
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

/**
 * Private half of one of this device's KeyPackages, looked up by KeyPackageRef.
 *
 * @example
 * const secret: KeyPackageSecret = { keyPackage: bundle.keyPackage, privateKey: bundle.privateKey };
 */
export interface KeyPackageSecret {
  readonly keyPackage: Uint8Array;
  readonly privateKey: Uint8Array;
}

/**
 * What a published KeyPackage says about its owner (signature already verified).
 *
 * @example
 * const { member, signaturePublicKey, notAfter }: KeyPackageInfo = await inspectKeyPackage(suite, bytes);
 */
export interface KeyPackageInfo {
  readonly member: MemberRef;
  readonly signaturePublicKey: Uint8Array;
  readonly ref: Uint8Array;
  readonly suite: string;
  /** Lifetime end, seconds since the epoch. */
  readonly notAfter: bigint;
}

/** @internal Decodes a published KeyPackage (MLSMessage bytes); throws `invalid_key_package`. */
export function decodeKeyPackageMessage(bytes: Uint8Array): KeyPackage {
  const message = decodeMessage(bytes, 'invalid_key_package', 'KeyPackage');
  if (message.wireformat !== 'mls_key_package') {
    throw new InvalidInputError('expected an MLS KeyPackage', { code: 'invalid_key_package' });
  }
  return message.keyPackage;
}

/**
 * The suite a published KeyPackage is for (RFC 9420 §10 `cipher_suite`), read before verifying
 * it with that suite. Throws `invalid_key_package` when malformed, `unsupported_suite` when the
 * suite is not one Parley offers.
 *
 * @example
 * const info = await inspectKeyPackage(suites.get(keyPackageSuite(bytes))!, bytes);
 */
export function keyPackageSuite(bytes: Uint8Array): SuiteName {
  const name = parseSuiteName(decodeKeyPackageMessage(bytes).cipherSuite);
  if (name === undefined) throw new InvalidInputError('KeyPackage uses a cipher suite Parley does not offer', { code: 'unsupported_suite' });
  return name;
}

/**
 * Decodes a published KeyPackage and verifies its signature (RFC 9420 §10.1) and credential
 * format. Throws `invalid_key_package` for anything malformed, forged or of another suite.
 *
 * @example
 * const info = await inspectKeyPackage(suite, fromBase64(upload.keyPackage));
 * if (info.member.deviceId !== deviceId) reject('the KeyPackage belongs to another device');
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
