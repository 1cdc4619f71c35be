/**
 * What the storage engines tell the metrics (observability/db-metrics.ts): how long each
 * statement took, by the kind of operation — never the SQL text or its parameters — and
 * how busy the connection pool is.
 */

/** The operation of a statement, as a bounded label value. */
export type QueryKind = 'select' | 'insert' | 'update' | 'delete' | 'other';

/** Called once per statement with its kind and duration in seconds (also when it failed). */
export type QueryObserver = (kind: QueryKind, seconds: number) => void;

/**
 * Connection pool occupancy where the engine has one: `pg`'s totalCount / idleCount /
 * waitingCount. The embedded engine has one connection in a worker: `waiting` is then the
 * number of calls queued for it (or running), and `total` / `idle` are absent.
 */
export interface PoolStats {
  readonly total?: number;
  readonly idle?: number;
  readonly waiting: number;
}

const LEADING_NOISE = /^(?:\s+|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/;

/**
 * The kind of a statement from its first keyword; a `WITH` query is the kind of the first
 * data-modifying keyword it contains, else `select`.
 *
 * @example
 * queryKind('  SELECT 1') // 'select'
 * queryKind('WITH gone AS (DELETE FROM x RETURNING id) SELECT count(*) FROM gone') // 'delete'
 */
export function queryKind(sql: string): QueryKind {
  const text = sql.replace(LEADING_NOISE, '');
  const first = /^[A-Za-z]+/.exec(text)?.[0]?.toLowerCase();
  switch (first) {
    case 'select':
    case 'insert':
    case 'update':
    case 'delete':
      return first;
    case 'with': {
      const modifying = /\b(INSERT|UPDATE|DELETE)\b/i.exec(text)?.[1]?.toLowerCase();
      return (modifying as QueryKind | undefined) ?? 'select';
    }
    default:
      return 'other';
  }
}

/**
 * Times `run` and reports it to `observer` (when there is one), whether it resolves or throws.
 *
 * @example
 * const rows = await observed(this.observer, text, () => this.pool.query(text));
 */
export async function observed<T>(observer: QueryObserver | undefined, sql: string, run: () => Promise<T>): Promise<T> {
  if (!observer) return run();
  const started = performance.now();
  try {
    return await run();
  } finally {
    observer(queryKind(sql), (performance.now() - started) / 1000);
  }
}
