/**
 * FileKeyStore: a Node KeyStore that keeps every record encrypted at rest in one
 * directory (mode 0700 when the store is created in it; files are 0600).
 *
 * Directory layout:
 *
 * | file               | content                                                        |
 * |--------------------|----------------------------------------------------------------|
 * | `keystore.json`    | header: format version, KDF and its parameters, salt, key check |
 * | `<64 hex>`         | one record; name = hex(HMAC-SHA-256(nameKey, recordName))        |
 * | `<64 hex>.tmp`     | a record being written (ciphertext only); removed on open        |
 * | `journal`          | the committed batch being applied, encrypted; replayed on open   |
 * | `journal.tmp`      | a batch being written, not yet committed; discarded on open      |
 *
 * Record files are named by a keyed hash of the record name rather than by an
 * encoding of it: a 200-character name is 267 characters of base64url, over the
 * 255-byte file-name limit of ext4, APFS and NTFS; base64url names also collide on
 * case-insensitive file systems (macOS and Windows defaults); and record names
 * (which contain conversation ids) stay off the disk.
 *
 * Keys: Argon2id (RFC 9106) turns a passphrase into 32 bytes, or the host app
 * supplies 32 bytes; HKDF-SHA-256 (RFC 5869) derives the AES-256-GCM key and the
 * HMAC key for file names from those. Every sealed blob (record, journal, key
 * check) is `version (1) || nonce (12) || ciphertext || tag (16)`, with a fresh
 * random nonce and additional data `version || purpose label || context`.
 *
 * This file is the store itself (queue, commit, recovery, index); the pieces are
 * `key-store-kdf.node.ts` (key argument, header, KDF), `key-store-seal.node.ts`
 * (sealing and record files' content), `key-store-journal.node.ts` (the journal
 * and applying a batch) and `key-store-files.node.ts` (durable file operations, errors).
 *
 * Node only: uses `node:crypto` and `node:fs`.
 */
import { chmod, mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assertRecordName, KeyStoreError, type KeyStore, type KeyStoreOp } from './key-store.js';
import { snapshotKeyStoreOps } from './key-store.memory.js';
import { JOURNAL_FILE, RECORD_FILE_RE, TMP_SUFFIX, closedError, corrupt, ignoreEnoent, ioError, isErrno, syncDir, writeDurably } from './key-store-files.node.js';
import {
  DEFAULT_ARGON2_PARAMS,
  loadOrCreateHeader,
  readKeyArgument,
  validArgon2Params,
  zeroKeys,
  type Argon2Params,
  type FileKeyStoreKey,
} from './key-store-kdf.node.js';
import { applyBatch, applyToIndex, openJournal, sealJournal, type Batch } from './key-store-journal.node.js';
import { openRecord, recordId, type Keys } from './key-store-seal.node.js';

export { DEFAULT_ARGON2_PARAMS, type Argon2Params, type FileKeyStoreKey } from './key-store-kdf.node.js';

/**
 * Options for `FileKeyStore.open`.
 *
 * @example
 * // Tests only: the cheapest parameters hash-wasm accepts.
 * await FileKeyStore.open(dir, { passphrase: 'pw' }, { argon2: { memoryKiB: 8, iterations: 1, parallelism: 1 } });
 */
export interface FileKeyStoreOptions {
  /**
   * Argon2id parameters for a store created by this call. An existing store always
   * uses the parameters in its header. Cheap values are for tests only.
   */
  readonly argon2?: Argon2Params;
}

// One FileKeyStore per directory per process: two would run two write queues over
// one journal. (Separate processes must not share a directory either.)
const openDirs = new Set<string>();

/**
 * A KeyStore whose records are AES-256-GCM encrypted files in one directory, with
 * all-or-nothing batches that survive a crash at any point (see `write`).
 *
 * @example
 * const store = await FileKeyStore.open('/var/lib/app/keys', { passphrase });
 * await store.write([
 *   { op: 'put', name: 'identity/key', value: identityKey },
 *   { op: 'delete', name: 'kp/old' },
 * ]);
 * const key = await store.get('identity/key');
 * await store.close();
 */
export class FileKeyStore implements KeyStore {
  readonly #dir: string;
  #keys: Keys | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** Tail of the write queue; never rejects. */
  #tail: Promise<void> = Promise.resolve();
  /** The committed batch while it is being applied to the record files. */
  #pending: Batch | undefined;
  /** All record names, built on the first `list`. */
  #names: Set<string> | undefined;
  /** Set when applying a committed batch failed: the journal must be replayed by reopening. */
  #broken: { readonly cause: unknown } | undefined;

