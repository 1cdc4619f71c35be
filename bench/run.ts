/**
 * `npm run bench -- [relay|tlog|audit|routing|mls|sdk|all] [--quick] [--engine pglite|postgres|both]`
 *
 * Runs the relay throughput benchmark (bench/relay.ts) on PGlite and on
 * PostgreSQL (skipped with a note when 127.0.0.1:5432 does not answer), the MLS
 * crypto benchmark (bench/mls-crypto.ts) and the SDK benchmark (bench/sdk.ts)
 * when those files exist, and the transparency-log benchmark (bench/tlog.ts), the
 * audit-log benchmark (bench/audit.ts) and the routing benchmark (bench/routing.ts) on both engines. Prints progress while running, then tables; writes
 * bench/results/<name>-<ISO date>.json and bench/results/latest.json.
 *
 * Extra flags: --clients child|inline (relay clients, the audit replay and the routing
 * hot-path clients in their own process, the default, or on the server's event loop), --instrument (record the server's
 * transactions and batch sizes), --pairs N, --messages N (measured deliveries; for
 * `audit`, measured commitment submissions; for `routing`, measured hot-path messages per configuration),
 * --postgres-url URL, --wait-quiet SECONDS (longest wait for an idle machine before
 * each relay, audit and routing run; default 60, 0 to skip — the machine may be shared), --profile
 * (V8 CPU profile of the server's main thread over the measured phase of relay and
 * audit, written next to the JSON results and summarized in the output), --tick-ms N
 * (router tick of the routing section's server; default the server's).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PostgresDatabase } from '@parley/server';
import { formatSummary } from './cpu-profile.js';
import { DEFAULT_POSTGRES_URL, RELAY_ANCHORS, RELAY_TARGET, runRelayBench, type RelayBenchResult } from './relay.js';
import { runTlogBench, type TlogBenchResult } from './tlog.js';
import { runAuditBench, type AuditBenchResult } from './audit.js';
import { runRoutingBench, type RoutingBenchResult } from './routing.js';
// `cluster` (bench/cluster.ts) is not part of `all`: its full run takes about 6 minutes.
import { printCluster, runClusterBench, type ClusterBenchResult } from './cluster.js';
import type { SystemKind } from './cluster-clients.js';

type Section = 'relay' | 'tlog' | 'audit' | 'routing' | 'mls' | 'sdk' | 'cluster';
type EngineChoice = 'pglite' | 'postgres' | 'both';

interface Args {
  sections: Section[];
  name: string;
  quick: boolean;
  engines: ('pglite' | 'postgres')[];
  clients: 'child' | 'inline';
  instrument: boolean;
  pairs: number | undefined;
  messages: number | undefined;
  postgresUrl: string;
  /** Longest wait for an idle machine before each relay run (0: don't wait). */
  waitQuietMs: number;
  /** CPU-profile the server's main thread over each relay run's measured phase. */
  profile: boolean;
  /** `cluster` only (bench/cluster.ts). */
  cluster: { devices?: number; nodeCounts?: number[]; systems?: SystemKind[]; inFlight?: number; measureSeconds?: number; clientProcesses?: number; brokerClients?: 'raw' | 'lib' };
  /** Router tick of the routing section's server (default: the server's default). */
  tickMs: number | undefined;
}

const USAGE = 'usage: npm run bench -- [relay|tlog|audit|routing|mls|sdk|all] [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--instrument] [--pairs N] [--messages N] [--postgres-url URL] [--wait-quiet SECONDS] [--profile] [--tick-ms N]'
  + '\n       npm run bench -- cluster [--quick] [--devices N] [--nodes 1,2,3] [--systems nats,jetstream,mqtt,parley] [--in-flight N] [--seconds S] [--client-procs N] [--broker-clients raw|lib] [--postgres-url URL] [--wait-quiet SECONDS]';

