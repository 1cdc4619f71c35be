/**
 * FileKeyStore's keys and header. Argon2id (RFC 9106) turns a passphrase into 32
 * bytes, or the host app supplies 32 bytes; HKDF-SHA-256 (RFC 5869) derives the
 * AES-256-GCM key and the HMAC key for file names from those. The header
 * (`keystore.json`) holds the KDF, its parameters, the salt and a key check that
 * authenticates them.
 *
 * Node only: uses `node:crypto` and `node:fs`.
 */
import { hkdfSync } from 'node:crypto';
import { readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { argon2id } from 'hash-wasm';
import { concatBytes, equalBytes, fromBase64, randomBytes, toBase64Url, utf8 } from '@parley/core';
import { KeyStoreError } from './key-store.js';
import { HEADER_FILE, JOURNAL_FILE, RECORD_FILE_RE, TMP_SUFFIX, corrupt, isErrno, syncDir, wrongKey, writeDurably } from './key-store-files.node.js';
import { seal, unseal, type Keys } from './key-store-seal.node.js';

/**
 * Argon2id cost parameters (RFC 9106 §3.1).
 *
 * @example
 * const params: Argon2Params = { memoryKiB: 46 * 1024, iterations: 1, parallelism: 1 };
 */
export interface Argon2Params {
  /** Memory in KiB (`m`). */
  readonly memoryKiB: number;
  /** Passes over memory (`t`). */
  readonly iterations: number;
  /** Lanes (`p`). */
  readonly parallelism: number;
}

/**
 * OWASP Password Storage Cheat Sheet's first Argon2id configuration:
 * m = 19 MiB, t = 2, p = 1 (about 0.1 s per open on a laptop-class CPU).
 *
 * @example
 * await FileKeyStore.open(dir, { passphrase }, { argon2: { ...DEFAULT_ARGON2_PARAMS, iterations: 3 } });
 */
export const DEFAULT_ARGON2_PARAMS: Argon2Params = Object.freeze({ memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 });

/**
 * How `FileKeyStore.open` gets its key: a user passphrase (run through Argon2id)
 * or 32 random bytes the host app keeps in the platform keychain.
 *
 * @example
 * const key: FileKeyStoreKey = { key: await keychain.load('parley') };
 */
export type FileKeyStoreKey = { readonly passphrase: string } | { readonly key: Uint8Array };

const FORMAT = 'parley-key-store';
const FORMAT_VERSION = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

const CHECK_PLAINTEXT = utf8('parley key-store key check');
const AAD_CHECK = utf8('parley key-store v1 key check\0');
const INFO_ENC = utf8('parley key-store v1 aes-256-gcm');
const INFO_NAME = utf8('parley key-store v1 record names');

// Bounds for parameters read from a header or passed in: hash-wasm needs m >= 8p;
// the upper bounds stop a planted header from asking for absurd work.
const ARGON2_LIMITS = { maxMemoryKiB: 4 * 1024 * 1024, maxIterations: 64, maxParallelism: 16 } as const;

type KdfHeader =
  | { readonly name: 'argon2id'; readonly memoryKiB: number; readonly iterations: number; readonly parallelism: number }
  | { readonly name: 'host-key' };

interface Header {
  readonly kdf: KdfHeader;
  readonly salt: Uint8Array;
  readonly check: Uint8Array;
}

// ---------------------------------------------------------------------------
// Keys and header

/** @internal The store's secret as given to `FileKeyStore.open`, checked and normalized. */
export type Secret = { readonly kind: 'passphrase'; readonly passphrase: string } | { readonly kind: 'key'; readonly key: Uint8Array };

/** @internal Checks and copies the key argument (`key_store_invalid_key`). */
export function readKeyArgument(key: FileKeyStoreKey): Secret {
  if (typeof key === 'object' && key !== null) {
    if ('passphrase' in key && typeof key.passphrase === 'string' && key.passphrase.length > 0) {
      // Unicode normalization: the same passphrase typed on macOS (NFD) and elsewhere (NFC).
      return { kind: 'passphrase', passphrase: key.passphrase.normalize('NFC') };
    }
    if ('key' in key && key.key instanceof Uint8Array && key.key.length === KEY_BYTES) {
      return { kind: 'key', key: new Uint8Array(key.key) };
    }
  }
  throw new KeyStoreError('key_store_invalid_key', 'key store needs a non-empty passphrase or a 32-byte key');
}

/** @internal Argon2id parameters hash-wasm accepts, within bounds a planted header cannot exceed. */
export function validArgon2Params(p: unknown): p is Argon2Params {
  if (typeof p !== 'object' || p === null) return false;
  const { memoryKiB, iterations, parallelism } = p as Record<string, unknown>;
  return (
    Number.isSafeInteger(parallelism) &&
    Number.isSafeInteger(iterations) &&
    Number.isSafeInteger(memoryKiB) &&
    (parallelism as number) >= 1 &&
    (parallelism as number) <= ARGON2_LIMITS.maxParallelism &&
    (iterations as number) >= 1 &&
    (iterations as number) <= ARGON2_LIMITS.maxIterations &&
    (memoryKiB as number) >= 8 * (parallelism as number) &&
    (memoryKiB as number) <= ARGON2_LIMITS.maxMemoryKiB
  );
}

/** @internal The store's keys: from its header (`key_store_wrong_key` if the secret does not match), or from a new one. */
export async function loadOrCreateHeader(dir: string, secret: Secret, params: Argon2Params): Promise<Keys> {
  let text: string | undefined;
  try {
    text = await readFile(join(dir, HEADER_FILE), 'utf8');
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
  if (text === undefined) return createHeader(dir, secret, params);

  const header = parseHeader(text);
  if (header.kdf.name !== (secret.kind === 'passphrase' ? 'argon2id' : 'host-key')) throw wrongKey();
  const keys = await deriveKeys(secret, header.kdf, header.salt);
  const check = unseal(keys.enc, header.check, checkAad(header.kdf, header.salt));
  if (!check || !equalBytes(check, CHECK_PLAINTEXT)) {
    zeroKeys(keys);
    throw wrongKey();
  }
  return keys;
}

async function createHeader(dir: string, secret: Secret, params: Argon2Params): Promise<Keys> {
  // Records without a header can never be decrypted again; don't paper over that.
  const entries = await readdir(dir);
  if (entries.some((entry) => entry === JOURNAL_FILE || RECORD_FILE_RE.test(entry))) throw corrupt();
  const kdf: KdfHeader =
    secret.kind === 'passphrase'
      ? { name: 'argon2id', memoryKiB: params.memoryKiB, iterations: params.iterations, parallelism: params.parallelism }
      : { name: 'host-key' };
  const salt = randomBytes(SALT_BYTES);
  const keys = await deriveKeys(secret, kdf, salt);
  const check = seal(keys.enc, CHECK_PLAINTEXT, checkAad(kdf, salt));
  const json = JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, kdf, salt: toBase64Url(salt), check: toBase64Url(check) }, null, 2);
  const path = join(dir, HEADER_FILE);
  try {
    await writeDurably(path + TMP_SUFFIX, utf8(json + '\n'));
    await rename(path + TMP_SUFFIX, path);
    await syncDir(dir);
  } catch (error) {
    zeroKeys(keys);
    throw error;
  }
  return keys;
}

