/** Secrets the server itself needs on every node (not device keys). */
import type { Sql } from '../storage/database.js';

/** Returns the secret `name`, creating it from `create()` on first use (race-safe across nodes). */
export async function getOrCreateSecret(sql: Sql, name: string, create: () => Uint8Array): Promise<Uint8Array> {
  await sql.query('INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [name, create()]);
  const rows = await sql.query<{ value: Uint8Array }>('SELECT value FROM server_secrets WHERE name = $1', [name]);
  return new Uint8Array(rows[0]!.value);
}
