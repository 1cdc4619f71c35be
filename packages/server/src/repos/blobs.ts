/**
 * Blob metadata (`blobs`), the per-business usage that bounds it (`blob_usage`) and who may
 * fetch a blob besides its uploader (`blob_grants`). Migration 017. The bytes themselves are
 * the BlobStore's (blobs/blob-store.ts); this file never sees them.
 */
import type { Sql } from '../storage/database.js';

export type BlobState = 'uploading' | 'complete' | 'deleted';

/** A blob's metadata, as the routes use it. */
export interface BlobMeta {
  readonly id: string;
  readonly identityId: string;
  readonly businessId: string;
  readonly size: number;
  /** Bytes durably stored (the upload offset). */
  readonly stored: number;
  readonly state: BlobState;
  readonly sha256: Uint8Array | undefined;
  readonly expiresAt: Date;
  /** Another request holds the append lease now. */
  readonly busy: boolean;
}

interface BlobRow {
  id: string;
  identity_id: string;
  business_id: string;
  size: string | number;
  stored: string | number;
  state: BlobState;
  sha256: Uint8Array | null;
  expires_at: Date;
  busy: boolean;
}

const COLUMNS = `id, identity_id, business_id, size, stored, state, sha256, expires_at,
  (writer IS NOT NULL AND writer_until >= clock_timestamp()) AS busy`;

function toMeta(row: BlobRow): BlobMeta {
  return {
    id: row.id,
    identityId: row.identity_id,
    businessId: row.business_id,
    size: Number(row.size),
    stored: Number(row.stored),
    state: row.state,
    sha256: row.sha256 === null ? undefined : new Uint8Array(row.sha256),
    expiresAt: new Date(row.expires_at),
    busy: row.busy === true,
  };
}

/**
 * The usage row of an identity: `blob_usage` is keyed by business id, and an identity's key
 * (`identity:<businessId>:<subject>`) can never be one (business ids hold no `:`).
 */
const identityKey = (identityId: string) => `identity:${identityId}`;

/** Reserves `size` bytes on a usage row unless it would pass `quota`; false when it would. */
async function reserve(tx: Sql, key: string, size: number, quota: number): Promise<boolean> {
  // One statement: the usage row is locked by the update, so concurrent creations add up.
  const reserved = await tx.query(
    `INSERT INTO blob_usage (business_id, bytes) VALUES ($1, $2::bigint)
     ON CONFLICT (business_id) DO UPDATE SET bytes = blob_usage.bytes + EXCLUDED.bytes
     WHERE blob_usage.bytes + EXCLUDED.bytes <= $3::bigint
     RETURNING bytes`,
    [key, String(size), String(quota)],
  );
  return reserved.length > 0;
}

/**
 * Creates a blob and reserves its size in its business's usage and, for a customer, in its
 * identity's, in one transaction; which quota it would pass (nothing is written then), else the
 * blob. The business's own identities (its sender, agents, bots) answer to the business quota
 * alone: a bank's sending service may hold many customers' statements at once.
 */
export async function createBlob(
  sql: Sql,
  blob: { id: string; identityId: string; businessId: string; size: number; ttlSeconds: number; quotaBytes: number; identityQuotaBytes: number; customer: boolean },
): Promise<BlobMeta | 'identity' | 'business'> {
  if (blob.size > blob.quotaBytes) return 'business';
  const created = await sql
    .transaction(async (tx) => {
      // A customer first: one customer cannot use up the storage of the business's other customers.
      if (blob.customer && !(await reserve(tx, identityKey(blob.identityId), blob.size, blob.identityQuotaBytes))) return 'identity';
      // The business's quota is full: undo the identity's reservation too (the transaction rolls back).
      if (!(await reserve(tx, blob.businessId, blob.size, blob.quotaBytes))) throw new BusinessQuotaFull();
    const rows = await tx.query<BlobRow>(
      `INSERT INTO blobs (id, identity_id, business_id, size, expires_at)
       VALUES ($1, $2, $3, $4::bigint, now() + make_interval(secs => $5::float8))
       RETURNING ${COLUMNS}`,
        [blob.id, blob.identityId, blob.businessId, String(blob.size), String(blob.ttlSeconds)],
      );
      return toMeta(rows[0]!);
    })
    .catch((error: unknown) => {
      if (error instanceof BusinessQuotaFull) return 'business' as const;
      throw error;
    });
  return created;
}

