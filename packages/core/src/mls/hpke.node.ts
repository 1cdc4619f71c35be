/**
 * HPKE (RFC 9180) components on node:crypto for the node provider's MLS suites. MLS seals a
 * path secret with HPKE to every member in a commit's copath resolution (RFC 9420 §7.6), so
 * a member who commits in a 100-member group runs about 100 HPKE seals; with `@hpke/core`'s
 * WebCrypto components each seal paid a PKCS#8 decode of an X25519 key (~0.4 ms on
 * OpenSSL 3), and WebCrypto's job and key-object overhead for every HKDF step and AES-GCM
 * call.
 *
 * Nothing here is a new primitive:
 * - DHKEM(X25519, HKDF-SHA256) is `@hpke/common`'s `Dhkem` over its `XCurveDhkemPrimitives`
 *   (the construction and key handling `@hpke/dhkem-x25519` uses), given the X25519 function
 *   of OpenSSL (`diffieHellman`) instead of a pure-JavaScript curve;
 * - its KDF is `hpkeKdf` (crypto-provider-common.ts: `@hpke/core`'s labelling over
 *   `@noble/hashes` HKDF);
 * - the AEADs are OpenSSL's AES-GCM and ChaCha20-Poly1305 (`aead.node.ts`).
 */
import { createHash, createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto';
import { AeadId, Dhkem, KemId, XCurveDhkemPrimitives } from '@hpke/common';
import type { AeadInterface } from '@hpke/core';
import type { AeadAlgorithm } from './ts-mls.js';
import { aeadOpen, aeadSeal } from './aead.node.js';
import { AEAD_KEY_LENGTH, AEAD_NONCE_LENGTH, AEAD_TAG_LENGTH, hpkeKdf } from './crypto-provider-common.js';
import { KeyCache } from './key-cache.js';
import { base64url, importOkpPrivateKey } from './bytes.node.js';

/** What `XCurveDhkemPrimitives` asks of a Montgomery curve (its `MontgomeryECDH`). */
type MontgomeryCurve = ConstructorParameters<typeof XCurveDhkemPrimitives>[2];

const X25519_LENGTH = 32;

/** Imported X25519 key handles: private keys by SHA-256 fingerprint, public keys by value. */
export interface X25519KeyCaches {
  readonly privateKeys: KeyCache<KeyObject>;
  readonly publicKeys: KeyCache<KeyObject>;
}

/** The u-coordinate 9 of the X25519 base point, little-endian (RFC 7748 §4.1). */
const BASE_POINT = Uint8Array.from({ length: X25519_LENGTH }, (_v, i) => (i === 0 ? 9 : 0));

/** RFC 8410 §7 PKCS#8 OneAsymmetricKey header of an X25519 private key (OID 1.3.101.110). */
const X25519_PKCS8_HEADER = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== X25519_LENGTH) throw new Error('X25519 private key must be 32 bytes');
  return importOkpPrivateKey('X25519', secretKey, () => {
    const der = new Uint8Array(X25519_PKCS8_HEADER.length + X25519_LENGTH);
    der.set(X25519_PKCS8_HEADER);
    der.set(secretKey, X25519_PKCS8_HEADER.length);
    return der;
  });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== X25519_LENGTH) throw new Error('X25519 public key must be 32 bytes');
  return createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'X25519', x: base64url(publicKey) } });
}

const basePoint = publicKeyObject(BASE_POINT);

/**
 * X25519(k, u) (RFC 7748 §5) by OpenSSL, into a fresh exactly-sized array (the primitives
 * hand out `.buffer`). RFC 9180 §7.1.4: an all-zero shared secret (a small-order public key)
 * is refused; OpenSSL refuses it too, this is the check of record.
 */
function x25519(privateKey: KeyObject, publicKey: KeyObject): Uint8Array<ArrayBuffer> {
  const shared = new Uint8Array(diffieHellman({ privateKey, publicKey }));
  if (shared.every((b) => b === 0)) throw new Error('X25519 shared secret is all zero');
  return shared;
}

/**
 * X25519 for `XCurveDhkemPrimitives`, computed by OpenSSL, with the key handles it imports
 * remembered in bounded caches: private keys by a SHA-256 fingerprint (never the secret bytes
 * themselves; an HPKE seal uses its ephemeral key twice, for its public key and for the DH,
 * and a member's leaf key opens every commit), public keys by value (a member seals to the
 * same members commit after commit). A cached ephemeral key outlives its seal by at most 15
 * more imports; what it protects (a path secret, a Welcome's group secrets) is the sealing
 * member's own state already, so holding it longer exposes nothing new. `clearKeyCaches`
 * of the provider drops them all.
 */
