/**
 * `IndexedDbKeyStore`'s keys and record cipher, on WebCrypto (browser only; no
 * `node:` imports, no `Buffer`).
 *
 * - The data key is an AES-256-GCM `CryptoKey`, never extractable once in use.
 *   Without a passphrase it is stored as such in IndexedDB (structured clone keeps
 *   it non-extractable). With one, Argon2id (RFC 9106, `hash-wasm`) turns the
 *   passphrase into an AES-KW key (RFC 3394) that wraps the data key; opening
 *   unwraps it as non-extractable, and a wrong passphrase fails AES-KW's integrity
 *   check (`key_store_wrong_key`).
 * - Every sealed blob is `version (1) || nonce (12) || ciphertext || tag (16)` with
 *   a fresh random nonce and additional data `version || purpose label || store id
 *   || context`: a record's context is its name, so a record moved under another
 *   name, or into another store, fails authentication.
 */
import { argon2id } from 'hash-wasm';
import { concatBytes, randomBytes, utf8 } from '@parley/core';
import { KeyStoreError } from './key-store.js';
import type { IdbKdf } from './key-store-idb.js';

export { DEFAULT_ARGON2_PARAMS, validArgon2, type Argon2Params } from './argon2-params.js';

const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** @internal */
export const SALT_BYTES = 16;
/** @internal */
export const STORE_ID_BYTES = 16;

const AAD_RECORD = utf8('parley idb key-store v1 record\0');
const AAD_CHECK = utf8('parley idb key-store v1 key check\0');
/** @internal The key check's plaintext. */
export const CHECK_PLAINTEXT = utf8('parley idb key-store key check');


function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!s) throw new KeyStoreError('key_store_io_error', 'WebCrypto (crypto.subtle) is not available: a secure context (https or localhost) is needed');
  return s;
}

function source(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : bytes.slice();
}


/** @internal A fresh AES-256-GCM data key; extractable only when it is about to be wrapped. */
export function generateDataKey(extractable: boolean): Promise<CryptoKey> {
  return subtle().generateKey({ name: 'AES-GCM', length: 256 }, extractable, ['encrypt', 'decrypt']);
}

/** @internal The AES-KW key Argon2id derives from `passphrase` (NFC-normalized) and the KDF's salt. */
export async function passphraseKey(passphrase: string, kdf: Extract<IdbKdf, { name: 'argon2id' }>): Promise<CryptoKey> {
  const raw = await argon2id({
    password: passphrase.normalize('NFC'),
    salt: kdf.salt,
    memorySize: kdf.memoryKiB,
    iterations: kdf.iterations,
    parallelism: kdf.parallelism,
    hashLength: KEY_BYTES,
    outputType: 'binary',
  });
  try {
    return await subtle().importKey('raw', source(raw), { name: 'AES-KW' }, false, ['wrapKey', 'unwrapKey']);
  } finally {
    raw.fill(0);
  }
}

/** @internal The data key wrapped (AES-KW) under the passphrase key. */
export async function wrapDataKey(dataKey: CryptoKey, wrappingKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await subtle().wrapKey('raw', dataKey, wrappingKey, { name: 'AES-KW' }));
}

/** @internal The data key, non-extractable; `key_store_wrong_key` when AES-KW's integrity check fails. */
export async function unwrapDataKey(wrapped: Uint8Array, wrappingKey: CryptoKey): Promise<CryptoKey> {
  try {
    return await subtle().unwrapKey('raw', source(wrapped), wrappingKey, { name: 'AES-KW' }, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  } catch (cause) {
    throw new KeyStoreError('key_store_wrong_key', 'wrong key store passphrase', { cause });
  }
}

async function seal(key: CryptoKey, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  const nonce = randomBytes(NONCE_BYTES);
  const additionalData = concatBytes(Uint8Array.of(SEAL_VERSION), aad);
  const body = await subtle().encrypt({ name: 'AES-GCM', iv: source(nonce), additionalData: source(additionalData), tagLength: TAG_BYTES * 8 }, key, source(plaintext));
  return concatBytes(Uint8Array.of(SEAL_VERSION), nonce, new Uint8Array(body));
}

async function unseal(key: CryptoKey, sealed: Uint8Array, aad: Uint8Array): Promise<Uint8Array | undefined> {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== SEAL_VERSION) return undefined;
  const nonce = sealed.slice(1, 1 + NONCE_BYTES);
  const body = sealed.slice(1 + NONCE_BYTES);
  const additionalData = concatBytes(Uint8Array.of(SEAL_VERSION), aad);
  try {
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: nonce, additionalData: source(additionalData), tagLength: TAG_BYTES * 8 }, key, body));
  } catch {
    return undefined;
  }
}

/** The canonical text of a KDF, authenticated by the key check. */
function kdfText(kdf: IdbKdf): string {
  return kdf.name === 'argon2id' ? `argon2id:m=${kdf.memoryKiB},t=${kdf.iterations},p=${kdf.parallelism}` : 'none';
}

function checkAad(storeId: Uint8Array, kdf: IdbKdf): Uint8Array {
  return concatBytes(AAD_CHECK, storeId, utf8(kdfText(kdf)), kdf.name === 'argon2id' ? kdf.salt : new Uint8Array(0));
}

/** @internal The key check of a new header. */
export function sealCheck(key: CryptoKey, storeId: Uint8Array, kdf: IdbKdf): Promise<Uint8Array> {
  return seal(key, CHECK_PLAINTEXT, checkAad(storeId, kdf));
}

/** @internal True when the key check authenticates under `key` for this store id and KDF. */
export async function verifyCheck(key: CryptoKey, storeId: Uint8Array, kdf: IdbKdf, check: Uint8Array): Promise<boolean> {
  const plaintext = await unseal(key, check, checkAad(storeId, kdf));
  return plaintext !== undefined && plaintext.length === CHECK_PLAINTEXT.length && plaintext.every((b, i) => b === CHECK_PLAINTEXT[i]);
}

function recordAad(storeId: Uint8Array, name: string): Uint8Array {
  return concatBytes(AAD_RECORD, storeId, utf8(name));
}

/** @internal A record's stored value. */
export function sealRecord(key: CryptoKey, storeId: Uint8Array, name: string, value: Uint8Array): Promise<Uint8Array> {
  return seal(key, value, recordAad(storeId, name));
}

/** @internal A record's value; `key_store_corrupt` unless it authenticates as record `name` of this store. */
export async function openRecord(key: CryptoKey, storeId: Uint8Array, name: string, sealed: unknown): Promise<Uint8Array> {
  const value = sealed instanceof Uint8Array ? await unseal(key, sealed, recordAad(storeId, name)) : undefined;
  if (!value) throw new KeyStoreError('key_store_corrupt', 'key store data failed authentication or is malformed');
  return value;
}