function parseArgs(argv: readonly string[]): Args {
  let name = 'all';
  let quick = false;
  let engine: EngineChoice = 'both';
  let clients: 'child' | 'inline' = 'child';
  let instrument = false;
  let waitQuietMs = 60_000;
  let profile = false;
  let pairs: number | undefined;
  let messages: number | undefined;
  const cluster: Args['cluster'] = {};
  let tickMs: number | undefined;
  let postgresUrl = process.env['PARLEY_BENCH_DATABASE_URL'] ?? DEFAULT_POSTGRES_URL;
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const positive = (v: string, flag: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const take = () => inline ?? value(i++, flag);
    switch (flag) {
      case 'relay':
      case 'tlog':
      case 'audit':
      case 'routing':
      case 'mls':
      case 'sdk':
      case 'cluster':
      case 'all':
        name = flag;
        break;
      case '--devices':
        cluster.devices = positive(take(), flag);
        break;
      case '--nodes':
        cluster.nodeCounts = take().split(',').map((v) => positive(v, flag));
        break;
      case '--systems': {
        const list = take().split(',');
        const known: SystemKind[] = ['parley', 'nats', 'jetstream', 'mqtt'];
        if (!list.every((v): v is SystemKind => (known as string[]).includes(v))) throw new Error(`--systems takes ${known.join(',')}\n${USAGE}`);
        cluster.systems = list;
        break;
      }
      case '--in-flight':
        cluster.inFlight = positive(take(), flag);
        break;
      case '--seconds':
        cluster.measureSeconds = positive(take(), flag);
        break;
      case '--client-procs':
        cluster.clientProcesses = positive(take(), flag);
        break;
      case '--broker-clients': {
        const v = take();
        if (v !== 'raw' && v !== 'lib') throw new Error(`--broker-clients must be raw or lib\n${USAGE}`);
        cluster.brokerClients = v;
        break;
      }
      case '--quick':
        quick = true;
        break;
      case '--engine': {
        const v = take();
        if (v !== 'pglite' && v !== 'postgres' && v !== 'both') throw new Error(`--engine must be pglite, postgres or both\n${USAGE}`);
        engine = v;
        break;
      }
      case '--clients': {
        const v = take();
        if (v !== 'child' && v !== 'inline') throw new Error(`--clients must be child or inline\n${USAGE}`);
        clients = v;
        break;
      }
      case '--wait-quiet':
        waitQuietMs = Number(take()) * 1000;
        if (!Number.isFinite(waitQuietMs) || waitQuietMs < 0) throw new Error(`--wait-quiet needs seconds\n${USAGE}`);
        break;
      case '--profile':
        profile = true;
        break;
      case '--instrument':
        instrument = true;
        break;
      case '--pairs':
        pairs = positive(take(), flag);
        break;
      case '--messages':
        messages = positive(take(), flag);
        break;
      case '--postgres-url':
        postgresUrl = take();
        break;
      case '--tick-ms':
        tickMs = positive(take(), flag);
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}\n${USAGE}`);
    }
  }
  const sections: Section[] = name === 'all' ? ['relay', 'tlog', 'audit', 'routing', 'mls', 'sdk'] : [name as Section];
  const engines: ('pglite' | 'postgres')[] = engine === 'both' ? ['pglite', 'postgres'] : [engine];
  return { sections, name, quick, engines, clients, instrument, pairs, messages, postgresUrl, waitQuietMs, profile, tickMs, cluster };
}

const started = performance.now();
function progress(line: string): void {
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
}

/** True when a PostgreSQL server answers `SELECT 1` at the URL. */
async function postgresReachable(url: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  const { hostname, port } = new URL(url);
  const tcp = await new Promise<boolean>((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 5432) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  if (!tcp) return { ok: false, reason: `nothing listens on ${hostname}:${port || 5432}` };
  const db = new PostgresDatabase({ connectionString: url });
  try {
    await db.ping();
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `PostgreSQL at ${hostname}:${port || 5432} refused: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await db.close().catch(() => {});
  }
}

