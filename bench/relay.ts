/**
 * End-to-end relay throughput on loopback: the real server (`startServer`, durable
 * storage: PGlite with a data directory, or PostgreSQL in a fresh schema), N
 * sender→receiver device pairs over WebSocket, ~1 KiB MLS PrivateMessages, a
 * window of submits in flight per sender, receivers acknowledging what they get.
 *
 * Setup (not measured): register 2N devices over HTTP, create one real 2-member
 * MLS group per pair (claimed KeyPackage, creation commit + Welcome + GroupInfo
 * submitted like a real device does), pre-encrypt a few hundred application
 * messages per pair. The load then cycles through them with unique idempotency
 * keys; receivers do not decrypt (the relay treats payloads as opaque ciphertext).
 *
 * Measured: distinct messages delivered to receivers per second over the measured
 * phase (after a warm-up), end-to-end latency (sender submit → receiver has the
 * deliver frame) and submit-ack latency (submit → `submitted`, i.e. durable).
 * By default the clients run in a child process (bench/relay-clients.ts) so that
 * they do not share the server's event loop; `clients: 'inline'` runs them in
 * this process.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PostgresDatabase, startServer, type Database, type ParleyServer, type ServerConfigInput, type Sql } from '@parley/server';
import { fromBase64, randomBytes, toBase64 } from '@parley/core';
import { commitChanges, createGroup, encryptApplication, type AuthenticateMember, type MlsGroup } from '@parley/core/mls';
import { ADMIN_TOKEN, api, createBusiness, registerRawDevice, suite, type RawDevice, type TestBusiness } from '../packages/server/test/helpers.js';
import { startProfiling, summarizeProfile, type ProfileSummary } from './cpu-profile.js';
import {
  percentilesOf,
  runClientLoad,
  type ClientChildMessage,
  type ClientLoadResult,
  type ClientLoadSpec,
  type ClientPairSpec,
  type ClientPhase,
  type Percentiles,
} from './relay-clients.js';

export type { Percentiles } from './relay-clients.js';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Reference figures measured by the product owner on this machine with the same workload. */
export const RELAY_ANCHORS = [
  { name: 'Node WebSocket relay, no storage', messagesPerSecond: 43_000, p99Ms: 20, durable: false },
  { name: 'mosquitto QoS 1', messagesPerSecond: 20_000, p99Ms: 77, durable: false },
  { name: 'NATS JetStream, file storage', messagesPerSecond: 8_500, p99Ms: 160, durable: true },
  { name: 'prosody (XMPP)', messagesPerSecond: 4_000, p99Ms: 310, durable: false },
] as const;

/** The goal: durable on PostgreSQL. */
export const RELAY_TARGET = { engine: 'postgres', messagesPerSecond: 20_000, p99Ms: 50 } as const;

export interface RelayBenchOptions {
  engine: 'pglite' | 'postgres';
  /** Sender→receiver device pairs (default 50). */
  pairs?: number;
  /** Measured deliveries over all pairs (default 150 000; quick 15 000). A warm-up of 20 % precedes them. */
  messages?: number;
  /** Submits in flight per sender (default 10). */
  windowPerSender?: number;
  /** Target size of each MLS message in bytes (default 1024). */
  payloadBytes?: number;
  quick?: boolean;
  onProgress?: (line: string) => void;
  /** Where the clients run (default 'child': own process). */
  clients?: 'child' | 'inline';
  /** Wrap the server's database handle to record transactions, statements and batch sizes (slight overhead). */
  instrument?: boolean;
  /** Write a V8 CPU profile of the server's main thread over the measured phase to this path (.cpuprofile). */
  profilePath?: string;
  /** Extra server configuration for experiments (merged over the bench's; default: the server's defaults). */
  server?: Omit<ServerConfigInput, 'database' | 'adminToken'>;
  /** PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test). */
  databaseUrl?: string;
}

export interface CpuFigures {
  /** Server process (main thread + PGlite worker + libuv), ms over the measured phase. */
  readonly serverProcessMs: number;
  /** Busiest threads of the server process (main = the event loop; PGlite runs in a worker thread), in cores. */
  readonly serverThreads: readonly { readonly thread: string; readonly cores: number }[];
  /** Server main-thread event-loop utilization (0..1) over the measured phase. */
  readonly serverEventLoopUtilization: number;
  /** Server main-thread event-loop delay (how late timers fire: queueing in front of every I/O callback). */
  readonly serverEventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Client process, ms (child mode) — or undefined when the clients share the server process. */
  readonly clientProcessMs: number | undefined;
  /** PostgreSQL processes (backends, WAL writer, …), ms; postgres engine only. */
  readonly postgresMs: number | undefined;
  /** Busy time of everything else on the machine (other processes, kernel), ms: contention that distorts the figures. */
  readonly otherMs: number;
  /** Whole machine busy time, ms (all processes). */
  readonly machineBusyMs: number;
  /** Machine busy / (cores × wall): how saturated the box was. */
  readonly machineUtilization: number;
  readonly cores: number;
}