class BusinessQuotaFull extends Error {}

/** A blob of `identityId` (its uploader), not deleted. */
export async function ownBlob(sql: Sql, id: string, identityId: string): Promise<BlobMeta | undefined> {
  const rows = await sql.query<BlobRow>(`SELECT ${COLUMNS} FROM blobs WHERE id = $1 AND identity_id = $2 AND state <> 'deleted'`, [id, identityId]);
  return rows[0] ? toMeta(rows[0]) : undefined;
}

/** A blob the device may read: its identity uploaded it, or a message granted it to the device (`granted`: a grant row of the device exists). */
export async function readableBlob(sql: Sql, id: string, identityId: string, deviceId: string): Promise<(BlobMeta & { granted: boolean }) | undefined> {
  const rows = await sql.query<BlobRow & { granted: boolean }>(
    `SELECT ${COLUMNS}, EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob_id = b.id AND g.device_id = $2) AS granted
     FROM blobs b WHERE b.id = $1 AND b.state <> 'deleted'`,
    [id, deviceId],
  );
  const row = rows[0];
  if (!row || (row.identity_id !== identityId && !row.granted)) return undefined;
  return { ...toMeta(row), granted: row.granted === true };
}

/**
 * Takes the append lease of an uploading blob of `identityId` whose offset is `offset`, for
 * `leaseMs`, unless another request holds it; `undefined` when any of that does not hold.
 */
export async function takeAppendLease(sql: Sql, id: string, identityId: string, offset: number, lease: string, leaseMs: number): Promise<BlobMeta | undefined> {
  const rows = await sql.query<BlobRow>(
    `UPDATE blobs SET writer = $4, writer_until = clock_timestamp() + make_interval(secs => $5::float8)
     WHERE id = $1 AND identity_id = $2 AND state = 'uploading' AND stored = $3::bigint
       AND (writer IS NULL OR writer_until < clock_timestamp())
     RETURNING ${COLUMNS}`,
    [id, identityId, String(offset), lease, String(leaseMs / 1000)],
  );
  return rows[0] ? toMeta(rows[0]) : undefined;
}

/** Records the new offset under the lease (kept); false when the lease or the blob is gone. */
export async function recordAppend(sql: Sql, id: string, lease: string, stored: number): Promise<boolean> {
  const rows = await sql.query(
    `UPDATE blobs SET stored = $3::bigint WHERE id = $1 AND writer = $2 AND state = 'uploading' AND stored <= $3::bigint RETURNING id`,
    [id, lease, String(stored)],
  );
  return rows.length > 0;
}

/** Marks the blob complete with its hash and gives the lease up; false when the lease or the blob is gone. */
export async function completeBlob(sql: Sql, id: string, lease: string, sha256: Uint8Array): Promise<boolean> {
  const rows = await sql.query(
    `UPDATE blobs SET state = 'complete', sha256 = $3, completed_at = now(), writer = NULL, writer_until = NULL
     WHERE id = $1 AND writer = $2 AND state = 'uploading' AND stored = size RETURNING id`,
    [id, lease, sha256],
  );
  return rows.length > 0;
}

/** Gives the append lease up (whatever the blob's state now). */
export async function releaseAppendLease(sql: Sql, id: string, lease: string): Promise<void> {
  await sql.query('UPDATE blobs SET writer = NULL, writer_until = NULL WHERE id = $1 AND writer = $2', [id, lease]);
}

