/**
 * Encrypted backups stored for their identity (docs/backup-format.md): opaque ciphertext the
 * device made, the last few versions, each fetch gated by the backup's access key (derived on
 * the device from the recovery secret; only its SHA-256 is stored) with an attempt limit. Any
 * device of the identity may store or fetch — including a new one enrolled after the phone was
 * lost — and no one else: a backup belongs to the identity of the session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { fromBase64, InvalidInputError, NotFoundError, ParleyError, RateLimitedError } from '@parley/core';
import { refundToken, takeToken } from '../../repos/rate-limits.js';
import type { Sql } from '../../storage/database.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';

/** Versions kept per identity (older ones are deleted when a new one is stored). */
export const BACKUP_VERSIONS_KEPT = 3;
/** Largest backup accepted (bytes of ciphertext). */
export const BACKUP_MAX_BYTES = 32 * 1024 * 1024;
/** Fetch attempts per identity: a burst of as many, refilled over an hour (a fetch with the right key gives its attempt back). */
const FETCHES_PER_HOUR = 10;
/** Uploads per identity: a burst of as many, refilled over an hour (automatic backups run daily). */
const UPLOADS_PER_HOUR = 20;
/** Versions are SQL `integer`s: a larger number is a 400, never a database error. */
const MAX_VERSION = 2 ** 31 - 1;
/** Increments on one full backup before the device must upload a full one again. */
export const BACKUP_CHAIN_MAX = 30;

/** The optional Parley-Backup-Base header: the version an increment builds on. */
function baseHeader(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const base = /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(base) || base > MAX_VERSION) throw new InvalidInputError('Parley-Backup-Base is a version number', { code: 'invalid_backup' });
  return base;
}

function header(value: string | string[] | undefined, name: string): Uint8Array {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text || text.length > 64) throw new InvalidInputError(`send the ${name} header (base64url, 32 bytes)`, { code: 'invalid_backup_key' });
  const bytes = fromBase64(text, name);
  if (bytes.length !== 32) throw new InvalidInputError(`${name} is 32 bytes`, { code: 'invalid_backup_key' });
  return bytes;
}

/** The KDF parameters header: base64url JSON of a small object with a string `name` (stored as text, given back as is). */
function kdfHeader(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text || text.length > 512) throw new InvalidInputError('send the Parley-Backup-Kdf header', { code: 'invalid_backup' });
  let kdf: unknown;
  try {
    kdf = JSON.parse(new TextDecoder().decode(fromBase64(text, 'Parley-Backup-Kdf')));
  } catch {
    throw new InvalidInputError('Parley-Backup-Kdf is not base64url JSON', { code: 'invalid_backup' });
  }
  if (typeof kdf !== 'object' || kdf === null || Array.isArray(kdf) || typeof (kdf as { name?: unknown }).name !== 'string') {
    throw new InvalidInputError('Parley-Backup-Kdf names no KDF', { code: 'invalid_backup' });
  }
  return JSON.stringify(kdf);
}

/** An increment's base must be a stored version of the identity, on a chain not yet at its limit. */
async function checkBase(tx: Sql, identityId: string, base: number): Promise<void> {
  let depth = 0;
  for (let version: number | null = base; version !== null; depth++) {
    const rows: { base_version: number | null }[] = await tx.query('SELECT base_version FROM backups WHERE identity_id = $1 AND version = $2', [identityId, version]);
    const row = rows[0];
    if (!row) throw new ParleyError('backup_base_missing', 'the base of this increment is not stored (upload a full backup)', { status: 409 });
    if (depth >= BACKUP_CHAIN_MAX) throw new ParleyError('backup_chain_too_long', 'too many increments on one full backup (upload a full backup)', { status: 409 });
    version = row.base_version === null ? null : Number(row.base_version);
  }
}

