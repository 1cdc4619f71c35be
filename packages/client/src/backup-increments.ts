/**
 * What a device remembers between backups (docs/backup-format.md, "Increments and automatic
 * backups"): the last stored version and its backup id, the full backup the chain starts from,
 * and which message records it already holds (an 8-byte SHA-256 prefix of each record name,
 * sorted), so the next backup can hold only what is new. Automatic backups also keep the derived
 * backup keys (never the recovery key or the passphrase) in the device's own encrypted store.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toBase64, utf8 } from '@parley/core';
import { BackupWriter, type BackupKdf } from './backup-format.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import { getJson, putJson } from './records.js';

const STATE = 'backup/state';
const AUTO = 'backup/auto';
const NAME_HASH_BYTES = 8;

/** @internal The last backup this device stored, for the next increment. */
export interface BackupChainStateV1 {
  v: 1;
  /** The stored version and the backup id in its chunk headers. */
  version: number;
  id: string;
  /** The key-derivation parameters the chain is written under. */
  kdf: BackupKdf;
  /** The SHA-256 of the access key it was written with (base64): an increment needs the same keys. */
  accessHash: string;
  /** Increments on the chain's full backup so far (0: `version` is full). */
  increments: number;
  /** Sorted 8-byte hashes of the message record names the chain holds (base64). */
  messages: string;
}

/** @internal Automatic backups: the derived keys and the schedule. */
export interface AutoBackupRecordV1 {
  v: 1;
  kdf: BackupKdf;
  contentKey: string;
  accessKey: string;
  intervalMs: number;
  fullEvery: number;
  /** Device time of the last successful automatic backup (ISO), if any. */
  lastAt?: string;
}

/** @internal The 8-byte hash of a record name. */
export function nameHash(name: string): Uint8Array {
  return sha256(utf8(name)).slice(0, NAME_HASH_BYTES);
}

/** @internal A set of name hashes, as stored in the chain state. */
export class NameSet {
  private readonly keys = new Set<string>();

  static decode(encoded: string | undefined): NameSet {
    const set = new NameSet();
    if (!encoded) return set;
    const bytes = fromBase64(encoded);
    for (let i = 0; i + NAME_HASH_BYTES <= bytes.length; i += NAME_HASH_BYTES) set.keys.add(toBase64(bytes.subarray(i, i + NAME_HASH_BYTES)));
    return set;
  }

  has(hash: Uint8Array): boolean {
    return this.keys.has(toBase64(hash));
  }

  add(hash: Uint8Array): void {
    this.keys.add(toBase64(hash));
  }

  encode(): string {
    const sorted = [...this.keys].sort();
    const out = new Uint8Array(sorted.length * NAME_HASH_BYTES);
    sorted.forEach((k, i) => out.set(fromBase64(k), i * NAME_HASH_BYTES));
    return toBase64(out);
  }
}

/** @internal The SHA-256 of a writer's access key (base64), as the chain state keeps it. */
export function accessHashOf(writer: BackupWriter): string {
  return toBase64(sha256(writer.derivedKeys.accessKey));
}

/** @internal Reads the chain state. */
export function readChainState(store: KeyStore): Promise<BackupChainStateV1 | undefined> {
  return getJson<BackupChainStateV1>(store, STATE);
}

/** @internal The operation that records the chain state. */
export function putChainState(state: BackupChainStateV1): KeyStoreOp {
  return putJson(STATE, state);
}

/** @internal Reads the automatic-backup record. */
export function readAutoBackup(store: KeyStore): Promise<AutoBackupRecordV1 | undefined> {
  return getJson<AutoBackupRecordV1>(store, AUTO);
}

/** @internal The operation that records (or, with `undefined`, removes) the automatic-backup record. */
export function putAutoBackup(record: AutoBackupRecordV1 | undefined): KeyStoreOp {
  return record ? putJson(AUTO, record) : { op: 'delete', name: AUTO };
}

/** @internal A writer for the keys an automatic-backup record keeps. */
export function autoWriter(record: AutoBackupRecordV1): BackupWriter {
  return BackupWriter.withKeys(record.kdf, { contentKey: fromBase64(record.contentKey), accessKey: fromBase64(record.accessKey) });
}
