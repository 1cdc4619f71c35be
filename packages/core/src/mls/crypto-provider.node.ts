/**
 * A ts-mls `CryptoProvider` backed by node:crypto (OpenSSL) for servers, the CLI and
 * Node clients. ts-mls's default provider re-imports every key through WebCrypto on
 * every call (a PKCS#8 decode per Ed25519 signature, a raw import per HMAC and AES-GCM
 * operation); node:crypto takes raw HMAC and AES keys directly, and signature keys are
 * imported once and kept in a small bounded cache.
 *
 * Natively: SHA-2 and HMAC (`createHash`/`createHmac`, constant-time MAC check),
 * AES-128/256-GCM and ChaCha20-Poly1305 (`createCipheriv`), Ed25519, Ed448 and
 * ECDSA P-256/P-384/P-521 (`sign`/`verify`), i.e. all of RFC 9420's suites 1–7.
 * HKDF and HPKE: see `crypto-provider-common.ts` (`@noble/hashes` HKDF; `@hpke/core`
 * HPKE) and `hpke.node.ts` (its X25519 DHKEM on OpenSSL, its AEADs on `createCipheriv`,
 * its KDF on noble; X448 and ECDH stay WebCrypto's). X-Wing comes from
 * `xwingKem()` (crypto-provider-common.ts); other post-quantum suites fall back to
 * ts-mls's default components for the KEM and ML-DSA while keeping the fast AEAD,
 * hash and Ed25519.
 *
 * Signature key formats (`Signature.keygen` returns, `Signature.sign` accepts):
 * - Ed25519 / Ed448: the RFC 8032 private key, i.e. the 32- / 57-byte seed, as in the
 *   RFC 9420 test vectors and `@noble/curves`. `sign` also accepts the 48-byte PKCS#8
 *   form that ts-mls's default (WebCrypto) keygen returns. Public key: 32 / 57 raw bytes.
 * - ECDSA: the big-endian private scalar, left-padded to the field size (32/48/66);
 *   public key: the uncompressed SEC1 point; signatures DER-encoded (RFC 9420 §5.1 takes
 *   these encodings from TLS 1.3, RFC 8446 §4.2.3), as ts-mls's default provider does.
 */
import {
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  ECDH,
  randomFillSync,
  sign as signWithKeyObject,
  timingSafeEqual,
  verify as verifyWithKeyObject,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import { DhkemX448HkdfSha512, type AeadInterface, type KemInterface } from '@hpke/core';
import type {
  Aead,
  AeadAlgorithm,
  Ciphersuite,
  Hash,
  HashAlgorithm,
  KemAlgorithm,
  Rng,
  Signature,
  SignatureAlgorithm,
} from './ts-mls.js';
import { InvalidInputError } from '../errors.js';
import {
  EDDSA,
  assembleCiphersuiteImpl,
  checkLength,
  eddsaPkcs8,
  eddsaSeed,
  hpkeKdf,
  memoizeSuites,
  xwingKem,
  type CachingCryptoProvider,
  type EdDsaCurve,
  type RuntimeCrypto,
} from './crypto-provider-common.js';
import { KeyCache } from './key-cache.js';
import { aeadOpen, aeadSeal } from './aead.node.js';
import { base64url, fromBase64url, importOkpPrivateKey, plain } from './bytes.node.js';
import { NodeDhkemX25519, nodeHpkeAead, type X25519KeyCaches } from './hpke.node.js';

/** Sizes of the provider's key caches (entries; 0 disables a cache). */
export interface NodeCryptoProviderOptions {
  /**
   * Imported signature private keys, keyed by a SHA-256 fingerprint. Default 64. HPKE's
   * X25519 private keys have their own cache of at most 16 (0 here disables both).
   */
  readonly privateKeyCacheSize?: number;
  /** Imported public keys (a group's members), for signatures and for HPKE each. Default 2048. */
  readonly publicKeyCacheSize?: number;
}

const NODE_HASH: Readonly<Record<HashAlgorithm, string>> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

const ECDSA = {
  P256: { crv: 'P-256', curve: 'prime256v1', hash: 'sha256', scalarLength: 32 },
  P384: { crv: 'P-384', curve: 'secp384r1', hash: 'sha384', scalarLength: 48 },
  P521: { crv: 'P-521', curve: 'secp521r1', hash: 'sha512', scalarLength: 66 },
} as const;
type EcdsaAlgorithm = keyof typeof ECDSA;

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object: ~30% faster for the short
// inputs of tree hashing. `engines` allows Node 20.6, so fall back to createHash.
const oneShotHash = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Uint8Array }).hash;

function nodeHash(alg: HashAlgorithm): Hash {
  const name = NODE_HASH[alg];
  const mac = (key: Uint8Array, data: Uint8Array): Uint8Array => plain(createHmac(name, key).update(data).digest());
  return {
    async digest(data) {
      return plain(oneShotHash !== undefined ? oneShotHash(name, data, 'buffer') : createHash(name).update(data).digest());
    },
    async mac(key, data) {
      return mac(key, data);
    },
    async verifyMac(key, tag, data) {
      const expected = mac(key, data);
      return tag.length === expected.length && timingSafeEqual(expected, tag);
    },
  };
}

