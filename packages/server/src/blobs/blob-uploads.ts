/**
 * Resumable, bounded uploads (tus-like): a blob is created with its declared size (reserving
 * it in the business's quota), then appended in pieces at the offset the server holds. One
 * request appends at a time (an append lease in the blob's row, across nodes); the offset
 * recorded is always the bytes the store made durable, also when a request's body is cut
 * mid-way, so the client resumes from `HEAD`. The request that completes the blob hashes the
 * stored bytes once (streamed: no hash state is persisted between requests) and records the
 * SHA-256 the recipients check.
 *
 * Only the uploading identity's devices see an upload: another identity's blob is `no_blob`.
 */
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Readable } from 'node:stream';
import { BLOB_PATCH_MAX_BYTES, ConflictError, InvalidInputError, NotFoundError, ParleyError, RateLimitedError, toBase64Url } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import { takeToken } from '../repos/rate-limits.js';
import {
  completeBlob,
  createBlob,
  deleteOwnBlob,
  ownBlob,
  recordAppend,
  releaseAppendLease,
  takeAppendLease,
  type BlobMeta,
} from '../repos/blobs.js';
import { BlobAppendError, type BlobStore } from './blob-store.js';

/** What an append answers: the new offset, and the hash once the blob is complete. */
export interface AppendOutcome {
  readonly offset: number;
  readonly sha256?: Uint8Array;
}

/** An upload piece: the request's body (or none), and its declared length when it has one. */
export interface UploadPiece {
  readonly body: AsyncIterable<Uint8Array> | undefined;
  readonly contentLength: number | undefined;
}

/** How long a busy blob's client is told to wait before it asks again. */
const BUSY_RETRY_MS = 1_000;
/** An append stops this long before its lease ends (so no other request can have taken it). */
const LEASE_MARGIN_MS = 10_000;

function noBlob(): NotFoundError {
  return new NotFoundError('no_blob', 'no such blob');
}

function tooLarge(size: number): ParleyError {
  return new ParleyError('blob_too_large', `the blob is larger than ${size} bytes`, { status: 413, details: { maxBytes: size } });
}

function offsetMismatch(blob: BlobMeta): ConflictError {
  return blob.busy
    ? new ConflictError('blob_offset_mismatch', 'another request is appending to this blob; retry later', {
        details: { offset: blob.stored, busy: true, retryAfterMs: BUSY_RETRY_MS },
      })
    : new ConflictError('blob_offset_mismatch', 'the upload offset is not the blob’s (resume from details.offset)', { details: { offset: blob.stored } });
}

function alreadyComplete(blob: BlobMeta): ConflictError {
  return new ConflictError('blob_complete', 'the blob is complete', {
    details: { offset: blob.size, ...(blob.sha256 ? { sha256: toBase64Url(blob.sha256) } : {}) },
  });
}

/**
 * Passes `source` on up to `max` bytes; past that it yields the bytes up to the limit and
 * then fails with `error()`, without destroying the request stream (the answer still goes
 * out). A source that fails (the client went away mid-body) fails as `invalid_request`; one
 * still running at `deadline` (the end of its append lease, less a margin) stops with 408.
 */
async function* bounded(source: AsyncIterable<Uint8Array>, max: number, deadline: number, error: () => Error): AsyncGenerator<Uint8Array> {
  const iterable: AsyncIterable<Uint8Array> = source instanceof Readable ? source.iterator({ destroyOnReturn: false }) : source;
  let seen = 0;
  let over = false;
  let late = false;
  try {
    for await (const chunk of iterable) {
      if (Date.now() > deadline) {
        late = true;
        break;
      }
      const room = max - seen;
      if (chunk.length > room) {
        if (room > 0) yield chunk.subarray(0, room);
        over = true;
        break;
      }
      seen += chunk.length;
      yield chunk;
    }
  } catch (cause) {
    throw new InvalidInputError('the request body was cut off', { code: 'invalid_request', cause });
  }
  if (late) throw new ParleyError('request_timeout', 'the upload piece took too long; resume from the offset HEAD gives', { status: 408 });
  if (over) throw error();
}

/**
 * @example
 * const uploads = new BlobUploads(db, store, config, log);
 * const blob = await uploads.create(me, 1_000_000);
 * const { offset } = await uploads.append(me, blob.id, 0, { body: request.body, contentLength });
 */
export class BlobUploads {
  /** An append lease outlives any request (the HTTP request timeout ends a stalled one first; an append stops before its lease ends). */
  private readonly leaseMs: number;

  constructor(
    private readonly db: Database,
    private readonly store: BlobStore,
    private readonly config: ServerConfig,
    private readonly log: Logger,
  ) {
    this.leaseMs = config.http.requestTimeoutMs > 0 ? 2 * config.http.requestTimeoutMs + 60_000 : 15 * 60_000;
  }

