/**
 * A ts-mls `CryptoProvider` for browsers (and any runtime with WebCrypto, including
 * Node's `globalThis.crypto`): no `node:` imports, no `Buffer`.
 *
 * ts-mls's default provider imports a fresh `CryptoKey` for every HMAC, AES-GCM and
 * Ed25519 operation, and imports Ed25519 private keys from PKCS#8 (~5x slower than JWK).
 * This provider keeps imported keys in small bounded caches and imports Ed25519
 * private keys as JWK.
 *
 * Natively (WebCrypto): SHA-2 digests, HMAC, AES-128/256-GCM and Ed25519; HPKE through
 * `@hpke/core` (WebCrypto X25519/ECDH). HKDF: `@noble/hashes` (WebCrypto cannot do
 * HKDF-Expand alone; see `crypto-provider-common.ts`), for MLS and for HPKE's key schedule
 * (`hpkeKdf`, no WebCrypto key import per step); digests can come from it too
 * (`digest: 'noble'`), which is much faster for MLS's short inputs. X-Wing: `xwingKem()`
 * (crypto-provider-common.ts, pure JavaScript). ECDSA, Ed448, ChaCha20-Poly1305 and the
 * other post-quantum suites use ts-mls's default components.
 *
 * Key formats are those of `crypto-provider.node.ts`: Ed25519 signature private keys are
 * 32-byte RFC 8032 seeds (PKCS#8 from ts-mls's default keygen is accepted too), public
 * keys 32 raw bytes; keys move freely between the two providers.
 *
 * Cache trade-off: a cached HMAC or AES `CryptoKey` keeps that secret alive until it is
 * evicted. MLS derives a fresh AES key per message and deletes it for forward secrecy
 * (RFC 9420 §9.2): a cached one would outlive its deletion and almost never be hit again, so
 * the AES cache is off by default (`aesKeyCacheSize: 0`).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
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
import { fromBase64, toBase64, toBase64Url } from '../bytes.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import {
  AEAD_KEY_LENGTH,
  AEAD_NONCE_LENGTH,
  AEAD_TAG_LENGTH,
  EDDSA,
  assembleCiphersuiteImpl,
  checkLength,
  eddsaSeed,
  hpkeKdf,
  memoizeSuites,
  xwingKem,
  type CachingCryptoProvider,
  type RuntimeCrypto,
} from './crypto-provider-common.js';
import { KeyCache } from './key-cache.js';

/** Where the WebCrypto comes from and how many imported keys to keep (0 disables a cache). */
export interface WebCryptoProviderOptions {
  /** Defaults to `globalThis.crypto`. */
  readonly crypto?: Crypto;
  /**
   * Where SHA-2 digests come from. `'webcrypto'` (default) is `subtle.digest`; `'noble'`
   * is `@noble/hashes`, synchronous and far cheaper per call for MLS's many short inputs
   * (tree hashes: ~770 digests per commit in a 100-member group; in Node that is ~55 ms
   * of WebCrypto round trips against ~1 ms). Digests hash public data only.
   */
  readonly digest?: 'webcrypto' | 'noble';
  /** HMAC keys (confirmation and membership keys: one pair per epoch). Default 64. */
  readonly hmacKeyCacheSize?: number;
  /** AES-GCM keys (see the forward-secrecy note above). Default 0: off. */
  readonly aesKeyCacheSize?: number;
  /** Ed25519 signing keys, keyed by a SHA-256 fingerprint. Default 64. */
  readonly signingKeyCacheSize?: number;
  /** Ed25519 verification keys (a group's members). Default 2048. */
  readonly verifyingKeyCacheSize?: number;
}

interface WebKeyCaches {
  readonly hmac: KeyCache<CryptoKey>;
  readonly aes: KeyCache<CryptoKey>;
  readonly signing: KeyCache<CryptoKey>;
  readonly verifying: KeyCache<CryptoKey>;
}

/** WebCrypto wants ArrayBuffer-backed views; copy only when the bytes live elsewhere. */
function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}