function nodeAead(alg: AeadAlgorithm): Aead {
  return {
    async encrypt(key, nonce, aad, plaintext) {
      return aeadSeal(alg, key, nonce, aad, plaintext);
    },
    async decrypt(key, nonce, aad, ciphertext) {
      return aeadOpen(alg, key, nonce, aad, ciphertext);
    },
  };
}

/** Key handles: private keys by SHA-256 fingerprint (no secret bytes as Map keys), public keys by value. */
interface KeyCaches {
  readonly privateKeys: KeyCache<KeyObject>;
  readonly publicKeys: KeyCache<KeyObject>;
}

function fingerprint(tag: string, secret: Uint8Array): string {
  return createHash('sha256').update(tag).update(secret).digest('base64');
}

function publicId(tag: string, publicKey: Uint8Array): string {
  return `${tag}:${base64url(publicKey)}`;
}

function importEdDsaPrivateKey(curve: EdDsaCurve, seed: Uint8Array): KeyObject {
  return importOkpPrivateKey(curve, seed, () => eddsaPkcs8(curve, seed));
}

/** Imports a JWK public key; a key OpenSSL rejects (e.g. not on the curve) is malformed input. */
function importPublicKey(alg: string, jwk: JsonWebKey): KeyObject {
  try {
    return createPublicKey({ format: 'jwk', key: jwk });
  } catch (cause) {
    throw new InvalidInputError(`${alg} public key is invalid`, { code: 'invalid_signature_key', cause });
  }
}

function rawEdDsaPublicKey(privateKey: KeyObject): Uint8Array {
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof x !== 'string') throw new Error('EdDSA public key export has no x');
  return fromBase64url(x);
}

function nodeEdDsa(curve: EdDsaCurve, caches: KeyCaches): Signature {
  const { seedLength, signatureLength } = EDDSA[curve];
  const privateKeyFor = (seed: Uint8Array): KeyObject => {
    const id = fingerprint(curve, seed);
    return caches.privateKeys.get(id) ?? caches.privateKeys.set(id, importEdDsaPrivateKey(curve, seed));
  };
  return {
    async sign(signKey, message) {
      return plain(signWithKeyObject(null, message, privateKeyFor(eddsaSeed(curve, signKey))));
    },
    async verify(publicKey, message, signature) {
      checkLength(publicKey, seedLength, `${curve} public key`);
      if (signature.length !== signatureLength) return false;
      const id = publicId(curve, publicKey);
      const key =
        caches.publicKeys.get(id) ??
        caches.publicKeys.set(id, importPublicKey(curve, { kty: 'OKP', crv: curve, x: base64url(publicKey) }));
      return verifyWithKeyObject(null, message, key, signature);
    },
    async keygen() {
      const signKey = randomFillSync(new Uint8Array(seedLength));
      return { signKey, publicKey: rawEdDsaPublicKey(privateKeyFor(signKey)) };
    },
  };
}