function nodeX25519({ privateKeys, publicKeys }: X25519KeyCaches): MontgomeryCurve {
  const privateFor = (secretKey: Uint8Array): KeyObject => {
    const id = createHash('sha256').update('X25519').update(secretKey).digest('base64');
    return privateKeys.get(id) ?? privateKeys.set(id, privateKeyObject(secretKey));
  };
  const publicFor = (publicKey: Uint8Array): KeyObject => {
    const id = base64url(publicKey);
    return publicKeys.get(id) ?? publicKeys.set(id, publicKeyObject(publicKey));
  };
  // The public key is X25519(k, 9) (RFC 7748 §6.1).
  const publicOf = (secretKey: Uint8Array): Uint8Array<ArrayBuffer> => x25519(privateFor(secretKey), basePoint);
  const shared = (secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array<ArrayBuffer> => x25519(privateFor(secretKey), publicFor(publicKey));
  return {
    scalarMult: shared,
    scalarMultBase: publicOf,
    getSharedSecret: shared,
    getPublicKey: publicOf,
    utils: { randomSecretKey: async () => randomFillSync(new Uint8Array(X25519_LENGTH)) },
    GuBytes: BASE_POINT,
    lengths: { secretKey: X25519_LENGTH, publicKey: X25519_LENGTH },
    keygen: () => {
      const secretKey = randomFillSync(new Uint8Array(X25519_LENGTH));
      return { secretKey, publicKey: publicOf(secretKey) };
    },
  };
}

/**
 * DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, §7.1; KEM id 0x0020) with OpenSSL's X25519.
 * Keys are `@hpke/common` `XCryptoKey`s holding the raw 32 bytes (RFC 9180 §7.1.1, §7.1.2),
 * the same serialization as every other X25519 DHKEM.
 *
 * @example
 * const suite = new CipherSuite({ kem: new NodeDhkemX25519(), kdf: hpkeKdf('HKDF-SHA256'), aead })
 */
export class NodeDhkemX25519 extends Dhkem {
  override readonly id = KemId.DhkemX25519HkdfSha256;
  override readonly secretSize = 32;
  override readonly encSize = 32;
  override readonly publicKeySize = 32;
  override readonly privateKeySize = 32;

  /**
   * @param caches where imported key handles are kept (the provider clears them with its
   *   other key caches); by default 16 private keys (a commit's ephemeral keys pass through,
   *   the member's own keys stay) and 2048 public keys
   */
  constructor(caches: X25519KeyCaches = { privateKeys: new KeyCache(16), publicKeys: new KeyCache(2048) }) {
    const kdf = hpkeKdf('HKDF-SHA256');
    super(KemId.DhkemX25519HkdfSha256, new XCurveDhkemPrimitives('X25519', X25519_LENGTH, nodeX25519(caches), kdf), kdf);
  }
}

const HPKE_AEAD_ID: Readonly<Record<AeadAlgorithm, AeadId>> = {
  AES128GCM: AeadId.Aes128Gcm,
  AES256GCM: AeadId.Aes256Gcm,
  CHACHA20POLY1305: AeadId.Chacha20Poly1305,
};

function asBytes(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/**
 * An HPKE AEAD (RFC 9180 §7.3: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305) for `@hpke/core`
 * over OpenSSL (`aead.node.ts`).
 */
export function nodeHpkeAead(alg: AeadAlgorithm): AeadInterface {
  return {
    id: HPKE_AEAD_ID[alg],
    keySize: AEAD_KEY_LENGTH[alg],
    nonceSize: AEAD_NONCE_LENGTH,
    tagSize: AEAD_TAG_LENGTH,
    createEncryptionContext(rawKey) {
      const key = asBytes(rawKey).slice();
      return {
        async seal(iv, data, aad) {
          return aeadSeal(alg, key, asBytes(iv), asBytes(aad), asBytes(data)).buffer;
        },
        async open(iv, data, aad) {
          return aeadOpen(alg, key, asBytes(iv), asBytes(aad), asBytes(data)).slice().buffer;
        },
      };
    },
  };
}
