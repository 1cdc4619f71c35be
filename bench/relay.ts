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
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { CLASSIC_SUITE, type SuiteName } from '@parley/core/mls';
import { PostgresDatabase, startServer, type ParleyServer, type ServerConfigInput } from '@parley/server';
import { ADMIN_TOKEN, createBusiness, registerRawDevice, type TestBusiness } from '@parley/test-kit/server';
import { startProfiling, summarizeProfile, type ProfileSummary } from './cpu-profile.js';
import { inPool } from './lib/async.js';
import { runChild } from './lib/child.js';
import { DEFAULT_POSTGRES_URL, benchDatabase, dropSchema, type Engine } from './lib/engines.js';
import { CLK_TCK } from './lib/machine.js';
import type { Percentiles } from './lib/stats.js';
import { busiestThreads, pgCounters, pgSnapshot, sampleCpu, type CpuSample, type PostgresCounters } from './relay/accounting.js';
import { instrumentDatabase, planProbes, summarizeRecorder, type DbInstrumentation, type PlanProbe } from './relay/instrument.js';
import type { RelayPeerComparison } from './relay/peers.js';
import { createPairGroup, plaintextLengthFor, preEncrypt } from './relay/setup.js';
import { runClientLoad, type ClientLoadResult, type ClientLoadSpec, type ClientPairSpec, type ClientPhase } from './relay-clients.js';

export { DEFAULT_POSTGRES_URL };
export type { Percentiles } from './lib/stats.js';
export type { PostgresCounters } from './relay/accounting.js';
export type { DbInstrumentation, PlanProbe, StatementStats } from './relay/instrument.js';
export type { RelayPeerComparison, RelayPeerRun, RelayPeersResult } from './relay/peers.js';

/**
 * Reference figures from the issue (measured by the product owner with the same workload).
 * Secondary: `npm run bench -- relay` measures mosquitto and JetStream itself in the same
 * run (bench/relay/peers.ts) and compares against those first.
 */
export const RELAY_ANCHORS = [
  { name: 'Node WebSocket relay, no storage', messagesPerSecond: 43_000, p99Ms: 20, durable: false },
  { name: 'mosquitto QoS 1', messagesPerSecond: 20_000, p99Ms: 77, durable: false },
  { name: 'NATS JetStream, file storage', messagesPerSecond: 8_500, p99Ms: 160, durable: true },
  { name: 'prosody (XMPP)', messagesPerSecond: 4_000, p99Ms: 310, durable: false },
] as const;

/** The issue's targets per engine (p99: end to end, send → the receiver has it). */
export const RELAY_TARGET = {
  postgres: { messagesPerSecond: 30_000, p99Ms: 40, durability: 'fsync-durable before the submit is acknowledged' },
  pglite: { messagesPerSecond: 20_000, p99Ms: undefined, durability: 'PGlite data directory' },
} as const satisfies Record<Engine, { messagesPerSecond: number; p99Ms: number | undefined; durability: string }>;

/**
 * The relay workload's message counts: measured deliveries (default 150 000, quick 15 000)
 * and the warm-up before them (20 %, at least two windows per pair). The peers
 * (bench/relay/peers.ts) get the same counts.
 *
 * @example
 * relayMessageCounts({ pairs: 50, windowPerSender: 10, quick: true }); // { warmup: 3000, measured: 15000 }
 */
export function relayMessageCounts(o: { pairs: number; windowPerSender: number; messages?: number | undefined; quick: boolean }): { warmup: number; measured: number } {
  const measured = o.messages ?? (o.quick ? 15_000 : 150_000);
  return { warmup: Math.max(o.pairs * o.windowPerSender * 2, Math.round(measured * 0.2)), measured };
}

/** Options of {@link runRelayBench}. */
export interface RelayBenchOptions {
  engine: Engine;
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
  /** The pairs' conversations' suite (default classic); with another, devices state both and the groups use it. */
  suite?: SuiteName;
}

/** CPU over the measured phase, split by who used it. */
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

/** Our figures against one anchor. */
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

