/**
 * Who may see whose keys. The key directory answers "which devices does X have, and
 * give me one of their KeyPackages" only to devices that have a reason to ask:
 *
 * - any device of the business's own identities (sender, agent, bot) may look up every
 *   identity of its business: the business messages its customers;
 * - a customer's device may look up its own identity, the business's identities, and
 *   people it already shares a conversation with (to verify co-members' keys);
 * - nobody sees another business's identities.
 *
 * Everything else is answered exactly like an identity that does not exist, so a
 * customer cannot learn whether another customer exists or list their devices.
 */
import type { Sql } from '../storage/database.js';
import type { AuthDevice } from '../auth-device.js';

/** The subset of `identityIds` the device `me` may see (existing ones only). */
export async function visibleIdentities(sql: Sql, me: AuthDevice, identityIds: readonly string[]): Promise<Set<string>> {
  const wanted = [...new Set(identityIds)];
  if (wanted.length === 0) return new Set();
  const rows = await sql.query<{ id: string }>(
    `WITH me AS (SELECT kind FROM identities WHERE id = $2)
     SELECT t.id FROM identities t
     WHERE t.id = ANY($1::text[]) AND t.business_id = $3
       AND (t.id = $2
            OR t.kind <> 'customer'
            OR (SELECT kind FROM me) <> 'customer'
            OR EXISTS (SELECT 1 FROM group_members mine
                       JOIN group_members theirs ON theirs.group_id = mine.group_id
                       JOIN devices d ON d.id = theirs.device_id
                       WHERE mine.device_id = $4 AND d.identity_id = t.id))`,
    [wanted, me.identityId, me.businessId, me.deviceId],
  );
  return new Set(rows.map((r) => r.id));
}

/** Whether `me` may see `identityId` (see {@link visibleIdentities}). */
export async function canSeeIdentity(sql: Sql, me: AuthDevice, identityId: string): Promise<boolean> {
  return (await visibleIdentities(sql, me, [identityId])).has(identityId);
}