export function registerBackupRoutes(app: FastifyInstance, ctx: RouteContext): void {
  void app.register(async (scope) => {
    // Raw ciphertext bodies (the backup lines as the device wrote them).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BACKUP_MAX_BYTES }, (_request, body, done) => done(null, body));

    scope.put('/v1/backups', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
      const me = deviceOf(request);
      const accessHash = header(request.headers['parley-backup-access-hash'], 'Parley-Backup-Access-Hash');
      const kdf = kdfHeader(request.headers['parley-backup-kdf']);
      const base = baseHeader(request.headers['parley-backup-base']);
      const blob = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : new Uint8Array();
      if (blob.length === 0) throw new InvalidInputError('the backup is empty', { code: 'invalid_backup' });
      const take = await takeToken(ctx.db, `backup-upload:${me.identityId}`, UPLOADS_PER_HOUR, UPLOADS_PER_HOUR / 3600);
      if (!take.allowed) throw new RateLimitedError('too many backup uploads for this identity; retry later', take.retryAfterMs);
      const version = await ctx.db.transaction(async (tx) => {
        // One writer per identity at a time: versions stay dense and the oldest go.
        await tx.query('SELECT id FROM identities WHERE id = $1 FOR UPDATE', [me.identityId]);
        if (base !== undefined) await checkBase(tx, me.identityId, base);
        const [row] = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM backups WHERE identity_id = $1', [me.identityId]);
        const next = Number(row?.v ?? 0) + 1;
        await tx.query('INSERT INTO backups (identity_id, version, blob, access_hash, kdf, base_version) VALUES ($1, $2, $3, $4, $5, $6)', [
          me.identityId,
          next,
          blob,
          accessHash,
          kdf,
          base ?? null,
        ]);
        // Keep the newest few full backups and every increment built on them (a chain stays whole).
        const fulls = await tx.query<{ version: number }>(
          'SELECT version FROM backups WHERE identity_id = $1 AND base_version IS NULL ORDER BY version DESC LIMIT $2',
          [me.identityId, BACKUP_VERSIONS_KEPT],
        );
        if (fulls.length === BACKUP_VERSIONS_KEPT) {
          await tx.query('DELETE FROM backups WHERE identity_id = $1 AND version < $2', [me.identityId, Number(fulls[fulls.length - 1]!.version)]);
        }
        return next;
      });
      ctx.log.info({ identity: me.identityId, version, base, bytes: blob.length }, 'backup stored');
      return reply.status(201).send({ version, size: blob.length });
    });

    scope.get('/v1/backups', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request) => {
      const me = deviceOf(request);
      const rows = await ctx.db.query<{ version: number; size: number; kdf: string; created_at: Date; base_version: number | null }>(
        'SELECT version, octet_length(blob) AS size, kdf, created_at, base_version FROM backups WHERE identity_id = $1 ORDER BY version DESC',
        [me.identityId],
      );
      return {
        versions: rows.map((r) => ({
          version: Number(r.version),
          size: Number(r.size),
          kdf: JSON.parse(r.kdf) as unknown,
          createdAt: new Date(r.created_at).toISOString(),
          ...(r.base_version === null ? {} : { base: Number(r.base_version) }),
        })),
      };
    });

    scope.get('/v1/backups/:version', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
      const me = deviceOf(request);
      const version = Number((request.params as { version: string }).version);
      if (!Number.isSafeInteger(version) || version < 1 || version > MAX_VERSION) throw new InvalidInputError('a backup version is a positive integer', { code: 'invalid_backup' });
      const accessKey = header(request.headers['parley-backup-key'], 'Parley-Backup-Key');
      // Attempts are counted before the key is looked at: guessing costs the same whether right or wrong.
      const take = await takeToken(ctx.db, `backup-fetch:${me.identityId}`, FETCHES_PER_HOUR, FETCHES_PER_HOUR / 3600);
      if (!take.allowed) throw new RateLimitedError('too many backup fetches for this identity; retry later', take.retryAfterMs);
      const [row] = await ctx.db.query<{ version: number; blob: Uint8Array; access_hash: Uint8Array }>(
        'SELECT version, blob, access_hash FROM backups WHERE identity_id = $1 AND version = $2',
        [me.identityId, version],
      );
      if (!row) throw new NotFoundError('no_backup', 'this identity has no backup of that version');
      const presented = createHash('sha256').update(accessKey).digest();
      if (!timingSafeEqual(presented, Buffer.from(row.access_hash))) {
        ctx.log.warn({ identity: me.identityId, device: me.deviceId }, 'backup fetch with a wrong key');
        throw new ParleyError('backup_key_invalid', 'this is not the key of that backup', { status: 403 });
      }
      // The right key: the attempt is given back (restoring a chain fetches several versions).
      await refundToken(ctx.db, `backup-fetch:${me.identityId}`, FETCHES_PER_HOUR);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('parley-backup-version', String(row.version))
        .send(Buffer.from(row.blob));
    });
  });
}