/** Cache id for secret key material: a fingerprint, so no secret bytes become Map keys. */
function secretId(tag: string, secret: Uint8Array): string {
  return `${tag}:${toBase64(sha256(secret))}`;
}

const NOBLE_SHA2 = { 'SHA-256': sha256, 'SHA-384': sha384, 'SHA-512': sha512 } as const;

function webHash(subtle: SubtleCrypto, alg: HashAlgorithm, caches: WebKeyCaches, digestWith: 'webcrypto' | 'noble'): Hash {
  const nobleHash = NOBLE_SHA2[alg];
  const hmacKey = async (key: Uint8Array): Promise<CryptoKey> => {
    const id = secretId(alg, key);
    return (
      caches.hmac.get(id) ??
      caches.hmac.set(id, await subtle.importKey('raw', source(key), { name: 'HMAC', hash: alg }, false, ['sign', 'verify']))
    );
  };
  return {
    async digest(data) {
      if (digestWith === 'noble') return nobleHash(data);
      return new Uint8Array(await subtle.digest(alg, source(data)));
    },
    async mac(key, data) {
      return new Uint8Array(await subtle.sign('HMAC', await hmacKey(key), source(data)));
    },
    async verifyMac(key, tag, data) {
      // WebCrypto's HMAC verify compares in constant time.
      return subtle.verify('HMAC', await hmacKey(key), source(tag), source(data));
    },
  };
}

