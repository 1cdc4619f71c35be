/**
 * The encrypted backup format (docs/backup-format.md): a backup is lines of JWE compact
 * serializations (RFC 7516, `alg: dir`, `enc: A256GCM`), one per chunk of items, so a large
 * history is written and read a chunk at a time. Each chunk's protected header — the AES-GCM
 * additional data — carries the key-derivation parameters, the backup's random id, the chunk's
 * sequence number and a final flag: a chunk moved, dropped, repeated, taken from another backup
 * or cut off at the end is detected.
 *
 * Keys: a 64-digit recovery key (about 212 bits, `recovery-key.ts`) or a passphrase stretched
 * with Argon2id (RFC 9106, hash-wasm); then HKDF-SHA-256 (RFC 5869, WebCrypto) gives the content
 * key and the access key the server stores only a hash of.
 */
import { compactDecrypt, CompactEncrypt, decodeProtectedHeader } from 'jose';
import { argon2id } from 'hash-wasm';
import { fromBase64, fromUtf8, randomBytes, toBase64Url, utf8 } from '@parley/core';
import { BackupError } from './errors.js';
import { BACKUP_ARGON2_PARAMS, validArgon2, type Argon2Params } from './argon2-params.js';
import { normalizeRecoveryKey } from './recovery-key.js';

/**
 * What a backup is opened with: the recovery key shown at set-up, or a passphrase (optionally
 * with Argon2id parameters; strong defaults otherwise).
 *
 * @example
 * const secret: BackupSecret = { recoveryKey: '1234 5678 …' }
 */
export type BackupSecret = { readonly recoveryKey: string } | { readonly passphrase: string; readonly argon2?: Argon2Params };

/**
 * One item of a backup: a message as the app showed it, a conversation, a verification…
 * (`kind` says which; the rest is the item's JSON).
 *
 * @example
 * const item: BackupItem = { kind: 'message', conversationId, text, at }
 */
export interface BackupItem {
  readonly kind: string;
  readonly [field: string]: unknown;
}

/**
 * The key-derivation parameters in every chunk's protected header (`pbk.kdf`).
 *
 * @example
 * const kdf: BackupKdf = { name: 'argon2id', m: 19456, t: 2, p: 1, salt: 'q83v…' }
 */
export type BackupKdf =
  | { readonly name: 'recovery-key'; readonly salt: string }
  | { readonly name: 'argon2id'; readonly m: number; readonly t: number; readonly p: number; readonly salt: string };

interface ChunkHeader {
  readonly v: 1;
  readonly id: string;
  readonly seq: number;
  readonly final: boolean;
  readonly kdf: BackupKdf;
  /** An increment: the id of the backup it builds on (absent in a full backup). */
  readonly base?: string;
}

/**
 * Which backup a reader opened: its id and, for an increment, the id of the backup it builds on.
 *
 * @example
 * decryptBackup(lines, secret, { onOpen: ({ id, base }) => console.log(id, base ?? 'full') })
 */
export interface OpenedBackup {
  readonly id: string;
  readonly base?: string;
}

/**
 * The backup's two keys: the AES-256-GCM content key and the access key (the server keeps its hash).
 *
 * @example
 * const { contentKey, accessKey }: BackupKeys = await deriveBackupKeys(secret, kdf)
 */
export interface BackupKeys {
  readonly contentKey: Uint8Array;
  readonly accessKey: Uint8Array;
}

const SALT_BYTES = 16;
const ID_BYTES = 16;
const HKDF_INFO = 'parley/v1/backup';
/** Default chunk: about 256 KiB of item JSON. */
const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** A chunk line a reader accepts (a planted line cannot ask for unbounded memory). */
const MAX_LINE_CHARS = 8 * 1024 * 1024;

/**
 * The content key and access key for `secret` under `kdf` (Argon2id first for a passphrase,
 * then HKDF-SHA-256 with the salt and info `parley/v1/backup` to 64 bytes: content ‖ access).
 *
 * @example
 * const { accessKey } = await deriveBackupKeys({ recoveryKey }, kdf)
 */
export async function deriveBackupKeys(secret: BackupSecret, kdf: BackupKdf): Promise<BackupKeys> {
  const salt = fromBase64(kdf.salt);
  let ikm: Uint8Array;
  if ('recoveryKey' in secret) {
    if (kdf.name !== 'recovery-key') throw new BackupError('backup_wrong_key', 'this backup is protected by a passphrase, not a recovery key');
    ikm = utf8(normalizeRecoveryKey(secret.recoveryKey));
  } else {
    if (kdf.name !== 'argon2id') throw new BackupError('backup_wrong_key', 'this backup is protected by a recovery key, not a passphrase');
    if (typeof secret.passphrase !== 'string' || secret.passphrase.length === 0) throw new BackupError('backup_invalid_secret', 'the passphrase is empty');
    ikm = await argon2id({
      password: utf8(secret.passphrase.normalize('NFC')),
      salt,
      parallelism: kdf.p,
      iterations: kdf.t,
      memorySize: kdf.m,
      hashLength: 32,
      outputType: 'binary',
    });
  }
  const subtle = globalThis.crypto.subtle;
  const base = await subtle.importKey('raw', ikm as BufferSource, 'HKDF', false, ['deriveBits']);
  const bits = new Uint8Array(await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: salt as BufferSource, info: utf8(HKDF_INFO) as BufferSource }, base, 512));
  return { contentKey: bits.slice(0, 32), accessKey: bits.slice(32) };
}