/** Everything one relay run measured. */
export interface RelayBenchResult {
  readonly name: 'relay';
  readonly engine: 'pglite' | 'postgres';
  readonly quick: boolean;
  readonly durable: string;
  readonly clients: 'child' | 'inline';
  /** The suite of the pairs' conversations. */
  readonly suite: SuiteName;
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
  /** Against the issue's reference figures (secondary: see `peers`). */
  readonly anchors: readonly AnchorComparison[];
  /** Against mosquitto / JetStream measured in the same run (bench/relay/peers.ts; empty until they ran). */
  readonly peers: readonly RelayPeerComparison[];
  /** This engine's target (RELAY_TARGET). */
  readonly target: {
    readonly engine: Engine;
    readonly messagesPerSecond: number;
    readonly p99Ms: number | undefined;
    readonly durability: string;
    readonly met: boolean;
    readonly throughputRatio: number;
  };
  readonly notes: readonly string[];
  readonly errorSamples: readonly string[];
}

// --- the benchmark -------------------------------------------------------------------

function relayTarget(engine: Engine, mps: number, p99: number): RelayBenchResult['target'] {
  const t: { messagesPerSecond: number; p99Ms: number | undefined; durability: string } = RELAY_TARGET[engine];
  const met = mps >= t.messagesPerSecond && (t.p99Ms === undefined || p99 <= t.p99Ms);
  return { engine, ...t, met, throughputRatio: Math.round((mps / t.messagesPerSecond) * 100) / 100 };
}

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
  const { warmup, measured } = relayMessageCounts({ pairs: pairCount, windowPerSender: window, messages: opts.messages, quick });
  const uniquePerPair = quick ? 64 : 256;
  const clientsMode = opts.clients ?? 'child';
  const suiteName = opts.suite ?? CLASSIC_SUITE;
  const log = (line: string) => opts.onProgress?.(`relay[${opts.engine}] ${line}`);
  const databaseUrl = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
  const notes: string[] = [];

  const setupStart = performance.now();
  const tmp = await mkdtemp(join(tmpdir(), 'parley-bench-'));
  let schema: string | undefined;
  let server: ParleyServer | undefined;
  try {
    const bench = await benchDatabase(opts.engine, { url: databaseUrl, schemaPrefix: 'bench', pgliteDir: join(tmp, 'pgdata') });
    const database = bench.database;
    schema = bench.schema;
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
        ...(suiteName !== CLASSIC_SUITE ? { suites: [CLASSIC_SUITE, suiteName] } : {}),
      }),
    );

    log(`creating ${pairCount} MLS groups (${suiteName}) and pre-encrypting ${uniquePerPair} messages per pair`);
    let plaintextBytes = 0;
    const allSizes: number[] = [];
    const pairs: ClientPairSpec[] = await inPool(Array.from({ length: pairCount }, (_, i) => i), 4, async (i) => {
      const sender = devices[2 * i]!;
      const receiver = devices[2 * i + 1]!;
      const group = await createPairGroup(url, sender, receiver, suiteName);
      if (plaintextBytes === 0) plaintextBytes = await plaintextLengthFor(group, payloadTarget, suiteName);
      const { messages, sizes } = await preEncrypt(group, uniquePerPair, plaintextBytes, suiteName);
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
        load = await runChild<ClientLoadResult, ClientPhase>({ file: 'relay-clients.ts', specPath, failedLabel: 'clients', processLabel: 'client process', onProgress: log, onPhase });
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
      suite: suiteName,
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
      db: recorder ? summarizeRecorder(recorder, load.measuredSeconds, probes) : undefined,
      postgres: postgresCounters,
      profile: profileSummary,
      anchors,
      peers: [],
      target: relayTarget(opts.engine, mps, load.e2eMs.p99),
      notes,
      errorSamples: load.errorSamples,
    };
  } finally {
    if (server) await server.stop().catch((error: unknown) => log(`server stop failed: ${String(error)}`));
    if (schema) await dropSchema(databaseUrl, schema, log);
    await rm(tmp, { recursive: true, force: true });
  }
}
