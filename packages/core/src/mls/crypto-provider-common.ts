/**
 * The runtime-independent half of Parley's ts-mls crypto providers
 * (`crypto-provider.node.ts`, `crypto-provider.web.ts`): how a ts-mls `CiphersuiteImpl`
 * is put together from a runtime's fast primitives, plus the parts both runtimes share.
 * No `node:` imports and no `Buffer` here.
 *
 * - KDF: HKDF (RFC 5869) from `@noble/hashes`. MLS (RFC 9420 §5.1) needs Extract and
 *   Expand as separate steps; node:crypto's `hkdf` and WebCrypto's HKDF only do both at
 *   once, so neither can serve `Kdf.expand`. Of the vetted libraries that can,
 *   noble's synchronous HKDF is the fastest here (~6 µs per one-block Expand, against
 *   ~140 µs for `@hpke/core`'s WebCrypto HKDF, which re-imports an HMAC key per call),
 *   and MLS calls Expand for every message key, nonce and ratchet step.
 * - HPKE (RFC 9180): `@hpke/core` wrapped by ts-mls's own `makeGenericHpke`, built the
 *   way ts-mls's default provider builds it, except that `encryptAead`/`decryptAead`
 *   (MLS message protection, RFC 9420 §6.3) use the runtime's fast AEAD, and a runtime
 *   may supply HPKE's KEM, AEAD and KDF ({@link hpkeKdf}: noble HKDF under `@hpke/core`'s
 *   labels; the node provider takes it, see `hpke.node.ts`).
 * - X-Wing (the KEM of MLS_256_XWING_AES256GCM_SHA512_Ed25519): {@link xwingKem}, the same
 *   instance type for both runtimes.
 * - Anything a runtime cannot do natively (e.g. ChaCha20-Poly1305 in WebCrypto,
 *   ML-KEM, ML-DSA) comes from ts-mls's default implementation of that one component,
 *   so every suite ts-mls supports keeps working.
 */