export interface StatementStats {
  readonly statement: string;
  readonly count: number;
  /** Rows in the batch arrays (unnest statements) — percentiles; absent for scalar statements. */
  readonly batchRows?: Percentiles;
  readonly meanMs: number;
  readonly totalMs: number;
}

export interface DbInstrumentation {
  readonly transactions: number;
  readonly transactionsPerSecond: number;
  readonly transactionMs: Percentiles;
  readonly statementsPerTransaction: number;
  readonly appendBatch: Percentiles;
  readonly ackBatchRequests: Percentiles;
  readonly statements: readonly StatementStats[];
  /** Statements outside transactions (mailbox paging when pushes are paused). */
  readonly nonTransactional: number;
  /** EXPLAIN ANALYZE of the hot statements on the tables as the load left them. */
  readonly planProbes: readonly PlanProbe[];
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

interface PgSnapshot {
  wal: { records: number; fpi: number; bytes: number };
  commits: number;
  tables: Map<string, { ins: number; upd: number; hot: number; del: number }>;
}

async function pgSnapshot(admin: PostgresDatabase, schema: string): Promise<PgSnapshot> {
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

function pgCounters(a: PgSnapshot, b: PgSnapshot, messages: number): PostgresCounters {
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

export interface AnchorComparison {
  readonly name: string;
  readonly messagesPerSecond: number;
  readonly p99Ms: number;
  readonly durable: boolean;
  /** ours / anchor (higher is better). */
  readonly throughputRatio: number;
  /** ours / anchor (lower is better). */
  readonly p99Ratio: number;
}

export interface RelayBenchResult {
  readonly name: 'relay';
  readonly engine: 'pglite' | 'postgres';
  readonly quick: boolean;
  readonly durable: string;
  readonly clients: 'child' | 'inline';
  readonly config: {
    readonly pairs: number;
    readonly windowPerSender: number;
    readonly warmupMessages: number;
    readonly measuredMessages: number;
    readonly payloadBytes: { readonly mean: number; readonly min: number; readonly max: number };
    readonly uniqueCiphertextsPerPair: number;
    readonly plaintextBytes: number;
  };
  readonly messagesPerSecond: number;
  readonly messagesPerSecondPerCore: number;
  /** Delivered messages per CPU-second of the server process. */
  readonly messagesPerServerCpuSecond: number;
  /** Delivered messages per busy CPU-second of the whole machine (server + database + clients). */
  readonly messagesPerMachineCpuSecond: number;
  readonly measuredSeconds: number;
  /** Event-loop utilization of the client process (child mode); near 1 would mean the clients limit the figures. */
  readonly clientEventLoopUtilization: number;
  readonly e2eMs: Percentiles;
  readonly submitAckMs: Percentiles;
  readonly cpu: CpuFigures;
  readonly totals: ClientLoadResult['totals'];
  readonly setupSeconds: number;
  readonly db: DbInstrumentation | undefined;
  /** PostgreSQL counters per message (postgres engine only). */
  readonly postgres: PostgresCounters | undefined;
  /** Summary of the main-thread CPU profile, when one was taken. */
  readonly profile: (ProfileSummary & { readonly path: string }) | undefined;
  readonly anchors: readonly AnchorComparison[];
  readonly target: {
    readonly engine: string;
    readonly messagesPerSecond: number;
    readonly p99Ms: number;
    readonly met: boolean;
    readonly throughputRatio: number;
  };
  readonly notes: readonly string[];
  readonly errorSamples: readonly string[];
}

const acceptRegistered: AuthenticateMember = async () => true;
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');

// --- CPU accounting ---------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface CpuSample {
  readonly process: NodeJS.CpuUsage;
  /** Ticks per thread of this process, keyed `tid name`. */
  readonly threads: Map<string, number>;
  readonly elu: EventLoopUtilization;
  readonly machineBusyTicks: number;
  readonly postgresTicks: number;
  readonly at: number;
}

async function machineBusyTicks(): Promise<number> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  } catch {
    return 0;
  }
}

