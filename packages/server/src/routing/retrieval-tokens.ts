/**
 * One-time retrieval tokens for the SMS fallback: 128 random bits, URL-safe
 * (base64url, 22 characters); only their SHA-256 is stored. A token is bound to one
 * recipient identity and one message, expires quickly, is used once, and allows a few
 * failed attempts before it is burned.
 */
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { toBase64Url } from '@parley/core';
import type { Sql } from '../storage/database.js';

export const TOKEN_BYTES = 16;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export function newToken(): string {
  return toBase64Url(new Uint8Array(nodeRandomBytes(TOKEN_BYTES)));
}

export function isTokenShaped(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function tokenHash(token: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`parley/v1/retrieval\n${token}`).digest());
}

export interface TokenRow {
  kind: 'app' | 'web';
  message_id: string;
  identity_id: string;
  business_id: string;
  envelope_id: string | null;
  ciphertext: Uint8Array | null;
  /** The attachments' sealed manifest (web links with attachments). */
  manifest: Uint8Array | null;
  expires_at: Date;
  used_at: Date | null;
  attempts: number;
  otp_hash: Uint8Array | null;
  otp_expires_at: Date | null;
}

export async function insertToken(
  sql: Sql,
  token: string,
  t: { kind: 'app' | 'web'; messageId: string; identityId: string; businessId: string; envelopeId?: string; ciphertext?: Uint8Array; manifest?: Uint8Array; ttlSeconds: number },
): Promise<void> {
  await sql.query(
    `INSERT INTO retrieval_tokens (token_hash, kind, message_id, identity_id, business_id, envelope_id, ciphertext, expires_at, manifest)
     VALUES ($1, $2, $3, $4, $5, $6::bigint, $7, now() + ($8::integer * interval '1 second'), $9)`,
    [tokenHash(token), t.kind, t.messageId, t.identityId, t.businessId, t.envelopeId ?? null, t.ciphertext ?? null, t.ttlSeconds, t.manifest ?? null],
  );
}

export async function findToken(sql: Sql, token: string, lock = false): Promise<(TokenRow & { expired: boolean }) | undefined> {
  const [row] = await sql.query<TokenRow & { expired: boolean }>(
    `SELECT kind, message_id, identity_id, business_id, envelope_id, ciphertext, manifest, expires_at, used_at, attempts, otp_hash, otp_expires_at,
            expires_at <= now() AS expired
     FROM retrieval_tokens WHERE token_hash = $1${lock ? ' FOR UPDATE' : ''}`,
    [tokenHash(token)],
  );
  return row;
}