/** Busy fraction of all cores over `ms` (from /proc/stat; 0 where unavailable). */
async function machineBusy(ms: number): Promise<number> {
  const read = async () => {
    try {
      const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      const idle = (f[3] ?? 0) + (f[4] ?? 0);
      return { idle, total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return { idle: 0, total: 0 };
    }
  };
  const a = await read();
  await new Promise((r) => setTimeout(r, ms));
  const b = await read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/**
 * Waits (up to `maxMs`) until the machine has been nearly idle for 3 s in a row, so
 * other people's builds on a shared box do not land in the measurement.
 */
async function waitForQuiet(maxMs: number): Promise<{ waitedMs: number; busy: number }> {
  const t0 = performance.now();
  let quiet = 0;
  let busy = 0;
  let told = false;
  while (performance.now() - t0 < maxMs) {
    busy = await machineBusy(1000);
    quiet = busy < 0.1 ? quiet + 1 : 0;
    if (quiet >= 3) break;
    if (!told && busy >= 0.1) {
      progress(`machine busy (${Math.round(busy * 100)}% of all cores in use by other processes); waiting up to ${Math.round(maxMs / 1000)} s for it to go quiet`);
      told = true;
    }
  }
  return { waitedMs: Math.round(performance.now() - t0), busy: Math.round(busy * 100) / 100 };
}

interface SectionOutcome {
  name: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  result?: unknown;
  seconds?: number;
}

/** Imports an optional benchmark module owned by someone else; undefined when the file is absent. */
async function optionalBench(
  file: string,
  exportName: string,
): Promise<((opts: { quick?: boolean; onProgress?: (line: string) => void }) => Promise<unknown>) | undefined> {
  const path = join(dirname(fileURLToPath(import.meta.url)), file);
  if (!existsSync(path)) return undefined;
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== 'function') throw new Error(`${file} does not export ${exportName}()`);
  return fn as (opts: { quick?: boolean; onProgress?: (line: string) => void }) => Promise<unknown>;
}

// --- printing --------------------------------------------------------------------------

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const num = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const ratio = (n: number) => `${n.toFixed(2)}×`;

function printRelay(results: readonly RelayBenchResult[]): void {
  if (results.length === 0) return;
  console.log('\nRelay throughput (durable; %s pairs, window %s/sender, ~%s B MLS messages, receivers ack)', results[0]!.config.pairs, results[0]!.config.windowPerSender, results[0]!.config.payloadBytes.mean);
  console.log(
    table(
      ['engine', 'mode', 'msgs/s', 'msgs/s/core', 'e2e p50', 'e2e p99', 'e2e p99.9', 'ack p50', 'ack p99', 'ack p99.9', 'measured', 'errors'],
      results.map((r) => [
        r.engine,
        r.quick ? 'quick' : 'full',
        num(r.messagesPerSecond),
        num(r.messagesPerSecondPerCore),
        ms(r.e2eMs.p50),
        ms(r.e2eMs.p99),
        ms(r.e2eMs.p999),
        ms(r.submitAckMs.p50),
        ms(r.submitAckMs.p99),
        ms(r.submitAckMs.p999),
        `${num(r.config.measuredMessages)} in ${r.measuredSeconds.toFixed(1)}s`,
        String(r.totals.submitErrors + r.totals.ackErrors + r.totals.otherErrors + r.totals.payloadMismatches),
      ]),
    ),
  );
  console.log('(latencies in ms; e2e = sender submit → receiver has the deliver frame; ack = submit → durable `submitted`)');

  console.log('\nCPU over the measured phase (%s cores)', results[0]!.cpu.cores);
  console.log(
    table(
      ['engine', 'server proc', 'server loop', 'loop lag p50/p99 ms', 'clients', 'postgres', 'other procs', 'machine', 'msgs/server-cpu-s', 'msgs/machine-cpu-s'],
      results.map((r) => {
        const core = (v: number | undefined) => (v === undefined ? '—' : `${(v / 1000 / r.measuredSeconds).toFixed(2)} cores`);
        return [
          r.engine,
          core(r.cpu.serverProcessMs),
          `${Math.round(r.cpu.serverEventLoopUtilization * 100)}% busy`,
          `${ms(r.cpu.serverEventLoopDelayMs.p50)}/${ms(r.cpu.serverEventLoopDelayMs.p99)}`,
          r.cpu.clientProcessMs === undefined ? 'inline' : `${core(r.cpu.clientProcessMs)} (loop ${Math.round(r.clientEventLoopUtilization * 100)}%)`,
          core(r.cpu.postgresMs),
          core(r.cpu.otherMs),
          `${Math.round(r.cpu.machineUtilization * 100)}%`,
          num(r.messagesPerServerCpuSecond),
          num(r.messagesPerMachineCpuSecond),
        ];
      }),
    ),
  );

  for (const r of results) {
    console.log(`server threads (${r.engine}): ${r.cpu.serverThreads.map((t) => `${t.thread} ${t.cores.toFixed(2)}`).join(', ')} cores`);
  }

  console.log('\nContext (same workload on this machine, measured by the product owner)');
  console.log(
    table(
      ['reference', 'msgs/s', 'p99 ms', ...results.flatMap((r) => [`${r.engine} thrpt`, `${r.engine} p99`])],
      RELAY_ANCHORS.map((a) => [
        `${a.name}${a.durable ? '' : ' (not durable)'}`,
        num(a.messagesPerSecond),
        String(a.p99Ms),
        ...results.flatMap((r) => {
          const c = r.anchors.find((x) => x.name === a.name)!;
          return [ratio(c.throughputRatio), ratio(c.p99Ratio)];
        }),
      ]),
    ),
  );
  console.log('(ratios are ours ÷ reference: throughput higher is better, p99 lower is better)');
  for (const r of results.filter((x) => x.engine === RELAY_TARGET.engine)) {
    console.log(
      'Target ≥ %s msgs/s durable on PostgreSQL with p99 ≤ %s ms: %s (%s msgs/s = %s of target, p99 %s ms)',
      num(RELAY_TARGET.messagesPerSecond),
      RELAY_TARGET.p99Ms,
      r.target.met ? 'MET' : 'NOT MET',
      num(r.messagesPerSecond),
      ratio(r.target.throughputRatio),
      ms(r.e2eMs.p99),
    );
  }
  for (const r of results) {
    if (r.db) {
      console.log(`\nServer database activity (${r.engine}, measured phase): ${num(r.db.transactionsPerSecond)} tx/s, ${r.db.statementsPerTransaction} statements/tx, tx p50 ${ms(r.db.transactionMs.p50)} ms p99 ${ms(r.db.transactionMs.p99)} ms; append batch p50 ${r.db.appendBatch.p50} mean ${r.db.appendBatch.mean} max ${r.db.appendBatch.max}; ack batch (requests) p50 ${r.db.ackBatchRequests.p50} mean ${r.db.ackBatchRequests.mean}`);
      console.log(
        table(
          ['statement', 'count', 'mean ms', 'total ms', 'rows p50', 'rows mean'],
          r.db.statements.map((s) => [s.statement, num(s.count), ms(s.meanMs), num(s.totalMs), s.batchRows ? String(s.batchRows.p50) : '', s.batchRows ? String(s.batchRows.mean) : '']),
        ),
      );
    }
    if (r.db && r.db.planProbes.length > 0) {
      console.log(`\nEXPLAIN ANALYZE of hot statements after the load (${r.engine}; 200 most recent deliveries)`);
      console.log(table(['statement', 'exec ms', 'scans (actual rows)'], r.db.planProbes.map((p) => [p.statement, ms(p.executionMs), p.scans.join('; ')])));
    }
    if (r.postgres) {
      const p = r.postgres;
      console.log(
        `\nPostgreSQL per message (whole load, ${num(p.messages)} messages): WAL ${num(p.walBytesPerMessage)} B in ${p.walRecordsPerMessage} records (${p.walFullPageImagesPerMessage} full-page images), ${p.commitsPerMessage} commits`,
      );
      console.log(
        table(
          ['table', 'inserted', 'updated', 'hot updated', 'deleted'],
          Object.entries(p.tables).map(([name, t]) => [name, String(t.inserted), String(t.updated), String(t.hotUpdated), String(t.deleted)]),
        ),
      );
    }
    if (r.profile) {
      console.log(`\nServer main-thread CPU profile (${r.engine}, measured phase; ${r.profile.path})`);
      console.log(formatSummary({ ...r.profile, selfByFunction: r.profile.selfByFunction.slice(0, 20), selfByModule: r.profile.selfByModule.slice(0, 12) }));
    }
    for (const n of r.notes) console.log(`note (${r.engine}): ${n}`);
    for (const e of r.errorSamples) console.log(`error sample (${r.engine}): ${e}`);
  }
}

/** Numeric leaves of an unknown result, as `path = value` rows (for benchmarks this runner does not know). */
function leaves(value: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (out.length >= 60) return out;
  if (typeof value === 'number' || typeof value === 'boolean') out.push([prefix, String(value)]);
  else if (typeof value === 'string' && prefix !== '' && value.length <= 60) out.push([prefix, value]);
  else if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'number')) {
      if (value.length <= 8) out.push([prefix, value.join(', ')]);
    } else {
      value.forEach((v, i) => {
        // Name items by a distinguishing field when they have one.
        const o = (v ?? {}) as Record<string, unknown>;
        const label = typeof o['provider'] === 'string' ? o['provider'] : typeof o['name'] === 'string' ? o['name'] : typeof o['members'] === 'number' ? `${o['members']} members` : String(i);
        leaves(v, `${prefix}[${label}]`, out);
      });
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'runs' || k.endsWith('Runs')) continue; // per-run details stay in the JSON
      leaves(v, prefix === '' ? k : `${prefix}.${k}`, out);
    }
  }
  return out;
}

