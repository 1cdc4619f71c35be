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
import { BackupWriter, chunkKdf, decryptBackup, deriveBackupKeys, type BackupItem, type BackupKdf, type BackupSecret } from './backup-format.js';
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
}

/**
 * Encrypts `items` under `secret` and stores them as the identity's newest backup (the server
 * keeps the last few versions).
 *
 * @example
 * const { version } = await uploadBackup(phone.api, { recoveryKey }, items)
 */
export async function uploadBackup(api: ApiClient, secret: BackupSecret, items: AsyncIterable<BackupItem> | Iterable<BackupItem>): Promise<{ version: number; size: number }> {
  const writer = await BackupWriter.create(secret);
  const parts: Uint8Array[] = [];
  let kdf: string | undefined;
  for await (const line of writer.encrypt(items)) {
    kdf ??= JSON.stringify(chunkKdf(line));
    parts.push(utf8(`${line}\n`));
  }
  const res = await api.send(
    'PUT',
    '/v1/backups',
    {
      headers: {
        'content-type': 'application/octet-stream',
        'parley-backup-access-hash': toBase64Url(sha256(writer.accessKey)),
        'parley-backup-kdf': toBase64Url(utf8(kdf!)),
      },
      body: concatBytes(...parts),
    },
    true,
  );
  return (await res.json()) as { version: number; size: number };
}

/**
 * The identity's stored backups, newest first.
 *
 * @example
 * for (const b of await listBackups(phone.api)) console.log(b.version, b.size, b.createdAt)
 */
export async function listBackups(api: ApiClient): Promise<StoredBackup[]> {
  const res = await api.send('GET', '/v1/backups', {}, true);
  return ((await res.json()) as { versions: StoredBackup[] }).versions;
}

/**
 * Fetches the newest backup (or `version`) and yields its items, decrypted and checked
 * (`BackupError` for a wrong key or a damaged backup; the server counts fetch attempts).
 *
 * @example
 * for await (const item of restoreBackup(newPhone.api, { recoveryKey })) await app.restore(item)
 */
export async function* restoreBackup(api: ApiClient, secret: BackupSecret, version?: number): AsyncGenerator<BackupItem> {
  const stored = await listBackups(api);
  const chosen = version === undefined ? stored[0] : stored.find((b) => b.version === version);
  if (!chosen) throw new BackupError('backup_not_found', version === undefined ? 'this identity has no backup' : `no backup version ${version}`);
  const { accessKey } = await deriveBackupKeys(secret, chosen.kdf);
  const res = await api.send('GET', `/v1/backups/${chosen.version}`, { headers: { 'parley-backup-key': toBase64Url(accessKey) } }, true).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'backup_key_invalid') throw new BackupError('backup_wrong_key', 'the backup does not open with this key', { cause: error });
    throw error;
  });
  const text = fromUtf8(new Uint8Array(await res.arrayBuffer()));
  yield* decryptBackup(text.split('\n'), secret);
}
