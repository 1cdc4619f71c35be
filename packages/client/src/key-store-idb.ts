/**
 * Promise wrappers over the IndexedDB API for `IndexedDbKeyStore`
 * (`key-store.indexeddb.ts`). Browser only (no `node:` imports).
 *
 * Layout of one store's database (`parley-key-store/<name>`, version 1):
 *
 * | object store | key           | value                                            |
 * |--------------|---------------|--------------------------------------------------|
 * | `meta`       | `'header'`    | `IdbHeader`: store id, KDF, data key, key check  |
 * | `records`    | record name   | sealed value (`Uint8Array`)                       |
 *
 * IndexedDB commits a transaction once no request is pending at the end of a task:
 * nothing may be awaited inside one but its own requests, so callers seal first and
 * then run one transaction per batch.
 */
import { KeyStoreError } from './key-store.js';

/** @internal Object store names. */
export const META = 'meta';
/** @internal */
export const RECORDS = 'records';
/** @internal The header's key in `meta`. */
export const HEADER_KEY = 'header';
const DB_VERSION = 1;
const DB_PREFIX = 'parley-key-store/';

/** @internal How a store's data key is kept: as a non-extractable `CryptoKey`, or wrapped under a passphrase key. */
export type IdbKdf =
  | { readonly name: 'none' }
  | { readonly name: 'argon2id'; readonly memoryKiB: number; readonly iterations: number; readonly parallelism: number; readonly salt: Uint8Array };

/** @internal The `meta/header` record. */
export interface IdbHeader {
  readonly format: 'parley-idb-key-store';
  readonly version: 1;
  /** 16 random bytes naming this store in every record's additional data. */
  readonly storeId: Uint8Array;
  readonly kdf: IdbKdf;
  /** `kdf.name === 'none'`: the AES-256-GCM data key itself (non-extractable). */
  readonly dataKey?: CryptoKey;
  /** `kdf.name === 'argon2id'`: the data key wrapped with AES-KW under the passphrase key. */
  readonly wrappedKey?: Uint8Array;
  /** A known plaintext sealed under the data key (authenticates store id and KDF). */
  readonly check: Uint8Array;
}

/** @internal The IndexedDB database name of the store `name`. */
export function databaseName(name: string): string {
  return DB_PREFIX + name;
}

/** @internal The `IDBFactory` of this realm, or a `key_store_io_error` saying none is there. */
export function idbFactory(): IDBFactory {
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new KeyStoreError('key_store_io_error', 'IndexedDB is not available in this environment');
  return factory;
}

/** @internal Settles with the request's result (or its error, as `key_store_io_error`). */
export function requestResult<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(ioError(request.error));
  });
}

/** @internal Resolves when `tx` commits; rejects (`key_store_io_error`) when it aborts or fails. */
export function transactionDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(ioError(tx.error));
    tx.onabort = () => reject(ioError(tx.error ?? new Error('transaction aborted')));
  });
}

/**
 * @internal Opens the store's database. `create: false` leaves a missing database
 * missing (resolves `undefined`) by aborting the upgrade that would create it.
 */
export function openDatabase(name: string, create: boolean): Promise<IDBDatabase | undefined> {
  return new Promise((resolve, reject) => {
    let missing = false;
    const request = idbFactory().open(databaseName(name), DB_VERSION);
    request.onupgradeneeded = (event) => {
      if (event.oldVersion === 0 && !create) {
        missing = true;
        request.transaction?.abort();
        return;
      }
      const db = request.result;
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
      if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = (event) => {
      if (missing) {
        event.preventDefault();
        resolve(undefined);
      } else {
        reject(ioError(request.error));
      }
    };
    request.onblocked = () => reject(new KeyStoreError('key_store_in_use', 'the key store database is held open by another tab'));
  });
}

/** @internal Reads the header, if the database has one. */
export async function readHeader(db: IDBDatabase): Promise<unknown> {
  const tx = db.transaction(META, 'readonly');
  const value = await requestResult(tx.objectStore(META).get(HEADER_KEY));
  return value;
}

/** @internal Writes a new header; fails if one appeared meanwhile (`add`, not `put`). */
export async function addHeader(db: IDBDatabase, header: IdbHeader): Promise<void> {
  const tx = db.transaction(META, 'readwrite', { durability: 'strict' });
  const done = transactionDone(tx);
  tx.objectStore(META).add(header, HEADER_KEY);
  await done;
}

/** @internal Deletes the store's database. */
export function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = idbFactory().deleteDatabase(databaseName(name));
    request.onsuccess = () => resolve();
    request.onerror = () => reject(ioError(request.error));
    // `blocked`: another connection is open; it closes on `versionchange` and deletion goes on.
  });
}

/** @internal An IndexedDB failure as a `key_store_io_error` (the DOMException stays the cause). */
export function ioError(cause: unknown): KeyStoreError {
  return new KeyStoreError('key_store_io_error', 'key store IndexedDB operation failed', { cause });
}
