/**
 * What a device backs up and restores (`device.backups`, docs/backup-format.md): the message
 * history as the app showed it, the conversation list and tags, whom the owner verified, and the
 * device's label. Never MLS state, epoch secrets or one-time keys: a restored device rejoins its
 * conversations as a new member (forward secrecy intact) and finds the history there. Restored
 * verifications stay what they were only while the key log shows the same keys
 * (`verificationState` compares them with the verified log on every read).
 */
import { isParleyError, parseConversationId, toBase64, type ConversationId } from '@parley/core';
import type { ApiClient } from './api-client.js';
import { BackupWriter, decryptBackup, deriveBackupKeys, type BackupItem, type BackupKdf, type BackupKeys, type BackupSecret } from './backup-format.js';
import {
  NameSet,
  accessHashOf,
  autoWriter,
  nameHash,
  putAutoBackup,
  putChainState,
  readAutoBackup,
  readChainState,
  type AutoBackupRecordV1,
  type BackupChainStateV1,
} from './backup-increments.js';
import { listBackups, restoreBackup, uploadWith } from './backup-store.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
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
  /**
   * The conversations the restored history belongs to: the app shows their history
   * (`device.history`) before the business re-adds this device to them.
   */
  readonly conversationIds: readonly ConversationId[];
}

/**
 * One stored backup (`device.backups.upload`, automatic backups): the version, its size, whether
 * it is an increment, and how many messages it holds.
 *
 * @example
 * const { version, incremental, messages }: BackupResult = await phone.backups.upload({ recoveryKey }, { incremental: true })
 */
export interface BackupResult {
  readonly version: number;
  readonly size: number;
  readonly incremental: boolean;
  readonly messages: number;
}

/** @internal What `device.backups` needs from its device. */
export interface DeviceBackupsContext {
  readonly store: KeyStore;
  readonly api: ApiClient;
  readonly record: DeviceRecordV1;
  readonly hub: EventHub<DeviceEvent>;
  now(): Date;
}

