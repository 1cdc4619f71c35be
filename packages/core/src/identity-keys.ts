/**
 * Device identity keys (Ed25519, RFC 8032) and the exact messages they sign.
 * Every signed message starts with a distinct ASCII context string so that a
 * signature made for one purpose can never be replayed for another.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { assertBytes, concatBytes, toBase64Url, utf8 } from './bytes.js';

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

/** Short, stable fingerprint of a public key for logs and UIs (base64url of SHA-256, 16 chars). */
export function keyFingerprint(publicKey: Uint8Array): string {
  return toBase64Url(sha256(publicKey)).slice(0, 16);
}