  /** Creates a blob of `size` bytes for the device's identity (413 beyond the limits, 429 beyond the rate). */
  async create(me: AuthDevice, size: number): Promise<BlobMeta> {
    const { blobs } = this.config;
    if (size > blobs.maxBlobBytes) throw tooLarge(blobs.maxBlobBytes);
    // A customer creates at its own rate; the business's own identities (a sender with statements
    // for many customers) share the business's larger one.
    const [identity] = await this.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [me.identityId]);
    const customer = identity?.kind === 'customer';
    const [key, perMinute] = customer ? [`blob-create:${me.identityId}`, blobs.createsPerMinute] : [`blob-create-business:${me.businessId}`, blobs.businessCreatesPerMinute];
    const take = await takeToken(this.db, key, perMinute, perMinute / 60);
    if (!take.allowed) throw new RateLimitedError('too many blobs created by this identity; retry later', take.retryAfterMs);
    const blob = await createBlob(this.db, {
      id: toBase64Url(nodeRandomBytes(16)),
      identityId: me.identityId,
      businessId: me.businessId,
      size,
      ttlSeconds: blobs.uploadTtlSeconds,
      quotaBytes: blobs.businessQuotaBytes,
      identityQuotaBytes: blobs.identityQuotaBytes,
      customer,
    });
    if (blob === 'identity') throw new ParleyError('blob_quota_exceeded', "this identity's blob storage quota is used up", { status: 413, details: { quota: 'identity' } });
    if (blob === 'business') throw new ParleyError('blob_quota_exceeded', "the business's blob storage quota is used up", { status: 413, details: { quota: 'business' } });
    this.log.info({ blob: blob.id, identity: me.identityId, size }, 'blob created');
    return blob;
  }

  /** The blob's upload state, for its uploader (`HEAD`). */
  async status(me: AuthDevice, blobId: string): Promise<BlobMeta> {
    const blob = await ownBlob(this.db, blobId, me.identityId);
    if (!blob) throw noBlob();
    return blob;
  }

  /**
   * Appends one piece at `offset`. A resend of a piece whose answer was lost finds the offset
   * moved on (409 `blob_offset_mismatch` with the server's offset) or the blob complete (409
   * `blob_complete`): nothing is written twice.
   */
  async append(me: AuthDevice, blobId: string, offset: number, piece: UploadPiece): Promise<AppendOutcome> {
    const blob = await this.status(me, blobId);
    if (blob.state === 'complete') throw alreadyComplete(blob);
    if (offset !== blob.stored || blob.busy) throw offsetMismatch(blob);
    const room = blob.size - offset;
    if (piece.contentLength !== undefined && piece.contentLength > BLOB_PATCH_MAX_BYTES) {
      throw new ParleyError('payload_too_large', `one request carries at most ${BLOB_PATCH_MAX_BYTES} bytes`, { status: 413 });
    }
    if (piece.contentLength !== undefined && piece.contentLength > room) throw tooLarge(blob.size);
    const lease = nodeRandomBytes(12).toString('base64url');
    const deadline = Date.now() + this.leaseMs - LEASE_MARGIN_MS;
    if (!(await takeAppendLease(this.db, blobId, me.identityId, offset, lease, this.leaseMs))) throw await this.conflict(me, blobId);
    let leased = true;
    try {
      const written = await this.write(blobId, offset, piece, room, deadline);
      const stored = offset + written.bytes;
      if (written.bytes > 0 && !(await recordAppend(this.db, blobId, lease, stored))) throw await this.conflict(me, blobId);
      if (written.bytes > 0) this.log.info({ blob: blobId, identity: me.identityId, offset, bytes: written.bytes }, 'blob appended');
      if (written.failure !== undefined) throw written.failure;
      if (stored < blob.size) return { offset: stored };
      const sha256 = await this.hash(blobId, blob.size);
      if (!(await completeBlob(this.db, blobId, lease, sha256))) throw await this.conflict(me, blobId);
      leased = false;
      this.log.info({ blob: blobId, identity: me.identityId, size: blob.size }, 'blob complete');
      return { offset: stored, sha256 };
    } finally {
      if (leased) await releaseAppendLease(this.db, blobId, lease);
    }
  }

  /** Why an append cannot go on: the blob changed (completed, moved on, taken) or went since it was read. */
  private async conflict(me: AuthDevice, blobId: string): Promise<ParleyError> {
    const now = await ownBlob(this.db, blobId, me.identityId);
    if (!now) return noBlob();
    return now.state === 'complete' ? alreadyComplete(now) : offsetMismatch(now);
  }

  /**
   * Streams the piece into the store, bounded. A body cut mid-way counts the bytes made
   * durable (the client resumes after them); a body over a limit counts none (413: the
   * request is refused whole, and the next append drops what it left in the store).
   */
  private async write(blobId: string, offset: number, piece: UploadPiece, room: number, deadline: number): Promise<{ bytes: number; failure?: unknown }> {
    if (piece.body === undefined) return { bytes: 0 };
    const limit = Math.min(room, BLOB_PATCH_MAX_BYTES);
    const over = () =>
      limit === room ? tooLarge(room + offset) : new ParleyError('payload_too_large', `one request carries at most ${BLOB_PATCH_MAX_BYTES} bytes`, { status: 413 });
    try {
      return { bytes: await this.store.append(blobId, offset, bounded(piece.body, limit, deadline, over)) };
    } catch (error) {
      if (!(error instanceof BlobAppendError)) throw error;
      if (error.cause instanceof ParleyError && error.cause.status === 413) return { bytes: 0, failure: error.cause };
      // A cut body: no one is left to answer (a store failure is the server's: 500).
      return { bytes: error.written, failure: error.cause instanceof ParleyError ? error.cause : error };
    }
  }

  /** SHA-256 of the stored bytes, read once. */
  private async hash(blobId: string, size: number): Promise<Uint8Array> {
    const hash = createHash('sha256');
    for await (const chunk of this.store.read(blobId, 0, size - 1)) hash.update(chunk as Buffer);
    return new Uint8Array(hash.digest());
  }

  /** The uploader deletes its blob: while incomplete or shared with no one (409 `blob_shared` otherwise). */
  async delete(me: AuthDevice, blobId: string, purge: (ids: readonly string[]) => Promise<unknown>): Promise<void> {
    const outcome = await deleteOwnBlob(this.db, blobId, me.identityId);
    if (outcome === undefined) throw noBlob();
    if (outcome === 'shared') throw new ConflictError('blob_shared', 'the blob was shared in a message; it is deleted when its recipients fetched it and its retention ended');
    this.log.info({ blob: blobId, identity: me.identityId }, 'blob deleted');
    await purge([blobId]);
  }
}
