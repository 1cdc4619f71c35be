/**
 * Encrypted backups kept on the Parley server for the device's identity (docs/backup-format.md):
 * the device encrypts (`BackupWriter`), uploads the ciphertext with the SHA-256 of the access
 * key and the public KDF parameters; a device of the same identity — a new one after the phone
 * was lost — lists the versions, derives the access key from the recovery secret and the
 * listed parameters, fetches, and decrypts chunk by chunk. The server never sees a key.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromUtf8, toBase64Url, utf8 } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { BackupWriter, decryptBackup, deriveBackupKeys, newBackupId, type BackupItem, type BackupKdf, type BackupKeys, type BackupSecret, type OpenedBackup } from './backup-format.js';
import { BackupError } from './errors.js';

/**
 * A stored backup version, as `listBackups` reports it.
 *
 * @example
 * const [latest] = await listBackups(phone.api)
 */
export interface StoredBackup {
  readonly version: number;
  readonly size: number;
  readonly kdf: BackupKdf;
  readonly createdAt: string;
  /** An increment: the version it builds on. */
  readonly base?: number;
}

/**
 * Encrypts `items` under `secret` and stores them as the identity's newest backup (the server
 * keeps the last few full backups and the increments built on them).
 *
 * @example
 * const { version } = await uploadBackup(phone.api, { recoveryKey }, items)
 */
export async function uploadBackup(api: ApiClient, secret: BackupSecret, items: AsyncIterable<BackupItem> | Iterable<BackupItem>): Promise<{ version: number; size: number }> {
  const { version, size } = await uploadWith(api, await BackupWriter.create(secret), items);
  return { version, size };
}

/**
 * @internal Encrypts with `writer` and stores; `base` makes it an increment on that stored
 * version (its chunk headers name the base backup's id, so a reader can check the chain).
 */
export async function uploadWith(
  api: ApiClient,
  writer: BackupWriter,
  items: AsyncIterable<BackupItem> | Iterable<BackupItem>,
  base?: { readonly version: number; readonly id: string },
): Promise<{ version: number; size: number; id: string }> {
  const id = newBackupId();
  const parts: Uint8Array[] = [];
  for await (const line of writer.encrypt(items, { id, ...(base ? { base: base.id } : {}) })) parts.push(utf8(`${line}\n`));
  const res = await api.send(
    'PUT',
    '/v1/backups',
    {
      headers: {
        'content-type': 'application/octet-stream',
        'parley-backup-access-hash': toBase64Url(sha256(writer.derivedKeys.accessKey)),
        'parley-backup-kdf': toBase64Url(utf8(JSON.stringify(writer.kdfParams))),
        ...(base ? { 'parley-backup-base': String(base.version) } : {}),
      },
      body: concatBytes(...parts),
    },
    true,
  );
  return { ...((await res.json()) as { version: number; size: number }), id };
}

/**
 * The identity's stored backups, newest first (`base`: the version an increment builds on).
 *
 * @example
 * for (const b of await listBackups(phone.api)) console.log(b.version, b.size, b.createdAt)
 */
export async function listBackups(api: ApiClient): Promise<StoredBackup[]> {
  const res = await api.send('GET', '/v1/backups', {}, true);
  return ((await res.json()) as { versions: StoredBackup[] }).versions;
}

/**
 * Fetches the newest backup (or `version`) — for an increment, the whole chain from its full
 * backup — checks every part (keys, chunks, and that each increment builds on the backup before
 * it), and only then yields the items, oldest part first (`BackupError` for a wrong key or a
 * damaged backup, before any item; the server counts fetches with a wrong key).
 *
 * @example
 * for await (const item of restoreBackup(newPhone.api, { recoveryKey })) await app.restore(item)
 */
export async function* restoreBackup(api: ApiClient, secret: BackupSecret, version?: number): AsyncGenerator<BackupItem> {
  const stored = await listBackups(api);
  const chosen = version === undefined ? stored[0] : stored.find((b) => b.version === version);
  if (!chosen) throw new BackupError('backup_not_found', version === undefined ? 'this identity has no backup' : `no backup version ${version}`);
  const chain: StoredBackup[] = [chosen];
  for (let part = chosen; part.base !== undefined; ) {
    const base = stored.find((b) => b.version === part.base);
    if (!base || base.version >= part.version || chain.length > stored.length) throw new BackupError('backup_corrupt', `the chain of backup ${chosen.version} is incomplete`);
    chain.unshift((part = base));
  }
  // Parts written with the same parameters share one derivation (one Argon2id run for a passphrase).
  const derived = new Map<string, Promise<BackupKeys>>();
  const derive = (kdf: BackupKdf): Promise<BackupKeys> => {
    const key = JSON.stringify(kdf);
    let keys = derived.get(key);
    if (!keys) derived.set(key, (keys = deriveBackupKeys(secret, kdf)));
    return keys;
  };
  const texts: string[][] = [];
  for (const part of chain) texts.push(await fetchBackup(api, derive, part));
  // First pass: everything opens and the chain holds together; nothing is yielded before.
  let previous: string | undefined;
  for (const lines of texts) {
    let opened: OpenedBackup | undefined;
    for await (const item of decryptBackup(lines, secret, { derive, onOpen: (o) => (opened = o) })) void item;
    if (opened?.base !== previous) throw new BackupError('backup_corrupt', 'an increment does not build on the backup before it');
    previous = opened?.id;
  }
  for (const lines of texts) yield* decryptBackup(lines, secret, { derive });
}

async function fetchBackup(api: ApiClient, derive: (kdf: BackupKdf) => Promise<BackupKeys>, stored: StoredBackup): Promise<string[]> {
  const { accessKey } = await derive(stored.kdf);
  const res = await api.send('GET', `/v1/backups/${stored.version}`, { headers: { 'parley-backup-key': toBase64Url(accessKey) } }, true).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'backup_key_invalid') throw new BackupError('backup_wrong_key', 'the backup does not open with this key', { cause: error });
    throw error;
  });
  return fromUtf8(new Uint8Array(await res.arrayBuffer())).split('\n');
}
