/**
 * IndexedDbKeyStore: the browser KeyStore. Every record is AES-256-GCM encrypted
 * at rest under a non-extractable WebCrypto key (see `key-store-webcrypto-seal.ts`)
 * in the store's own IndexedDB database (see `key-store-idb.ts`); each `write`
 * batch is one IndexedDB readwrite transaction, so it applies entirely or not at
 * all, also across a crash or a closed tab.
 *
 * One tab at a time: `open` takes an exclusive Web Lock named after the store and
 * keeps it until `close`, so a second tab (or a second `open` in this one) is
 * refused with `key_store_in_use` instead of running a second device over the
 * same keys.
 *
 * Record names are the IndexedDB keys (visible to code of the same origin, like
 * the database itself); values are sealed with additional data binding the
 * store's random id and the record name, so records cannot be swapped.
 *
 * Browser only: no `node:` imports, no `Buffer`.
 */
import { randomBytes } from '@parley/core';
import { assertRecordName, KeyStoreError, type KeyStore, type KeyStoreOp } from './key-store.js';
import { snapshotKeyStoreOps } from './key-store.memory.js';
import {
  RECORDS,
  addHeader,
  deleteDatabase,
  ioError,
  openDatabase,
  readHeader,
  requestResult,
  transactionDone,
  type IdbHeader,
  type IdbKdf,
} from './key-store-idb.js';
import {
  DEFAULT_ARGON2_PARAMS,
  SALT_BYTES,
  STORE_ID_BYTES,
  generateDataKey,
  openRecord,
  passphraseKey,
  sealCheck,
  sealRecord,
  unwrapDataKey,
  validArgon2,
  verifyCheck,
  wrapDataKey,
  type Argon2Params,
} from './key-store-webcrypto-seal.js';

export { DEFAULT_ARGON2_PARAMS, type Argon2Params } from './key-store-webcrypto-seal.js';

/**
 * Options of `IndexedDbKeyStore.open`.
 *
 * @example
 * const options: IndexedDbKeyStoreOptions = { passphrase: 'correct horse battery staple' };
 */
export interface IndexedDbKeyStoreOptions {
  /**
   * Wraps the data key under a key Argon2id derives from this passphrase. Without
   * one, the data key is kept as a non-extractable `CryptoKey` in IndexedDB. A store
   * created with a passphrase needs it on every open (and one created without, none).
   */
  readonly passphrase?: string;
  /** Argon2id parameters for a store created by this call (default `DEFAULT_ARGON2_PARAMS`); cheap values are for tests only. */
  readonly argon2?: Argon2Params;
}

const NAME_RE = /^[A-Za-z0-9._-]{1,100}$/;
const LOCK_PREFIX = 'parley-key-store/';

function corrupt(): KeyStoreError {
  return new KeyStoreError('key_store_corrupt', 'key store data failed authentication or is malformed');
}

function closedError(): KeyStoreError {
  return new KeyStoreError('key_store_closed', 'key store is closed');
}

function inUse(): KeyStoreError {
  return new KeyStoreError('key_store_in_use', 'this key store is open in another tab or window, which holds the device; close it there first');
}

function wrongKey(): KeyStoreError {
  return new KeyStoreError('key_store_wrong_key', 'wrong key store passphrase');
}

function assertStoreName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw new KeyStoreError('key_store_invalid_options', 'key store name must be 1-100 characters of [A-Za-z0-9._-]');
  }
}