/** The device's grant of the blob is fetched (a GET reached the last byte). */
export async function markFetched(sql: Sql, id: string, deviceId: string): Promise<void> {
  await sql.query('UPDATE blob_grants SET fetched_at = now() WHERE blob_id = $1 AND device_id = $2 AND fetched_at IS NULL', [id, deviceId]);
}

/** Frees the usage of deleted blobs, by business and by identity. */
async function freeUsage(tx: Sql, freed: readonly { business_id: string; identity_id: string; size: string | number }[]): Promise<void> {
  const byBusiness = new Map<string, bigint>();
  for (const f of freed) {
    for (const key of [f.business_id, identityKey(f.identity_id)]) byBusiness.set(key, (byBusiness.get(key) ?? 0n) + BigInt(f.size));
  }
  if (byBusiness.size === 0) return;
  await tx.query(
    `UPDATE blob_usage u SET bytes = GREATEST(0, u.bytes - d.bytes)
     FROM unnest($1::text[], $2::bigint[]) AS d(business_id, bytes) WHERE u.business_id = d.business_id`,
    [[...byBusiness.keys()], [...byBusiness.values()].map(String)],
  );
}

/**
 * The uploader deletes its blob: allowed while it is incomplete or granted to no one. Marks it
 * deleted and frees its usage in one transaction; the caller then removes its bytes.
 */
export async function deleteOwnBlob(sql: Sql, id: string, identityId: string): Promise<'deleted' | 'shared' | undefined> {
  return sql.transaction(async (tx) => {
    const rows = await tx.query<{ business_id: string; identity_id: string; size: string; state: BlobState }>(
      `SELECT business_id, identity_id, size, state FROM blobs WHERE id = $1 AND identity_id = $2 AND state <> 'deleted' FOR UPDATE`,
      [id, identityId],
    );
    const row = rows[0];
    if (!row) return undefined;
    // The relay writes grants under FOR SHARE of the blob row: after this lock, none is in flight.
    if (row.state === 'complete' && (await tx.query('SELECT 1 FROM blob_grants WHERE blob_id = $1 LIMIT 1', [id])).length > 0) return 'shared';
    await tx.query(`UPDATE blobs SET state = 'deleted' WHERE id = $1`, [id]);
    await freeUsage(tx, [row]);
    return 'deleted';
  });
}

/** When blobs end (the sweep's rules), as of `asOf` (the database's clock when null). */
export interface BlobRetention {
  readonly asOf: Date | undefined;
  readonly retentionSeconds: number;
  readonly maxAgeSeconds: number;
}

/** The rules, over `blobs` (aliased `b`); $1 as of, $2 retention, $3 hard maximum age. */
const ENDED = `(
  (b.state = 'uploading' AND b.expires_at <= COALESCE($1::timestamptz, now()))
  OR b.created_at <= COALESCE($1::timestamptz, now()) - make_interval(secs => $3::float8)
  OR (b.state = 'complete' AND b.completed_at <= COALESCE($1::timestamptz, now()) - make_interval(secs => $2::float8)
      AND NOT EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob_id = b.id AND g.fetched_at IS NULL))
)`;

/**
 * Marks up to `limit` blobs whose time ended deleted, freeing their usage (one transaction;
 * rows another transaction holds are left to the next run). Returns how many.
 */
