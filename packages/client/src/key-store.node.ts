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
 * Node only: uses `node:crypto` and `node:fs`.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { chmod, mkdir, open as openFile, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { argon2id } from 'hash-wasm';
import { concatBytes, equalBytes, fromBase64, fromUtf8, randomBytes, toBase64Url, utf8 } from '@parley/core';
import { assertRecordName, KeyStoreError, type KeyStore, type KeyStoreOp } from './key-store.js';
import { snapshotKeyStoreOps } from './key-store.memory.js';

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
const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

const HEADER_FILE = 'keystore.json';
const JOURNAL_FILE = 'journal';
const TMP_SUFFIX = '.tmp';
const RECORD_FILE_RE = /^[0-9a-f]{64}$/;

const CHECK_PLAINTEXT = utf8('parley key-store key check');
const AAD_CHECK = utf8('parley key-store v1 key check\0');
const AAD_JOURNAL = utf8('parley key-store v1 journal\0');
const AAD_RECORD = utf8('parley key-store v1 record\0');
const INFO_ENC = utf8('parley key-store v1 aes-256-gcm');
const INFO_NAME = utf8('parley key-store v1 record names');

// Bounds for parameters read from a header or passed in: hash-wasm needs m >= 8p;
// the upper bounds stop a planted header from asking for absurd work.
const ARGON2_LIMITS = { maxMemoryKiB: 4 * 1024 * 1024, maxIterations: 64, maxParallelism: 16 } as const;

// One FileKeyStore per directory per process: two would run two write queues over
// one journal. (Separate processes must not share a directory either.)
const openDirs = new Set<string>();

interface Keys {
  readonly enc: Uint8Array;
  readonly name: Uint8Array;
}

type KdfHeader =
  | { readonly name: 'argon2id'; readonly memoryKiB: number; readonly iterations: number; readonly parallelism: number }
  | { readonly name: 'host-key' };

interface Header {
  readonly kdf: KdfHeader;
  readonly salt: Uint8Array;
  readonly check: Uint8Array;
}

type Batch = Map<string, Uint8Array | null>;

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

  /** The value stored under `name`, or `undefined`; `key_store_corrupt` if its file fails authentication. */
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

  /** Names that start with `prefix`, sorted. The first call reads and authenticates every record. */
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
   */
  async write(ops: readonly KeyStoreOp[]): Promise<void> {
    this.#keysOrThrow();
    const batch = snapshotKeyStoreOps(ops);
    if (batch.size === 0) return;
    await this.#enqueue(() => this.#commit(batch));
  }

  /** Waits for queued writes, then zeroes the key bytes this object holds. Later calls fail. */
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

  /** Never shows key material. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

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
    const plaintext = encodeBatch(batch);
    const sealed = seal(keys.enc, plaintext, AAD_JOURNAL);
    plaintext.fill(0);
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
    const plaintext = unseal(keys.enc, await readFile(journal), AAD_JOURNAL);
    // A committed journal was fsynced before its rename: damage is corruption, not a torn write.
    if (!plaintext) throw corrupt();
    const batch = decodeBatch(plaintext);
    plaintext.fill(0);
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

// ---------------------------------------------------------------------------
// Keys and header

type Secret = { readonly kind: 'passphrase'; readonly passphrase: string } | { readonly kind: 'key'; readonly key: Uint8Array };

function readKeyArgument(key: FileKeyStoreKey): Secret {
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

function validArgon2Params(p: unknown): p is Argon2Params {
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

async function loadOrCreateHeader(dir: string, secret: Secret, params: Argon2Params): Promise<Keys> {
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

function zeroKeys(keys: Keys): void {
  keys.enc.fill(0);
  keys.name.fill(0);
}

// ---------------------------------------------------------------------------
// Sealing: version (1) || nonce (12) || ciphertext || tag (16), AES-256-GCM

function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(concatBytes(Uint8Array.of(SEAL_VERSION), aad));
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return concatBytes(Uint8Array.of(SEAL_VERSION), nonce, body, last, cipher.getAuthTag());
}

/** The plaintext, or `undefined` if `sealed` is malformed or fails authentication. */
function unseal(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
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

function recordId(keys: Keys, name: string): string {
  return createHmac('sha256', keys.name).update(utf8(name)).digest('hex');
}

function recordAad(id: string): Uint8Array {
  return concatBytes(AAD_RECORD, utf8(id));
}

function sealRecord(keys: Keys, id: string, name: string, value: Uint8Array): Uint8Array {
  const nameBytes = utf8(name);
  const plaintext = concatBytes(Uint8Array.of(nameBytes.length), nameBytes, value);
  try {
    return seal(keys.enc, plaintext, recordAad(id));
  } finally {
    plaintext.fill(0);
  }
}

function openRecord(keys: Keys, id: string, sealed: Uint8Array): { name: string; value: Uint8Array } {
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

async function applyBatch(dir: string, keys: Keys, batch: Batch): Promise<void> {
  // Names in a batch are distinct, so the order of these file operations is free.
  // allSettled, not all: on failure, no file operation may still be running.
  const results = await Promise.allSettled(
    [...batch].map(async ([name, value]) => {
      const id = recordId(keys, name);
      const path = join(dir, id);
      if (value === null) {
        await unlink(path).catch(ignoreEnoent);
      } else {
        await writeDurably(path + TMP_SUFFIX, sealRecord(keys, id, name, value));
        await rename(path + TMP_SUFFIX, path);
      }
    }),
  );
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  await syncDir(dir);
}

function applyToIndex(names: Set<string>, batch: Batch): void {
  for (const [name, value] of batch) {
    if (value === null) names.delete(name);
    else names.add(name);
  }
}

// ---------------------------------------------------------------------------
// Journal plaintext: count (u32) || ops; op = kind (u8: 1 put, 0 delete) ||
// nameLength (u8) || name || [valueLength (u32) || value]; big-endian.

function encodeBatch(batch: Batch): Uint8Array {
  let size = 4;
  for (const [name, value] of batch) {
    if (value && value.length > 0xffffffff) throw new KeyStoreError('key_store_invalid_value', 'key store value too large');
    size += 2 + name.length + (value ? 4 + value.length : 0);
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, batch.size);
  let offset = 4;
  for (const [name, value] of batch) {
    const nameBytes = utf8(name); // ASCII: one byte per character (assertRecordName)
    out[offset++] = value ? 1 : 0;
    out[offset++] = nameBytes.length;
    out.set(nameBytes, offset);
    offset += nameBytes.length;
    if (value) {
      view.setUint32(offset, value.length);
      out.set(value, offset + 4);
      offset += 4 + value.length;
    }
  }
  return out;
}

function decodeBatch(bytes: Uint8Array): Batch {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batch: Batch = new Map();
  try {
    const count = view.getUint32(0);
    let offset = 4;
    for (let i = 0; i < count; i++) {
      const kind = view.getUint8(offset);
      const nameLength = view.getUint8(offset + 1);
      offset += 2;
      if (offset + nameLength > bytes.length || (kind !== 0 && kind !== 1)) throw corrupt();
      const name = fromUtf8(bytes.subarray(offset, offset + nameLength), 'record name');
      assertRecordName(name);
      offset += nameLength;
      if (kind === 1) {
        const length = view.getUint32(offset);
        offset += 4;
        if (offset + length > bytes.length) throw corrupt();
        batch.set(name, new Uint8Array(bytes.subarray(offset, offset + length)));
        offset += length;
      } else {
        batch.set(name, null);
      }
    }
    if (offset !== bytes.length) throw corrupt();
  } catch (error) {
    // RangeError from DataView on truncation, invalid names, bad UTF-8.
    throw error instanceof KeyStoreError && error.code === 'key_store_corrupt' ? error : corrupt(error);
  }
  return batch;
}

// ---------------------------------------------------------------------------
// Files

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await openFile(path, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes renames and unlinks in `dir` durable (POSIX: fsync the directory). */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await openFile(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Windows cannot open or fsync a directory; NTFS journals metadata itself.
    if (process.platform === 'win32' && (isErrno(error, 'EISDIR') || isErrno(error, 'EPERM') || isErrno(error, 'EACCES'))) return;
    throw error;
  } finally {
    await handle?.close();
  }
}

function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function ignoreEnoent(error: unknown): void {
  if (!isErrno(error, 'ENOENT')) throw error;
}

function corrupt(cause?: unknown): KeyStoreError {
  return new KeyStoreError('key_store_corrupt', 'key store data failed authentication or is malformed', cause === undefined ? {} : { cause });
}

function closedError(): KeyStoreError {
  return new KeyStoreError('key_store_closed', 'key store is closed');
}

function wrongKey(): KeyStoreError {
  return new KeyStoreError('key_store_wrong_key', 'wrong key store passphrase or key');
}

function ioError(cause: unknown): KeyStoreError {
  if (cause instanceof KeyStoreError) return cause;
  return new KeyStoreError('key_store_io_error', 'key store file operation failed', { cause });
}
