/**
 * The logs' checkpoint keys inside a PKCS#11 token (`keys.signer`, `parley serve --signer`):
 * Ed25519 keys labelled `parley-tlog-keys` and `parley-tlog-audit`, generated in the token
 * on first start when absent (as key files are), never extractable, wrapped as a
 * {@link LogSigner} named after the log's origin. Nodes sharing the token share the keys
 * (a creation race ends with one key per label: @parley/custody). The verifier key is still
 * written next to the key directory (`tlog-<name>.vkey`) for operators. Token sessions
 * opened for a server are closed by {@link closeHsmKeys} when it stops.
 */
import { open, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Pkcs11Signer, parsePkcs11Uri } from '@parley/custody';
import { ParleyError, concatBytes } from '@parley/core';
import { NOTE_ALG_ED25519, noteKeyHash, verifierKeyFromPublicKey } from '@parley/core/tlog';
import { ensurePrivateDir } from '../storage/private-dir.js';
import { keyFilePaths } from './keys.js';
import type { LogSigner } from './transparency-log.js';

/** The token labels of the two logs' checkpoint keys. */
export const HSM_LOG_KEY_LABELS: Readonly<Record<string, string>> = Object.freeze({ keys: 'parley-tlog-keys', audit: 'parley-tlog-audit' });

/**
 * Checks `keys.signer` at configuration time: a PKCS#11 URI (RFC 7512; `pin-value` is
 * refused with `pkcs11_pin_inline`, a malformed one with `pkcs11_bad_uri`) naming a token,
 * not an object (`invalid_config`: the labels are the server's).
 *
 * @example
 * checkSignerUri('pkcs11:token=parley?pin-source=file:/etc/parley/pin') // returns it
 */
export function checkSignerUri(uri: string): string {
  const parsed = parsePkcs11Uri(uri);
  if (parsed.object !== undefined || parsed.id !== undefined || parsed.type !== undefined) {
    throw new ParleyError('invalid_config', 'keys.signer names the token only (no object, id or type): the server labels its keys parley-tlog-keys, parley-tlog-audit and parley-wrap', {
      status: 500,
      details: { field: 'keys.signer' },
    });
  }
  return uri;
}

const LOCK_FILE = '.hsm-keys.lock';
/** A lock older than this is a crashed holder's: taken over. */
const STALE_LOCK_MS = 60_000;

/**
 * Runs `fn` while holding `<dir>/.hsm-keys.lock` (created exclusively; nodes sharing the key
 * directory wait their turn), so that nodes starting at once do not race to create the same
 * key in a shared token: PKCS#11 has no create-if-absent, and tokens shared by several
 * processes (SoftHSM2's file store) show another process's new objects late. Without a
 * directory, runs `fn` directly.
 *
 * @example
 * const signer = await withKeyDirLock(dir, () => Pkcs11Signer.open(uri, { object: 'parley-tlog-keys', create: true }))
 */
export async function withKeyDirLock<T>(dir: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (dir === undefined) return fn();
  await ensurePrivateDir(dir, 'key directory');
  const path = join(dir, LOCK_FILE);
  const deadline = Date.now() + 5 * STALE_LOCK_MS;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(path).then((i) => Date.now() - i.mtimeMs, () => 0);
      if (age > STALE_LOCK_MS) await unlink(path).catch(() => {});
      else if (Date.now() > deadline) throw new ParleyError('private_dir_invalid', `the key directory lock ${path} is held too long: is another node stuck?`, { status: 500, details: { path } });
      else await new Promise((r) => setTimeout(r, 25 + Math.random() * 50));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => {});
  }
}

/** Open token sessions per server (keyed by its resolved configuration object), closed at stop. */
const openSessions = new WeakMap<object, { close(): Promise<void> }[]>();

/**
 * Registers something to close when the server that owns `owner` stops.
 *
 * @example
 * trackHsmSession(config, signer)
 */
export function trackHsmSession(owner: object, session: { close(): Promise<void> }): void {
  const list = openSessions.get(owner) ?? [];
  list.push(session);
  openSessions.set(owner, list);
}

/**
 * Closes the token sessions opened for `owner` (idempotent; errors ignored: the process may be exiting).
 *
 * @example
 * await closeHsmKeys(config)
 */
export async function closeHsmKeys(owner: object): Promise<void> {
  const list = openSessions.get(owner) ?? [];
  openSessions.delete(owner);
  for (const s of list) await s.close().catch(() => {});
}

/**
 * The log's signer from the token the URI names (the URI names the token, not the object:
 * the label is the log's). With `create`, generates the key in the token when absent.
 *
 * @example
 * const signer = await openHsmLogSigner({ uri: 'pkcs11:token=parley?pin-source=file:/etc/parley/pin', dir: '/var/lib/parley/keys', logName: 'keys', origin, log, owner: config })
 */
export async function openHsmLogSigner(options: { uri: string; dir: string | undefined; logName: string; origin: string; log: Logger; owner: object }): Promise<LogSigner> {
  const { uri, dir, logName, origin, log, owner } = options;
  const label = HSM_LOG_KEY_LABELS[logName] ?? `parley-tlog-${logName}`;
  const key = await withKeyDirLock(dir, () => Pkcs11Signer.open(parsePkcs11Uri(uri), { object: label, create: true }));
  trackHsmSession(owner, key);
  const publicKey = key.publicKey;
  const verifierKey = verifierKeyFromPublicKey(origin, publicKey);
  const signer: LogSigner = Object.freeze({
    name: origin,
    keyHash: noteKeyHash(origin, concatBytes(new Uint8Array([NOTE_ALG_ED25519]), publicKey)),
    verifierKey,
    sign: (message: Uint8Array) => key.sign(message),
  });
  if (dir !== undefined) {
    // The public half for operators (`parley log verify --key …`), as with key files.
    await ensurePrivateDir(dir, 'key directory');
    await writeFile(keyFilePaths(dir, logName).verifierKey, `${verifierKey}\n`, { mode: 0o644 }).catch(() => {});
  }
  log.info({ tlog: logName, origin, key: key.description, verifierKey, created: key.created }, key.created ? 'generated the transparency log signing key in the token' : 'signing the transparency log with a key in the token');
  return signer;
}
