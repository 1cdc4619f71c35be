/**
 * What a device backs up and restores (`device.backups`, docs/backup-format.md): the message
 * history as the app showed it, the conversation list and tags, whom the owner verified, and the
 * device's label. Never MLS state, epoch secrets or one-time keys: a restored device rejoins its
 * conversations as a new member (forward secrecy intact) and finds the history there. Restored
 * verifications stay what they were only while the key log shows the same keys
 * (`verificationState` compares them with the verified log on every read).
 */
import { parseConversationId } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { BackupWriter, decryptBackup, type BackupItem, type BackupSecret } from './backup-format.js';
import { listBackups, restoreBackup, uploadBackup } from './backup-store.js';
import { BackupError } from './errors.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import { RECORDS, getJson, putJson, type DeviceRecordV1 } from './records.js';

/**
 * What a restore put back.
 *
 * @example
 * const { messages, verifications } = await phone.backups.restore({ recoveryKey })
 */
export interface RestoreSummary {
  readonly conversations: number;
  readonly messages: number;
  readonly tags: number;
  readonly verifications: number;
}

const MESSAGE_RE = /^conv\/([^/]+)\/msg\/([^/]+)$/;
const META_RE = /^conv\/([^/]+)\/meta$/;
const VERIFIED_PREFIX = 'verified/';
const TAG_PREFIX = 'tag/';
/** Records written per store batch while restoring. */
const BATCH = 200;

/**
 * A device's backups (`device.backups`): on the Parley server, or as lines for a file the customer keeps.
 *
 * @example
 * const recoveryKey = generateRecoveryKey() // show it once
 * await phone.backups.upload({ recoveryKey })
 * // … the phone is lost; on the new one, after the bank re-enrolled the customer:
 * await newPhone.backups.restore({ recoveryKey })
 */
export class DeviceBackups {
  constructor(private readonly ctx: { readonly store: KeyStore; readonly api: ApiClient; readonly record: DeviceRecordV1 }) {}

  /**
   * Encrypts this device's history, conversations, tags and verifications and stores them as the identity's newest backup.
   *
   * @example
   * const { version, size } = await phone.backups.upload({ recoveryKey })
   */
  upload(secret: BackupSecret): Promise<{ version: number; size: number }> {
    return uploadBackup(this.ctx.api, secret, this.items());
  }

  /**
   * Fetches the identity's newest backup (or `version`) and writes its records into this device.
   *
   * @example
   * const summary = await newPhone.backups.restore({ recoveryKey })
   */
  async restore(secret: BackupSecret, version?: number): Promise<RestoreSummary> {
    return this.write(restoreBackup(this.ctx.api, secret, version));
  }

  /**
   * The identity's stored backups, newest first.
   *
   * @example
   * const [latest] = await phone.backups.list()
   */
  list(): ReturnType<typeof listBackups> {
    return listBackups(this.ctx.api);
  }

  /**
   * The backup as lines for a file the customer keeps (`\n` after each).
   *
   * @example
   * for await (const line of phone.backups.export({ recoveryKey })) await file.write(`${line}\n`)
   */
  async *export(secret: BackupSecret): AsyncGenerator<string> {
    yield* (await BackupWriter.create(secret)).encrypt(this.items());
  }

  /**
   * Restores from exported lines.
   *
   * @example
   * await newPhone.backups.import(text.split('\n'), { recoveryKey })
   */
  import(lines: AsyncIterable<string> | Iterable<string>, secret: BackupSecret): Promise<RestoreSummary> {
    return this.write(decryptBackup(lines, secret));
  }

  /** The device's records as backup items, one record at a time. */
  private async *items(): AsyncGenerator<BackupItem> {
    const { store, record } = this.ctx;
    if (record.label !== undefined) yield { kind: 'label', label: record.label };
    for (const name of await store.list(RECORDS.conversationPrefix)) {
      const meta = META_RE.exec(name);
      if (meta) {
        const value = await getJson<{ createdAt?: string; active?: boolean }>(store, name);
        yield { kind: 'conversation', conversationId: meta[1]!, createdAt: value?.createdAt, active: value?.active };
        continue;
      }
      const message = MESSAGE_RE.exec(name);
      if (message) yield { kind: 'message', conversationId: message[1]!, sortKey: message[2]!, record: await getJson<unknown>(store, name) };
    }
    for (const name of await store.list(TAG_PREFIX)) yield { kind: 'tag', tag: name.slice(TAG_PREFIX.length), record: await getJson<unknown>(store, name) };
    for (const name of await store.list(VERIFIED_PREFIX)) yield { kind: 'verification', name: name.slice(VERIFIED_PREFIX.length), devices: await getJson<unknown>(store, name) };
  }

  /** Writes restored items into the store, in batches; refuses items that would name a record outside their kind. */
  private async write(items: AsyncIterable<BackupItem>): Promise<RestoreSummary> {
    const counts = { conversations: 0, messages: 0, tags: 0, verifications: 0 };
    let ops: KeyStoreOp[] = [];
    const flush = async () => {
      if (ops.length > 0) await this.ctx.store.write(ops);
      ops = [];
    };
    for await (const item of items) {
      switch (item.kind) {
        case 'message': {
          const conversationId = parseConversationId(String(item['conversationId']));
          const sortKey = String(item['sortKey']);
          if (!/^[0-9]{15}-[A-Za-z0-9_-]{1,64}$/.test(sortKey)) throw new BackupError('backup_corrupt', 'a message item has no valid sort key');
          ops.push(putJson(RECORDS.message(conversationId, sortKey), item['record']));
          counts.messages++;
          break;
        }
        case 'conversation':
          // Listed for the app; the device holds a conversation again once the business re-adds it.
          parseConversationId(String(item['conversationId']));
          counts.conversations++;
          break;
        case 'tag': {
          const tag = String(item['tag']);
          if (!/^[A-Za-z0-9._/-]{1,190}$/.test(tag)) throw new BackupError('backup_corrupt', 'a tag item has an invalid name');
          ops.push(putJson(RECORDS.conversationTag(tag), item['record']));
          counts.tags++;
          break;
        }
        case 'verification': {
          const name = String(item['name']);
          if (!/^[A-Za-z0-9_-]{1,180}$/.test(name)) throw new BackupError('backup_corrupt', 'a verification item has an invalid name');
          ops.push(putJson(`${VERIFIED_PREFIX}${name}`, item['devices']));
          counts.verifications++;
          break;
        }
        default:
          // A label, or a kind a newer SDK wrote: nothing to write here.
          break;
      }
      if (ops.length >= BATCH) await flush();
    }
    await flush();
    return counts;
  }
}
