/**
 * Picks and opens the blob store of a node (config `blobs.store`, `blobs.dir`): `database` rows
 * in the server's database, or `fs` files in a private directory — `<dataDir>/blobs` with PGlite
 * on disk, a private temporary directory (removed at close) with in-memory PGlite, the
 * configured `blobs.dir` otherwise.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParleyError } from '@parley/core';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';
import { PgBlobStore } from './pg-blob-store.js';

/** The numeric knobs are positive whole numbers (bytes, seconds, a rate). */
function checkBlobLimits(blobs: ServerConfig['blobs']): void {
  const knobs = ['maxBlobBytes', 'businessQuotaBytes', 'identityQuotaBytes', 'uploadTtlSeconds', 'retentionSeconds', 'maxAgeSeconds', 'createsPerMinute', 'businessCreatesPerMinute'] as const;
  for (const knob of knobs) {
    const value = blobs[knob];
    if (!Number.isSafeInteger(value) || value < 1) throw new ParleyError('invalid_config', `blobs.${knob} must be a positive integer`, { status: 500, details: { knob } });
  }
}

/**
 * @example
 * const store = await openBlobStore(config, db);
 * await store.close(); // a temporary directory goes with it
 */
export async function openBlobStore(config: ServerConfig, db: Database): Promise<BlobStore> {
  checkBlobLimits(config.blobs);
  const { store, dir } = config.blobs;
  if (store === 'database') return new PgBlobStore(db);
  if (store !== 'fs') throw new ParleyError('invalid_config', `blobs.store is 'fs' or 'database', not ${JSON.stringify(store)}`, { status: 500 });
  if (dir !== undefined) return FsBlobStore.open(dir);
  if (config.database.kind !== 'pglite') {
    throw new ParleyError('invalid_config', "blobs.store 'fs' with PostgreSQL needs blobs.dir (a directory every node shares)", { status: 500 });
  }
  // In-memory PGlite: the blobs are as ephemeral as the database.
  const temp = await mkdtemp(join(tmpdir(), 'parley-blobs-'));
  const fs = await FsBlobStore.open(temp);
  return {
    kind: fs.kind,
    dir: fs.dir,
    append: (blobId, offset, source) => fs.append(blobId, offset, source),
    read: (blobId, start, end) => fs.read(blobId, start, end),
    delete: (blobId) => fs.delete(blobId),
    length: (blobId) => fs.length(blobId),
    close: () => rm(temp, { recursive: true, force: true }),
  };
}
