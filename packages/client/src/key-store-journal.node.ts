/**
 * FileKeyStore's journal: a committed batch, sealed in one file, and how a batch
 * is applied to the record files (replay is idempotent).
 *
 * Node only: uses `node:fs`.
 */
import { rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fromUtf8, utf8 } from '@parley/core';
import { assertRecordName, KeyStoreError } from './key-store.js';
import { TMP_SUFFIX, corrupt, ignoreEnoent, syncDir, writeDurably } from './key-store-files.node.js';
import { recordId, seal, sealRecord, unseal, type Keys } from './key-store-seal.node.js';

/** @internal The final value per record name (`null`: delete). */
export type Batch = Map<string, Uint8Array | null>;

const AAD_JOURNAL = utf8('parley key-store v1 journal\0');

/** @internal The journal file's content for `batch`. */
export function sealJournal(keys: Keys, batch: Batch): Uint8Array {
  const plaintext = encodeBatch(batch);
  const sealed = seal(keys.enc, plaintext, AAD_JOURNAL);
  plaintext.fill(0);
  return sealed;
}

/** @internal The batch in a committed journal; `key_store_corrupt` if it does not authenticate. */
export function openJournal(keys: Keys, sealed: Uint8Array): Batch {
  const plaintext = unseal(keys.enc, sealed, AAD_JOURNAL);
  // A committed journal was fsynced before its rename: damage is corruption, not a torn write.
  if (!plaintext) throw corrupt();
  const batch = decodeBatch(plaintext);
  plaintext.fill(0);
  return batch;
}

/** @internal Writes every record of `batch` (durably, in any order), then fsyncs the directory. */
export async function applyBatch(dir: string, keys: Keys, batch: Batch): Promise<void> {
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

/** @internal Applies `batch` to the set of record names. */
export function applyToIndex(names: Set<string>, batch: Batch): void {
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
