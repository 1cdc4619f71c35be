/** The gateway's settings row by row (`gateway_settings`): what `parley gateway init` decided. */
import type { Sql } from '@parley/server';

/** Setting names: one place, so a typo is a type error. */
export type SettingName =
  | 'business_id'
  | 'business_name'
  | 'server_url'
  | 'sender_device_id'
  | 'data_key'
  | 'data_key_wrapper'
  | 'enrollment_kid'
  | 'initialized_at'
  /** A request to rotate the sender's keys, and the leader's outcome (custody/sender-rotation.ts). */
  | 'sender_rotation_request'
  | 'sender_rotation_result'
  /** The token labels of the sender's keys in use, once a rotation moved them (custody/sender-keys.ts). */
  | 'sender_key_labels';

/**
 * @example
 * const businessId = await getSetting(db, 'business_id')
 */
export async function getSetting(sql: Sql, name: SettingName): Promise<string | undefined> {
  const [row] = await sql.query<{ value: string }>('SELECT value FROM gateway_settings WHERE name = $1', [name]);
  return row?.value;
}

/**
 * Writes settings (replacing earlier values).
 *
 * @example
 * await putSettings(tx, { business_id: 'acme', server_url: 'https://parley.example' })
 */
export async function putSettings(sql: Sql, values: Partial<Record<SettingName, string>>): Promise<void> {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    await sql.query('INSERT INTO gateway_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value', [name, value]);
  }
}
