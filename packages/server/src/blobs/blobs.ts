/**
 * The blob service of a node: attachment ciphertext the devices encrypted (the server never
 * has the keys), uploaded in pieces (blob-uploads.ts), downloaded by range
 * (blob-downloads.ts), deleted when its time ends (blob-retention.ts), its bytes in the
 * configured store (open-blob-store.ts). Logs name blob ids, identities and sizes only.
 */
import type { Logger } from 'pino';
import type { AuthDevice } from '../auth-device.js';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import type { BlobStore } from './blob-store.js';
import { openDownload, openGrantedDownload, type Download } from './blob-downloads.js';
import { BlobRetention, type BlobSweepCounts } from './blob-retention.js';
import { BlobUploads } from './blob-uploads.js';
import { openBlobStore } from './open-blob-store.js';

/**
 * @example
 * const blobs = await Blobs.open(config, db, log);
 * const created = await blobs.uploads.create(me, 4096);
 * await blobs.sweep();
 * await blobs.close();
 */
export class Blobs {
  readonly uploads: BlobUploads;
  private readonly retention: BlobRetention;

  private constructor(
    private readonly db: Database,
    /** Where the bytes are (`fs` or `database`). */
    readonly store: BlobStore,
    config: ServerConfig,
    log: Logger,
  ) {
    this.uploads = new BlobUploads(db, store, config, log);
    this.retention = new BlobRetention(db, store, config, log);
  }

  static async open(config: ServerConfig, db: Database, log: Logger): Promise<Blobs> {
    return new Blobs(db, await openBlobStore(config, db), config, log);
  }

  /** A download for a non-device grantee (a web link: `web:<messageId>`); 404 `no_blob` unless the blob is granted to it. */
  downloadGranted(grantee: string, blobId: string, range: string | string[] | undefined): Promise<Download> {
    return openGrantedDownload(this.db, this.store, grantee, blobId, range);
  }

  /** A download for the device (404 `no_blob` when it may not read the blob). */
  download(me: AuthDevice, blobId: string, range: string | string[] | undefined): Promise<Download> {
    return openDownload(this.db, this.store, me, blobId, range);
  }

  /** The uploader deletes its blob (see BlobUploads.delete); its bytes go at once unless an append still runs. */
  delete(me: AuthDevice, blobId: string): Promise<void> {
    return this.uploads.delete(me, blobId, (ids) => this.retention.purge(ids));
  }

  /** One retention run, as of `asOf` (default: the database's clock; tests pass a later time). */
  sweep(asOf?: Date): Promise<BlobSweepCounts> {
    return this.retention.sweep(asOf);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