/** The key check authenticates the KDF choice and salt too. */
function checkAad(kdf: KdfHeader, salt: Uint8Array): Uint8Array {
  const canonical =
    kdf.name === 'argon2id'
      ? `argon2id:m=${kdf.memoryKiB},t=${kdf.iterations},p=${kdf.parallelism}`
      : 'host-key';
  return concatBytes(AAD_CHECK, utf8(canonical), utf8(':'), salt);
}

function parseHeader(text: string): Header {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw corrupt(cause);
  }
  if (typeof raw !== 'object' || raw === null) throw corrupt();
  const { format, version, kdf, salt, check } = raw as Record<string, unknown>;
  if (format !== FORMAT || version !== FORMAT_VERSION || typeof salt !== 'string' || typeof check !== 'string') {
    throw corrupt();
  }
  if (typeof kdf !== 'object' || kdf === null) throw corrupt();
  const kdfRecord = kdf as Record<string, unknown>;
  let parsedKdf: KdfHeader;
  if (kdfRecord.name === 'host-key') {
    parsedKdf = { name: 'host-key' };
  } else if (kdfRecord.name === 'argon2id' && validArgon2Params(kdfRecord)) {
    parsedKdf = { name: 'argon2id', memoryKiB: kdfRecord.memoryKiB, iterations: kdfRecord.iterations, parallelism: kdfRecord.parallelism };
  } else {
    throw corrupt();
  }
  let saltBytes: Uint8Array;
  let checkBytes: Uint8Array;
  try {
    saltBytes = fromBase64(salt, 'salt');
    checkBytes = fromBase64(check, 'check');
  } catch (cause) {
    throw corrupt(cause);
  }
  if (saltBytes.length !== SALT_BYTES) throw corrupt();
  return { kdf: parsedKdf, salt: saltBytes, check: checkBytes };
}

async function deriveKeys(secret: Secret, kdf: KdfHeader, salt: Uint8Array): Promise<Keys> {
  let ikm: Uint8Array;
  if (secret.kind === 'passphrase') {
    if (kdf.name !== 'argon2id') throw wrongKey();
    ikm = await argon2id({
      password: secret.passphrase,
      salt,
      memorySize: kdf.memoryKiB,
      iterations: kdf.iterations,
      parallelism: kdf.parallelism,
      hashLength: KEY_BYTES,
      outputType: 'binary',
    });
  } else {
    ikm = new Uint8Array(secret.key);
  }
  try {
    return {
      enc: new Uint8Array(hkdfSync('sha256', ikm, salt, INFO_ENC, KEY_BYTES)),
      name: new Uint8Array(hkdfSync('sha256', ikm, salt, INFO_NAME, KEY_BYTES)),
    };
  } finally {
    ikm.fill(0);
  }
}

/** @internal */
export function zeroKeys(keys: Keys): void {
  keys.enc.fill(0);
  keys.name.fill(0);
}
