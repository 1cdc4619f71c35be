/**
 * The AEADs of RFC 9420's suites (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305; RFC 9180
 * §7.3) on node:crypto (OpenSSL `createCipheriv`), with the tag appended to the ciphertext
 * (RFC 5116 §5.1), for MLS message protection and for HPKE (`hpke.node.ts`).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { AeadAlgorithm } from './ts-mls.js';
import { CryptoError } from '../errors.js';
import { AEAD_KEY_LENGTH, AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, checkLength } from './crypto-provider-common.js';
import { plain } from './bytes.node.js';

const NODE_AEAD = {
  AES128GCM: 'aes-128-gcm',
  AES256GCM: 'aes-256-gcm',
  CHACHA20POLY1305: 'chacha20-poly1305',
} as const satisfies Record<AeadAlgorithm, string>;

/** AEAD seal: ciphertext || 16-byte tag (RFC 5116 §5.1 layout, as ts-mls expects). */
export function aeadSeal(
  alg: AeadAlgorithm,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array<ArrayBuffer> {
  checkLength(key, AEAD_KEY_LENGTH[alg], 'AEAD key');
  checkLength(nonce, AEAD_NONCE_LENGTH, 'AEAD nonce');
  // The cast picks one typed overload; GCM and ChaCha20-Poly1305 share every option and
  // method used here (authTagLength, setAAD, getAuthTag/setAuthTag).
  const cipher = createCipheriv(NODE_AEAD[alg] as 'aes-128-gcm', key, nonce, { authTagLength: AEAD_TAG_LENGTH });
  if (aad.length > 0) cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(body.length + tail.length + AEAD_TAG_LENGTH);
  out.set(body);
  out.set(tail, body.length);
  out.set(tag, body.length + tail.length);
  return out;
}

/** AEAD open; throws `CryptoError` (`aead_open_failed`) when the tag does not verify. */
export function aeadOpen(alg: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
  checkLength(key, AEAD_KEY_LENGTH[alg], 'AEAD key');
  checkLength(nonce, AEAD_NONCE_LENGTH, 'AEAD nonce');
  if (sealed.length < AEAD_TAG_LENGTH) throw new CryptoError('aead_open_failed', 'AEAD ciphertext is shorter than its tag');
  const split = sealed.length - AEAD_TAG_LENGTH;
  const decipher = createDecipheriv(NODE_AEAD[alg] as 'aes-128-gcm', key, nonce, { authTagLength: AEAD_TAG_LENGTH });
  decipher.setAuthTag(sealed.subarray(split));
  if (aad.length > 0) decipher.setAAD(aad);
  const body = decipher.update(sealed.subarray(0, split));
  let tail: Uint8Array;
  try {
    tail = decipher.final();
  } catch (cause) {
    // GCM releases plaintext before the tag is checked; never let it escape.
    body.fill(0);
    throw new CryptoError('aead_open_failed', 'AEAD authentication failed', { cause });
  }
  if (tail.length === 0) return plain(body);
  const out = new Uint8Array(body.length + tail.length);
  out.set(body);
  out.set(tail, body.length);
  return out;
}

