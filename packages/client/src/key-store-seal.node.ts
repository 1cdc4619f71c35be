/**
 * FileKeyStore's record cipher. Every sealed blob (record, journal, key check) is
 * `version (1) || nonce (12) || ciphertext || tag (16)`, AES-256-GCM with a fresh
 * random nonce and additional data `version || purpose label || context`.
 *
 * Node only: uses `node:crypto`.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { concatBytes, fromUtf8, randomBytes, utf8 } from '@parley/core';
import { assertRecordName, KeyStoreError } from './key-store.js';
import { corrupt } from './key-store-files.node.js';

const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

const AAD_RECORD = utf8('parley key-store v1 record\0');

/** @internal The two keys derived from the store's secret: AES-256-GCM, and HMAC for file names. */
export interface Keys {
  readonly enc: Uint8Array;
  readonly name: Uint8Array;
}

// ---------------------------------------------------------------------------
// Sealing: version (1) || nonce (12) || ciphertext || tag (16), AES-256-GCM

/** @internal Seals `plaintext` under `key` (a fresh random nonce every time). */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(concatBytes(Uint8Array.of(SEAL_VERSION), aad));
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return concatBytes(Uint8Array.of(SEAL_VERSION), nonce, body, last, cipher.getAuthTag());
}

/** @internal The plaintext, or `undefined` if `sealed` is malformed or fails authentication. */
export function unseal(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== SEAL_VERSION) return undefined;
  const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
  const body = sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(concatBytes(Uint8Array.of(SEAL_VERSION), aad));
    decipher.setAuthTag(tag);
    const head = decipher.update(body);
    const last = decipher.final();
    const plaintext = concatBytes(head, last);
    head.fill(0);
    return plaintext;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Records: plaintext = nameLength (1) || name || value; the file name
// (HMAC of the name) is in the additional data, so a file moved to another
// name's place fails authentication; the name inside is checked against it too.

/** @internal The file name of a record: hex(HMAC-SHA-256(nameKey, name)). */
export function recordId(keys: Keys, name: string): string {
  return createHmac('sha256', keys.name).update(utf8(name)).digest('hex');
}

function recordAad(id: string): Uint8Array {
  return concatBytes(AAD_RECORD, utf8(id));
}

/** @internal A record file's content. */
export function sealRecord(keys: Keys, id: string, name: string, value: Uint8Array): Uint8Array {
  const nameBytes = utf8(name);
  const plaintext = concatBytes(Uint8Array.of(nameBytes.length), nameBytes, value);
  try {
    return seal(keys.enc, plaintext, recordAad(id));
  } finally {
    plaintext.fill(0);
  }
}

/** @internal A record file's name and value; `key_store_corrupt` unless it authenticates as the record `id` names. */
export function openRecord(keys: Keys, id: string, sealed: Uint8Array): { name: string; value: Uint8Array } {
  const plaintext = unseal(keys.enc, sealed, recordAad(id));
  if (!plaintext) throw corrupt();
  try {
    const nameLength = plaintext[0];
    if (nameLength === undefined || plaintext.length < 1 + nameLength) throw corrupt();
    const name = fromUtf8(plaintext.subarray(1, 1 + nameLength), 'record name');
    assertRecordName(name);
    if (recordId(keys, name) !== id) throw corrupt();
    return { name, value: new Uint8Array(plaintext.subarray(1 + nameLength)) };
  } catch (error) {
    throw error instanceof KeyStoreError && error.code === 'key_store_corrupt' ? error : corrupt(error);
  } finally {
    plaintext.fill(0);
  }
}
