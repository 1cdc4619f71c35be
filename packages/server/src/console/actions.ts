/**
 * What operators did in the console (table `operator_actions`, migration 019): every admin
 * action (bootstrap, operator creation and disabling, device revocation) and every login, with
 * who did it, when and on what. Each is also one JSON log line (names and ids only, never a
 * password or token).
 */
import type { Logger } from 'pino';
import type { Sql } from '../storage/database.js';
import type { OperatorRef } from './operators.js';

/** The kinds of recorded actions. */
export type ConsoleAction = 'bootstrap' | 'login' | 'operator.create' | 'operator.disable' | 'device.revoke';

/** One recorded action as `GET /console/api/actions` lists it. */
export interface ActionRecord {
  readonly at: string;
  readonly operator: { readonly id: string | null; readonly name: string };
  readonly action: string;
  readonly target: string | null;
}

/** Most actions one listing returns. */
export const MAX_ACTIONS_LISTED = 500;

/**
 * Records `action` by `by` on `target` (e.g. `device:<id>`, `operator:<name>`), in `sql`'s
 * transaction when it is one, and logs it.
 *
 * @example
 * await recordAction(db, log, operator, 'device.revoke', `device:${deviceId}`);
 */
export async function recordAction(sql: Sql, log: Logger, by: Pick<OperatorRef, 'id' | 'name'>, action: ConsoleAction, target: string | null): Promise<void> {
  await sql.query('INSERT INTO operator_actions (operator_id, operator_name, action, target) VALUES ($1, $2, $3, $4)', [by.id, by.name, action, target]);
  log.info({ console: { operator: by.name, operatorId: by.id, action, target } }, 'console action');
}

/**
 * The latest `limit` actions, newest first.
 *
 * @example
 * const actions = await listActions(db, 50);
 */
export async function listActions(sql: Sql, limit: number): Promise<ActionRecord[]> {
  const rows = await sql.query<{ at: Date | string; operator_id: string | null; operator_name: string; action: string; target: string | null }>(
    'SELECT at, operator_id, operator_name, action, target FROM operator_actions ORDER BY at DESC, id DESC LIMIT $1',
    [Math.min(Math.max(1, Math.floor(limit)), MAX_ACTIONS_LISTED)],
  );
  return rows.map((r) => ({ at: new Date(r.at).toISOString(), operator: { id: r.operator_id, name: r.operator_name }, action: r.action, target: r.target }));
}
