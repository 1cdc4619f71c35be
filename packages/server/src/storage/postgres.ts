/** PostgreSQL engine over a `pg` connection pool. */
import type Pg from 'pg';
import { lazyCommonJs } from '../util/lazy-commonjs.js';
import { toDatabaseError, type Database, type Sql, type SqlValue } from './database.js';
import { observed, type PoolStats, type QueryObserver } from './query-observer.js';
import { preparedName } from './prepared.js';

/** `pg`, loaded when the first PostgreSQL pool is made (the embedded default never loads it). */
const loadPg = lazyCommonJs<typeof Pg>('pg');
function pgModule(): typeof Pg {
  const pg = loadPg();
  // int8 stays a decimal string (pg's default); make it explicit so nobody flips it to Number.
  pg.types.setTypeParser(20, (v: string) => v);
  return pg;
}

export interface PostgresOptions {
  connectionString: string;
  /** Schema to use as search_path (tests isolate themselves in a fresh schema). */
  schema?: string;
  maxConnections?: number;
}

function bindParams(params: readonly SqlValue[] | undefined): unknown[] | undefined {
  // pg sends Buffers as bytea; plain Uint8Array would be sent as a JSON-ish array.
  return params?.map((p) => {
    if (p instanceof Uint8Array && !Buffer.isBuffer(p)) return Buffer.from(p.buffer, p.byteOffset, p.byteLength);
    if (Array.isArray(p) && p.length > 0 && p[0] instanceof Uint8Array) {
      return (p as Uint8Array[]).map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
    }
    return p;
  });
}

/** A registered hot statement goes as a named prepared statement (prepared.ts); anything else unnamed. */
function statement(text: string, params: readonly SqlValue[] | undefined): Pg.QueryConfig {
  const name = preparedName(text);
  const values = bindParams(params);
  return name === undefined ? { text, ...(values ? { values } : {}) } : { name, text, ...(values ? { values } : {}) };
}

class ClientSql implements Sql {
  constructor(
    private readonly client: Pg.PoolClient,
    private readonly observer: QueryObserver | undefined,
  ) {}
  async query<R extends object>(text: string, params?: readonly SqlValue[]): Promise<R[]> {
    try {
      return (await observed(this.observer, text, () => this.client.query(statement(text, params)))).rows as R[];
    } catch (error) {
      throw toDatabaseError(error);
    }
  }
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    // Already inside a transaction: nest as the same transaction.
    return fn(this);
  }
}

export class PostgresDatabase implements Database {
  readonly engine = 'postgres' as const;
  private readonly pool: Pg.Pool;
  private observer: QueryObserver | undefined;

  constructor(options: PostgresOptions) {
    this.pool = new (pgModule().Pool)({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 20,
      connectionTimeoutMillis: 5000,
      // A node that vanishes without closing its socket (power loss, partition) must not
      // hold row locks (a log's sequencing lock, a route's claim) for long: keepalives find
      // the dead peer, and a transaction left idle is aborted by the server.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      idle_in_transaction_session_timeout: 60_000,
      ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    });
    // An idle client that loses its connection must not crash the process.
    this.pool.on('error', () => {});
  }

  async query<R extends object>(text: string, params?: readonly SqlValue[]): Promise<R[]> {
    try {
      return (await observed(this.observer, text, () => this.pool.query(statement(text, params)))).rows as R[];
    } catch (error) {
      throw toDatabaseError(error);
    }
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    let client: Pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toDatabaseError(error);
    }
    let broken = false;
    try {
      const tx = new ClientSql(client, this.observer);
      await tx.query('BEGIN');
      const result = await fn(tx);
      await tx.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async exec(script: string): Promise<void> {
    try {
      await this.pool.query(script);
    } catch (error) {
      throw toDatabaseError(error);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  observeQueries(observer: QueryObserver): void {
    this.observer = observer;
  }

  poolStats(): PoolStats {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
