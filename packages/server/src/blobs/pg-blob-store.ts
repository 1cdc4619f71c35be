/**
 * The database blob store (the PostgreSQL default; works on PGlite too): a blob's bytes in
 * `blob_chunks` rows of {@link CHUNK_BYTES}, row `seq` holding bytes [seq × C, (seq + 1) × C).
 * An append first drops the rows (and the tail of the row) past its offset, then fills the
 * partial last row (`data || piece`) and inserts full rows, one committed statement each: at
 * most one row of the blob is in memory. A read fetches only the rows its range covers, a few
 * at a time. SQL written once for both engines.
 */
import { Readable } from 'node:stream';
import type { Sql } from '../storage/database.js';
import { BlobAppendError, checkBlobId, checkOffset, checkRange, type BlobStore } from './blob-store.js';

/** Bytes per row. */
export const CHUNK_BYTES = 256 * 1024;
/** Rows per read query (1 MiB). */
const ROWS_PER_READ = 4;

/**
 * @example
 * const store = new PgBlobStore(db);
 * const written = await store.append(blobId, 0, request);
 */
export class PgBlobStore implements BlobStore {
  readonly kind = 'database' as const;

  constructor(
    private readonly db: Sql,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  async append(blobId: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number> {
    checkBlobId(blobId);
    checkOffset(offset);
    await this.truncate(blobId, offset);
    let position = offset;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** Bytes that fill the row `position` is in. */
    const room = () => this.chunkBytes - (position % this.chunkBytes);
    const flush = async () => {
      if (pendingBytes === 0) return;
      const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await this.writeAt(blobId, position, data);
      position += data.length;
    };
    let failure: { error: unknown } | undefined;
    try {
      for await (const chunk of source) {
        let view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        while (view.length > 0) {
          const take = Math.min(view.length, room() - pendingBytes);
          pending.push(view.subarray(0, take));
          pendingBytes += take;
          view = view.subarray(take);
          if (pendingBytes === room()) await flush();
        }
      }
    } catch (error) {
      failure = { error };
    }
    try {
      // What arrived before a failure is kept too (a failed write left `position` where it was).
      await flush();
    } catch (error) {
      failure ??= { error };
    }
    if (failure) throw new BlobAppendError(position - offset, failure.error);
    return position - offset;
  }

  /** Drops the bytes past `offset`; throws when the store holds fewer than `offset`. */
  private async truncate(blobId: string, offset: number): Promise<void> {
    const c = this.chunkBytes;
    await this.db.query('DELETE FROM blob_chunks WHERE blob_id = $1 AND seq >= $2', [blobId, Math.ceil(offset / c)]);
    if (offset === 0) return;
    const seq = Math.floor((offset - 1) / c);
    const keep = offset - seq * c;
    const rows = await this.db.query<{ n: number }>(
      `UPDATE blob_chunks SET data = CASE WHEN octet_length(data) > $3 THEN substring(data FROM 1 FOR $3) ELSE data END
       WHERE blob_id = $1 AND seq = $2 AND octet_length(data) >= $3 RETURNING octet_length(data) AS n`,
      [blobId, seq, keep],
    );
    if (rows.length === 0) throw new Error(`blob ${blobId}: the store holds fewer bytes than the recorded offset ${offset}`);
  }

  /** Writes `data` (within one row) at `position`: a new row, or the tail of the partial last one. */
  private async writeAt(blobId: string, position: number, data: Buffer): Promise<void> {
    const seq = Math.floor(position / this.chunkBytes);
    const within = position % this.chunkBytes;
    if (within === 0) {
      await this.db.query(
        'INSERT INTO blob_chunks (blob_id, seq, data) VALUES ($1, $2, $3) ON CONFLICT (blob_id, seq) DO UPDATE SET data = EXCLUDED.data',
        [blobId, seq, data],
      );
      return;
    }
    const rows = await this.db.query('UPDATE blob_chunks SET data = data || $3 WHERE blob_id = $1 AND seq = $2 AND octet_length(data) = $4 RETURNING seq', [
      blobId,
      seq,
      data,
      within,
    ]);
    if (rows.length === 0) throw new Error(`blob ${blobId}: row ${seq} does not end at ${position}`);
  }

  read(blobId: string, start: number, endInclusive: number): Readable {
    checkBlobId(blobId);
    checkRange(start, endInclusive);
    const { db, chunkBytes: c } = this;
    async function* pieces(): AsyncGenerator<Buffer> {
      let position = start;
      while (position <= endInclusive) {
        const first = Math.floor(position / c);
        const last = Math.min(Math.floor(endInclusive / c), first + ROWS_PER_READ - 1);
        const rows = await db.query<{ seq: number; data: Uint8Array }>(
          'SELECT seq, data FROM blob_chunks WHERE blob_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq',
          [blobId, first, last],
        );
        for (let seq = first; seq <= last; seq++) {
          const row = rows[seq - first];
          if (!row || Number(row.seq) !== seq) throw new Error(`blob ${blobId}: row ${seq} is missing`);
          const from = position - seq * c;
          const to = Math.min(endInclusive - seq * c + 1, c);
          if (row.data.length < to) throw new Error(`blob ${blobId}: row ${seq} ends before ${seq * c + to}`);
          position += to - from;
          yield Buffer.from(row.data.buffer, row.data.byteOffset + from, to - from);
        }
      }
    }
    return Readable.from(pieces(), { objectMode: false, highWaterMark: c });
  }

  async delete(blobId: string): Promise<void> {
    await this.db.query('DELETE FROM blob_chunks WHERE blob_id = $1', [checkBlobId(blobId)]);
  }

  async length(blobId: string): Promise<number> {
    const rows = await this.db.query<{ seq: number; n: number }>(
      'SELECT seq, octet_length(data) AS n FROM blob_chunks WHERE blob_id = $1 ORDER BY seq DESC LIMIT 1',
      [checkBlobId(blobId)],
    );
    const row = rows[0];
    return row ? Number(row.seq) * this.chunkBytes + Number(row.n) : 0;
  }

  async close(): Promise<void> {}
}
