/**
 * Downloads: who may read a blob (any device of the uploading identity, and each device a
 * message granted it to), which bytes (one range), and the fetched mark — a response that
 * carried the blob's last byte to the end marks the device's grant fetched, which lets the
 * retention sweep delete the blob once every recipient device fetched it.
 */
import type { Readable } from 'node:stream';
import { ConflictError, NotFoundError } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import type { Database } from '../storage/database.js';
import { markFetched, readableBlob } from '../repos/blobs.js';
import type { BlobStore } from './blob-store.js';
import { byteRange } from './byte-range.js';

/** One download, ready to stream. */
export interface Download {
  readonly status: 200 | 206;
  /** First and last byte sent (inclusive) and the blob's size. */
  readonly start: number;
  readonly end: number;
  readonly size: number;
  readonly body: Readable;
  /** Call once the whole response went out: marks the device's grant fetched when it carried the last byte. */
  readonly finished: () => Promise<void>;
}

/**
 * @example
 * const download = await openDownload(db, store, me, blobId, request.headers.range);
 * reply.raw.once('finish', () => void download.finished());
 */
export async function openDownload(db: Database, store: BlobStore, me: AuthDevice, blobId: string, range: string | string[] | undefined): Promise<Download> {
  const blob = await readableBlob(db, blobId, me.identityId, me.deviceId);
  if (!blob) throw new NotFoundError('no_blob', 'no such blob');
  if (blob.state !== 'complete') throw new ConflictError('blob_incomplete', 'the blob is still being uploaded', { details: { offset: blob.stored, size: blob.size } });
  const { start, end, partial } = byteRange(range, blob.size);
  const last = end === blob.size - 1;
  return {
    status: partial ? 206 : 200,
    start,
    end,
    size: blob.size,
    body: store.read(blobId, start, end),
    finished: async () => {
      if (last && blob.granted) await markFetched(db, blobId, me.deviceId);
    },
  };
}

/**
 * A download for a grantee that is no device (a web link's page: `web:<messageId>`, whose
 * capability the route checked): only a blob granted to it, never by identity; its grant is
 * marked fetched like a device's. 404 `no_blob` for anything else.
 *
 * @example
 * const download = await openGrantedDownload(db, store, `web:${messageId}`, blobId, undefined);
 */
export async function openGrantedDownload(db: Database, store: BlobStore, grantee: string, blobId: string, range: string | string[] | undefined): Promise<Download> {
  // An empty identity id is no identity's: only the grant can make the blob readable.
  const blob = await readableBlob(db, blobId, '', grantee);
  if (!blob?.granted) throw new NotFoundError('no_blob', 'no such blob');
  return openDownload(db, store, { deviceId: grantee, identityId: '', businessId: '' }, blobId, range);
}
