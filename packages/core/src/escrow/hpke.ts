/**
 * The one HPKE suite escrow uses (RFC 9180, base mode): DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, AES-256-GCM, through `@hpke/core` (WebCrypto: browsers and Node alike).
 * A sealed value is `enc (32 bytes) ‖ ciphertext`; `info` and `aad` are chosen by the caller
 * (each use has its own domain-separated `info`, and binds its context in `aad`).
 */
import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { x25519 } from '@noble/curves/ed25519.js';
import { CryptoError } from '../errors.js';
import { assertBytes, concatBytes, utf8 } from '../bytes.js';

/** The suite's name, as escrow records state it. */
export const ESCROW_HPKE_SUITE = 'DHKEM-X25519-HKDF-SHA256/HKDF-SHA256/AES-256-GCM';
/** X25519 key and `enc` length (RFC 9180 §7.1: Npk = Nenc = Nsk = 32). */
const KEY_BYTES = 32;

let suite: CipherSuite | undefined;
function hpke(): CipherSuite {
  suite ??= new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
  return suite;
}

/**
 * An X25519 key pair for HPKE, both halves as 32 raw bytes.
 *
 * @example
 * const { publicKey, privateKey } = await generateHpkeKeyPair();
 */
export async function generateHpkeKeyPair(): Promise<{ publicKey: Uint8Array; privateKey: Uint8Array }> {
  const s = hpke();
  const pair = await s.kem.generateKeyPair();
  return {
    publicKey: new Uint8Array(await s.kem.serializePublicKey(pair.publicKey)),
    privateKey: new Uint8Array(await s.kem.serializePrivateKey(pair.privateKey)),
  };
}

/**
 * The public half of a raw X25519 private key (RFC 7748 §6.1, @noble/curves).
 *
 * @example
 * const publicKey = hpkePublicKeyOf(privateKey);
 */
export function hpkePublicKeyOf(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(assertBytes(privateKey, 'privateKey', KEY_BYTES));
}

/** `info` for one use of the suite: a context string, a zero byte, then the bound id. */
export function hpkeInfo(context: string, id: string): Uint8Array {
  return concatBytes(utf8(context), new Uint8Array([0]), utf8(id));
}

/**
 * HPKE base-mode single-shot seal (RFC 9180 §6.1) to a raw X25519 public key: `enc ‖ ct`.
 *
 * @example
 * const sealed = await hpkeSeal(publicKey, hpkeInfo('parley escrow v1', keyId), aad, plaintext);
 */
export async function hpkeSeal(publicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  const s = hpke();
  let recipientPublicKey: CryptoKey;
  try {
    recipientPublicKey = await s.kem.deserializePublicKey(assertBytes(publicKey, 'publicKey', KEY_BYTES));
  } catch (cause) {
    throw new CryptoError('escrow_key_invalid', 'not an X25519 public key', { cause });
  }
  const { enc, ct } = await s.seal({ recipientPublicKey, info }, plaintext, aad);
  return concatBytes(new Uint8Array(enc), new Uint8Array(ct));
}

/**
 * HPKE base-mode single-shot open (RFC 9180 §6.1); `escrow_decrypt_failed` when the key,
 * `info`, `aad` or the bytes do not match.
 *
 * @example
 * const plaintext = await hpkeOpen(privateKey, hpkeInfo('parley escrow v1', keyId), aad, sealed);
 */
export async function hpkeOpen(privateKey: Uint8Array, info: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  const s = hpke();
  if (sealed.length < KEY_BYTES + 16) throw new CryptoError('escrow_decrypt_failed', 'sealed value too short');
  try {
    const recipientKey = await s.kem.deserializePrivateKey(assertBytes(privateKey, 'privateKey', KEY_BYTES));
    const pt = await s.open({ recipientKey, enc: sealed.slice(0, KEY_BYTES), info }, sealed.slice(KEY_BYTES), aad);
    return new Uint8Array(pt);
  } catch (cause) {
    throw new CryptoError('escrow_decrypt_failed', 'the sealed value does not open with this key and context', { cause });
  }
}
