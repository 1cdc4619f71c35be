/**
 * The Ed25519 signing seam (RFC 8032, pure Ed25519): every place Parley signs takes an
 * {@link Ed25519Signer}, whether the key is a seed in memory ({@link KeyFileSigner}) or an
 * object inside a PKCS#11 token (`Pkcs11Signer`). Crypto is node:crypto (OpenSSL) only.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { CustodyError } from './errors.js';

/**
 * Signs with one Ed25519 key, wherever it lives. `sign` is async so a token, an HSM or a
 * KMS can implement it.
 *
 * @example
 * const signature = await signer.sign(new TextEncoder().encode('hello\n'))
 * verifyEd25519(signer.publicKey, message, signature) // true
 */
export interface Ed25519Signer {
  /** The 32-byte RFC 8032 public key. */
  readonly publicKey: Uint8Array;
  /** Where the key lives, without secrets, e.g. `pkcs11:token=parley;object=parley-tlog-keys`. */
  readonly description: string;
  /** A 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** DER prefixes of an Ed25519 SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo (RFC 8410 §4, §7). */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/**
 * A node:crypto public key object for a raw 32-byte Ed25519 public key (RFC 8410 SPKI).
 *
 * @example
 * const key = ed25519PublicKeyObject(signer.publicKey)
 */
export function ed25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new CustodyError('invalid_key', 'an Ed25519 public key has 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/**
 * Verifies a pure Ed25519 signature (RFC 8032 §5.1.7) with OpenSSL; false (never a throw) for a bad one.
 *
 * @example
 * if (!verifyEd25519(publicKey, message, signature)) throw new Error('bad signature')
 */
export function verifyEd25519(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  try {
    const key = publicKey instanceof Uint8Array ? ed25519PublicKeyObject(publicKey) : publicKey;
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * An Ed25519 key held as a 32-byte seed in this process's memory (the key-file custody:
 * the caller reads the seed from its file). The seed is kept in a node:crypto KeyObject,
 * never as a property.
 *
 * @example
 * const signer = KeyFileSigner.fromSeed(seed, { description: 'file:/var/lib/parley/keys/tlog-keys.key' })
 * const signature = await signer.sign(message)
 */
export class KeyFileSigner implements Ed25519Signer {
  readonly publicKey: Uint8Array;
  readonly description: string;
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject, description: string) {
    this.#privateKey = privateKey;
    const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    this.publicKey = new Uint8Array(spki.subarray(spki.length - 32));
    this.description = description;
  }

  /** A signer from a 32-byte RFC 8032 seed (the private key). */
  static fromSeed(seed: Uint8Array, options: { description?: string } = {}): KeyFileSigner {
    if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new CustodyError('invalid_key', 'an Ed25519 seed has 32 bytes');
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    return new KeyFileSigner(key, options.description ?? 'memory');
  }

  /** A fresh random key (for tests and throwaway use), and its seed for the caller to store. */
  static generate(options: { description?: string } = {}): { signer: KeyFileSigner; seed: Uint8Array } {
    const seed = new Uint8Array(randomBytes(32));
    return { signer: KeyFileSigner.fromSeed(seed, options), seed };
  }

  sign(message: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(cryptoSign(null, message, this.#privateKey)));
  }

  /** Never the seed. */
  toJSON(): { description: string } {
    return { description: this.description };
  }
}
