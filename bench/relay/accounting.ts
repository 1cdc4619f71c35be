/**
 * CPU and PostgreSQL accounting of the relay benchmark: samples at the start and end of
 * the measured phase (this process and its threads, PostgreSQL's processes, the machine)
 * and PostgreSQL's own counters over the load.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { PostgresDatabase } from '@parley/server';
import { CLK_TCK, machineBusyTicks, processTicks, threadTicks } from '../lib/machine.js';

/** CPU counters at one moment. */
export interface CpuSample {
  readonly process: NodeJS.CpuUsage;
  /** Ticks per thread of this process, keyed `tid name`. */
  readonly threads: Map<string, number>;
  readonly elu: EventLoopUtilization;
  readonly machineBusyTicks: number;
  readonly postgresTicks: number;
  readonly at: number;
}

/**
 * This process's CPU (and its threads'), the machine's and, optionally, PostgreSQL's, now.
 *
 * @example
 * const c0 = await sampleCpu(true);
 */
export async function sampleCpu(withPostgres: boolean): Promise<CpuSample> {
  const [busy, pgTicks, threads] = await Promise.all([machineBusyTicks(), withPostgres ? processTicks('postgres') : Promise.resolve(0), threadTicks()]);
  return { process: process.cpuUsage(), threads, elu: performance.eventLoopUtilization(), machineBusyTicks: busy, postgresTicks: pgTicks, at: performance.now() };
}

/**
 * The busiest threads of the server process over the interval, in cores.
 *
 * @example
 * busiestThreads(c0, c1, wallMs); // [{ thread: 'main', cores: 0.91 }, …]
 */
export function busiestThreads(a: CpuSample, b: CpuSample, wallMs: number): { thread: string; cores: number }[] {
  const rows: { thread: string; cores: number }[] = [];
  for (const [key, t1] of b.threads) {
    const cores = ((t1 - (a.threads.get(key) ?? 0)) * 1000) / CLK_TCK / wallMs;
    if (cores >= 0.01) rows.push({ thread: key.slice(key.indexOf(' ') + 1), cores: Math.round(cores * 100) / 100 });
  }
  return rows.sort((x, y) => y.cores - x.cores).slice(0, 6);
}

/** PostgreSQL's own counters over the load (warm-up + measured + drain), per submitted message. */
export interface PostgresCounters {
  readonly messages: number;
  /** pg_stat_wal (cluster-wide: other databases' activity would count too). */
  readonly walBytesPerMessage: number;
  readonly walRecordsPerMessage: number;
  readonly walFullPageImagesPerMessage: number;
  /** pg_stat_database of the bench database: commits per message (group commit effectiveness). */
  readonly commitsPerMessage: number;
  /** pg_stat_user_tables of the bench schema, per message. */
  readonly tables: Readonly<Record<string, { readonly inserted: number; readonly updated: number; readonly hotUpdated: number; readonly deleted: number }>>;
}

/** PostgreSQL's counters at one moment. */
export interface PgSnapshot {
  wal: { records: number; fpi: number; bytes: number };
  commits: number;
  tables: Map<string, { ins: number; upd: number; hot: number; del: number }>;
}

/**
 * WAL, commit and per-table counters of the bench schema, now.
 *
 * @example
 * const before = await pgSnapshot(admin, schema);
 */
export async function pgSnapshot(admin: PostgresDatabase, schema: string): Promise<PgSnapshot> {
  const [wal] = await admin.query<{ wal_records: string; wal_fpi: string; wal_bytes: string }>('SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal');
  const [db] = await admin.query<{ xact_commit: string }>('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()');
  const rows = await admin.query<{ relname: string; n_tup_ins: string; n_tup_upd: string; n_tup_hot_upd: string; n_tup_del: string }>(
    'SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables WHERE schemaname = $1',
    [schema],
  );
  return {
    wal: { records: Number(wal?.wal_records ?? 0), fpi: Number(wal?.wal_fpi ?? 0), bytes: Number(wal?.wal_bytes ?? 0) },
    commits: Number(db?.xact_commit ?? 0),
    tables: new Map(rows.map((r) => [r.relname, { ins: Number(r.n_tup_ins), upd: Number(r.n_tup_upd), hot: Number(r.n_tup_hot_upd), del: Number(r.n_tup_del) }])),
  };
}

/**
 * The counters' growth between two snapshots, per message.
 *
 * @example
 * const counters = pgCounters(before, await pgSnapshot(admin, schema), submitted);
 */
export function pgCounters(a: PgSnapshot, b: PgSnapshot, messages: number): PostgresCounters {
  const per = (v: number) => Math.round((v / messages) * 100) / 100;
  const tables: Record<string, { inserted: number; updated: number; hotUpdated: number; deleted: number }> = {};
  for (const [name, t1] of b.tables) {
    const t0 = a.tables.get(name) ?? { ins: 0, upd: 0, hot: 0, del: 0 };
    const t = { inserted: per(t1.ins - t0.ins), updated: per(t1.upd - t0.upd), hotUpdated: per(t1.hot - t0.hot), deleted: per(t1.del - t0.del) };
    if (t.inserted + t.updated + t.deleted > 0) tables[name] = t;
  }
  return {
    messages,
    walBytesPerMessage: Math.round((b.wal.bytes - a.wal.bytes) / messages),
    walRecordsPerMessage: per(b.wal.records - a.wal.records),
    walFullPageImagesPerMessage: per(b.wal.fpi - a.wal.fpi),
    commitsPerMessage: Math.round(((b.commits - a.commits) / messages) * 10_000) / 10_000,
    tables,
  };
}