function printTlog(r: TlogBenchResult): void {
  if (r.results.length === 0) return;
  console.log('\nTransparency log (durable; %s-byte entries, batches of up to %s, a signed checkpoint per batch)', r.results[0]!.entryBytes, r.results[0]!.batchSize);
  const tp = (t: { entriesPerSecond: number; batches: number; entries: number; processCores: number }) => `${num(t.entriesPerSecond)}/s (${num(t.entries)} in ${num(t.batches)} batches, ${t.processCores} cores)`;
  console.log(
    table(
      ['engine', 'appends, one per commit', 'appends, 100 per tx', 'sequencing a backlog', 'batch p50/p99 ms'],
      r.results.map((e) => [e.engine, tp(e.appendSingle), tp(e.appendBatched), tp(e.sequencing), `${ms(e.sequencing.batchMs.p50)}/${ms(e.sequencing.batchMs.p99)}`]),
    ),
  );
  console.log(
    table(
      ['engine', 'tree size', 'build', 'inclusion proof p50/p99 ms', 'verify p50 µs', 'proof bytes', 'consistency p50 ms', 'full tile read p50 ms'],
      r.results.flatMap((e) =>
        e.proofs.map((p) => [
          e.engine,
          num(p.treeSize),
          `${p.buildSeconds} s (${num(p.buildEntriesPerSecond)}/s)`,
          `${ms(p.inclusionProofMs.p50)}/${ms(p.inclusionProofMs.p99)}`,
          ms(p.verifyInclusionUs.p50),
          `${p.proofBytes.mean} (max ${p.proofBytes.max})`,
          ms(p.consistencyProofMs.p50),
          ms(p.fullTileReadMs.p50),
        ]),
      ),
    ),
  );
  console.log(`Anchors: ${r.anchors.map((a) => `${a.name} ~${num(a.entriesPerSecond)}/s`).join('; ')}`);
  for (const e of r.results) {
    console.log(`${e.engine}: best append rate ÷ anchor: ${e.anchors.map((a) => `${a.name} ${ratio(a.ratio)}`).join(', ')}`);
    if (e.target) console.log(`Target ≥ ${num(r.target.entriesPerSecond)} entries/s on PostgreSQL: ${e.target.met ? 'MET' : 'NOT MET'} (${ratio(e.target.ratio)})`);
    for (const n of e.notes) console.log(`note (${e.engine}): ${n}`);
  }
  for (const s of r.skipped) console.log(`tlog/${s.engine}: skipped — ${s.reason}`);
}