/**
 * A fresh random backup id (16 bytes, base64url).
 *
 * @example
 * const id = newBackupId()
 */
export function newBackupId(): string {
  return toBase64Url(randomBytes(ID_BYTES));
}

/** New KDF parameters for `secret` (fresh salt). */
function newKdf(secret: BackupSecret): BackupKdf {
  const salt = toBase64Url(randomBytes(SALT_BYTES));
  if ('recoveryKey' in secret) {
    normalizeRecoveryKey(secret.recoveryKey);
    return { name: 'recovery-key', salt };
  }
  const params = secret.argon2 ?? BACKUP_ARGON2_PARAMS;
  if (!validArgon2(params)) throw new BackupError('backup_invalid_secret', 'Argon2id parameters out of bounds');
  return { name: 'argon2id', m: params.memoryKiB, t: params.iterations, p: params.parallelism, salt };
}

/**
 * Writes a backup: `accessKey` for the server, then `encrypt(items)` yields the chunk lines.
 *
 * @example
 * const writer = await BackupWriter.create({ recoveryKey })
 * for await (const line of writer.encrypt(items)) await file.write(`${line}\n`)
 */
export class BackupWriter {
  private constructor(
    private readonly kdf: BackupKdf,
    private readonly keys: BackupKeys,
    private readonly chunkBytes: number,
  ) {}

  /**
   * Derives the keys for `secret` under fresh parameters (Argon2id for a passphrase: this is the slow step).
   *
   * @example
   * const writer = await BackupWriter.create({ passphrase: 'correct horse battery staple' }, { chunkBytes: 64 * 1024 })
   */
  static async create(secret: BackupSecret, options: { chunkBytes?: number } = {}): Promise<BackupWriter> {
    const kdf = newKdf(secret);
    return BackupWriter.withKeys(kdf, await deriveBackupKeys(secret, kdf), options);
  }

  /**
   * A writer for keys derived before (automatic backups keep them in the device's store, so a
   * scheduled backup needs neither the recovery key nor another Argon2id run).
   *
   * @example
   * const writer = BackupWriter.withKeys(saved.kdf, saved.keys)
   */
  static withKeys(kdf: BackupKdf, keys: BackupKeys, options: { chunkBytes?: number } = {}): BackupWriter {
    const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_LINE_CHARS / 2) throw new BackupError('backup_invalid_secret', 'chunkBytes out of range');
    if (keys.contentKey.length !== 32 || keys.accessKey.length !== 32) throw new BackupError('backup_invalid_secret', 'backup keys are 32 bytes each');
    return new BackupWriter(kdf, { contentKey: keys.contentKey.slice(), accessKey: keys.accessKey.slice() }, chunkBytes);
  }

  /**
   * The key-derivation parameters every chunk states (public: salt and costs).
   *
   * @example
   * const { name } = writer.kdfParams // 'recovery-key' | 'argon2id'
   */
  get kdfParams(): BackupKdf {
    return this.kdf;
  }

  /**
   * Copies of the derived keys, for a store that keeps them for automatic backups.
   *
   * @example
   * await store.write([putJson('backup/auto', { kdf: writer.kdfParams, ...encode(writer.derivedKeys) })])
   */
  get derivedKeys(): BackupKeys {
    return { contentKey: this.keys.contentKey.slice(), accessKey: this.keys.accessKey.slice() };
  }

  /**
   * The key the server gates fetches with (it stores only its hash).
   *
   * @example
   * await uploadBackup(blob, sha256(writer.accessKey))
   */
  get accessKey(): Uint8Array {
    return this.keys.accessKey.slice();
  }

  /**
   * The chunk lines of a backup of `items` (a new backup id each call).
   *
   * @example
   * const lines: string[] = []; for await (const line of writer.encrypt(items)) lines.push(line)
   */
  async *encrypt(items: AsyncIterable<BackupItem> | Iterable<BackupItem>, options: { id?: string; base?: string } = {}): AsyncGenerator<string> {
    const id = options.id ?? newBackupId();
    const base = options.base;
    let seq = 0;
    let pending: string[] | undefined;
    let batch: string[] = [];
    let size = 0;
    const seal = (lines: string[], final: boolean) => this.sealChunk({ v: 1, id, seq: seq++, final, kdf: this.kdf, ...(base === undefined ? {} : { base }) }, lines);
    for await (const item of items) {
      if (typeof item !== 'object' || item === null || typeof item.kind !== 'string') throw new BackupError('backup_invalid_secret', 'every backup item needs a string kind');
      const json = JSON.stringify(item);
      batch.push(json);
      size += json.length + 1;
      if (size >= this.chunkBytes) {
        // The previous full chunk is not the last: seal it now; keep this one until we know.
        if (pending) yield await seal(pending, false);
        pending = batch;
        batch = [];
        size = 0;
      }
    }
    if (pending && batch.length > 0) {
      yield await seal(pending, false);
      pending = batch;
    } else if (!pending) {
      pending = batch;
    }
    yield await seal(pending, true);
  }

  private async sealChunk(header: ChunkHeader, items: readonly string[]): Promise<string> {
    const plaintext = utf8(`{"items":[${items.join(',')}]}`);
    return new CompactEncrypt(plaintext).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', cty: 'application/json', pbk: header }).encrypt(this.keys.contentKey);
  }
}

