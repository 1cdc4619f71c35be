/**
 * One SQL interface over two engines: embedded PGlite (in a worker thread) and
 * PostgreSQL (`pg`). Repositories are written once against `Sql`; the same
 * migrations run on both. Values: text ↔ string, bytea ↔ Uint8Array, int8 ↔
 * decimal string (never coerced to number), timestamptz ↔ Date.
 */
import type { PoolStats, QueryObserver } from './query-observer.js';

export type SqlValue = string | number | boolean | null | Uint8Array | Date | readonly string[] | readonly Uint8Array[] | readonly (string | null)[];

export interface Sql {
  /** Runs one parameterized statement and returns its rows. */
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Runs `fn` inside one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
}

export type Engine = 'pglite' | 'postgres';

export interface Database extends Sql {
  readonly engine: Engine;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** Cheap liveness probe. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Reports every statement's kind and duration from now on (metrics; query-observer.ts). */
  observeQueries?(observer: QueryObserver): void;
  /** The pool's occupancy now (metrics). */
  poolStats?(): PoolStats;
}

/** A database error with its SQLSTATE code, carried across the worker boundary. */
export class DatabaseError extends Error {
  readonly sqlState: string | undefined;
  readonly constraint: string | undefined;
  constructor(message: string, sqlState?: string, constraint?: string) {
    super(message);
    this.name = 'DatabaseError';
    this.sqlState = sqlState;
    this.constraint = constraint;
  }
}

/** The database is unreachable or shutting down (no SQLSTATE, class 08 connection, 57 operator intervention, 53300 too many connections). */
export function isUnavailableError(error: unknown): boolean {
  if (!(error instanceof DatabaseError)) return false;
  const s = error.sqlState;
  return s === undefined || s.startsWith('08') || s.startsWith('57') || s === '53300';
}

/** SQLSTATE 23505: unique_violation. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof DatabaseError && error.sqlState === '23505';
}

/** SQLSTATE 40P01 (deadlock) and 40001 (serialization failure): safe to run again. */
export function isTransientError(error: unknown): boolean {
  return error instanceof DatabaseError && (error.sqlState === '40P01' || error.sqlState === '40001');
}

/**
 * Runs `fn` again (up to 3 more times) while it fails with a transient error. Only for
 * work that is all-or-nothing: one statement or one transaction.
 *
 * @example
 * const rows = await retryTransient(() => acknowledge(db, pairs));
 */
export async function retryTransient<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransientError(error) || attempt >= 3) throw error;
    }
  }
}

/** Converts a driver error into a DatabaseError with the SQLSTATE preserved. */
export function toDatabaseError(error: unknown): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const e = error as { message?: unknown; code?: unknown; constraint?: unknown };
  return new DatabaseError(
    typeof e?.message === 'string' ? e.message : 'database error',
    typeof e?.code === 'string' ? e.code : undefined,
    typeof e?.constraint === 'string' ? e.constraint : undefined,
  );
}
