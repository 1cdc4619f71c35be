/** One-time authentication challenges, shared by all nodes. */
import type { Sql } from '../storage/database.js';

export async function insertChallenge(sql: Sql, challenge: Uint8Array, deviceId: string, expiresAt: Date): Promise<void> {
  await sql.query('INSERT INTO auth_challenges (challenge, device_id, expires_at) VALUES ($1, $2, $3)', [challenge, deviceId, expiresAt]);
}

/** Deletes and returns the challenge if it was issued to `deviceId` and has not expired. */
export async function consumeChallenge(sql: Sql, challenge: Uint8Array, deviceId: string): Promise<boolean> {
  const rows = await sql.query(
    'DELETE FROM auth_challenges WHERE challenge = $1 AND device_id = $2 AND expires_at > now() RETURNING device_id',
    [challenge, deviceId],
  );
  return rows.length === 1;
}
