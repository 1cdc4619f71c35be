/**
 * Where blob bytes live: one interface, two stores that pass the same contract suite
 * (test/blobs/blob-store-contract.ts): the data directory's filesystem (fs-blob-store.ts, the
 * embedded default) and PostgreSQL rows (pg-blob-store.ts, production). The store knows bytes
 * only: who owns a blob, its declared size and its recorded offset are metadata (repos/blobs.ts).
 *
 * Appends stream: no store holds more than one row or one read buffer of a blob in memory.
 */
import type { Readable } from 'node:stream';
import { BLOB_ID_PATTERN } from '@parley/core';

export interface BlobStore {
  /** `fs` or `database` (config `blobs.store`). */
  readonly kind: 'fs' | 'database';
  /** The `fs` store's directory (one file per blob); undefined for the database store. */
  readonly dir?: string;
  /**
   * Writes `source` at `offset` and resolves the bytes written once they are durable (fsync'd
   * or committed). Bytes the store holds past `offset` (an earlier append interrupted before
   * its offset was recorded) are dropped first. If `source` fails mid-way, what arrived is
   * still made durable, and the call rejects with a {@link BlobAppendError} carrying that
   * count. Holding fewer than `offset` bytes is an internal error (nothing is written).
   */
  append(blobId: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number>;
  /**
   * Bytes `start` to `endInclusive` as a stream; it fails (never ends short) when the store
   * holds fewer. The caller checks the range against the recorded offset.
   */
  read(blobId: string, start: number, endInclusive: number): Readable;
  /** Removes every byte of the blob (none stored: nothing to do). */
  delete(blobId: string): Promise<void>;
  /** Bytes the store holds for the blob (0: none); may exceed the recorded offset after an interrupted append. */
  length(blobId: string): Promise<number>;
  /** Releases what the store holds open (not the bytes). */
  close(): Promise<void>;
}

/** An append whose source failed mid-way: `written` bytes from the offset are durable nonetheless. */
export class BlobAppendError extends Error {
  constructor(
    readonly written: number,
    cause: unknown,
  ) {
    super(`the append stopped after ${written} bytes`, { cause });
    this.name = 'BlobAppendError';
  }
}

const BLOB_ID = new RegExp(BLOB_ID_PATTERN);

/** Throws unless `blobId` is a blob id (the fs store makes file names of them). */
export function checkBlobId(blobId: string): string {
  if (!BLOB_ID.test(blobId)) throw new Error('not a blob id');
  return blobId;
}

/** Throws unless `start`..`endInclusive` is a non-empty range of safe non-negative integers. */
export function checkRange(start: number, endInclusive: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endInclusive) || start < 0 || endInclusive < start) {
    throw new RangeError(`not a byte range: ${start}-${endInclusive}`);
  }
}

/** Throws unless `offset` is a safe non-negative integer. */
export function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`not an offset: ${offset}`);
}
