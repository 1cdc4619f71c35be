/**
 * Log-key rotation for key files (docs/log-key-rotation.md). In the key directory, next to
 * `tlog-<name>.key` (the current key):
 *
 * - `tlog-<name>.next.key` (0600) — the next key, created once by `parley log rotate-key`.
 *   While it exists, a node that (re)starts signs every checkpoint with both keys (old
 *   first) and stores the announcement signed by both;
 * - `tlog-<name>.retired-<key id>.key` (0600) — a former current key, kept (never deleted
 *   silently) by `parley log rotate-key --finish`, which makes the next key current.
 *
 * Several nodes share the key directory: each picks a change up when it (re)starts, so an
 * operator restarts every node after `rotate-key` and again after `--finish`. Nothing here
 * writes a private key anywhere but its own 0600 file, or echoes one in an error.
 */
import { link, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ParleyError } from '@parley/core';
import { generateSignerKey, type LocalSigner } from '@parley/core/tlog';
import type { ServerErrorCode } from '../error-codes.js';
import { createSecretFile, ensurePrivateDir, ensurePrivateFile } from '../storage/private-dir.js';
import { keyFilePaths } from './keys.js';
import { nodePublicKeyOf, parseNodeSignerKey } from './node-signer.js';
import type { LogSigner } from './transparency-log.js';

/**
 * The rotation files of log `logName` in `dir`.
 *
 * @example
 * rotationFilePaths('/var/lib/parley/keys', 'audit').next // '/var/lib/parley/keys/tlog-audit.next.key'
 */
export function rotationFilePaths(dir: string, logName: string): { next: string; nextVerifierKey: string; retired(keyHash: number): string } {
  return {
    next: join(dir, `tlog-${logName}.next.key`),
    nextVerifierKey: join(dir, `tlog-${logName}.next.vkey`),
    retired: (keyHash) => join(dir, `tlog-${logName}.retired-${keyHash.toString(16).padStart(8, '0')}.key`),
  };
}

function keyError(code: ServerErrorCode, message: string, details: Record<string, unknown>, cause?: unknown): ParleyError {
  return new ParleyError(code, message, { status: 500, details, ...(cause === undefined ? {} : { cause }) });
}

async function readKeyFile(path: string, what: string): Promise<LocalSigner | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  await ensurePrivateFile(path, what, 'tlog_key_file_mode');
  try {
    // The next key signs every checkpoint during a rotation: through node:crypto, like the current one.
    return parseNodeSignerKey(text.trim());
  } catch (error) {
    throw keyError('tlog_bad_key', `the ${what} does not hold a signed-note signer key`, { path }, error);
  }
}

async function currentKey(dir: string, logName: string): Promise<LocalSigner> {
  const { key } = keyFilePaths(dir, logName);
  const current = await readKeyFile(key, 'log key file');
  if (current === undefined) throw keyError('tlog_rotation_no_key', `no key file for log '${logName}' in ${dir}: start the server once first`, { path: key });
  return current;
}

/**
 * Starts a rotation (offline, run by an operator): creates the next key, named like the
 * current one, once — a second call finds it and reports it again (`created: false`).
 * Returns the verifier keys. Restart every node afterwards.
 *
 * @example
 * const { next } = await startKeyRotation('/var/lib/parley/keys', 'audit');
 */
export async function startKeyRotation(dir: string, logName: string): Promise<{ created: boolean; current: string; next: string }> {
  await ensurePrivateDir(dir, 'key directory');
  const current = await currentKey(dir, logName);
  const paths = rotationFilePaths(dir, logName);
  const created = await createSecretFile(paths.next, `${generateSignerKey(current.name, { publicKeyOf: nodePublicKeyOf }).signerKey}\n`);
  const next = await readKeyFile(paths.next, 'next log key file');
  if (next === undefined) throw keyError('tlog_bad_key', 'the next log key file vanished', { path: paths.next });
  if (next.name !== current.name || next.keyHash === current.keyHash) {
    throw keyError('tlog_key_origin_mismatch', 'the next log key file is not a new key for the same origin', { path: paths.next, keyName: next.name });
  }
  await writeFile(paths.nextVerifierKey, `${next.verifierKey}\n`, { mode: 0o644 });
  return { created, current: current.verifierKey, next: next.verifierKey };
}