async function processTicks(comm: string): Promise<number> {
  let total = 0;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return 0;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
          const close = stat.lastIndexOf(')');
          if (stat.slice(stat.indexOf('(') + 1, close) !== comm) return;
          const f = stat.slice(close + 2).split(' ');
          total += Number(f[11]) + Number(f[12]); // utime, stime
        } catch {
          /* gone */
        }
      }),
  );
  return total;
}

async function threadTicks(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const tids = await readdir('/proc/self/task');
    await Promise.all(
      tids.map(async (tid) => {
        try {
          const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8');
          const close = stat.lastIndexOf(')');
          const name = stat.slice(stat.indexOf('(') + 1, close);
          const f = stat.slice(close + 2).split(' ');
          out.set(`${tid} ${tid === String(process.pid) ? 'main' : name}`, Number(f[11]) + Number(f[12]));
        } catch {
          /* thread ended */
        }
      }),
    );
  } catch {
    /* no procfs */
  }
  return out;
}

async function sampleCpu(withPostgres: boolean): Promise<CpuSample> {
  const [busy, pgTicks, threads] = await Promise.all([machineBusyTicks(), withPostgres ? processTicks('postgres') : Promise.resolve(0), threadTicks()]);
  return { process: process.cpuUsage(), threads, elu: performance.eventLoopUtilization(), machineBusyTicks: busy, postgresTicks: pgTicks, at: performance.now() };
}

/** The busiest threads of the server process over the interval, in cores. */
function busiestThreads(a: CpuSample, b: CpuSample, wallMs: number): { thread: string; cores: number }[] {
  const rows: { thread: string; cores: number }[] = [];
  for (const [key, t1] of b.threads) {
    const cores = ((t1 - (a.threads.get(key) ?? 0)) * 1000) / CLK_TCK / wallMs;
    if (cores >= 0.01) rows.push({ thread: key.slice(key.indexOf(' ') + 1), cores: Math.round(cores * 100) / 100 });
  }
  return rows.sort((x, y) => y.cores - x.cores).slice(0, 6);
}

// --- database instrumentation (bench-side wrapper; no server change) ------------------

function statementName(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  if (t.startsWith('SELECT group_id, device_id FROM group_members')) return 'groupMembers';
  if (t.startsWith('INSERT INTO envelopes')) return 'insertEnvelopes';
  if (t.startsWith('INSERT INTO deliveries')) return 'insertDeliveries';
  if (t.startsWith('SELECT e.id, e.part, e.recipient_count')) return 'findSubmissions';
  if (t.startsWith('SELECT d.device_id, d.envelope_id, d.acked_at')) return 'classifyAcks';
  if (t.startsWith('SELECT id FROM envelopes WHERE id = ANY')) return 'classifyAcks.missing';
  if (t.startsWith('UPDATE deliveries d SET acked_at')) return 'acknowledge.deliveries';
  if (t.startsWith('UPDATE envelopes e SET payload = NULL WHERE e.id = ANY')) return 'acknowledge.clearPayload';
  if (t.startsWith('SELECT e.id, e.group_id, e.sender_device_id')) return 'pendingEnvelopes (paging)';
  if (t === 'BEGIN' || t === 'COMMIT') return t;
  return t.slice(0, 48);
}

interface Recorder {
  active: boolean;
  transactions: number;
  transactionMs: number[];
  statementsInTx: number;
  appendBatch: number[];
  ackBatch: number[];
  nonTransactional: number;
  byStatement: Map<string, { count: number; totalMs: number; rows: number[] }>;
}

