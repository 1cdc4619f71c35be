/**
 * Database metrics: statement latency by operation kind (`select`, `insert`, `update`,
 * `delete`, `other` — never the SQL text) and the connection pool's occupancy, read at
 * scrape time from the engine (storage/query-observer.ts).
 */
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Database } from '../storage/database.js';

const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Registers `parley_db_query_duration_seconds`, `parley_db_pool_connections` and
 * `parley_db_pool_waiting_requests` for `db`, and starts observing its statements.
 *
 * @example
 * registerDatabaseMetrics(metrics.registry, db);
 */
export function registerDatabaseMetrics(registry: Registry, db: Database): void {
  const registers = [registry];
  const duration = new Histogram({
    name: 'parley_db_query_duration_seconds',
    help: 'Time a database statement took, by operation kind (select, insert, update, delete, other)',
    labelNames: ['operation'],
    buckets: QUERY_BUCKETS,
    registers,
  });
  db.observeQueries?.((operation, seconds) => duration.observe({ operation }, seconds));
  new Gauge({
    name: 'parley_db_pool_connections',
    help: 'Connections of the PostgreSQL pool, by state (in_use, idle); absent for the embedded engine',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      const stats = db.poolStats?.();
      if (stats?.total === undefined || stats.idle === undefined) return;
      this.set({ state: 'in_use' }, stats.total - stats.idle);
      this.set({ state: 'idle' }, stats.idle);
    },
  });
  new Gauge({
    name: 'parley_db_pool_waiting_requests',
    help: 'Requests waiting for a database connection (embedded engine: calls queued for its worker)',
    registers,
    collect() {
      this.set(db.poolStats?.().waiting ?? 0);
    },
  });
}