function webAesGcm(subtle: SubtleCrypto, alg: 'AES128GCM' | 'AES256GCM', caches: WebKeyCaches): Aead {
  const aesKey = async (key: Uint8Array): Promise<CryptoKey> => {
    checkLength(key, AEAD_KEY_LENGTH[alg], 'AEAD key');
    const id = secretId(alg, key);
    return (
      caches.aes.get(id) ??
      caches.aes.set(id, await subtle.importKey('raw', source(key), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']))
    );
  };
  const params = (nonce: Uint8Array, aad: Uint8Array): AesGcmParams => {
    checkLength(nonce, AEAD_NONCE_LENGTH, 'AEAD nonce');
    return { name: 'AES-GCM', iv: source(nonce), additionalData: source(aad), tagLength: AEAD_TAG_LENGTH * 8 };
  };
  return {
    async encrypt(key, nonce, aad, plaintext) {
      return new Uint8Array(await subtle.encrypt(params(nonce, aad), await aesKey(key), source(plaintext)));
    },
    async decrypt(key, nonce, aad, ciphertext) {
      const cryptoKey = await aesKey(key);
      try {
        return new Uint8Array(await subtle.decrypt(params(nonce, aad), cryptoKey, source(ciphertext)));
      } catch (cause) {
        throw new CryptoError('aead_open_failed', 'AEAD authentication failed', { cause });
      }
    },
  };
}

function webEd25519(subtle: SubtleCrypto, caches: WebKeyCaches): Signature {
  const { seedLength, signatureLength } = EDDSA.Ed25519;
  // JWK needs the public key next to the seed. WebCrypto cannot derive it without a
  // PKCS#8 import (the slow path this provider avoids), so @noble/curves does, once per key.
  const importSigningKey = (seed: Uint8Array, publicKey: Uint8Array): Promise<CryptoKey> =>
    subtle.importKey(
      'jwk',
      { kty: 'OKP', crv: 'Ed25519', d: toBase64Url(seed), x: toBase64Url(publicKey) },
      { name: 'Ed25519' },
      false,
      ['sign'],
    );
  const signingKey = async (seed: Uint8Array): Promise<CryptoKey> => {
    const id = secretId('Ed25519', seed);
    return caches.signing.get(id) ?? caches.signing.set(id, await importSigningKey(seed, ed25519.getPublicKey(seed)));
  };
  const verifyingKey = async (publicKey: Uint8Array): Promise<CryptoKey> => {
    checkLength(publicKey, seedLength, 'Ed25519 public key');
    const id = `Ed25519:${toBase64(publicKey)}`;
    const cached = caches.verifying.get(id);
    if (cached !== undefined) return cached;
    try {
      return caches.verifying.set(id, await subtle.importKey('raw', source(publicKey), { name: 'Ed25519' }, false, ['verify']));
    } catch (cause) {
      throw new InvalidInputError('Ed25519 public key is invalid', { code: 'invalid_signature_key', cause });
    }
  };
  return {
    async sign(signKey, message) {
      const key = await signingKey(eddsaSeed('Ed25519', signKey));
      return new Uint8Array(await subtle.sign({ name: 'Ed25519' }, key, source(message)));
    },
    async verify(publicKey, message, signature) {
      const key = await verifyingKey(publicKey);
      if (signature.length !== signatureLength) return false;
      return subtle.verify({ name: 'Ed25519' }, key, source(signature), source(message));
    },
    async keygen() {
      const pair = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      const jwk = await subtle.exportKey('jwk', pair.privateKey);
      if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new Error('Ed25519 JWK export is incomplete');
      const signKey = fromBase64(jwk.d, 'd');
      const publicKey = fromBase64(jwk.x, 'x');
      // Cache a non-extractable copy: sign() follows keygen() when a KeyPackage is made.
      caches.signing.set(secretId('Ed25519', signKey), await importSigningKey(signKey, publicKey));
      return { signKey, publicKey };
    },
  };
}

function webRng(crypto: Crypto): Rng {
  return {
    randomBytes(n) {
      const out = new Uint8Array(n);
      // getRandomValues fills at most 65536 bytes per call.
      for (let offset = 0; offset < n; offset += 65536) crypto.getRandomValues(out.subarray(offset, Math.min(n, offset + 65536)));
      return out;
    },
  };
}

/**
 * Creates a WebCrypto-backed ts-mls provider with its own key caches.
 *
 * @example
 * const provider = createWebCryptoProvider({ digest: 'noble' })
 * const impl = await provider.getCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'))
 */
export function createWebCryptoProvider(options: WebCryptoProviderOptions = {}): CachingCryptoProvider {
  const crypto = options.crypto ?? globalThis.crypto;
  const subtle = crypto.subtle;
  const caches: WebKeyCaches = {
    hmac: new KeyCache<CryptoKey>(options.hmacKeyCacheSize ?? 64),
    aes: new KeyCache<CryptoKey>(options.aesKeyCacheSize ?? 0),
    signing: new KeyCache<CryptoKey>(options.signingKeyCacheSize ?? 64),
    verifying: new KeyCache<CryptoKey>(options.verifyingKeyCacheSize ?? 2048),
  };
  const runtime: RuntimeCrypto = {
    hash: (alg) => webHash(subtle, alg, caches, options.digest ?? 'webcrypto'),
    aead: (alg: AeadAlgorithm) => (alg === 'AES128GCM' || alg === 'AES256GCM' ? webAesGcm(subtle, alg, caches) : undefined),
    hpkeAead: () => undefined,
    hpkeKdf,
    kem: (alg: KemAlgorithm) => (alg === 'X-Wing' ? xwingKem() : undefined),
    signature: (alg: SignatureAlgorithm) => (alg === 'Ed25519' ? webEd25519(subtle, caches) : undefined),
    rng: webRng(crypto),
  };
  const build = memoizeSuites((cs: Ciphersuite) => assembleCiphersuiteImpl(cs, runtime));
  return {
    getCiphersuiteImpl: build,
    clearKeyCaches() {
      for (const cache of Object.values(caches)) cache.clear();
    },
  };
}

/**
 * The shared WebCrypto provider for ts-mls (uses `globalThis.crypto`).
 *
 * @example
 * import { DEFAULT_SUITE, loadSuite } from '@parley/core/mls'
 * const suite = await loadSuite(DEFAULT_SUITE, webCryptoProvider)
 */
export const webCryptoProvider: CachingCryptoProvider = createWebCryptoProvider();

// Named by the declarations of consumers that infer this provider's type (e.g. `{ crypto: webCryptoProvider }`).
export type { CachingCryptoProvider } from './crypto-provider-common.js';