function instrumentDatabase(db: Database): Recorder {
  const rec: Recorder = {
    active: false,
    transactions: 0,
    transactionMs: [],
    statementsInTx: 0,
    appendBatch: [],
    ackBatch: [],
    nonTransactional: 0,
    byStatement: new Map(),
  };
  const record = (text: string, params: readonly unknown[] | undefined, ms: number) => {
    if (!rec.active) return;
    const name = statementName(text);
    let s = rec.byStatement.get(name);
    if (!s) rec.byStatement.set(name, (s = { count: 0, totalMs: 0, rows: [] }));
    s.count++;
    s.totalMs += ms;
    const first = params?.[0];
    if (Array.isArray(first)) s.rows.push(first.length);
  };
  const wrap = (sql: Sql, inTx: boolean): Sql => ({
    async query(text, params) {
      const t0 = performance.now();
      try {
        return await sql.query(text, params);
      } finally {
        record(text, params, performance.now() - t0);
        if (inTx && rec.active) rec.statementsInTx++;
        if (!inTx && rec.active) rec.nonTransactional++;
      }
    },
    transaction: (fn) => sql.transaction((tx) => fn(wrap(tx, true))),
  });
  const originalQuery = db.query.bind(db);
  const originalTransaction = db.transaction.bind(db);
  db.query = (text, params) => wrap({ query: originalQuery, transaction: originalTransaction }, false).query(text, params);
  db.transaction = async (fn) => {
    const t0 = performance.now();
    let first: string | undefined;
    let batch = 0;
    try {
      return await originalTransaction((tx) =>
        fn(
          wrap(
            {
              query: (text, params) => {
                if (first === undefined) {
                  first = statementName(text);
                  const p0 = params?.[0];
                  batch = Array.isArray(p0) ? p0.length : 0;
                }
                return tx.query(text, params);
              },
              transaction: (inner) => tx.transaction(inner),
            },
            true,
          ),
        ),
      );
    } finally {
      if (rec.active) {
        rec.transactions++;
        rec.transactionMs.push(performance.now() - t0);
        // groupMembers takes the distinct group ids; the batch is the envelope insert below.
        if (first === 'classifyAcks') rec.ackBatch.push(batch);
      }
    }
  };
  return rec;
}

function summarize(rec: Recorder, seconds: number, probes: readonly PlanProbe[]): DbInstrumentation {
  const statements = [...rec.byStatement.entries()]
    .map(([statement, s]) => ({
      statement,
      count: s.count,
      ...(s.rows.length > 0 ? { batchRows: percentilesOf(s.rows) } : {}),
      meanMs: Math.round((s.totalMs / s.count) * 100) / 100,
      totalMs: Math.round(s.totalMs),
    }))
    .sort((a, b) => b.totalMs - a.totalMs);
  return {
    transactions: rec.transactions,
    transactionsPerSecond: Math.round(rec.transactions / seconds),
    transactionMs: percentilesOf(rec.transactionMs),
    statementsPerTransaction: rec.transactions > 0 ? Math.round((rec.statementsInTx / rec.transactions) * 100) / 100 : 0,
    appendBatch: percentilesOf(rec.byStatement.get('insertEnvelopes')?.rows ?? []),
    ackBatchRequests: percentilesOf(rec.ackBatch),
    statements,
    nonTransactional: rec.nonTransactional,
    planProbes: probes,
  };
}

// --- plan probes: EXPLAIN ANALYZE of the relay's hot statements after the load ---------

export interface PlanProbe {
  readonly statement: string;
  readonly executionMs: number;
  readonly planningMs: number;
  /** Scan nodes with their actual row counts (index entries visited tell about bloat). */
  readonly scans: readonly string[];
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

function scansOf(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'].includes('Scan') || node['Node Type'].includes('Join')) {
    const on = node['Index Name'] ?? node['Relation Name'];
    out.push(`${node['Node Type']}${on ? ` on ${on}` : ''}: ${(node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1)} rows`);
  }
  for (const c of node.Plans ?? []) scansOf(c, out);
  return out;
}

class Rollback extends Error {}

/**
 * Runs the relay's hot statements (copied from packages/server/src/repos/mailbox.ts;
 * keep in step) under EXPLAIN ANALYZE against the bench database as the load left
 * it, inside transactions that are rolled back.
 */