const DAY_MS = 24 * 3_600_000;
/** A full backup after this many (default 7: a daily schedule makes one a week). */
const DEFAULT_FULL_EVERY = 7;
/** The server's limit on increments per chain is 30. */
const MAX_FULL_EVERY = 30;

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
  #running: Promise<unknown> = Promise.resolve();

  constructor(private readonly ctx: DeviceBackupsContext) {}

  /**
   * Encrypts this device's history, conversations, tags and verifications and stores them as the
   * identity's newest backup. With `incremental`, only the messages stored since this device's
   * last backup (under the same secret) go up, on top of it; every `fullEvery`-th time (default 7),
   * or when the server no longer holds the base, a full backup instead.
   *
   * @example
   * const { version, size, incremental } = await phone.backups.upload({ recoveryKey }, { incremental: true })
   */
  async upload(secret: BackupSecret, options: { incremental?: boolean } = {}): Promise<BackupResult> {
    const state = options.incremental ? await readChainState(this.ctx.store) : undefined;
    let writer: BackupWriter | undefined;
    if (state) {
      const same = BackupWriter.withKeys(state.kdf, await deriveBackupKeys(secret, state.kdf).catch(() => ({ contentKey: new Uint8Array(32), accessKey: new Uint8Array(32) })));
      if (accessHashOf(same) === state.accessHash) writer = same;
    }
    return this.serial(() => this.store(writer ?? BackupWriter.create(secret), options.incremental === true && writer !== undefined, DEFAULT_FULL_EVERY));
  }

  /**
   * Backs up on a schedule from now on: a full backup now, then an increment whenever `intervalMs`
   * (default 24 h) has passed, checked while the device is connected (`backup-stored` /
   * `backup-failed` events). The device keeps the derived backup keys in its own encrypted store —
   * never the recovery key or passphrase — so a scheduled backup needs neither.
   *
   * @example
   * const recoveryKey = generateRecoveryKey() // show it once
   * await phone.backups.enableAutomatic({ recoveryKey }, { intervalMs: 24 * 3600_000 })
   */
  async enableAutomatic(secret: BackupSecret, options: { intervalMs?: number; fullEvery?: number } = {}): Promise<BackupResult> {
    const intervalMs = options.intervalMs ?? DAY_MS;
    const fullEvery = options.fullEvery ?? DEFAULT_FULL_EVERY;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 60_000) throw new BackupError('backup_invalid_secret', 'intervalMs is at least one minute');
    if (!Number.isSafeInteger(fullEvery) || fullEvery < 1 || fullEvery > MAX_FULL_EVERY) throw new BackupError('backup_invalid_secret', `fullEvery is 1 to ${MAX_FULL_EVERY}`);
    const writer = await BackupWriter.create(secret);
    const { contentKey, accessKey } = writer.derivedKeys;
    const record: AutoBackupRecordV1 = { v: 1, kdf: writer.kdfParams, contentKey: toBase64(contentKey), accessKey: toBase64(accessKey), intervalMs, fullEvery };
    await this.ctx.store.write([putAutoBackup(record)]);
    return this.runAutomatic(record);
  }

  /**
   * Stops automatic backups and forgets their keys (stored backups stay).
   *
   * @example
   * await phone.backups.disableAutomatic()
   */
  async disableAutomatic(): Promise<void> {
    await this.ctx.store.write([putAutoBackup(undefined)]);
  }

  /**
   * Whether automatic backups are on, and when the last one ran and the next is due (device time).
   *
   * @example
   * const { enabled, nextAt } = await phone.backups.automatic()
   */
  async automatic(): Promise<{ enabled: boolean; intervalMs?: number; lastAt?: string; nextAt?: string }> {
    const record = await readAutoBackup(this.ctx.store);
    if (!record) return { enabled: false };
    const next = record.lastAt ? new Date(Date.parse(record.lastAt) + record.intervalMs) : this.ctx.now();
    return { enabled: true, intervalMs: record.intervalMs, ...(record.lastAt ? { lastAt: record.lastAt } : {}), nextAt: next.toISOString() };
  }

  /**
   * Runs an automatic backup when one is due (the device's maintenance calls it while connected);
   * undefined when none is.
   *
   * @example
   * const result = await phone.backups.runDue()
   */
  async runDue(): Promise<BackupResult | undefined> {
    const record = await readAutoBackup(this.ctx.store);
    if (!record) return undefined;
    if (record.lastAt && this.ctx.now().getTime() - Date.parse(record.lastAt) < record.intervalMs) return undefined;
    return this.runAutomatic(record);
  }

  /**
   * Fetches the identity's newest backup (or `version`: with the increments it builds on), checks
   * all of it, and only then writes its records into this device: a wrong key or a damaged
   * backup changes nothing.
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
  async import(lines: AsyncIterable<string> | Iterable<string>, secret: BackupSecret): Promise<RestoreSummary> {
    const all: string[] = [];
    for await (const line of lines) all.push(line);
    let derived: Promise<BackupKeys> | undefined;
    const derive = (kdf: BackupKdf) => (derived ??= deriveBackupKeys(secret, kdf));
    // Checked whole first: a wrong key, a damaged or cut file writes nothing.
    for await (const item of decryptBackup(all, secret, { derive })) void item;
    return this.write(decryptBackup(all, secret, { derive }));
  }

  private serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#running.then(run, run);
    this.#running = next.catch(() => undefined);
    return next;
  }

  private async runAutomatic(record: AutoBackupRecordV1): Promise<BackupResult> {
    try {
      const result = await this.serial(() => this.store(autoWriter(record), true, record.fullEvery));
      // Re-read: the schedule may have been turned off meanwhile.
      const current = await readAutoBackup(this.ctx.store);
      if (current) await this.ctx.store.write([putAutoBackup({ ...current, lastAt: this.ctx.now().toISOString() })]);
      this.ctx.hub.emit({ type: 'backup-stored', automatic: true, ...result });
      return result;
    } catch (error) {
      this.ctx.hub.emit({ type: 'backup-failed', code: isParleyError(error) ? error.code : 'backup_failed' });
      throw error;
    }
  }

  /** Uploads a backup with `writer`: an increment on this device's last one when asked and possible, else full. */
  private async store(writerOrPromise: BackupWriter | Promise<BackupWriter>, incremental: boolean, fullEvery: number): Promise<BackupResult> {
    const writer = await writerOrPromise;
    const accessHash = accessHashOf(writer);
    const state = incremental ? await readChainState(this.ctx.store) : undefined;
    const chain = state && state.accessHash === accessHash && state.increments + 1 < fullEvery ? state : undefined;
    const attempt = async (base: BackupChainStateV1 | undefined) => {
      const seen = new NameSet();
      const counts = { messages: 0 };
      const stored = await uploadWith(this.ctx.api, writer, this.items(NameSet.decode(base?.messages), seen, counts), base ? { version: base.version, id: base.id } : undefined);
      return { stored, seen, counts };
    };
    let base = chain;
    let run = await attempt(base).catch((error: unknown) => {
      // The server dropped the base, or the chain is at its limit: a full backup instead.
      if (base && (error as { code?: string }).code?.startsWith('backup_')) return undefined;
      throw error;
    });
    if (!run) run = await attempt((base = undefined));
    const { stored, seen, counts } = run;
    await this.ctx.store.write([
      putChainState({ v: 1, version: stored.version, id: stored.id, kdf: writer.kdfParams, accessHash, increments: base ? base.increments + 1 : 0, messages: seen.encode() }),
    ]);
    return { version: stored.version, size: stored.size, incremental: base !== undefined, messages: counts.messages };
  }

  /** The device's records as backup items, one record at a time; messages in `skip` are left out (an increment), every message name goes into `seen`. */
  private async *items(skip = new NameSet(), seen = new NameSet(), counts = { messages: 0 }): AsyncGenerator<BackupItem> {
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
      if (!message) continue;
      const hash = nameHash(name);
      seen.add(hash);
      if (skip.has(hash)) continue;
      counts.messages++;
      yield { kind: 'message', conversationId: message[1]!, sortKey: message[2]!, record: await getJson<unknown>(store, name) };
    }
    for (const name of await store.list(TAG_PREFIX)) yield { kind: 'tag', tag: name.slice(TAG_PREFIX.length), record: await getJson<unknown>(store, name) };
    for (const name of await store.list(VERIFIED_PREFIX)) yield { kind: 'verification', name: name.slice(VERIFIED_PREFIX.length), devices: await getJson<unknown>(store, name) };
  }

  /** Writes restored items into the store, in batches; refuses items that would name a record outside their kind. */
  private async write(items: AsyncIterable<BackupItem>): Promise<RestoreSummary> {
    const counts = { conversations: 0, messages: 0, tags: 0, verifications: 0 };
    const conversationIds = new Set<ConversationId>();
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
          conversationIds.add(conversationId);
          counts.messages++;
          break;
        }
        case 'conversation':
          // Listed for the app; the device holds a conversation again once the business re-adds it.
          conversationIds.add(parseConversationId(String(item['conversationId'])));
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
    return { ...counts, conversationIds: [...conversationIds] };
  }
}