  private constructor(dir: string, keys: Keys) {
    this.#dir = dir;
    this.#keys = keys;
  }

  /**
   * Opens (creating if needed) the store in `dir`. A new store derives its key with
   * Argon2id from a passphrase (parameters from `options.argon2`, default
   * `DEFAULT_ARGON2_PARAMS`) or takes 32 bytes from the host app. Replays a batch
   * left committed by a crash and discards one left uncommitted.
   *
   * Fails with `key_store_wrong_key` when the passphrase or key (or its kind) does
   * not match the store, `key_store_corrupt` when the header or a committed
   * journal is damaged, and `key_store_in_use` when this process already has it open.
   *
   * @example
   * const store = await FileKeyStore.open(dir, { key: keyFromPlatformKeychain });
   */
  static async open(dir: string, key: FileKeyStoreKey, options: FileKeyStoreOptions = {}): Promise<FileKeyStore> {
    const secret = readKeyArgument(key);
    const params = options.argon2 ?? DEFAULT_ARGON2_PARAMS;
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new KeyStoreError('key_store_invalid_options', 'key store directory must be a non-empty string');
    }
    if (!validArgon2Params(params)) {
      throw new KeyStoreError('key_store_invalid_options', 'invalid Argon2id parameters');
    }
    const root = resolve(dir);
    if (openDirs.has(root)) throw new KeyStoreError('key_store_in_use', 'key store directory is already open');
    openDirs.add(root);
    let keys: Keys | undefined;
    try {
      const created = await mkdir(root, { recursive: true, mode: 0o700 });
      // A new store's directory is this user's alone, also when the app created it (empty) first.
      if (created !== undefined || (await readdir(root)).length === 0) await chmod(root, 0o700);
      keys = await loadOrCreateHeader(root, secret, params);
      const store = new FileKeyStore(root, keys);
      await store.#recover();
      return store;
    } catch (error) {
      if (keys) zeroKeys(keys);
      openDirs.delete(root);
      throw error instanceof KeyStoreError ? error : ioError(error);
    } finally {
      if (secret.kind === 'key') secret.key.fill(0);
    }
  }

  /**
   * The value stored under `name`, or `undefined`; `key_store_corrupt` if its file fails authentication.
   *
   * @example
   * const value = await store.get('identity/key')
   */
  async get(name: string): Promise<Uint8Array | undefined> {
    assertRecordName(name);
    this.#keysOrThrow();
    const staged = this.#staged(name);
    if (staged !== undefined) return staged ?? undefined;
    const id = this.#recordId(name);
    let sealed: Uint8Array | undefined;
    try {
      sealed = await readFile(join(this.#dir, id));
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw ioError(error);
    }
    const keys = this.#keysOrThrow();
    // A batch committed while we were reading is newer than whatever we read.
    const stagedNow = this.#staged(name);
    if (stagedNow !== undefined) return stagedNow ?? undefined;
    if (sealed === undefined) return undefined;
    const record = openRecord(keys, id, sealed);
    if (record.name !== name) throw corrupt();
    return record.value;
  }

  /**
   * Names that start with `prefix`, sorted. The first call reads and authenticates every record.
   *
   * @example
   * const names = await store.list('identity/')
   */
  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new KeyStoreError('key_store_invalid_name', 'key store prefix must be a string');
    this.#keysOrThrow();
    const names = this.#names ?? (await this.#enqueue(() => this.#buildIndex()));
    this.#keysOrThrow();
    return [...names].filter((name) => name.startsWith(prefix)).sort();
  }

  /**
   * Applies every operation or none, also across a crash (SIGKILL, power loss):
   *
   * 1. the whole batch is sealed into `journal.tmp`, fsynced, and renamed to
   *    `journal`, then the directory is fsynced — this rename is the commit point;
   * 2. each record is written as `<id>.tmp`, fsynced and renamed over `<id>`
   *    (deletes unlink `<id>`), then the directory is fsynced;
   * 3. `journal` is unlinked.
   *
   * `open` discards `journal.tmp` and replays `journal` (replay is idempotent).
   * Writes are queued and run one at a time in call order; values are copied
   * before this returns its promise.
   *
   * @example
   * await store.write([{ op: 'put', name: 'a', value: new Uint8Array([1]) }, { op: 'delete', name: 'b' }])
   */
  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    this.#keysOrThrow();
    const batch = snapshotKeyStoreOps(ops);
    if (batch.size === 0) return;
    await this.#enqueue(() => this.#commit(batch));
  }

  /**
   * Waits for queued writes, then zeroes the key bytes this object holds. Later calls fail.
   *
   * @example
   * await device.close()
   * await store.close()
   */
  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closed = true;
      this.#closing = (async () => {
        await this.#tail;
        if (this.#keys) zeroKeys(this.#keys);
        this.#keys = undefined;
        this.#names = undefined;
        // Left behind only by a failed apply; the journal on disk still has the batch.
        for (const value of this.#pending?.values() ?? []) value?.fill(0);
        this.#pending = undefined;
        openDirs.delete(this.#dir);
      })();
    }
    await this.#closing;
  }

  /**
   * Never shows key material.
   *
   * @example
   * console.log(store) // FileKeyStore { dir: "./phone", closed: false }
   */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /**
   * The directory and whether the store is closed; never key material.
   *
   * @example
   * String(store) // 'FileKeyStore { dir: "./phone", closed: false }'
   */
  toString(): string {
    return `FileKeyStore { dir: ${JSON.stringify(this.#dir)}, closed: ${this.#closed} }`;
  }

  #keysOrThrow(): Keys {
    if (this.#closed || !this.#keys) throw closedError();
    return this.#keys;
  }

  /** For queued tasks: writes accepted before `close()` still run; `close()` waits for them. */
  #taskKeys(): Keys {
    if (!this.#keys) throw closedError();
    return this.#keys;
  }

  /** A copy of the value in the batch being applied: `null` if deleted there, `undefined` if not in it. */
  #staged(name: string): Uint8Array | null | undefined {
    const pending = this.#pending;
    if (!pending?.has(name)) return undefined;
    const value = pending.get(name);
    return value ? new Uint8Array(value) : null;
  }

  #recordId(name: string): string {
    return recordId(this.#keysOrThrow(), name);
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task);
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #commit(batch: Batch): Promise<void> {
    const keys = this.#taskKeys();
    if (this.#broken) {
      throw new KeyStoreError('key_store_io_error', 'an earlier write failed; reopen the key store', { cause: this.#broken.cause });
    }
    const sealed = sealJournal(keys, batch);
    const journal = join(this.#dir, JOURNAL_FILE);
    let committed = false;
    try {
      await writeDurably(journal + TMP_SUFFIX, sealed);
      await rename(journal + TMP_SUFFIX, journal);
      committed = true;
      // From here on the batch is the current state, for readers too.
      this.#pending = batch;
      if (this.#names) applyToIndex(this.#names, batch);
      await syncDir(this.#dir);
      await applyBatch(this.#dir, keys, batch);
      await unlink(journal);
      this.#pending = undefined;
      for (const value of batch.values()) value?.fill(0);
    } catch (error) {
      if (!committed) {
        await unlink(journal + TMP_SUFFIX).catch(() => undefined);
      } else {
        // The journal holds the batch and readers see it through #pending, but the
        // files are half-applied: further writes would overwrite the journal.
        this.#broken = { cause: error };
      }
      throw ioError(error);
    }
  }

  /** Discards leftovers of an interrupted write and replays a committed journal. */
  async #recover(): Promise<void> {
    const keys = this.#taskKeys();
    const entries = await readdir(this.#dir);
    for (const entry of entries) {
      if (entry.endsWith(TMP_SUFFIX)) await unlink(join(this.#dir, entry)).catch(ignoreEnoent);
    }
    if (!entries.includes(JOURNAL_FILE)) return;
    const journal = join(this.#dir, JOURNAL_FILE);
    const batch = openJournal(keys, await readFile(journal));
    await applyBatch(this.#dir, keys, batch);
    await unlink(journal);
    for (const value of batch.values()) value?.fill(0);
  }

  async #buildIndex(): Promise<Set<string>> {
    if (this.#names) return this.#names;
    const keys = this.#taskKeys();
    const ids = (await readdir(this.#dir)).filter((entry) => RECORD_FILE_RE.test(entry));
    const names = new Set<string>();
    const CHUNK = 64;
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const records = await Promise.all(
        chunk.map(async (id) => {
          try {
            return openRecord(keys, id, await readFile(join(this.#dir, id)));
          } catch (error) {
            if (isErrno(error, 'ENOENT')) return undefined;
            throw error;
          }
        }),
      );
      for (const record of records) {
        if (!record) continue;
        record.value.fill(0);
        names.add(record.name);
      }
    }
    if (this.#pending) applyToIndex(names, this.#pending);
    this.#names = names;
    return names;
  }
}