/** Takes the store's Web Lock if no one holds it; resolves with its release, or fails with `key_store_in_use`. */
function acquireLock(name: string): Promise<() => void> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) {
    return Promise.reject(new KeyStoreError('key_store_io_error', 'the Web Locks API is not available: a secure context (https or localhost) is needed'));
  }
  return new Promise((resolve, reject) => {
    locks
      .request(LOCK_PREFIX + name, { mode: 'exclusive', ifAvailable: true }, (lock) => {
        if (!lock) {
          reject(inUse());
          return undefined;
        }
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch((cause: unknown) => reject(new KeyStoreError('key_store_io_error', 'could not take the key store lock', { cause })));
  });
}

/** The header as stored, checked field by field (`key_store_corrupt` otherwise). */
function parseHeader(raw: unknown): IdbHeader {
  if (typeof raw !== 'object' || raw === null) throw corrupt();
  const h = raw as Record<string, unknown>;
  if (h['format'] !== 'parley-idb-key-store' || h['version'] !== 1) throw corrupt();
  const storeId = h['storeId'];
  const check = h['check'];
  const kdf = h['kdf'] as Record<string, unknown> | null | undefined;
  if (!(storeId instanceof Uint8Array) || storeId.length !== STORE_ID_BYTES || !(check instanceof Uint8Array)) throw corrupt();
  if (typeof kdf !== 'object' || kdf === null) throw corrupt();
  if (kdf['name'] === 'none') {
    const dataKey = h['dataKey'];
    if (!(dataKey instanceof CryptoKey)) throw corrupt();
    return { format: 'parley-idb-key-store', version: 1, storeId, kdf: { name: 'none' }, dataKey, check };
  }
  const salt = kdf['salt'];
  const wrappedKey = h['wrappedKey'];
  if (kdf['name'] !== 'argon2id' || !validArgon2(kdf) || !(salt instanceof Uint8Array) || salt.length !== SALT_BYTES || !(wrappedKey instanceof Uint8Array)) {
    throw corrupt();
  }
  const parsed: IdbKdf = { name: 'argon2id', memoryKiB: kdf.memoryKiB, iterations: kdf.iterations, parallelism: kdf.parallelism, salt };
  return { format: 'parley-idb-key-store', version: 1, storeId, kdf: parsed, wrappedKey, check };
}

/** A new store's header and its data key (non-extractable). */
async function createHeader(passphrase: string | undefined, params: Argon2Params): Promise<{ header: IdbHeader; key: CryptoKey }> {
  const storeId = randomBytes(STORE_ID_BYTES);
  if (passphrase === undefined) {
    const key = await generateDataKey(false);
    const kdf: IdbKdf = { name: 'none' };
    return { key, header: { format: 'parley-idb-key-store', version: 1, storeId, kdf, dataKey: key, check: await sealCheck(key, storeId, kdf) } };
  }
  const kdf: IdbKdf = { name: 'argon2id', ...params, salt: randomBytes(SALT_BYTES) };
  const wrapping = await passphraseKey(passphrase, kdf);
  // Extractable only to be wrapped; the key in use is the non-extractable unwrapped copy.
  const wrappedKey = await wrapDataKey(await generateDataKey(true), wrapping);
  const key = await unwrapDataKey(wrappedKey, wrapping);
  return { key, header: { format: 'parley-idb-key-store', version: 1, storeId, kdf, wrappedKey, check: await sealCheck(key, storeId, kdf) } };
}

/** The data key of an existing store: `key_store_wrong_key` if the passphrase (or its absence) does not match. */
async function unlock(header: IdbHeader, passphrase: string | undefined): Promise<CryptoKey> {
  let key: CryptoKey;
  if (header.kdf.name === 'none') {
    if (passphrase !== undefined || !header.dataKey) throw wrongKey();
    key = header.dataKey;
  } else {
    if (passphrase === undefined || !header.wrappedKey) throw wrongKey();
    key = await unwrapDataKey(header.wrappedKey, await passphraseKey(passphrase, header.kdf));
  }
  if (!(await verifyCheck(key, header.storeId, header.kdf, header.check))) throw corrupt();
  return key;
}

/**
 * A KeyStore in the browser's IndexedDB: records encrypted at rest with AES-256-GCM
 * under a non-extractable WebCrypto key, all-or-nothing `write` batches (one
 * IndexedDB transaction each), and one tab at a time (a Web Lock held until `close`).
 *
 * @example
 * import { Device, isClientError } from '@parley/client'
 * import { IndexedDbKeyStore, browserRuntime } from '@parley/client/browser'
 * const store = await IndexedDbKeyStore.open('phone')
 * const device = await Device.open({ store, ...browserRuntime }).catch((e: unknown) => {
 *   if (!isClientError(e) || e.code !== 'device_not_enrolled') throw e
 *   return Device.enroll({ serverUrl, enrollmentToken, store, ...browserRuntime })
 * })
 */
export class IndexedDbKeyStore implements KeyStore {
  readonly #name: string;
  #db: IDBDatabase | undefined;
  #key: CryptoKey | undefined;
  readonly #storeId: Uint8Array;
  readonly #release: () => void;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Tail of the write queue; never rejects. */
  #tail: Promise<void> = Promise.resolve();

  private constructor(name: string, db: IDBDatabase, key: CryptoKey, storeId: Uint8Array, release: () => void) {
    this.#name = name;
    this.#db = db;
    this.#key = key;
    this.#storeId = storeId;
    this.#release = release;
    // Someone deletes or upgrades the database (e.g. the user clears site data): let go of it.
    db.onversionchange = () => {
      db.close();
      this.#db = undefined;
    };
  }

  /**
   * Opens the store `name`, creating its database on first use. Fails with
   * `key_store_in_use` while another tab (or this one) has it open,
   * `key_store_wrong_key` when the passphrase does not match (or is given to a store
   * created without one, or missing for one created with one), `key_store_corrupt`
   * when its header is damaged, and `key_store_invalid_options` for a bad name or
   * bad Argon2id parameters.
   *
   * @example
   * const store = await IndexedDbKeyStore.open('phone', { passphrase })
   */
  static async open(name: string, options: IndexedDbKeyStoreOptions = {}): Promise<IndexedDbKeyStore> {
    assertStoreName(name);
    const params = options.argon2 ?? DEFAULT_ARGON2_PARAMS;
    if (!validArgon2(params)) throw new KeyStoreError('key_store_invalid_options', 'invalid Argon2id parameters');
    const { passphrase } = options;
    if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase.length === 0)) {
      throw new KeyStoreError('key_store_invalid_key', 'the key store passphrase must be a non-empty string');
    }
    const release = await acquireLock(name);
    let db: IDBDatabase | undefined;
    try {
      db = await openDatabase(name, true);
      if (!db) throw ioError(new Error('database not opened'));
      const raw = await readHeader(db);
      let header: IdbHeader;
      let key: CryptoKey;
      if (raw === undefined) {
        // Records without a header could never be decrypted again: don't paper over that.
        const count = await requestResult(db.transaction(RECORDS, 'readonly').objectStore(RECORDS).count());
        if (count > 0) throw corrupt();
        ({ header, key } = await createHeader(passphrase, params));
        await addHeader(db, header);
      } else {
        header = parseHeader(raw);
        key = await unlock(header, passphrase);
      }
      return new IndexedDbKeyStore(name, db, key, header.storeId, release);
    } catch (error) {
      db?.close();
      release();
      throw error instanceof KeyStoreError ? error : ioError(error);
    }
  }

  /**
   * True when a store named `name` exists in this browser profile (nothing is created).
   *
   * @example
   * if (!(await IndexedDbKeyStore.exists('phone'))) showOnboarding()
   */
  static async exists(name: string): Promise<boolean> {
    assertStoreName(name);
    const db = await openDatabase(name, false);
    if (!db) return false;
    try {
      return (await readHeader(db)) !== undefined;
    } finally {
      db.close();
    }
  }

  /**
   * Deletes the store `name` and every record in it (the device it held is gone for
   * good). Fails with `key_store_in_use` while a tab has it open.
   *
   * @example
   * await device.close(); await store.close(); await IndexedDbKeyStore.destroy('phone')
   */
  static async destroy(name: string): Promise<void> {
    assertStoreName(name);
    const release = await acquireLock(name);
    try {
      await deleteDatabase(name);
    } finally {
      release();
    }
  }

  /**
   * The value stored under `name`, or `undefined`; `key_store_corrupt` if it fails authentication.
   *
   * @example
   * const identity = await store.get('device')
   */
  async get(name: string): Promise<Uint8Array | undefined> {
    assertRecordName(name);
    const db = this.#dbOrThrow();
    let sealed: unknown;
    try {
      sealed = await requestResult(db.transaction(RECORDS, 'readonly').objectStore(RECORDS).get(name));
    } catch (error) {
      throw error instanceof KeyStoreError ? error : ioError(error);
    }
    if (sealed === undefined) return undefined;
    return openRecord(this.#keyOrThrow(), this.#storeId, name, sealed);
  }

  /**
   * Names that start with `prefix`, sorted.
   *
   * @example
   * const names = await store.list('conv/')
   */
  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new KeyStoreError('key_store_invalid_name', 'key store prefix must be a string');
    const db = this.#dbOrThrow();
    // Record names are ASCII: every name starting with `prefix` sorts below `prefix + '\x7f'`.
    const range = prefix === '' ? undefined : IDBKeyRange.bound(prefix, prefix + '\x7f');
    const keys = await requestResult(db.transaction(RECORDS, 'readonly').objectStore(RECORDS).getAllKeys(range));
    return keys.filter((k): k is string => typeof k === 'string' && k.startsWith(prefix)).sort();
  }

  /**
   * Applies every operation or none: the batch is validated and sealed first, then
   * written in one IndexedDB readwrite transaction (atomic, durable once it
   * completes). Writes run one at a time in call order; values are copied before
   * this returns its promise.
   *
   * @example
   * await store.write([{ op: 'put', name: 'a', value: Uint8Array.of(1) }, { op: 'delete', name: 'b' }])
   */
  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    this.#dbOrThrow();
    const batch = snapshotKeyStoreOps(ops);
    if (batch.size === 0) return;
    const run = this.#tail.then(() => this.#commit(batch));
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    await run;
  }

  /**
   * Waits for queued writes, closes the database and releases the lock (another tab may open the store). Later calls fail.
   *
   * @example
   * await device.close(); await store.close()
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = (async () => {
        await this.#tail;
        this.#db?.close();
        this.#db = undefined;
        this.#key = undefined;
        this.#release();
      })();
    }
    await this.#closing;
  }

  /**
   * A description without key material.
   *
   * @example
   * console.log(String(store)) // IndexedDbKeyStore { name: "phone", closed: false }
   */
  toString(): string {
    return `IndexedDbKeyStore { name: ${JSON.stringify(this.#name)}, closed: ${this.#closed} }`;
  }

  #dbOrThrow(): IDBDatabase {
    if (this.#closed) throw closedError();
    if (!this.#db) throw new KeyStoreError('key_store_io_error', 'the key store database was closed by the browser (deleted or upgraded elsewhere); reopen it');
    return this.#db;
  }

  #keyOrThrow(): CryptoKey {
    if (!this.#key) throw closedError();
    return this.#key;
  }

  async #commit(batch: Map<string, Uint8Array | null>): Promise<void> {
    try {
      // Seal everything before the transaction starts: it would commit at the first await on anything else.
      const key = this.#key;
      if (!key) throw closedError();
      const sealed = await Promise.all(
        [...batch].map(async ([name, value]) => [name, value === null ? null : await sealRecord(key, this.#storeId, name, value)] as const),
      );
      const db = this.#db;
      if (!db) throw new KeyStoreError('key_store_io_error', 'the key store database was closed by the browser; reopen it');
      let tx: IDBTransaction;
      try {
        tx = db.transaction(RECORDS, 'readwrite', { durability: 'strict' });
      } catch (error) {
        throw ioError(error);
      }
      const done = transactionDone(tx);
      try {
        const records = tx.objectStore(RECORDS);
        for (const [name, value] of sealed) {
          if (value === null) records.delete(name);
          else records.put(value, name);
        }
      } catch (error) {
        // Nothing of the batch may stay: undo the requests already issued.
        tx.abort();
        await done.catch(() => undefined);
        throw ioError(error);
      }
      await done;
    } finally {
      for (const value of batch.values()) value?.fill(0);
    }
  }
}
