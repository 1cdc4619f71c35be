/**
 * Device identity keys (Ed25519, RFC 8032) and the exact messages they sign.
 * Every signed message starts with a distinct ASCII context string so that a
 * signature made for one purpose can never be replayed for another.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, concatBytes, randomBytes, toBase64Url, utf8 } from './bytes.js';
import { CryptoError } from './errors.js';

export interface IdentityKeyPair {
  readonly publicKey: Uint8Array;
  /** 32-byte Ed25519 seed. Secret. */
  readonly privateKey: Uint8Array;
}

/** A fresh Ed25519 identity key pair. */
export function generateIdentityKeyPair(): IdentityKeyPair {
  const privateKey = ed25519.utils.randomSecretKey();
  return { privateKey, publicKey: ed25519.getPublicKey(privateKey) };
}

/** Ed25519 signature (RFC 8032 §5.1.6). */
export function signEd25519(privateKey: Uint8Array, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, assertBytes(privateKey, 'privateKey', 32));
}

/**
 * Where an Ed25519 (RFC 8032, pure) key signs: a key in memory ({@link localEd25519Signer}),
 * or one held elsewhere (an HSM through PKCS#11, a KMS) that never shows its private half.
 * `sign` returns the 64-byte signature of exactly `message`.
 *
 * @example
 * const hsm: Ed25519Signer = { publicKey, sign: (message) => token.signEd25519(message) };
 * const signature = await signWith(hsm, sessionProofMessage({ deviceId, challenge }));
 */
export interface Ed25519Signer {
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Names the key for operators (e.g. a PKCS#11 URI without the PIN); never secret. */
  readonly description?: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * An {@link Ed25519Signer} over a 32-byte seed held in memory (today's key files and KeyStore
 * records). The seed lives only in the closure: no property shows it.
 *
 * @example
 * const signer = localEd25519Signer(generateIdentityKeyPair().privateKey);
 */
export function localEd25519Signer(privateKey: Uint8Array): Ed25519Signer {
  const seed = assertBytes(privateKey, 'privateKey', 32).slice();
  const publicKey = ed25519.getPublicKey(seed);
  return Object.freeze({ publicKey, description: 'local Ed25519 key', sign: async (message: Uint8Array) => ed25519.sign(message, seed) });
}

/**
 * Signs `message` with `signer` and checks the answer is a 64-byte signature (RFC 8032 §5.1.6):
 * anything else from an external signer is `CryptoError('signer_failed')`.
 *
 * @example
 * const signature = await signWith(signer, message);
 */
export async function signWith(signer: Ed25519Signer, message: Uint8Array): Promise<Uint8Array> {
  const signature = await signer.sign(message);
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    throw new CryptoError('signer_failed', 'the signer did not return a 64-byte Ed25519 signature');
  }
  return signature;
}

/**
 * True when `signer` signs with the private key of its `publicKey`: it signs a fresh,
 * domain-separated probe that is then verified (a signer that cannot sign throws). Catches a signer configured with one
 * key's public half and another key's private half.
 *
 * @example
 * if (!(await signerHoldsKey(hsm))) throw new Error('the HSM key does not match its public key');
 */
export async function signerHoldsKey(signer: Ed25519Signer): Promise<boolean> {
  const probe = framed('parley/v1/signer-check', [randomBytes(32)]);
  // A signer that fails (unreachable HSM) throws its own error: that is not a key mismatch.
  return verifyEd25519(signer.publicKey, probe, await signWith(signer, probe));
}

/** Ed25519 verification: false for a bad or malformed signature or key, never throws on bytes. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

function framed(context: string, fields: readonly (string | Uint8Array)[]): Uint8Array {
  // context || 0x00 || for each field: u32 length || bytes. Unambiguous without escaping.
  const parts: Uint8Array[] = [utf8(context), new Uint8Array([0])];
  for (const f of fields) {
    const bytes = typeof f === 'string' ? utf8(f) : f;
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, bytes.length);
    parts.push(len, bytes);
  }
  return concatBytes(...parts);
}

/**
 * What a new device signs with its identity key when it registers: binds the
 * enrollment token (by hash), the device id and both public keys.
 */
export function registrationProofMessage(input: {
  enrollmentToken: string;
  deviceId: string;
  identityKey: Uint8Array;
  signatureKey: Uint8Array;
}): Uint8Array {
  return framed('parley/v1/register-device', [
    sha256(utf8(input.enrollmentToken)),
    input.deviceId,
    input.identityKey,
    input.signatureKey,
  ]);
}

/** What a device signs to answer a server challenge and obtain a session. */
export function sessionProofMessage(input: { deviceId: string; challenge: Uint8Array }): Uint8Array {
  return framed('parley/v1/session', [input.deviceId, input.challenge]);
}

/**
 * The registration proof ({@link registrationProofMessage}) signed by the new device's identity key.
 *
 * @example
 * const proof = await signRegistrationProof(identity, { enrollmentToken, deviceId, identityKey: identity.publicKey, signatureKey });
 */
export function signRegistrationProof(
  signer: Ed25519Signer,
  input: Parameters<typeof registrationProofMessage>[0],
): Promise<Uint8Array> {
  return signWith(signer, registrationProofMessage(input));
}

/**
 * The session proof ({@link sessionProofMessage}) signed by the device's identity key.
 *
 * @example
 * const signature = await signSessionProof(identity, { deviceId, challenge });
 */
export function signSessionProof(signer: Ed25519Signer, input: { deviceId: string; challenge: Uint8Array }): Promise<Uint8Array> {
  return signWith(signer, sessionProofMessage(input));
}

/** Short, stable fingerprint of a public key for logs and UIs (base64url of SHA-256, 16 chars). */
export function keyFingerprint(publicKey: Uint8Array): string {
  return toBase64Url(sha256(publicKey)).slice(0, 16);
}