export async function markEndedBlobs(sql: Sql, rules: BlobRetention, limit: number): Promise<number> {
  const params = [rules.asOf ?? null, String(rules.retentionSeconds), String(rules.maxAgeSeconds)];
  return sql.transaction(async (tx) => {
    // Candidates by each rule's index, then locked and checked again by a fresh statement:
    // a grant committed meanwhile (the relay holds FOR SHARE while it writes one) is seen.
    const candidates = await tx.query<{ id: string }>(
      `SELECT id FROM blobs WHERE state = 'uploading' AND expires_at <= COALESCE($1::timestamptz, now())
       UNION SELECT id FROM blobs WHERE state <> 'deleted' AND created_at <= COALESCE($1::timestamptz, now()) - make_interval(secs => $3::float8)
       UNION SELECT id FROM blobs b WHERE state = 'complete' AND completed_at <= COALESCE($1::timestamptz, now()) - make_interval(secs => $2::float8)
         AND NOT EXISTS (SELECT 1 FROM blob_grants g WHERE g.blob_id = b.id AND g.fetched_at IS NULL)
       LIMIT $4`,
      [...params, limit],
    );
    if (candidates.length === 0) return 0;
    const locked = await tx.query<{ id: string }>(`SELECT id FROM blobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE SKIP LOCKED`, [candidates.map((c) => c.id)]);
    if (locked.length === 0) return 0;
    const ended = await tx.query<{ business_id: string; identity_id: string; size: string }>(
      `UPDATE blobs b SET state = 'deleted' WHERE b.id = ANY($4::text[]) AND b.state <> 'deleted' AND ${ENDED} RETURNING b.business_id, b.identity_id, b.size`,
      [...params, locked.map((l) => l.id)],
    );
    await freeUsage(tx, ended);
    return ended.length;
  });
}

/** Up to `limit` deleted blobs (of `ids`, when given) whose bytes may go now: no append lease still running. */
export async function purgeableBlobs(sql: Sql, limit: number, ids?: readonly string[]): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT id FROM blobs WHERE state = 'deleted' AND (writer IS NULL OR writer_until < clock_timestamp())
       AND ($2::text[] IS NULL OR id = ANY($2::text[]))
     LIMIT $1`,
    [limit, ids ?? null],
  );
  return rows.map((r) => r.id);
}

/** Removes the rows of deleted blobs whose bytes are gone (their grants go with them). */
export async function removeDeletedBlobs(sql: Sql, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql.query(`DELETE FROM blobs WHERE id = ANY($1::text[]) AND state = 'deleted'`, [ids]);
}

/** The bytes reserved by a business's blobs (tests, operators). */
export async function businessUsage(sql: Sql, businessId: string): Promise<number> {
  const rows = await sql.query<{ bytes: string }>('SELECT bytes FROM blob_usage WHERE business_id = $1', [businessId]);
  return Number(rows[0]?.bytes ?? 0);
}

// --- grants (written by the relay, in the transaction that stores the message) ------------

/** The named blobs, locked FOR SHARE until the transaction ends (a DELETE or the sweep waits). */
export async function lockBlobsForGrant(sql: Sql, ids: readonly string[]): Promise<Map<string, { identityId: string; state: BlobState }>> {
  const out = new Map<string, { identityId: string; state: BlobState }>();
  if (ids.length === 0) return out;
  const rows = await sql.query<{ id: string; identity_id: string; state: BlobState }>(
    `SELECT id, identity_id, state FROM blobs WHERE id = ANY($1::text[]) AND state <> 'deleted' ORDER BY id FOR SHARE`,
    [ids],
  );
  for (const r of rows) out.set(r.id, { identityId: r.identity_id, state: r.state });
  return out;
}

/** Grants each blob to each device (a grant that exists stays as it is). */
export async function insertGrants(sql: Sql, grants: readonly { blobId: string; deviceId: string; envelopeId: string }[]): Promise<void> {
  if (grants.length === 0) return;
  await sql.query(
    `INSERT INTO blob_grants (blob_id, device_id, envelope_id)
     SELECT b, d, e FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(b, d, e)
     ON CONFLICT (blob_id, device_id) DO NOTHING`,
    [grants.map((g) => g.blobId), grants.map((g) => g.deviceId), grants.map((g) => g.envelopeId)],
  );
}

/** The SHA-256 of each named complete blob (web messages check their commitment against them). */
export async function completeBlobHashes(sql: Sql, ids: readonly string[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  if (ids.length === 0) return out;
  const rows = await sql.query<{ id: string; sha256: Uint8Array }>(`SELECT id, sha256 FROM blobs WHERE id = ANY($1::text[]) AND state = 'complete'`, [ids]);
  for (const r of rows) out.set(r.id, new Uint8Array(r.sha256));
  return out;
}
