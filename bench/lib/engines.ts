/**
 * Storage engines of the benchmarks (embedded PGlite with a data directory, PostgreSQL in
 * a fresh schema), the PostgreSQL probes, and the per-engine loop every section runs:
 * a PostgreSQL that does not answer is skipped with a reason instead of failing the run.
 */
import { connect } from 'node:net';
import { PostgresDatabase } from '@parley/server';

/** A storage engine the server-side benchmarks run on. */
export type Engine = 'pglite' | 'postgres';

/** `--engine`: one engine or both. */
export type EngineChoice = Engine | 'both';

/** Where the benchmarks find PostgreSQL unless told otherwise (`--postgres-url`, PARLEY_BENCH_DATABASE_URL). */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * The engines an `--engine` choice names, PGlite first.
 *
 * @example
 * enginesOf('both'); // ['pglite', 'postgres']
 */
export function enginesOf(choice: EngineChoice): Engine[] {
  return choice === 'both' ? ['pglite', 'postgres'] : [choice];
}

/**
 * True when a PostgreSQL server answers `SELECT 1` at the URL (a TCP probe first, so a
 * missing server is reported quickly and plainly).
 *
 * @example
 * const reach = await postgresReachable(DEFAULT_POSTGRES_URL);
 * if (!reach.ok) console.log(`skipped (${reach.reason})`);
 */
export async function postgresReachable(url: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  const { hostname, port } = new URL(url);
  // A Unix-domain socket directory (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`): probe its socket file.
  const socketDir = decodeURIComponent(hostname).startsWith('/') ? decodeURIComponent(hostname) : undefined;
  const tcp = await new Promise<boolean>((resolve) => {
    const socket = socketDir ? connect({ path: `${socketDir}/.s.PGSQL.${port || 5432}` }) : connect({ host: hostname, port: Number(port || 5432) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  if (!tcp) return { ok: false, reason: `nothing listens on ${hostname}:${port || 5432}` };
  const reason = await postgresPingFailure(url);
  return reason === undefined ? { ok: true } : { ok: false, reason: `PostgreSQL at ${hostname}:${port || 5432} refused: ${reason}` };
}

/**
 * Why PostgreSQL at `url` does not answer a ping (the driver's message), or undefined when it does.
 *
 * @example
 * const why = await postgresPingFailure(url);
 */
export async function postgresPingFailure(url: string): Promise<string | undefined> {
  const probe = new PostgresDatabase({ connectionString: url });
  try {
    await probe.ping();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await probe.close().catch(() => {});
  }
}

/** An engine a section did not run, and why. */
export interface EngineSkip {
  engine: string;
  reason: string;
}

/**
 * Runs `run` once per engine, in order. PostgreSQL is pinged first; when it does not answer
 * it is skipped (progress line `<section>/postgres: skipped (<reason>)`) and listed in
 * `skipped`. `beforeEngine` runs before each engine that runs (the runner waits there for
 * an idle machine).
 *
 * @example
 * const { results, skipped } = await forEachEngine({ section: 'tlog', progress }, (engine) => runEngine(engine));
 */
export async function forEachEngine<R>(
  o: {
    section: string;
    engines?: readonly Engine[] | undefined;
    databaseUrl?: string | undefined;
    progress: (line: string) => void;
    beforeEngine?: ((engine: Engine) => Promise<void>) | undefined;
  },
  run: (engine: Engine) => Promise<R>,
): Promise<{ results: R[]; skipped: EngineSkip[] }> {
  const results: R[] = [];
  const skipped: EngineSkip[] = [];
  for (const engine of o.engines ?? ['pglite', 'postgres']) {
    if (engine === 'postgres') {
      const reason = await postgresPingFailure(o.databaseUrl ?? DEFAULT_POSTGRES_URL);
      if (reason !== undefined) {
        skipped.push({ engine, reason });
        o.progress(`${o.section}/postgres: skipped (${reason})`);
        continue;
      }
    }
    await o.beforeEngine?.(engine);
    results.push(await run(engine));
  }
  return { results, skipped };
}

/**
 * A fresh schema name for one benchmark run: `<prefix>_<time>_<random>` (base 36).
 *
 * @example
 * benchSchemaName('bench_audit'); // 'bench_audit_m3x1k2_1a2b'
 */
export function benchSchemaName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The `database` option of `startServer` for a benchmark's server. */
export type BenchDatabase = { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; schema: string };

/**
 * The server database of one run: PGlite in `pgliteDir`, or a fresh PostgreSQL schema
 * (created here; drop it with {@link dropSchema}).
 *
 * @example
 * const { database, schema } = await benchDatabase('postgres', { url, schemaPrefix: 'bench', pgliteDir: join(tmp, 'pgdata') });
 */
export async function benchDatabase(engine: Engine, o: { url: string; schemaPrefix: string; pgliteDir: string }): Promise<{ database: BenchDatabase; schema: string | undefined }> {
  if (engine === 'pglite') return { database: { kind: 'pglite', dataDir: o.pgliteDir }, schema: undefined };
  const schema = benchSchemaName(o.schemaPrefix);
  const admin = new PostgresDatabase({ connectionString: o.url });
  try {
    await admin.exec(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.close();
  }
  return { database: { kind: 'postgres', url: o.url, schema }, schema };
}

/**
 * Drops a benchmark's schema; a failure is logged (`drop schema failed: …`), not thrown.
 *
 * @example
 * if (schema) await dropSchema(url, schema, log);
 */
export async function dropSchema(url: string, schema: string, log: (line: string) => void): Promise<void> {
  const admin = new PostgresDatabase({ connectionString: url });
  await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((error: unknown) => log(`drop schema failed: ${String(error)}`));
  await admin.close();
}
