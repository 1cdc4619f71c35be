/**
 * The filesystem blob store (the embedded default): one file per blob (named by its id) in a
 * private directory, `<dataDir>/blobs` (0700; files 0600). An append truncates the file back to
 * the offset it starts from (dropping what an interrupted append left past the recorded
 * offset), writes at that position and fsyncs before it resolves; a new file's directory entry
 * is fsync'd too. Reads go through a file handle in pieces, so only one piece is in memory.
 */
import { constants } from 'node:fs';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ensurePrivateDir } from '../storage/private-dir.js';
import { BlobAppendError, checkBlobId, checkOffset, checkRange, type BlobStore } from './blob-store.js';

/** Bytes per read from a blob file. */
const READ_PIECE_BYTES = 256 * 1024;

/** Makes a directory entry durable (a new file survives a crash once its directory is synced). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `bytes` at `position` (a write may be partial), reporting each write's count (so a failure midway still counts what was written). */
async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number, onWritten: (n: number) => void): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
    onWritten(bytesWritten);
  }
}

/**
 * @example
 * const store = await FsBlobStore.open(join(dataDir, 'blobs'));
 * const written = await store.append(blobId, 0, request);
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;

  private constructor(readonly dir: string) {}

  /** Opens (creating it 0700) the directory; one that others can read is refused. */
  static async open(dir: string): Promise<FsBlobStore> {
    await ensurePrivateDir(dir, 'blob directory');
    return new FsBlobStore(dir);
  }

  private path(blobId: string): string {
    return join(this.dir, checkBlobId(blobId));
  }

  async append(blobId: string, offset: number, source: AsyncIterable<Uint8Array>): Promise<number> {
    checkOffset(offset);
    const path = this.path(blobId);
    // Only an append from 0 creates the file (one past bytes that are not there is refused).
    const handle = await open(path, offset === 0 ? constants.O_WRONLY | constants.O_CREAT : constants.O_WRONLY, 0o600);
    let written = 0;
    let failure: { error: unknown } | undefined;
    try {
      const { size } = await handle.stat();
      if (size < offset) throw new Error(`blob ${blobId}: the file holds ${size} bytes, fewer than the recorded offset ${offset}`);
      if (size > offset) await handle.truncate(offset);
      try {
        for await (const chunk of source) await writeAll(handle, chunk, offset + written, (n) => (written += n));
      } catch (error) {
        // The source (or a write) failed: what was written is kept and made durable below.
        failure = { error };
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (offset === 0) await syncDirectory(this.dir);
    if (failure) throw new BlobAppendError(written, failure.error);
    return written;
  }

  read(blobId: string, start: number, endInclusive: number): Readable {
    checkRange(start, endInclusive);
    const path = this.path(blobId);
    async function* pieces(): AsyncGenerator<Buffer> {
      const handle = await open(path, constants.O_RDONLY);
      try {
        for (let position = start; position <= endInclusive; ) {
          const piece = Buffer.allocUnsafe(Math.min(READ_PIECE_BYTES, endInclusive - position + 1));
          const { bytesRead } = await handle.read(piece, 0, piece.length, position);
          if (bytesRead === 0) throw new Error(`blob ${blobId}: the file ends at ${position}, before ${endInclusive + 1}`);
          position += bytesRead;
          yield bytesRead === piece.length ? piece : piece.subarray(0, bytesRead);
        }
      } finally {
        await handle.close();
      }
    }
    return Readable.from(pieces(), { objectMode: false, highWaterMark: READ_PIECE_BYTES });
  }

  async delete(blobId: string): Promise<void> {
    await rm(this.path(blobId), { force: true });
  }

  async length(blobId: string): Promise<number> {
    try {
      return (await stat(this.path(blobId))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
  }

  async close(): Promise<void> {}
}