async function planProbes(db: Database, receiverDeviceId: string): Promise<PlanProbe[]> {
  const recent = await db.query<{ device_id: string; envelope_id: string }>(
    'SELECT device_id, envelope_id FROM deliveries ORDER BY envelope_id DESC LIMIT 200',
  );
  const devices = recent.map((r) => r.device_id);
  const ids = recent.map((r) => r.envelope_id);
  const probes: [string, string, (string | readonly string[])[], string?][] = [
    [
      'pendingEnvelopes (mailbox page / poll)',
      `SELECT e.id, e.group_id, e.sender_device_id, s.identity_id AS sender_identity_id, e.kind, e.epoch, e.payload, e.created_at
       FROM deliveries d JOIN envelopes e ON e.id = d.envelope_id JOIN devices s ON s.id = e.sender_device_id
       WHERE d.device_id = $1 AND d.acked_at IS NULL AND e.expires_at > now() AND e.payload IS NOT NULL
         AND NOT (d.envelope_id = ANY($3::bigint[]))
       ORDER BY d.envelope_id LIMIT $2`,
      [receiverDeviceId, '101', []],
    ],
    [
      'classifyAcks',
      `SELECT d.device_id, d.envelope_id, d.acked_at IS NOT NULL AS acked
       FROM deliveries d JOIN unnest($1::text[], $2::bigint[]) AS r(device_id, envelope_id)
         ON d.device_id = r.device_id AND d.envelope_id = r.envelope_id`,
      [devices, ids],
    ],
    [
      'acknowledge: UPDATE deliveries SET acked_at',
      `UPDATE deliveries d SET acked_at = now()
       FROM unnest($1::text[], $2::bigint[]) AS r(device_id, envelope_id)
       WHERE d.device_id = r.device_id AND d.envelope_id = r.envelope_id AND d.acked_at IS NULL
       RETURNING d.envelope_id`,
      [devices, ids],
      // Make the 200 rows pending again so the statement does its real work.
      'UPDATE deliveries SET acked_at = NULL WHERE envelope_id = ANY($1::bigint[])',
    ],
    [
      'acknowledge: UPDATE envelopes SET payload = NULL',
      `UPDATE envelopes e SET payload = NULL
       WHERE e.id = ANY($1::bigint[]) AND e.payload IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.envelope_id = e.id AND x.acked_at IS NULL)`,
      [ids],
      // Give the 200 envelopes a payload again so the anti-join runs.
      "UPDATE envelopes SET payload = '\\x00'::bytea WHERE id = ANY($1::bigint[])",
    ],
  ];
  const out: PlanProbe[] = [];
  for (const [statement, sql, params, prepare] of probes) {
    let plan: { Plan: PlanNode; 'Execution Time': number; 'Planning Time': number } | undefined;
    try {
      await db.transaction(async (tx) => {
        if (prepare) await tx.query(prepare, [ids]);
        const rows = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
        const raw = rows[0]?.['QUERY PLAN'];
        const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as (typeof plan)[];
        plan = parsed[0];
        throw new Rollback();
      });
    } catch (error) {
      if (!(error instanceof Rollback)) throw error;
    }
    if (plan) {
      out.push({
        statement,
        executionMs: Math.round(plan['Execution Time'] * 100) / 100,
        planningMs: Math.round(plan['Planning Time'] * 100) / 100,
        scans: scansOf(plan.Plan),
      });
    }
  }
  return out;
}

// --- setup ----------------------------------------------------------------------

export async function inPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** Creates the pair's 2-member group exactly like a device does and returns the sender's group state. */
export async function createPairGroup(url: string, sender: RawDevice, receiver: RawDevice): Promise<MlsGroup> {
  const s = await suite();
  const group = await createGroup(s, randomBytes(32), { identityId: sender.identityId, deviceId: sender.deviceId }, sender.signature, acceptRegistered);
  const claim = await api(url, 'POST', '/v1/key-packages/claim', { deviceIds: [receiver.deviceId] }, sender.token);
  if (claim.status !== 200) throw new Error(`claim: ${claim.status} ${JSON.stringify(claim.body)}`);
  const keyPackages = (claim.body as { keyPackages: { keyPackage: string }[] }).keyPackages;
  const out = await commitChanges(s, group, { add: keyPackages.map((k) => fromBase64(k.keyPackage)) });
  const res = await api(
    url,
    'POST',
    '/v1/messages',
    {
      idempotencyKey: 'create',
      conversationId: group.conversationId,
      message: toBase64(out.commit),
      members: [sender.deviceId, receiver.deviceId],
      welcome: toBase64(out.welcome!),
      groupInfo: toBase64(out.groupInfo),
    },
    sender.token,
  );
  if (res.status !== 201) throw new Error(`create group: ${res.status} ${JSON.stringify(res.body)}`);
  return out.group;
}

/** Plaintext length that makes the encoded PrivateMessage `target` bytes (the framing overhead is constant). */
export async function plaintextLengthFor(group: MlsGroup, target: number): Promise<number> {
  const s = await suite();
  const probe = 512;
  const { message } = await encryptApplication(s, group, new Uint8Array(probe));
  return Math.max(1, target - (message.length - probe));
}

export async function preEncrypt(group: MlsGroup, count: number, plaintextBytes: number): Promise<{ messages: string[]; sizes: number[] }> {
  const s = await suite();
  const messages: string[] = [];
  const sizes: number[] = [];
  let g = group;
  for (let i = 0; i < count; i++) {
    const plaintext = randomBytes(plaintextBytes);
    const enc = await encryptApplication(s, g, plaintext);
    g = enc.group;
    messages.push(toBase64(enc.message));
    sizes.push(enc.message.length);
  }
  return { messages, sizes };
}