import { CipherSuite, HkdfSha256, HkdfSha384, HkdfSha512, type AeadInterface, type KdfInterface, type KemInterface } from '@hpke/core';
import { expand, extract, hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import {
  type Aead,
  type AeadAlgorithm,
  type Ciphersuite,
  type CiphersuiteImpl,
  type CryptoProvider,
  type Hash,
  type HashAlgorithm,
  type Kdf,
  type KdfAlgorithm,
  type KemAlgorithm,
  makeAead as makeDefaultAead,
  makeDhKem as makeDefaultKem,
  makeGenericHpke,
  makeKdf as makeHpkeKdf,
  makeNobleSignatureImpl as makeDefaultSignature,
  type Rng,
  type Signature,
  type SignatureAlgorithm,
} from './ts-mls.js';
import { InvalidInputError } from '../errors.js';

/** The primitives one runtime provides natively; `undefined` means "use ts-mls's default". */
export interface RuntimeCrypto {
  hash(alg: HashAlgorithm): Hash;
  /** AEAD for MLS message protection: returns ciphertext || 16-byte tag. */
  aead(alg: AeadAlgorithm): Aead | undefined;
  /** AEAD inside HPKE for algorithms `@hpke/core` lacks; `undefined` keeps @hpke/core's AES-GCM. */
  hpkeAead(alg: AeadAlgorithm): AeadInterface | undefined;
  /** KEMs the runtime supplies itself (ts-mls's default would load them from optional packages). */
  kem(alg: KemAlgorithm): KemInterface | Promise<KemInterface> | undefined;
  /** The KDF of HPKE's key schedule (RFC 9180 §5.1); absent: `@hpke/core`'s WebCrypto HKDF. */
  hpkeKdf?(alg: KdfAlgorithm): KdfInterface;
  signature(alg: SignatureAlgorithm): Signature | undefined;
  rng: Rng;
}

/** A ts-mls `CryptoProvider` with caches of imported keys that can be dropped. */
export interface CachingCryptoProvider extends CryptoProvider {
  /** Forgets every cached key handle (call after wiping or rotating signature keys). */
  clearKeyCaches(): void;
}

const NOBLE_HASH = { 'HKDF-SHA256': sha256, 'HKDF-SHA384': sha384, 'HKDF-SHA512': sha512 } as const;

/**
 * The MLS KDF (RFC 9420 §5.1): HKDF-Extract and HKDF-Expand from `@noble/hashes`.
 *
 * @example
 * const kdf = makeNobleKdf('HKDF-SHA256')
 * const prk = await kdf.extract(salt, ikm)
 */
export function makeNobleKdf(alg: KdfAlgorithm): Kdf {
  const hash = NOBLE_HASH[alg];
  return {
    async extract(salt, ikm) {
      return extract(hash, ikm, salt);
    },
    async expand(prk, info, length) {
      return expand(hash, prk, info, length);
    },
    size: hash.outputLen,
  };
}

const HPKE_KDF = { 'HKDF-SHA256': HkdfSha256, 'HKDF-SHA384': HkdfSha384, 'HKDF-SHA512': HkdfSha512 } as const;

function bytesOf(data: ArrayBufferLike | ArrayBufferView): Uint8Array {
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** `bytes` as an ArrayBuffer of exactly its length (a copy unless it already is one). */
function exactBuffer(bytes: Uint8Array): ArrayBuffer {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? buffer : bytes.slice().buffer;
}

/**
 * An HPKE KDF (RFC 9180 §4, §7.2) whose labelling (`LabeledExtract`/`LabeledExpand`, suite
 * ids) is `@hpke/core`'s own and whose HKDF-Extract/Expand (RFC 5869) is `@noble/hashes`,
 * synchronous, instead of a WebCrypto key import and job per step. A fresh instance per use:
 * `init` binds it to one suite id.
 *
 * @example
 * const suite = new CipherSuite({ kem, kdf: hpkeKdf('HKDF-SHA256'), aead })
 */
export function hpkeKdf(alg: KdfAlgorithm): KdfInterface {
  const hash = NOBLE_HASH[alg];
  // An empty salt is HashLen zero bytes (RFC 5869 §2.2); noble uses those when none is given.
  const saltOf = (salt: ArrayBufferLike | ArrayBufferView): Uint8Array | undefined => {
    const bytes = bytesOf(salt);
    return bytes.length === 0 ? undefined : bytes;
  };
  // The three classes differ only in their hash (id, hashSize, WebCrypto parameters).
  const Base: new () => HkdfSha256 = HPKE_KDF[alg];
  return new (class extends Base {
    override async extract(salt: ArrayBufferLike | ArrayBufferView, ikm: ArrayBufferLike | ArrayBufferView): Promise<ArrayBuffer> {
      return exactBuffer(extract(hash, bytesOf(ikm), saltOf(salt)));
    }
    override async expand(prk: ArrayBufferLike | ArrayBufferView, info: ArrayBufferLike | ArrayBufferView, len: number): Promise<ArrayBuffer> {
      return exactBuffer(expand(hash, bytesOf(prk), bytesOf(info), len));
    }
    override async extractAndExpand(
      salt: ArrayBufferLike | ArrayBufferView,
      ikm: ArrayBufferLike | ArrayBufferView,
      info: ArrayBufferLike | ArrayBufferView,
      len: number,
    ): Promise<ArrayBuffer> {
      return exactBuffer(hkdf(hash, bytesOf(ikm), saltOf(salt), bytesOf(info), len));
    }
  })();
}

/**
 * The X-Wing hybrid KEM (ML-KEM-768 + X25519, draft-connolly-cfrg-xwing-kem) for HPKE: the
 * KEM of MLS_256_XWING_AES256GCM_SHA512_Ed25519 in both Parley providers. The library is
 * `@hpke/hybridkem-x-wing` (0.7), which implements draft-06; the draft's test vectors are
 * identical from draft-06 to draft-10 (checked in test/xwing-vectors.test.ts). Pure
 * JavaScript (`mlkem`, noble-based X25519), so it runs the same in Node and browsers.
 * Stateless apart from a lazily loaded `crypto` handle: a fresh instance per suite is cheap.
 *
 * @example
 * const kem = await xwingKem();
 * const { publicKey } = await kem.generateKeyPair(); // 1216-byte public key
 */
export async function xwingKem(): Promise<KemInterface> {
  // Imported with the first X-Wing suite: ML-KEM's ~20 modules are not loaded by a process that never uses it.
  const { XWing } = await import('@hpke/hybridkem-x-wing');
  return new XWing();
}

/**
 * Builds a ts-mls `CiphersuiteImpl` for `cs` from `runtime`'s native primitives,
 * falling back per component to ts-mls's default implementation.
 *
 * @example
 * const impl = await assembleCiphersuiteImpl(getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'), runtime)
 */
export async function assembleCiphersuiteImpl(cs: Ciphersuite, runtime: RuntimeCrypto): Promise<CiphersuiteImpl> {
  const nativeAead = runtime.aead(cs.hpke.aead);
  const nativeHpkeAead = runtime.hpkeAead(cs.hpke.aead);
  // ts-mls's makeAead returns [MLS AEAD, @hpke/core AeadInterface]; the latter is @hpke/core's
  // own Aes128Gcm/Aes256Gcm for AES, exactly what ts-mls's default HPKE uses.
  const fallbackAead =
    nativeAead === undefined || nativeHpkeAead === undefined ? await makeDefaultAead(cs.hpke.aead) : undefined;
  const mlsAead = nativeAead ?? fallbackAead?.[0];
  const hpkeAead = nativeHpkeAead ?? fallbackAead?.[1];
  if (mlsAead === undefined || hpkeAead === undefined) throw new Error(`no AEAD for ${cs.hpke.aead}`);
  const kem = (await runtime.kem(cs.hpke.kem)) ?? (await makeDefaultKem(cs.hpke.kem));
  const hpkeSuite = new CipherSuite({ kem, kdf: runtime.hpkeKdf?.(cs.hpke.kdf) ?? makeHpkeKdf(cs.hpke.kdf), aead: hpkeAead });
  return {
    hash: runtime.hash(cs.hash),
    kdf: makeNobleKdf(cs.hpke.kdf),
    signature: runtime.signature(cs.signature) ?? (await makeDefaultSignature(cs.signature)),
    hpke: await makeGenericHpke(cs.hpke, mlsAead, hpkeSuite),
    rng: runtime.rng,
    name: cs.name,
  };
}

/**
 * Memoizes one `CiphersuiteImpl` per suite (they are stateless apart from the provider's
 * key caches); a failed build (missing optional dependency) is not remembered.
 */
export function memoizeSuites(build: (cs: Ciphersuite) => Promise<CiphersuiteImpl>): (cs: Ciphersuite) => Promise<CiphersuiteImpl> {
  const built = new Map<string, Promise<CiphersuiteImpl>>();
  return (cs) => {
    const id = `${cs.name}|${cs.hash}|${cs.signature}|${cs.hpke.kem}|${cs.hpke.kdf}|${cs.hpke.aead}`;
    let impl = built.get(id);
    if (impl === undefined) {
      impl = build(cs);
      built.set(id, impl);
      impl.catch(() => built.delete(id));
    }
    return impl;
  };
}

// RFC 8410 §7 PKCS#8 OneAsymmetricKey for Ed25519 without the optional public key: the
// fixed 16-byte header followed by the 32-byte seed. ts-mls's default provider returns
// signature private keys in this form when it generates them with WebCrypto.
const ED25519_PKCS8_HEADER = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const ED448_PKCS8_HEADER = Uint8Array.from([
  0x30, 0x47, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x04, 0x3b, 0x04, 0x39,
]);

/** EdDSA parameters (RFC 8032 §5.1, §5.2). */
export const EDDSA = {
  Ed25519: { seedLength: 32, signatureLength: 64, pkcs8Header: ED25519_PKCS8_HEADER },
  Ed448: { seedLength: 57, signatureLength: 114, pkcs8Header: ED448_PKCS8_HEADER },
} as const;
export type EdDsaCurve = keyof typeof EDDSA;

/**
 * The RFC 8032 private key (seed) inside an MLS signature private key. Accepts the raw
 * seed (the format of the RFC 9420 test vectors, of `@noble/curves` and of Parley's
 * providers' `keygen`) and the PKCS#8 form ts-mls's WebCrypto `keygen` returns.
 *
 * @example
 * eddsaSeed('Ed25519', signKey) // 32 bytes
 */
export function eddsaSeed(curve: EdDsaCurve, signKey: Uint8Array): Uint8Array {
  const { seedLength, pkcs8Header } = EDDSA[curve];
  if (signKey.length === seedLength) return signKey;
  if (signKey.length === pkcs8Header.length + seedLength && startsWith(signKey, pkcs8Header)) {
    return signKey.subarray(pkcs8Header.length);
  }
  throw new InvalidInputError(`${curve} signature private key must be a ${seedLength}-byte seed or PKCS#8`, {
    code: 'invalid_signature_key',
  });
}

/** RFC 8410 PKCS#8 DER encoding of an EdDSA seed (the slow import path of last resort). */
export function eddsaPkcs8(curve: EdDsaCurve, seed: Uint8Array): Uint8Array {
  const { pkcs8Header } = EDDSA[curve];
  const out = new Uint8Array(pkcs8Header.length + seed.length);
  out.set(pkcs8Header);
  out.set(seed, pkcs8Header.length);
  return out;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

/** Throws unless `bytes` is exactly `length` long; the message names the value, never its content. */
export function checkLength(bytes: Uint8Array, length: number, name: string): void {
  if (bytes.length !== length) {
    throw new InvalidInputError(`${name} must be ${length} bytes, got ${bytes.length}`, { code: 'invalid_bytes' });
  }
}

/** Length in bytes of the AEAD key (Nk) for each MLS AEAD (RFC 9180 §7.3). */
export const AEAD_KEY_LENGTH: Readonly<Record<AeadAlgorithm, number>> = {
  AES128GCM: 16,
  AES256GCM: 32,
  CHACHA20POLY1305: 32,
};
/** Nonce (Nn) and tag (Nt) lengths shared by all three AEADs. */
export const AEAD_NONCE_LENGTH = 12;
export const AEAD_TAG_LENGTH = 16;