function leftPad(bytes: Uint8Array, length: number, name: string): Uint8Array {
  if (bytes.length === length) return bytes;
  // Some producers (and the P-521 vectors) drop leading zero bytes of the scalar.
  if (bytes.length > length || bytes.length === 0) {
    throw new InvalidInputError(`${name} must be at most ${length} bytes`, { code: 'invalid_signature_key' });
  }
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

function nodeEcdsa(alg: EcdsaAlgorithm, caches: KeyCaches): Signature {
  const { crv, curve, hash, scalarLength } = ECDSA[alg];
  const pointLength = 1 + 2 * scalarLength;
  const jwkFromPoint = (point: Uint8Array) => ({
    kty: 'EC',
    crv,
    x: base64url(point.subarray(1, 1 + scalarLength)),
    y: base64url(point.subarray(1 + scalarLength)),
  });
  const privateKeyFor = (scalar: Uint8Array): KeyObject => {
    const id = fingerprint(alg, scalar);
    const cached = caches.privateKeys.get(id);
    if (cached !== undefined) return cached;
    let key: KeyObject;
    try {
      // JWK needs the public point; ECDH derives it from the scalar inside OpenSSL.
      const ecdh = createECDH(curve);
      ecdh.setPrivateKey(scalar);
      key = createPrivateKey({ format: 'jwk', key: { ...jwkFromPoint(ecdh.getPublicKey()), d: base64url(scalar) } });
    } catch (cause) {
      throw new InvalidInputError(`${alg} signature private key is invalid`, { code: 'invalid_signature_key', cause });
    }
    return caches.privateKeys.set(id, key);
  };
  const publicKeyFor = (point: Uint8Array): KeyObject => {
    const id = publicId(alg, point);
    const cached = caches.publicKeys.get(id);
    if (cached !== undefined) return cached;
    let uncompressed = point;
    if (point.length === 1 + scalarLength && (point[0] === 2 || point[0] === 3)) {
      try {
        uncompressed = plain(ECDH.convertKey(point, curve, undefined, undefined, 'uncompressed') as Buffer);
      } catch (cause) {
        throw new InvalidInputError(`${alg} public key is invalid`, { code: 'invalid_signature_key', cause });
      }
    }
    if (uncompressed.length !== pointLength || uncompressed[0] !== 4) {
      throw new InvalidInputError(`${alg} public key must be a SEC1 point`, { code: 'invalid_signature_key' });
    }
    return caches.publicKeys.set(id, importPublicKey(alg, jwkFromPoint(uncompressed)));
  };
  return {
    async sign(signKey, message) {
      const key = privateKeyFor(leftPad(signKey, scalarLength, `${alg} signature private key`));
      return plain(signWithKeyObject(hash, message, { key, dsaEncoding: 'der' }));
    },
    async verify(publicKey, message, signature) {
      const key = publicKeyFor(publicKey);
      try {
        return verifyWithKeyObject(hash, message, { key, dsaEncoding: 'der' }, signature);
      } catch {
        return false; // malformed DER is a bad signature, not a malformed key
      }
    },
    async keygen() {
      const ecdh = createECDH(curve);
      const publicKey = plain(ecdh.generateKeys());
      return { signKey: leftPad(plain(ecdh.getPrivateKey()), scalarLength, 'generated scalar'), publicKey };
    },
  };
}

const nodeRng: Rng = {
  randomBytes(n) {
    return randomFillSync(new Uint8Array(n));
  },
};

/**
 * Creates a node:crypto-backed ts-mls provider with its own key caches.
 *
 * @example
 * const provider = createNodeCryptoProvider({ privateKeyCacheSize: 8 })
 * const impl = await provider.getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'))
 */
export function createNodeCryptoProvider(options: NodeCryptoProviderOptions = {}): CachingCryptoProvider {
  const caches: KeyCaches = {
    privateKeys: new KeyCache<KeyObject>(options.privateKeyCacheSize ?? 64),
    publicKeys: new KeyCache<KeyObject>(options.publicKeyCacheSize ?? 2048),
  };
  // HPKE's X25519 keys apart from signature keys: a commit's ~100 ephemeral keys pass through
  // a small cache without evicting the signature keys.
  const hpkeCaches: X25519KeyCaches = {
    privateKeys: new KeyCache<KeyObject>(Math.min(options.privateKeyCacheSize ?? 16, 16)),
    publicKeys: new KeyCache<KeyObject>(options.publicKeyCacheSize ?? 2048),
  };
  const runtime: RuntimeCrypto = {
    hash: nodeHash,
    aead: nodeAead,
    hpkeAead(alg: AeadAlgorithm): AeadInterface {
      return nodeHpkeAead(alg);
    },
    hpkeKdf,
    kem(alg: KemAlgorithm): KemInterface | Promise<KemInterface> | undefined {
      // X25519 on OpenSSL through @hpke/common's DHKEM (hpke.node.ts). ts-mls's default loads
      // X448 from the optional @hpke/dhkem-x448; @hpke/core has it too, on top of Node's
      // (OpenSSL) WebCrypto X448. X-Wing: see xwingKem. P-256/384/521: @hpke/core's.
      if (alg === 'DHKEM-X25519-HKDF-SHA256') return new NodeDhkemX25519(hpkeCaches);
      if (alg === 'DHKEM-X448-HKDF-SHA512') return new DhkemX448HkdfSha512();
      return alg === 'X-Wing' ? xwingKem() : undefined;
    },
    signature(alg: SignatureAlgorithm): Signature | undefined {
      switch (alg) {
        case 'Ed25519':
        case 'Ed448':
          return nodeEdDsa(alg, caches);
        case 'P256':
        case 'P384':
        case 'P521':
          return nodeEcdsa(alg, caches);
        default:
          return undefined;
      }
    },
    rng: nodeRng,
  };
  const build = memoizeSuites((cs: Ciphersuite) => assembleCiphersuiteImpl(cs, runtime));
  return {
    getCiphersuiteImpl: build,
    clearKeyCaches() {
      for (const cache of [caches.privateKeys, caches.publicKeys, hpkeCaches.privateKeys, hpkeCaches.publicKeys]) cache.clear();
    },
  };
}

/**
 * The shared node:crypto provider for ts-mls.
 *
 * @example
 * import { DEFAULT_SUITE, loadSuite } from '@parley/core/mls'
 * const suite = await loadSuite(DEFAULT_SUITE, nodeCryptoProvider)
 */
export const nodeCryptoProvider: CachingCryptoProvider = createNodeCryptoProvider();

// Named by the declarations of consumers that infer this provider's type (e.g. `{ crypto: nodeCryptoProvider }`).
export type { CachingCryptoProvider } from './crypto-provider-common.js';
