/**
 * When blobs go (run by the node's retention sweep, once per interval across the cluster):
 * - an upload not completed by its `expiresAt` (`blobs.uploadTtlSeconds`, default 24 h);
 * - a complete blob once `blobs.retentionSeconds` (default 7 days) passed since completion and
 *   every recipient device fetched it — or no message ever shared it;
 * - any blob `blobs.maxAgeSeconds` (default 30 days) after its creation, fetched or not.
 * A blob ends in two steps: its row is marked deleted and its business's usage freed (one
 * transaction), then its bytes leave the store and the row goes. A node that dies between the
 * two leaves marked rows, which the next run purges.
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import { markEndedBlobs, purgeableBlobs, removeDeletedBlobs } from '../repos/blobs.js';
import type { BlobStore } from './blob-store.js';

/** Rows per batch; a run does at most {@link MAX_BATCHES} of each step. */
const BATCH = 500;
const MAX_BATCHES = 20;

export interface BlobSweepCounts {
  /** Blobs whose time ended in this run. */
  readonly ended: number;
  /** Blobs whose bytes left the store in this run. */
  readonly purged: number;
}

/**
 * @example
 * const retention = new BlobRetention(db, store, config, log);
 * const { ended, purged } = await retention.sweep();
 */
export class BlobRetention {
  constructor(
    private readonly db: Database,
    private readonly store: BlobStore,
    private readonly config: ServerConfig,
    private readonly log: Logger,
  ) {}

  /** One run: marks the blobs whose time ended as of `asOf` (default: the database's clock), then purges. */
  async sweep(asOf?: Date): Promise<BlobSweepCounts> {
    const rules = { asOf, retentionSeconds: this.config.blobs.retentionSeconds, maxAgeSeconds: this.config.blobs.maxAgeSeconds };
    let ended = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const n = await markEndedBlobs(this.db, rules, BATCH);
      ended += n;
      if (n < BATCH) break;
    }
    const purged = await this.purge();
    return { ended, purged };
  }

  /** Removes the bytes and rows of deleted blobs (only `ids`, when given) no request is appending to. */
  async purge(ids?: readonly string[]): Promise<number> {
    let purged = 0;
    for (let batch = 0; batch < MAX_BATCHES; batch++) {
      const due = await purgeableBlobs(this.db, BATCH, ids);
      for (const id of due) await this.store.delete(id);
      await removeDeletedBlobs(this.db, due);
      for (const id of due) this.log.debug({ blob: id }, 'blob purged');
      purged += due.length;
      if (due.length < BATCH || ids !== undefined) break;
    }
    return purged;
  }
}