function headerOf(line: string): ChunkHeader {
  let raw: Record<string, unknown>;
  try {
    raw = decodeProtectedHeader(line) as Record<string, unknown>;
  } catch (cause) {
    throw new BackupError('backup_corrupt', 'a backup line is not a JWE', { cause });
  }
  const pbk = raw['pbk'] as Partial<ChunkHeader> | undefined;
  if (raw['alg'] !== 'dir' || raw['enc'] !== 'A256GCM' || typeof pbk !== 'object' || pbk === null) throw new BackupError('backup_corrupt', 'not a Parley backup chunk');
  if (pbk.v !== 1) throw new BackupError('backup_unsupported', `backup format version ${String(pbk.v)} is not supported`);
  const kdf = pbk.kdf as Partial<BackupKdf> | undefined;
  const kdfOk =
    typeof kdf?.salt === 'string' &&
    (kdf.name === 'recovery-key' || (kdf.name === 'argon2id' && validArgon2({ memoryKiB: (kdf as { m?: unknown }).m, iterations: (kdf as { t?: unknown }).t, parallelism: (kdf as { p?: unknown }).p })));
  if (!kdfOk || typeof pbk.id !== 'string' || !Number.isSafeInteger(pbk.seq) || typeof pbk.final !== 'boolean' || (pbk.base !== undefined && typeof pbk.base !== 'string')) {
    throw new BackupError('backup_corrupt', 'a backup chunk header is malformed');
  }
  return pbk as ChunkHeader;
}

/**
 * @internal The key-derivation parameters a chunk line's protected header states (checked like
 * the reader checks them).
 */
export function chunkKdf(line: string): BackupKdf {
  return headerOf(line).kdf;
}

/**
 * Reads a backup: checks every chunk (AES-GCM over the chunk and its header; order, backup id,
 * the final chunk present and last) and yields its items. `backup_wrong_key` when the first
 * chunk does not open, `backup_corrupt` or `backup_truncated` otherwise.
 *
 * @example
 * for await (const item of decryptBackup(lines, { recoveryKey })) restore(item)
 */
export async function* decryptBackup(
  lines: AsyncIterable<string> | Iterable<string>,
  secret: BackupSecret,
  options: { onOpen?: (backup: OpenedBackup) => void; derive?: (kdf: BackupKdf) => Promise<BackupKeys> } = {},
): AsyncGenerator<BackupItem> {
  let first: ChunkHeader | undefined;
  let keys: BackupKeys | undefined;
  let next = 0;
  let ended = false;
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    if (ended) throw new BackupError('backup_corrupt', 'data after the final chunk');
    if (line.length > MAX_LINE_CHARS) throw new BackupError('backup_corrupt', 'a backup chunk is too large');
    const header = headerOf(line);
    if (!first) {
      first = header;
      keys = await (options.derive ?? ((kdf: BackupKdf) => deriveBackupKeys(secret, kdf)))(header.kdf);
    } else if (header.id !== first.id || header.base !== first.base || JSON.stringify(header.kdf) !== JSON.stringify(first.kdf)) {
      throw new BackupError('backup_corrupt', 'a chunk of another backup');
    }
    if (header.seq !== next) throw new BackupError('backup_corrupt', `chunk ${header.seq} where ${next} was expected`);
    let plaintext: Uint8Array;
    try {
      ({ plaintext } = await compactDecrypt(line, keys!.contentKey));
    } catch (cause) {
      if (next === 0) throw new BackupError('backup_wrong_key', 'the backup does not open with this key', { cause });
      throw new BackupError('backup_corrupt', `chunk ${next} does not decrypt`, { cause });
    }
    // The first chunk opened: its header (the AES-GCM additional data) is authentic.
    if (next === 0) options.onOpen?.({ id: header.id, ...(header.base === undefined ? {} : { base: header.base }) });
    next++;
    ended = header.final;
    let parsed: { items?: unknown };
    try {
      parsed = JSON.parse(fromUtf8(plaintext)) as { items?: unknown };
    } catch (cause) {
      throw new BackupError('backup_corrupt', 'a chunk holds no JSON', { cause });
    }
    if (!Array.isArray(parsed.items)) throw new BackupError('backup_corrupt', 'a chunk holds no items');
    for (const item of parsed.items as BackupItem[]) yield item;
  }
  if (!first) throw new BackupError('backup_truncated', 'the backup is empty');
  if (!ended) throw new BackupError('backup_truncated', 'the backup ends before its final chunk');
}
