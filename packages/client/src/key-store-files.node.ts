/**
 * FileKeyStore's file layer: durable writes (fsync, then rename), directory
 * fsync, the names of the files in a store's directory, and the store's errors.
 *
 * Node only: uses `node:fs`.
 */
import { open as openFile } from 'node:fs/promises';
import { KeyStoreError } from './key-store.js';

/** @internal The header: format version, KDF and its parameters, salt, key check. */
export const HEADER_FILE = 'keystore.json';
/** @internal The committed batch being applied, encrypted; replayed on open. */
export const JOURNAL_FILE = 'journal';
/** @internal A file being written (never committed): removed on open. */
export const TMP_SUFFIX = '.tmp';
/** @internal One record: hex(HMAC-SHA-256(nameKey, recordName)). */
export const RECORD_FILE_RE = /^[0-9a-f]{64}$/;

/** @internal Writes `data` to a new 0600 file and fsyncs it. */
export async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await openFile(path, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes renames and unlinks in `dir` durable (POSIX: fsync the directory). */
export async function syncDir(dir: string): Promise<void> {
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

/** @internal True for a Node error with this `code` (`ENOENT`, …). */
export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** @internal Rethrows anything but ENOENT (for `.catch` after an unlink). */
export function ignoreEnoent(error: unknown): void {
  if (!isErrno(error, 'ENOENT')) throw error;
}

// Errors (never with a key, a name or a value in the message).

/** @internal */
export function corrupt(cause?: unknown): KeyStoreError {
  return new KeyStoreError('key_store_corrupt', 'key store data failed authentication or is malformed', cause === undefined ? {} : { cause });
}

/** @internal */
export function closedError(): KeyStoreError {
  return new KeyStoreError('key_store_closed', 'key store is closed');
}

/** @internal */
export function wrongKey(): KeyStoreError {
  return new KeyStoreError('key_store_wrong_key', 'wrong key store passphrase or key');
}

/** @internal A KeyStoreError as it is, anything else as `key_store_io_error`. */
export function ioError(cause: unknown): KeyStoreError {
  if (cause instanceof KeyStoreError) return cause;
  return new KeyStoreError('key_store_io_error', 'key store file operation failed', { cause });
}
