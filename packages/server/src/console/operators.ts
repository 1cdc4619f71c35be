/**
 * Operator accounts of the console (table `operators`, migration 019): names (lower case,
 * unique), roles, Argon2id password hashes (never leave this module but for verification),
 * disabling. Rows are mapped to the API's views here, once.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError } from '@parley/core';
import { isUniqueViolation, type Sql } from '../storage/database.js';

/** What an operator may do: `viewer` reads every view, `admin` also changes things. */
export type OperatorRole = 'viewer' | 'admin';

/** An operator as the session and login answers name them. */
export interface OperatorRef {
  readonly id: string;
  readonly name: string;
  readonly role: OperatorRole;
}

/** An operator as the operators view lists them. */
export interface OperatorView extends OperatorRef {
  readonly createdAt: string;
  /** When the account was disabled; null while it is active. */
  readonly disabledAt: string | null;
}

interface OperatorRow {
  id: string;
  name: string;
  role: OperatorRole;
  created_at: Date | string;
  disabled_at: Date | string | null;
}

const COLUMNS = 'id, name, role, created_at, disabled_at';
/** Arbitrary constant naming the bootstrap lock (one first admin, even when two nodes race). */
const BOOTSTRAP_LOCK_KEY = 7_302_115_019;

const iso = (value: Date | string) => new Date(value).toISOString();

function toView(row: OperatorRow): OperatorView {
  return { id: row.id, name: row.name, role: row.role, createdAt: iso(row.created_at), disabledAt: row.disabled_at === null ? null : iso(row.disabled_at) };
}

/**
 * An operator name as stored: trimmed and lower-cased (the request schemas limit its characters).
 *
 * @example
 * normaliseOperatorName(' Alice ') // 'alice'
 */
export function normaliseOperatorName(name: string): string {
  return name.trim().toLowerCase();
}

/**
 * Whether any operator account exists (disabled ones count: the console was set up).
 *
 * @example
 * const bootstrapped = await hasOperators(db);
 */
export async function hasOperators(sql: Sql): Promise<boolean> {
  const rows = await sql.query<{ one: number }>('SELECT 1 AS one FROM operators LIMIT 1');
  return rows.length > 0;
}

/**
 * The refusal of a second bootstrap (409 `operators_exist`).
 *
 * @example
 * if (await hasOperators(db)) throw operatorsExist();
 */
export function operatorsExist(): ConflictError {
  return new ConflictError('operators_exist', 'the console has operators: log in as an admin to add more');
}

/** A new operator's fields (the password already hashed). */
export interface NewOperator {
  readonly name: string;
  readonly passwordHash: string;
  readonly role: OperatorRole;
  /** The operator who created it; absent for the admin token's bootstrap. */
  readonly createdBy?: string;
}

async function insert(sql: Sql, operator: NewOperator): Promise<OperatorView> {
  const id = `op_${randomBytes(12).toString('base64url')}`;
  const [row] = await sql.query<OperatorRow>(
    `INSERT INTO operators (id, name, password_hash, role, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
    [id, normaliseOperatorName(operator.name), operator.passwordHash, operator.role, operator.createdBy ?? null],
  );
  return toView(row!);
}

/**
 * Creates an operator; 409 `operator_exists` when the name is taken (by a disabled one too).
 *
 * @example
 * const op = await createOperator(db, { name: 'bob', passwordHash, role: 'viewer', createdBy: admin.id });
 */
export async function createOperator(sql: Sql, operator: NewOperator): Promise<OperatorView> {
  try {
    return await insert(sql, operator);
  } catch (error) {
    if (isUniqueViolation(error)) throw new ConflictError('operator_exists', 'an operator with this name exists');
    throw error;
  }
}

/**
 * Creates the first operator, an admin, unless any operator exists (409 `operators_exist`);
 * serialised by an advisory lock, so two racing bootstraps make one admin.
 *
 * @example
 * const admin = await bootstrapOperator(db, 'alice', passwordHash);
 */
export async function bootstrapOperator(sql: Sql, name: string, passwordHash: string): Promise<OperatorView> {
  return sql.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [String(BOOTSTRAP_LOCK_KEY)]);
    if (await hasOperators(tx)) throw operatorsExist();
    return insert(tx, { name, passwordHash, role: 'admin' });
  });
}

/** An operator with its password hash, for login only. */
export interface OperatorCredentials extends OperatorRef {
  readonly passwordHash: string;
  readonly disabled: boolean;
}

/**
 * The operator named `name` (normalised) with its password hash, or undefined.
 *
 * @example
 * const found = await operatorCredentials(db, body.name);
 */
export async function operatorCredentials(sql: Sql, name: string): Promise<OperatorCredentials | undefined> {
  const [row] = await sql.query<OperatorRow & { password_hash: string }>(`SELECT ${COLUMNS}, password_hash FROM operators WHERE name = $1`, [normaliseOperatorName(name)]);
  return row ? { id: row.id, name: row.name, role: row.role, passwordHash: row.password_hash, disabled: row.disabled_at !== null } : undefined;
}

/**
 * Every operator, oldest first.
 *
 * @example
 * const { operators } = { operators: await listOperators(db) };
 */
export async function listOperators(sql: Sql): Promise<OperatorView[]> {
  const rows = await sql.query<OperatorRow>(`SELECT ${COLUMNS} FROM operators ORDER BY created_at, id`);
  return rows.map(toView);
}

/**
 * Disables an operator (the first time stays the recorded one) and ends all their sessions,
 * in one transaction; 404 `unknown_operator`.
 *
 * @example
 * const view = await disableOperator(db, 'op_…');
 */
export async function disableOperator(sql: Sql, id: string): Promise<OperatorView> {
  return sql.transaction(async (tx) => {
    const [row] = await tx.query<OperatorRow>(`UPDATE operators SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
    if (!row) throw new NotFoundError('unknown_operator', 'no such operator');
    await tx.query('DELETE FROM console_sessions WHERE operator_id = $1', [id]);
    return toView(row);
  });
}
