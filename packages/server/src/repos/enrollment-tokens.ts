/** Single use of enrollment tokens. */
import type { Sql } from '../storage/database.js';

/** Records the use of token `jti`; false when it was used before. */
export async function markEnrollmentTokenUsed(sql: Sql, businessId: string, jti: string, expiresAt: Date): Promise<boolean> {
  const rows = await sql.query(
    `INSERT INTO enrollment_token_uses (business_id, jti, expires_at) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING RETURNING jti`,
    [businessId, jti, expiresAt],
  );
  return rows.length === 1;
}
