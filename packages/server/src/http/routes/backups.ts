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
import { takeToken } from '../../repos/rate-limits.js';
import { deviceOf, requireDevice, type RouteContext } from '../context.js';

/** Versions kept per identity (older ones are deleted when a new one is stored). */
export const BACKUP_VERSIONS_KEPT = 3;
/** Largest backup accepted (bytes of ciphertext). */
export const BACKUP_MAX_BYTES = 32 * 1024 * 1024;
/** Fetch attempts per identity: a burst of as many, refilled over an hour. */
const FETCHES_PER_HOUR = 10;

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

export function registerBackupRoutes(app: FastifyInstance, ctx: RouteContext): void {
  void app.register(async (scope) => {
    // Raw ciphertext bodies (the backup lines as the device wrote them).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BACKUP_MAX_BYTES }, (_request, body, done) => done(null, body));

    scope.put('/v1/backups', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
      const me = deviceOf(request);
      const accessHash = header(request.headers['parley-backup-access-hash'], 'Parley-Backup-Access-Hash');
      const kdf = kdfHeader(request.headers['parley-backup-kdf']);
      const blob = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : new Uint8Array();
      if (blob.length === 0) throw new InvalidInputError('the backup is empty', { code: 'invalid_backup' });
      const version = await ctx.db.transaction(async (tx) => {
        // One writer per identity at a time: versions stay dense and the oldest go.
        await tx.query('SELECT id FROM identities WHERE id = $1 FOR UPDATE', [me.identityId]);
        const [row] = await tx.query<{ v: number | null }>('SELECT max(version) AS v FROM backups WHERE identity_id = $1', [me.identityId]);
        const next = Number(row?.v ?? 0) + 1;
        await tx.query('INSERT INTO backups (identity_id, version, blob, access_hash, kdf) VALUES ($1, $2, $3, $4, $5)', [me.identityId, next, blob, accessHash, kdf]);
        await tx.query('DELETE FROM backups WHERE identity_id = $1 AND version <= $2', [me.identityId, next - BACKUP_VERSIONS_KEPT]);
        return next;
      });
      ctx.log.info({ identity: me.identityId, version, bytes: blob.length }, 'backup stored');
      return reply.status(201).send({ version, size: blob.length });
    });

    scope.get('/v1/backups', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request) => {
      const me = deviceOf(request);
      const rows = await ctx.db.query<{ version: number; size: number; kdf: string; created_at: Date }>(
        'SELECT version, octet_length(blob) AS size, kdf, created_at FROM backups WHERE identity_id = $1 ORDER BY version DESC',
        [me.identityId],
      );
      return { versions: rows.map((r) => ({ version: Number(r.version), size: Number(r.size), kdf: JSON.parse(r.kdf) as unknown, createdAt: new Date(r.created_at).toISOString() })) };
    });

    scope.get('/v1/backups/:version', { schema: { hide: true }, onRequest: requireDevice(ctx) }, async (request, reply) => {
      const me = deviceOf(request);
      const version = Number((request.params as { version: string }).version);
      if (!Number.isSafeInteger(version) || version < 1) throw new InvalidInputError('a backup version is a positive integer', { code: 'invalid_backup' });
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
      return reply
        .header('content-type', 'application/octet-stream')
        .header('parley-backup-version', String(row.version))
        .send(Buffer.from(row.blob));
    });
  });
}
