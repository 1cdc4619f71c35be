/**
 * The bank services' API keys (`Authorization: Bearer pgw_<id>_<secret>`). Only a
 * SHA-256 of the 256-bit secret is stored; the full key is shown once, at creation.
 * Lookup is by id, comparison in constant time; revoked keys fail like unknown ones.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Sql } from '@parley/server';
import { GatewayError } from './errors.js';

const KEY_RE = /^pgw_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** An API key as listed (never its secret). */
export interface ApiKeyInfo {
  readonly id: string;
  readonly label: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update('parley/gateway/api-key').update(secret).digest();
}

function newId(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}

/**
 * Creates a key; the returned `key` is the only copy of the secret.
 *
 * @example
 * const { key } = await createApiKey(db, 'payments-service')
 */
export async function createApiKey(sql: Sql, label: string): Promise<{ key: string; info: ApiKeyInfo }> {
  if (!/^[\x20-\x7e]{1,100}$/.test(label)) throw new GatewayError('invalid_request', 'a key label is 1–100 printable ASCII characters');
  const id = newId();
  const secret = randomBytes(32).toString('base64url');
  const [row] = await sql.query<{ created_at: Date }>('INSERT INTO gateway_api_keys (id, secret_hash, label) VALUES ($1, $2, $3) RETURNING created_at', [
    id,
    new Uint8Array(hashSecret(secret)),
    label,
  ]);
  return { key: `pgw_${id}_${secret}`, info: { id, label, createdAt: row!.created_at.toISOString(), revokedAt: null, lastUsedAt: null } };
}

/**
 * @example
 * for (const k of await listApiKeys(db)) console.log(k.id, k.label, k.revokedAt ?? 'active')
 */
export async function listApiKeys(sql: Sql): Promise<ApiKeyInfo[]> {
  const rows = await sql.query<{ id: string; label: string; created_at: Date; revoked_at: Date | null; last_used_at: Date | null }>(
    'SELECT id, label, created_at, revoked_at, last_used_at FROM gateway_api_keys ORDER BY created_at, id',
  );
  return rows.map((r) => ({
    id: r.id,
    label: r.label,
    createdAt: r.created_at.toISOString(),
    revokedAt: r.revoked_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
  }));
}

/**
 * Revokes a key at once; false when no active key has this id.
 *
 * @example
 * await revokeApiKey(db, 'Ab3dEf6hJk9m')
 */
export async function revokeApiKey(sql: Sql, id: string): Promise<boolean> {
  const rows = await sql.query('UPDATE gateway_api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING 1', [id]);
  return rows.length > 0;
}

/**
 * The id of the active key `presented` (the bearer token), or undefined.
 *
 * @example
 * const keyId = await authenticateApiKey(db, bearer)
 */
export async function authenticateApiKey(sql: Sql, presented: string): Promise<string | undefined> {
  const match = KEY_RE.exec(presented);
  if (!match) return undefined;
  const [row] = await sql.query<{ secret_hash: Uint8Array; last_used_at: Date | null }>(
    'SELECT secret_hash, last_used_at FROM gateway_api_keys WHERE id = $1 AND revoked_at IS NULL',
    [match[1]!],
  );
  const expected = hashSecret(match[2]!);
  if (!row || row.secret_hash.length !== expected.length || !timingSafeEqual(row.secret_hash, expected)) return undefined;
  // Recorded at most once a minute per key: no write per request.
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await sql.query('UPDATE gateway_api_keys SET last_used_at = now() WHERE id = $1', [match[1]!]);
  }
  return match[1]!;
}
