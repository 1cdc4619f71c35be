/** Identities: a business's customers and its staff/service subjects. */
import { ConflictError, type IdentityKind } from '@parley/core';
import type { Sql } from '../storage/database.js';

export interface IdentityRow {
  id: string;
  business_id: string;
  kind: IdentityKind;
  display_name: string | null;
}

/**
 * Creates the identity on first enrollment, or refreshes its display name.
 * An existing identity keeps its kind: a token claiming another kind is refused.
 */
export async function upsertIdentity(
  sql: Sql,
  identity: { id: string; businessId: string; kind: IdentityKind; displayName?: string; phone?: string },
): Promise<void> {
  const rows = await sql.query<{ kind: string }>(
    `INSERT INTO identities (id, business_id, kind, display_name, phone) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET
       display_name = COALESCE(EXCLUDED.display_name, identities.display_name),
       phone = COALESCE(EXCLUDED.phone, identities.phone)
     RETURNING kind`,
    [identity.id, identity.businessId, identity.kind, identity.displayName ?? null, identity.phone ?? null],
  );
  if (rows[0]?.kind !== identity.kind) {
    throw new ConflictError('identity_kind_mismatch', 'the identity exists with another kind');
  }
}

export async function getIdentity(sql: Sql, id: string): Promise<IdentityRow | undefined> {
  const rows = await sql.query<IdentityRow>('SELECT id, business_id, kind, display_name FROM identities WHERE id = $1', [id]);
  return rows[0];
}