// --- clients ------------------------------------------------------------------------

function runClientsInChild(
  specPath: string,
  onProgress: (line: string) => void,
  onPhase: (phase: ClientPhase) => void,
): Promise<ClientLoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(here, 'relay-clients.ts'), [specPath], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ClientLoadResult | undefined;
    child.on('message', (m: ClientChildMessage) => {
      if (m.type === 'progress') onProgress(m.line);
      else if (m.type === 'phase') onPhase(m.phase);
      else if (m.type === 'result') result = m.result;
      else reject(new Error(`clients failed: ${m.message}`));
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`client process exited with code ${code} without a result`));
    });
  });
}

// --- the benchmark -------------------------------------------------------------------

/**
 * Runs the relay benchmark against a freshly started server and returns its figures.
 *
 * @example
 * const r = await runRelayBench({ engine: 'postgres', quick: true, onProgress: console.log })
 * console.log(r.messagesPerSecond, r.e2eMs.p99)
 */
export async function runRelayBench(opts: RelayBenchOptions): Promise<RelayBenchResult> {
  const quick = opts.quick ?? false;
  const pairCount = opts.pairs ?? 50;
  const window = opts.windowPerSender ?? 10;
  const payloadTarget = opts.payloadBytes ?? 1024;
  const measured = opts.messages ?? (quick ? 15_000 : 150_000);
  const warmup = Math.max(pairCount * window * 2, Math.round(measured * 0.2));
  const uniquePerPair = quick ? 64 : 256;
  const clientsMode = opts.clients ?? 'child';
  const log = (line: string) => opts.onProgress?.(`relay[${opts.engine}] ${line}`);
  const databaseUrl = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
  const notes: string[] = [];

  const setupStart = performance.now();
  const tmp = await mkdtemp(join(tmpdir(), 'parley-bench-'));
  let schema: string | undefined;
  let server: ParleyServer | undefined;
  try {
    let database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; schema: string };
    if (opts.engine === 'postgres') {
      schema = `bench_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
      const admin = new PostgresDatabase({ connectionString: databaseUrl });
      try {
        await admin.exec(`CREATE SCHEMA ${schema}`);
      } finally {
        await admin.close();
      }
      database = { kind: 'postgres', url: databaseUrl, schema };
    } else {
      database = { kind: 'pglite', dataDir: join(tmp, 'pgdata') };
    }
    log(`starting server (${opts.engine}, ${opts.engine === 'pglite' ? 'data dir on disk' : `schema ${schema}`})`);
    server = await startServer({
      log: { level: 'warn' },
      auth: { sessionTtlSeconds: 3600 },
      ...opts.server,
      adminToken: ADMIN_TOKEN,
      database,
    });
    if (opts.server) notes.push(`server configuration overridden: ${JSON.stringify(opts.server)}`);
    const url = server.url;

    log(`registering ${pairCount * 2} devices`);
    const business: TestBusiness = await createBusiness(url);
    const devices = await inPool(Array.from({ length: pairCount * 2 }, (_, i) => i), 8, (i) =>
      registerRawDevice(url, business, i % 2 === 0 ? `bench-sender-${i >> 1}` : `bench-customer-${i >> 1}`, {
        kind: i % 2 === 0 ? 'sender' : 'customer',
        keyPackages: 1,
      }),
    );

    log(`creating ${pairCount} MLS groups and pre-encrypting ${uniquePerPair} messages per pair`);
    let plaintextBytes = 0;
    const allSizes: number[] = [];
    const pairs: ClientPairSpec[] = await inPool(Array.from({ length: pairCount }, (_, i) => i), 4, async (i) => {
      const sender = devices[2 * i]!;
      const receiver = devices[2 * i + 1]!;
      const group = await createPairGroup(url, sender, receiver);
      if (plaintextBytes === 0) plaintextBytes = await plaintextLengthFor(group, payloadTarget);
      const { messages, sizes } = await preEncrypt(group, uniquePerPair, plaintextBytes);
      allSizes.push(...sizes);
      return { senderToken: sender.token, receiverToken: receiver.token, conversationId: group.conversationId, messages };
    });

    const spec: ClientLoadSpec = {
      wsUrl: url.replace(/^http/, 'ws') + '/v1/ws',
      pairs,
      windowPerSender: window,
      warmupMessages: warmup,
      measuredMessages: measured,
      progressIntervalMs: 1000,
      timeoutMs: Math.max(120_000, measured * 2),
    };
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`setup done in ${setupSeconds.toFixed(1)} s; load: ${pairCount} pairs, window ${window}, warm-up ${warmup}, measured ${measured} (clients: ${clientsMode})`);

    const recorder = opts.instrument ? instrumentDatabase(server.db) : undefined;
    let cpuStart: Promise<CpuSample> | undefined;
    let cpuEnd: Promise<CpuSample> | undefined;
    const withPostgres = opts.engine === 'postgres';
    let profiler: ReturnType<typeof startProfiling> | undefined;
    let profileDone: Promise<ProfileSummary> | undefined;
    const profilePath = opts.profilePath;
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    const onPhase = (phase: ClientPhase) => {
      if (phase === 'warmup-mid') {
        if (profilePath) profiler = startProfiling();
      } else if (phase === 'measure-start') {
        cpuStart = sampleCpu(withPostgres);
        if (recorder) recorder.active = true;
        loopDelay.enable();
      } else {
        loopDelay.disable();
        cpuEnd = sampleCpu(withPostgres);
        if (recorder) recorder.active = false;
        if (profiler && profilePath) profileDone = profiler.then((p) => p.stop(profilePath)).then((p) => summarizeProfile(p));
      }
    };
    const pgAdmin = withPostgres && schema ? new PostgresDatabase({ connectionString: databaseUrl }) : undefined;
    const pgBefore = pgAdmin && schema ? await pgSnapshot(pgAdmin, schema) : undefined;
    let load: ClientLoadResult;
    let postgresCounters: PostgresCounters | undefined;
    let probes: PlanProbe[] = [];
    try {
      if (clientsMode === 'child') {
        const specPath = join(tmp, 'clients.json');
        await writeFile(specPath, JSON.stringify(spec));
        load = await runClientsInChild(specPath, log, onPhase);
      } else {
        load = await runClientLoad(spec, { onProgress: log, onPhase });
      }
      if (recorder) {
        try {
          probes = await planProbes(server.db, devices[1]!.deviceId);
        } catch (error) {
          notes.push(`plan probes failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (pgAdmin && pgBefore && schema) {
        // Idle backends flush their table statistics late; stopping the server ends them (and flushes).
        const stopping = server;
        server = undefined;
        await stopping.stop();
        await new Promise((r) => setTimeout(r, 300));
        postgresCounters = pgCounters(pgBefore, await pgSnapshot(pgAdmin, schema), load.totals.submitted);
      }
    } finally {
      await pgAdmin?.close();
    }
    if (!cpuStart || !cpuEnd) throw new Error('the measured phase did not complete');
    const profileSummary = profileDone ? { ...(await profileDone), path: profilePath! } : undefined;
    const [c0, c1] = await Promise.all([cpuStart, cpuEnd]);
    const wallMs = c1.at - c0.at;
    const cores = cpus().length;
    const serverProcessMs = (c1.process.user - c0.process.user + c1.process.system - c0.process.system) / 1000;
    const machineBusyMs = ((c1.machineBusyTicks - c0.machineBusyTicks) * 1000) / CLK_TCK;
    const cpu: CpuFigures = {
      serverProcessMs: Math.round(serverProcessMs),
      serverThreads: busiestThreads(c0, c1, wallMs),
      serverEventLoopUtilization: Math.round(performance.eventLoopUtilization(c1.elu, c0.elu).utilization * 1000) / 1000,
      serverEventLoopDelayMs: {
        p50: Math.round(loopDelay.percentile(50) / 1e4) / 100,
        p99: Math.round(loopDelay.percentile(99) / 1e4) / 100,
        max: Math.round(loopDelay.max / 1e4) / 100,
      },
      clientProcessMs: clientsMode === 'child' ? load.clientCpu.userMs + load.clientCpu.systemMs : undefined,
      postgresMs: withPostgres ? Math.round(((c1.postgresTicks - c0.postgresTicks) * 1000) / CLK_TCK) : undefined,
      otherMs: Math.max(
        0,
        Math.round(machineBusyMs - serverProcessMs - (clientsMode === 'child' ? load.clientCpu.userMs + load.clientCpu.systemMs : 0) - (withPostgres ? ((c1.postgresTicks - c0.postgresTicks) * 1000) / CLK_TCK : 0)),
      ),
      machineBusyMs: Math.round(machineBusyMs),
      machineUtilization: Math.round((machineBusyMs / (cores * wallMs)) * 1000) / 1000,
      cores,
    };

    const mps = load.messagesPerSecond;
    const anchors: AnchorComparison[] = RELAY_ANCHORS.map((a) => ({
      name: a.name,
      messagesPerSecond: a.messagesPerSecond,
      p99Ms: a.p99Ms,
      durable: a.durable,
      throughputRatio: Math.round((mps / a.messagesPerSecond) * 100) / 100,
      p99Ratio: Math.round((load.e2eMs.p99 / a.p99Ms) * 100) / 100,
    }));

    notes.push('payloads are real MLS PrivateMessages pre-encrypted per pair and cycled with unique idempotency keys; receivers do not decrypt (the relay treats them as opaque ciphertext)');
    if (profilePath) notes.push('profiled run: the V8 sampler (started mid warm-up) slows the server main thread a little');
    if (opts.instrument) notes.push('instrumented run: every database call is timed through a wrapper (small overhead)');
    notes.push('receivers acknowledge every deliver frame with an ack frame; acks are part of the measured workload');
    notes.push(
      opts.engine === 'pglite'
        ? 'durable: PGlite with a data directory (commits reach the OS before the submit is acknowledged; PGlite runs with fsync off)'
        : 'durable: PostgreSQL, fsync on, synchronous_commit as configured on the server; fresh schema created and dropped',
    );
    notes.push(
      clientsMode === 'child'
        ? 'clients ran in a child process (bench/relay-clients.ts); server, clients and database share the machine\'s cores'
        : 'clients ran inline, on the server\'s event loop: server figures include client work',
    );
    const otherCores = cpu.otherMs / wallMs;
    if (otherCores > 0.15) {
      notes.push(`other processes used ${otherCores.toFixed(2)} cores during the measured phase (shared machine): figures are pessimistic`);
    }
    if (load.totals.payloadMismatches > 0) notes.push(`${load.totals.payloadMismatches} delivered payloads did not match what was submitted`);
    if (load.totals.submitErrors + load.totals.ackErrors + load.totals.otherErrors > 0) notes.push('errors occurred; see errorSamples');

    const sizes = allSizes.length > 0 ? allSizes : [0];
    return {
      name: 'relay',
      engine: opts.engine,
      quick,
      durable: opts.engine === 'pglite' ? 'pglite data dir' : 'postgresql',
      clients: clientsMode,
      config: {
        pairs: pairCount,
        windowPerSender: window,
        warmupMessages: warmup,
        measuredMessages: measured,
        payloadBytes: {
          mean: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
          min: Math.min(...sizes),
          max: Math.max(...sizes),
        },
        uniqueCiphertextsPerPair: uniquePerPair,
        plaintextBytes,
      },
      messagesPerSecond: mps,
      messagesPerSecondPerCore: Math.round(mps / cores),
      messagesPerServerCpuSecond: serverProcessMs > 0 ? Math.round(load.measuredMessages / (serverProcessMs / 1000)) : 0,
      messagesPerMachineCpuSecond: machineBusyMs > 0 ? Math.round(load.measuredMessages / (machineBusyMs / 1000)) : 0,
      measuredSeconds: load.measuredSeconds,
      clientEventLoopUtilization: load.clientCpu.eventLoopUtilization,
      e2eMs: load.e2eMs,
      submitAckMs: load.submitAckMs,
      cpu,
      totals: load.totals,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      db: recorder ? summarize(recorder, load.measuredSeconds, probes) : undefined,
      postgres: postgresCounters,
      profile: profileSummary,
      anchors,
      target: {
        engine: RELAY_TARGET.engine,
        messagesPerSecond: RELAY_TARGET.messagesPerSecond,
        p99Ms: RELAY_TARGET.p99Ms,
        met: opts.engine === RELAY_TARGET.engine && mps >= RELAY_TARGET.messagesPerSecond && load.e2eMs.p99 <= RELAY_TARGET.p99Ms,
        throughputRatio: Math.round((mps / RELAY_TARGET.messagesPerSecond) * 100) / 100,
      },
      notes,
      errorSamples: load.errorSamples,
    };
  } finally {
    if (server) await server.stop().catch((error: unknown) => log(`server stop failed: ${String(error)}`));
    if (schema) {
      const admin = new PostgresDatabase({ connectionString: databaseUrl });
      await admin.exec(`DROP SCHEMA ${schema} CASCADE`).catch((error: unknown) => log(`drop schema failed: ${String(error)}`));
      await admin.close();
    }
    await rm(tmp, { recursive: true, force: true });
  }
}