function printAudit(r: AuditBenchResult): void {
  for (const s of r.skipped) console.log(`\naudit/${s.engine}: skipped — ${s.reason}`);
  if (r.results.length === 0) return;
  const c = r.results[0]!.config;
  console.log(
    '\nAudit log: signed commitments accepted end to end (HTTP submit → 201 carrying the audit-log index, i.e. durable and sequenced; %s in flight, %s customers, %s B requests, clients %s, routing %s)',
    c.concurrency,
    c.customers,
    num(r.results[0]!.submit.requestBytes.mean),
    c.clients,
    c.routing ? 'on' : 'off',
  );
  console.log(
    table(
      ['engine', 'mode', 'commitments/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'all sequenced', 'checkpoints', 'server CPU/commitment', 'failures'],
      r.results.map((e) => [
        e.engine,
        r.quick ? 'quick' : 'full',
        num(e.submit.commitmentsPerSecond),
        ms(e.submit.latencyMs.p50),
        ms(e.submit.latencyMs.p90),
        ms(e.submit.latencyMs.p99),
        ms(e.submit.latencyMs.p999),
        ms(e.submit.latencyMs.max),
        `${num(e.submit.accepted)} in ${e.submit.sequencedSeconds.toFixed(2)} s (${num(e.submit.sequencedPerSecond)}/s)`,
        `${num(e.submit.checkpoints)} (${e.submit.entriesPerCheckpoint} each)`,
        `${e.submit.serverCpuMsPerCommitment} ms`,
        String(e.submit.failures + e.submit.duplicates),
      ]),
    ),
  );
  console.log('(latencies in ms per submit; "all sequenced" = first measured submit → the published checkpoint covers every accepted commitment)');
  console.log(
    table(
      ['engine', 'server proc', 'replay client', 'postgres', 'other procs', `machine (${r.results[0]!.submit.cpu.cores} cores)`],
      r.results.map((e) => {
        const c = e.submit.cpu;
        return [e.engine, `${c.server} cores`, e.config.clients === 'child' ? `${c.client} cores` : 'inline', e.engine === 'postgres' ? `${c.postgres} cores` : '—', `${c.other} cores`, `${c.machine} cores`];
      }),
    ),
  );
  console.log('\nEvidence per message (export = Device.exportEvidence; endpoint = GET /v1/audit/messages/:id/evidence; verify = verifyEvidenceBundle, offline)');
  console.log(
    table(
      ['engine', 'receipts', 'messages', 'tree size', 'export p50/p99 ms', 'endpoint p50/p99 ms', 'verify p50/p99 ms', 'bundle bytes p50 (min–max)'],
      r.results.flatMap((e) =>
        e.evidence.map((v) => [
          e.engine,
          String(v.receipts),
          String(v.messages),
          num(v.treeSize),
          `${ms(v.exportMs.p50)}/${ms(v.exportMs.p99)}`,
          `${ms(v.endpointMs.p50)}/${ms(v.endpointMs.p99)}`,
          `${ms(v.verifyMs.p50)}/${ms(v.verifyMs.p99)}`,
          `${num(v.bundleBytes.p50)} (${num(v.bundleBytes.min)}–${num(v.bundleBytes.max)})`,
        ]),
      ),
    ),
  );
  console.log(`\nAnchors (entries/s sequenced): ${r.anchors.map((a) => `${a.name} ~${num(a.entriesPerSecond)}/s`).join('; ')}`);
  for (const e of r.results) {
    console.log(`${e.engine}: sequenced commitments/s ÷ anchor: ${e.anchors.map((a) => `${a.name} ${ratio(a.ratio)}`).join(', ')}`);
  }
  for (const e of r.results) {
    if (e.profile) {
      console.log(`\nServer main-thread CPU profile (${e.engine}, measured submissions; ${e.profile.path}): ${e.profile.totalMs} ms sampled, idle ${e.profile.idlePercent}%, GC ${e.profile.gcPercent}%`);
      console.log(table(['inclusive', '%', 'ms'], e.profile.inclusive.map((x) => [x.name, x.percent.toFixed(1), num(x.ms)])));
    }
    for (const n of e.notes) console.log(`note (audit/${e.engine}): ${n}`);
    for (const s of e.submit.errorSamples) console.log(`error sample (audit/${e.engine}): ${s}`);
  }
}

function printRouting(r: RoutingBenchResult): void {
  for (const s of r.skipped) console.log(`\nrouting/${s.engine}: skipped — ${s.reason}`);
  if (r.results.length === 0) return;
  const pp = (l: { p50: number; p99: number }) => `${ms(l.p50)}/${ms(l.p99)}`;
  const h0 = r.results[0]!.hotPath.config;
  console.log(
    '\nRouting overhead on the hot path (audited Sender.send to connected customers, path app; %s customers per server, 1 in flight each, %s measured per configuration in %s alternating rounds, clients %s)',
    h0.customers,
    num(h0.measuredPerConfig),
    h0.rounds,
    h0.clients,
  );
  console.log(
    table(
      ['engine', 'routing', 'msgs/s', 'send p50/p99', 'submit p50/p99', 'e2e p50/p99', 'server CPU/msg', 'clients CPU/msg', 'postgres CPU/msg', 'errors'],
      r.results.flatMap((e) => [
        ...[e.hotPath.disabled, e.hotPath.enabled].map((f) => [
          e.engine,
          f.routing,
          num(f.messagesPerSecond),
          pp(f.sendMs),
          pp(f.submitMs),
          pp(f.e2eMs),
          `${ms(f.cpuMsPerMessage.server)} ms`,
          f.cpuMsPerMessage.clients > 0 ? `${ms(f.cpuMsPerMessage.clients)} ms` : '—',
          e.engine === 'postgres' ? `${ms(f.cpuMsPerMessage.postgres)} ms` : '—',
          String(f.errors),
        ]),
        [
          e.engine,
          'on ÷ off',
          ratio(e.hotPath.ratios.throughput),
          `${ratio(e.hotPath.ratios.sendP50)}/${ratio(e.hotPath.ratios.sendP99)}`,
          `${ratio(e.hotPath.ratios.submitP50)}/${ratio(e.hotPath.ratios.submitP99)}`,
          `${ratio(e.hotPath.ratios.e2eP50)}/${ratio(e.hotPath.ratios.e2eP99)}`,
          `${ratio(e.hotPath.ratios.serverCpuPerMessage)} (+${ms(e.hotPath.deltas.serverCpuMsPerMessage)} ms)`,
          '',
          '',
          '',
        ],
      ]),
    ),
  );
  console.log('(ms; send = Sender.send call → resolved; submit = POST /v1/messages → 201, durable and sequenced in the audit log; e2e = send call → the device’s message event; server CPU = the servers’ process incl. PGlite worker, + postgres for that engine in the ratio)');
  for (const e of r.results) {
    const h = e.hotPath;
    console.log(
      `${e.engine}, routing on: ack frame → route delivered p50 ${ms(h.ackToDeliveredMs.p50)} p99 ${ms(h.ackToDeliveredMs.p99)} max ${ms(h.ackToDeliveredMs.max)} ms; message event → ack frame p50 ${ms(h.messageToAckMs.p50)} ms; send → route delivered p50 ${ms(h.sendToDeliveredMs.p50)} p99 ${ms(h.sendToDeliveredMs.p99)} ms; routes ${Object.entries(h.routes).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    );
  }

  const c0 = r.results[0]!.config;
  console.log(
    '\nFallback paths (policy: %s; router tick %s ms; asleep customers, %s per path)',
    c0.fallbackChain.map((s) => `${s.step} ${s.timeoutMs} ms`).join(' → '),
    c0.tickMs,
    c0.fallbackCustomersPerPath,
  );
  console.log(
    table(
      ['engine', 'path', 'ok', 'timeouts waited', 'send→provider', 'send→handset', 'send→message', 'send→delivered', 'overhead (−timeouts)', 'routing alone', '→1st step', 'late/step', 'deliv. step', 'handset→message', 'ack→delivered'],
      r.results.flatMap((e) =>
        e.fallback.map((f) => [
          e.engine,
          f.name,
          `${f.ok}/${f.messages}`,
          `${ms(f.timeoutsMs)} (${f.waitedSteps.map((x) => x.split(' ')[0]).join('+')})`,
          pp(f.sendToProviderMs),
          pp(f.sendToHandsetMs),
          pp(f.sendToMessageMs),
          pp(f.sendToDeliveredMs),
          pp(f.overheadToDeliveredMs),
          pp(f.routingOverheadMs),
          pp(f.server.toFirstStepMs),
          pp(f.server.latenessPerWaitedStepMs),
          pp(f.server.deliveringStepMs),
          pp(f.handsetToMessageMs),
          pp(f.ackToDeliveredMs),
        ]),
      ),
    ),
  );
  console.log(
    '(ms p50/p99; provider = the emulator received the delivering item; overhead = send→delivered − configured timeouts waited; routing alone = route created → provider has the item − timeouts, split on the server’s clock into: →1st step = route committed → first step ran; late/step = a waited step’s timeout expired → the next step started (tick + database), per waited step; deliv. step = delivering step started → provider has the item)',
  );

  console.log('\nWeb path (customer without the app: SMS link → page → code to the bank’s second factor → consent → ciphertext → AES-GCM in the "browser", over HTTP)');
  console.log(
    table(
      ['engine', 'ok', 'sendToWeb', 'send→SMS', 'page', 'describe', 'challenge', 'code', 'open', 'decrypt', 'SMS→decrypted', 'total'],
      r.results.map((e) => {
        const w = e.web;
        return [e.engine, `${w.ok}/${w.messages}`, pp(w.sendMs), pp(w.sendToSmsMs), pp(w.pageMs), pp(w.describeMs), pp(w.challengeMs), pp(w.codeMs), pp(w.openMs), pp(w.decryptMs), pp(w.smsToDecryptedMs), pp(w.totalMs)];
      }),
    ),
  );
  console.log(`(ms p50/p99; send→SMS includes the Twilio emulator's carrier: 2 status callbacks ${c0.twilioCallbackDelayMs} ms apart)`);

  console.log('\nProvider send latency (Channel.send round trip to the emulator)');
  console.log(
    table(
      ['engine', 'channel', 'while routing p50/p99', 'sends', 'histogram mean', 'idle probe p50/p99', 'capability checks p50'],
      r.results.flatMap((e) =>
        e.providers.map((p) => [
          e.engine,
          p.channel,
          pp(p.sendMs),
          String(p.sends),
          `${ms(p.metricsMeanMs)} (${p.metricsCount})`,
          pp(p.idleProbe.sendMs),
          p.capabilitiesMs ? `${ms(p.capabilitiesMs.p50)} (${p.capabilityChecks})` : '—',
        ]),
      ),
    ),
  );
  console.log('(ms; while routing = timed around the real adapter during the fallback and web runs, handsets reacting in the same process; histogram = the server’s parley_channel_send_seconds over the same sends; idle probe = the adapter called directly, one send at a time)');
  for (const e of r.results) {
    for (const n of e.notes) console.log(`note (routing/${e.engine}): ${n}`);
    for (const f of e.fallback) for (const x of f.errorSamples) console.log(`error sample (routing/${e.engine}, ${f.name}): ${x}`);
    for (const x of e.web.errorSamples) console.log(`error sample (routing/${e.engine}, web): ${x}`);
  }
}

function printGeneric(name: string, result: unknown): void {
  console.log(`\n${name}`);
  const rows = leaves(result);
  console.log(table(['figure', 'value'], rows));
  if (rows.length >= 60) console.log('(truncated; full figures in the JSON file)');
}

// --- main ------------------------------------------------------------------------------

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const machine = {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemBytes: totalmem(),
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  const git = (() => {
    try {
      const cwd = join(dirname(fileURLToPath(import.meta.url)), '..');
      const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages'], { cwd, encoding: 'utf8' }).trim().length > 0;
      return { commit, uncommittedChangesInPackages: dirty };
    } catch {
      return undefined;
    }
  })();
  progress(`bench ${args.name}${args.quick ? ' --quick' : ''} on node ${machine.node}, ${machine.cpus} × ${machine.cpuModel}, ${machine.totalMemGiB} GiB`);

  const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/:/g, '-');
  const outcomes: SectionOutcome[] = [];
  const relayResults: RelayBenchResult[] = [];

  if (args.sections.includes('relay')) {
    for (const engine of args.engines) {
      const name = `relay/${engine}`;
      if (engine === 'postgres') {
        const reach = await postgresReachable(args.postgresUrl);
        if (!reach.ok) {
          progress(`${name}: skipped (${reach.reason})`);
          outcomes.push({ name, status: 'skipped', reason: reach.reason });
          continue;
        }
      }
      if (args.waitQuietMs > 0) {
        const q = await waitForQuiet(args.waitQuietMs);
        if (q.busy >= 0.1) progress(`${name}: machine still ${Math.round(q.busy * 100)}% busy after ${Math.round(q.waitedMs / 1000)} s; running anyway`);
      }
      const t0 = performance.now();
      try {
        const result = await runRelayBench({
          engine,
          quick: args.quick,
          onProgress: progress,
          clients: args.clients,
          instrument: args.instrument,
          ...(args.profile ? { profilePath: join(resultsDir, `relay-${engine}${args.quick ? '-quick' : ''}-${stamp}.cpuprofile`) } : {}),
          databaseUrl: args.postgresUrl,
          ...(args.pairs !== undefined ? { pairs: args.pairs } : {}),
          ...(args.messages !== undefined ? { messages: args.messages } : {}),
        });
        relayResults.push(result);
        outcomes.push({ name, status: 'ok', result, seconds: Math.round((performance.now() - t0) / 100) / 10 });
        progress(`${name}: ${result.messagesPerSecond} msgs/s, e2e p99 ${result.e2eMs.p99} ms`);
      } catch (error) {
        const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
        progress(`${name}: FAILED ${reason}`);
        outcomes.push({ name, status: 'failed', reason });
      }
    }
  }

  if (args.sections.includes('tlog')) {
    const t0 = performance.now();
    try {
      const result = await runTlogBench({ quick: args.quick, engines: args.engines, databaseUrl: args.postgresUrl, onProgress: progress });
      outcomes.push({ name: 'tlog', status: 'ok', result, seconds: Math.round((performance.now() - t0) / 100) / 10 });
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`tlog: FAILED ${reason}`);
      outcomes.push({ name: 'tlog', status: 'failed', reason });
    }
  }

  if (args.sections.includes('audit')) {
    const t0 = performance.now();
    try {
      const result = await runAuditBench({
        quick: args.quick,
        engines: args.engines,
        databaseUrl: args.postgresUrl,
        clients: args.clients,
        ...(args.messages !== undefined ? { commitments: args.messages } : {}),
        ...(args.profile ? { profileDir: resultsDir } : {}),
        ...(args.waitQuietMs > 0
          ? {
              beforeEngine: async (engine: 'pglite' | 'postgres') => {
                const q = await waitForQuiet(args.waitQuietMs);
                if (q.busy >= 0.1) progress(`audit/${engine}: machine still ${Math.round(q.busy * 100)}% busy after ${Math.round(q.waitedMs / 1000)} s; running anyway`);
              },
            }
          : {}),
        onProgress: progress,
      });
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      if (result.failures > 0) {
        const reason = `${result.failures} commitment submissions or evidence checks failed (see errorSamples and notes)`;
        progress(`audit: FAILED ${reason}`);
        outcomes.push({ name: 'audit', status: 'failed', reason, result, seconds });
      } else {
        outcomes.push({ name: 'audit', status: 'ok', result, seconds });
      }
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`audit: FAILED ${reason}`);
      outcomes.push({ name: 'audit', status: 'failed', reason });
    }
  }

  if (args.sections.includes('routing')) {
    const t0 = performance.now();
    try {
      const result = await runRoutingBench({
        quick: args.quick,
        engines: args.engines,
        databaseUrl: args.postgresUrl,
        clients: args.clients,
        ...(args.messages !== undefined ? { messages: args.messages } : {}),
        ...(args.tickMs !== undefined ? { tickMs: args.tickMs } : {}),
        ...(args.waitQuietMs > 0
          ? {
              beforeEngine: async (engine: 'pglite' | 'postgres') => {
                const q = await waitForQuiet(args.waitQuietMs);
                if (q.busy >= 0.1) progress(`routing/${engine}: machine still ${Math.round(q.busy * 100)}% busy after ${Math.round(q.waitedMs / 1000)} s; running anyway`);
              },
            }
          : {}),
        onProgress: progress,
      });
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      if (result.failures > 0) {
        const reason = `${result.failures} hot-path sends, fallback or web messages failed or took the wrong path (see notes and errorSamples)`;
        progress(`routing: FAILED ${reason}`);
        outcomes.push({ name: 'routing', status: 'failed', reason, result, seconds });
      } else {
        outcomes.push({ name: 'routing', status: 'ok', result, seconds });
      }
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`routing: FAILED ${reason}`);
      outcomes.push({ name: 'routing', status: 'failed', reason });
    }
  }

  if (args.sections.includes('cluster')) {
    const t0 = performance.now();
    try {
      const result = await runClusterBench({ quick: args.quick, databaseUrl: args.postgresUrl, waitQuietMs: args.waitQuietMs, onProgress: progress, ...args.cluster });
      const seconds = Math.round((performance.now() - t0) / 100) / 10;
      if (result.failures > 0) {
        const reason = `${result.failures} system runs failed or had errors (see skipped, notes and errorSamples)`;
        progress(`cluster: FAILED ${reason}`);
        outcomes.push({ name: 'cluster', status: 'failed', reason, result, seconds });
      } else {
        outcomes.push({ name: 'cluster', status: 'ok', result, seconds });
      }
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`cluster: FAILED ${reason}`);
      outcomes.push({ name: 'cluster', status: 'failed', reason });
    }
  }

  const optional: [Section, string, string][] = [
    ['mls', 'mls-crypto.ts', 'runMlsCryptoBench'],
    ['sdk', 'sdk.ts', 'runSdkBench'],
  ];
  for (const [section, file, exportName] of optional) {
    if (!args.sections.includes(section)) continue;
    const t0 = performance.now();
    try {
      const run = await optionalBench(file, exportName);
      if (!run) {
        progress(`${section}: skipped (bench/${file} does not exist)`);
        outcomes.push({ name: section, status: 'skipped', reason: `bench/${file} does not exist` });
        continue;
      }
      progress(`${section}: running bench/${file}${args.quick ? ' (quick)' : ''}`);
      const result = await run({ quick: args.quick, onProgress: (line) => progress(line.startsWith(`${section}:`) ? line : `${section}: ${line}`) });
      outcomes.push({ name: section, status: 'ok', result, seconds: Math.round((performance.now() - t0) / 100) / 10 });
      progress(`${section}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (error) {
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`${section}: FAILED ${reason}`);
      outcomes.push({ name: section, status: 'failed', reason });
    }
  }

  // --- report -------------------------------------------------------------------
  printRelay(relayResults);
  for (const o of outcomes) {
    if (o.status === 'ok' && o.name === 'tlog') printTlog(o.result as TlogBenchResult);
    else if (o.name === 'audit' && o.result !== undefined) printAudit(o.result as AuditBenchResult);
    else if (o.name === 'routing' && o.result !== undefined) printRouting(o.result as RoutingBenchResult);
    else if (o.name === 'cluster' && o.result !== undefined) printCluster(o.result as ClusterBenchResult);
    else if (o.status === 'ok' && !o.name.startsWith('relay/')) printGeneric(o.name === 'mls' ? 'MLS crypto (bench/mls-crypto.ts)' : 'SDK (bench/sdk.ts)', o.result);
  }
  const notOk = outcomes.filter((o) => o.status !== 'ok');
  if (notOk.length > 0) {
    console.log('');
    for (const o of notOk) console.log(`${o.name}: ${o.status} — ${(o.reason ?? '').split('\n')[0]}`);
  }

  const finishedAt = new Date();
  const report = {
    name: args.name,
    quick: args.quick,
    argv: process.argv.slice(2),
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    machine,
    git,
    context: {
      anchors: RELAY_ANCHORS,
      target: RELAY_TARGET,
      note: 'anchors: same relay workload (50 pairs, 1 KiB, window 10) measured by the product owner on this machine',
    },
    results: outcomes,
  };
  const file = join(resultsDir, `${args.name}${args.quick ? '-quick' : ''}-${stamp}.json`);
  const json = JSON.stringify(report, null, 2) + '\n';
  await writeFile(file, json);
  await writeFile(join(resultsDir, 'latest.json'), json);
  console.log(`\nresults: ${file} (and bench/results/latest.json)`);
  return outcomes.some((o) => o.status === 'failed') ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 2;
  },
);