/**
 * Finishes a rotation (offline): keeps the current key as `tlog-<name>.retired-<id>.key`
 * and makes the next key current (an atomic rename). Crash-safe: run again after a crash.
 * Refuses without a next key (`tlog_rotation_not_started`). Restart every node afterwards.
 *
 * @example
 * const { retired, current } = await finishKeyRotation('/var/lib/parley/keys', 'audit');
 */
export async function finishKeyRotation(dir: string, logName: string): Promise<{ previous: string; current: string; retired: string }> {
  await ensurePrivateDir(dir, 'key directory');
  const paths = rotationFilePaths(dir, logName);
  const keyPaths = keyFilePaths(dir, logName);
  const next = await readKeyFile(paths.next, 'next log key file');
  if (next === undefined) throw keyError('tlog_rotation_not_started', `no rotation of log '${logName}' to finish: run parley log rotate-key first`, { path: paths.next });
  const current = await currentKey(dir, logName);
  if (next.name !== current.name || next.keyHash === current.keyHash) {
    throw keyError('tlog_key_origin_mismatch', 'the next log key file is not a new key for the same origin', { path: paths.next, keyName: next.name });
  }
  const retired = paths.retired(current.keyHash);
  try {
    await link(keyPaths.key, retired); // a second name for the old key, kept 0600
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const kept = await readKeyFile(retired, 'retired log key file');
    if (kept?.verifierKey !== current.verifierKey) throw keyError('tlog_bad_key', 'a different retired key file is in the way', { path: retired });
  }
  await rename(paths.next, keyPaths.key);
  await writeFile(keyPaths.verifierKey, `${next.verifierKey}\n`, { mode: 0o644 });
  await unlink(paths.nextVerifierKey).catch(() => {});
  return { previous: current.verifierKey, current: next.verifierKey, retired };
}

/**
 * What a node loads at start besides its current key: the next key (a rotation in
 * progress) and the retired keys (to announce a rotation finished before any node signed
 * with both keys). Each is refused like the current key file when others can read it or
 * it is for another origin.
 *
 * @example
 * const { next, retired } = await loadRotationKeys({ dir, logName: 'audit', origin, log });
 */
export async function loadRotationKeys(options: { dir: string | undefined; logName: string; origin: string; log: Logger }): Promise<{ next?: LogSigner; retired: LogSigner[] }> {
  const { dir, logName, origin, log } = options;
  if (dir === undefined) return { retired: [] };
  const paths = rotationFilePaths(dir, logName);
  const check = (signer: LocalSigner, path: string): LocalSigner => {
    if (signer.name !== origin) throw keyError('tlog_key_origin_mismatch', 'a log key file is for another origin', { path, keyName: signer.name, origin });
    return signer;
  };
  const next = await readKeyFile(paths.next, 'next log key file');
  if (next !== undefined) {
    check(next, paths.next);
    log.info({ tlog: logName, nextVerifierKey: next.verifierKey }, 'log-key rotation in progress: checkpoints carry the current and the next key');
  }
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const pattern = new RegExp(`^tlog-${logName.replace(/[^a-z0-9-]/g, '')}\\.retired-[0-9a-f]{8}\\.key$`);
  const retired: LogSigner[] = [];
  for (const name of names.filter((n) => pattern.test(n)).sort()) {
    const signer = await readKeyFile(join(dir, name), 'retired log key file');
    if (signer !== undefined) retired.push(check(signer, join(dir, name)));
  }
  return { ...(next === undefined ? {} : { next }), retired };
}
