/**
 * Audit-log benchmark (issue 4 item 7), on the real server with durable storage:
 * PGlite with a data directory, or PostgreSQL in a fresh schema (dropped afterwards).
 *
 * 1. Commitments accepted per second, end to end. A business Sender (the SDK) is
 *    enrolled with customer devices; it sends one real message to each customer
 *    (conversation created, KeyPackages claimed, Welcome). Then it "sends" many
 *    more audited messages while its `fetch` option captures each `POST /v1/messages`
 *    instead of sending it: the exact bodies the SDK builds (MLS ciphertext plus the
 *    commitment signed with the device's identity key) and its session token. Those
 *    are replayed over HTTP with a fixed number in flight (bench/audit-clients.ts, in
 *    its own process by default), so the figure is the server's path: schema, MLS
 *    framing, commitment signature check, the group-committed transaction holding
 *    the envelope, the commitment row and the log entry, sequenced in that same
 *    transaction under a signed checkpoint (tlog/sequence-direct.ts). The server answers
 *    a submission with the commitment's audit-log index, final (sequenced and covered by
 *    the published checkpoint) once that transaction commits. Every answer must be a
 *    201 with an index; the clock for "sequenced" stops when the published checkpoint
 *    covers the highest index.
 * 2. Evidence: for messages with 0, 1 and 3 receipts, the time of the SDK's
 *    `exportEvidence`, of the raw evidence endpoint, and of `verifyEvidenceBundle`
 *    (core, offline, against the logs' keys alone).
 * 3. Evidence bundle size in bytes (as JSON) for 0, 1 and 3 receipts.
 *
 * Anchors (entries/s sequenced): Trillian on MySQL ~400–500, Tessera POSIX ~10,000.
 *
 * Run alone: `npx tsx bench/audit.ts [--quick] [--engine pglite|postgres|both] [--profile] [--routing]`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type EvidenceTrust } from '@parley/core/audit';
import { MemoryKeyStore, Sender, type Device } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { startServer, type ParleyServer } from '@parley/server';
import { ADMIN_TOKEN } from '@parley/test-kit/server';
import { createBusiness, enroll, type Business } from '@parley/test-kit/sdk';
import { runReplay, type ReplayPhase, type ReplayResult, type ReplaySpec } from './audit-clients.js';
import { CapturingFetch } from './audit/capture.js';
import { runEvidence } from './audit/evidence.js';
import { auditProfile } from './audit/profile.js';
import type { AuditEngineResult, SubmitFigure } from './audit/types.js';
import { startProfiling, type CpuProfile } from './cpu-profile.js';
import { inPool } from './lib/async.js';
import { runChild } from './lib/child.js';
import { DEFAULT_POSTGRES_URL, benchDatabase, dropSchema, forEachEngine, type Engine } from './lib/engines.js';
import { CLK_TCK, machineBusyTicks, processTicks } from './lib/machine.js';
import { runStandalone } from './lib/entry.js';
import { alertText } from './lib/workload.js';
import { TLOG_ANCHORS } from './tlog.js';

export { DEFAULT_POSTGRES_URL };
export type { AuditEngineResult, AuditProfile, EvidenceFigure, SubmitFigure } from './audit/types.js';


/** Sequenced entries/s of established transparency logs (the same anchors as the tlog section). */
export const AUDIT_ANCHORS = TLOG_ANCHORS;

/** Options of {@link runAuditBench}. */
export interface AuditBenchOptions {
  quick?: boolean;
  engines?: readonly Engine[];
  databaseUrl?: string;
  /** Replay from a child process (default) or on the server's event loop. */
  clients?: 'child' | 'inline';
  /** Submissions in flight (default 32). */
  concurrency?: number;
  /** How submissions travel (audit-clients.ts `ReplaySpec.transport`; default http). */
  transport?: 'http' | 'ws';
  /** Measured submissions (default 20,000; --quick 3,000). */
  commitments?: number;
  /** Messages per evidence figure (default 50; --quick 20). */
  evidenceMessages?: number;
  /**
   * V8 CPU profile of the server's main thread over the measured submissions, written
   * to `<profileDir>/audit-<engine>-<stamp>.cpuprofile` and summarized in the result.
   */
  profileDir?: string;
  /**
   * Route each business message as well (the server's default). Default false: the audit
   * path alone. The workload's customers are offline with no channel configured, so every
   * route walks its whole chain in the background; that is the routing benchmark's subject.
   */
  routing?: boolean;
  /** Called before each engine's run (the runner waits there for an idle machine). */
  beforeEngine?: (engine: Engine) => Promise<void>;
  onProgress?: (line: string) => void;
}


/** Every engine's run, what was skipped, the anchors and the failures. */
export interface AuditBenchResult {
  quick: boolean;
  results: AuditEngineResult[];
  skipped: { engine: string; reason: string }[];
  anchors: typeof AUDIT_ANCHORS;
  /** Commitment submissions or evidence checks that failed, over all engines (must be 0). */
  failures: number;
}

/** Busy ticks of the whole machine and of PostgreSQL's processes (Linux /proc; zeros elsewhere). */
async function cpuTicks(withPostgres: boolean): Promise<{ machine: number; postgres: number }> {
  return { machine: await machineBusyTicks(), postgres: withPostgres ? await processTicks('postgres') : 0 };
}

// --- one engine ------------------------------------------------------------------------

async function runEngine(engine: Engine, opts: AuditBenchOptions, log: (line: string) => void): Promise<{ result: AuditEngineResult; failures: number }> {
  const quick = opts.quick === true;
  const measured = opts.commitments ?? (quick ? 3_000 : 20_000);
  const warmup = Math.max(200, Math.round(measured / 10));
  const customerCount = quick ? 16 : 64;
  const concurrency = opts.concurrency ?? 32;
  const evidenceMessages = opts.evidenceMessages ?? (quick ? 20 : 50);
  const clients = opts.clients ?? 'child';
  const routing = opts.routing === true;
  const databaseUrl = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
  const notes: string[] = [];
  const setupStart = performance.now();

  const tmp = await mkdtemp(join(tmpdir(), 'parley-bench-audit-'));
  let schema: string | undefined;
  let server: ParleyServer | undefined;
  const devices: Device[] = [];
  let sender: Sender | undefined;
  try {
    const bench = await benchDatabase(engine, { url: databaseUrl, schemaPrefix: 'bench_audit', pgliteDir: join(tmp, 'pgdata') });
    const database = bench.database;
    schema = bench.schema;
    log(`starting server (${engine}, ${engine === 'pglite' ? 'data dir on disk' : `schema ${schema}`}, routing ${routing ? 'on' : 'off'})`);
    server = await startServer({
      log: { level: 'error', destination: process.stderr },
      auth: { sessionTtlSeconds: 3600 },
      ...(routing ? {} : { routing: { enabled: false } }),
      adminToken: ADMIN_TOKEN,
      database,
    });
    const url = server.url;
    const db = server.db;

    const logs = (await (await fetch(`${url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
    const keys = (await (await fetch(`${url}/v1/keys`)).json()) as { vrfPublicKey: string };
    const auditLog = logs.logs.find((l) => l.name === 'audit');
    const keyLog = logs.logs.find((l) => l.name === 'keys');
    if (!auditLog || !keyLog) throw new Error(`the server lists no audit or key log: ${JSON.stringify(logs)}`);
    const trust: EvidenceTrust = { auditLogKey: auditLog.verifierKey, keyLogKey: keyLog.verifierKey, vrfPublicKey: keys.vrfPublicKey };

    // --- enrollment and first contact (real sends) ---
    const bank: Business = await createBusiness(url, `bench-bank-${engine}`);
    const capture = new CapturingFetch();
    log(`enrolling a business sender and ${customerCount} customer devices`);
    sender = await Sender.enroll({
      serverUrl: url,
      enrollmentToken: await bank.issue('alerts', 'sender', { name: 'Example Bank' }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 5,
      fetch: capture.fetch,
      ...nodeRuntime,
    });
    const customers = await inPool(Array.from({ length: customerCount }, (_, i) => `cust-${i}`), 4, async (subject) => {
      const device = await enroll(url, bank, subject, 'customer');
      devices.push(device);
      return { subject, identityId: device.identityId };
    });
    log(`first contact with ${customerCount} customers (conversation, KeyPackage claim, Welcome, one audited message each)`);
    const conversations: { conversationId: string; identityId: string }[] = [];
    for (const c of customers) {
      const sent = await sender.send(c.subject, alertText(0), { class: 'alert' });
      if (sent.audit === undefined) throw new Error('the first message was not audited');
      conversations.push({ conversationId: sent.conversationId, identityId: c.identityId });
    }
    // The customers stay offline from here on: their deliveries wait in the mailbox and
    // they send no receipts, so the measured load is the commitments alone.
    await Promise.all(devices.splice(0).map((d) => d.close()));

    // --- pre-generation (SDK work, captured, not sent) ---
    const total = warmup + measured;
    log(`pre-generating ${total.toLocaleString('en-US')} signed submissions through the SDK (captured via its fetch option)`);
    capture.capturing = true;
    const pregenStart = performance.now();
    let made = 0;
    let lastReport = pregenStart;
    const senderDevice = sender.device;
    await Promise.all(
      conversations.map(async (c, ci) => {
        for (let k = ci; k < total; k += conversations.length) {
          await senderDevice.send(c.conversationId, alertText(k + 1), { class: 'alert', audit: { recipient: c.identityId } });
          made++;
          if (performance.now() - lastReport > 2000) {
            lastReport = performance.now();
            log(`pre-generated ${made.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`);
          }
        }
      }),
    );
    capture.capturing = false;
    const pregenSeconds = (performance.now() - pregenStart) / 1000;
    if (capture.captured.length !== total) throw new Error(`captured ${capture.captured.length} submissions, expected ${total}`);
    const requests = capture.captured;
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`pre-generated ${total.toLocaleString('en-US')} in ${pregenSeconds.toFixed(1)} s; setup ${setupSeconds.toFixed(1)} s`);

    // --- 1. replay ---
    const checkpointCount = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM tlog_checkpoints WHERE log = $1', [auditLog.name]))[0]!.n);
    const spec: ReplaySpec = {
      url,
      requests: requests.map((r) => ({ authorization: r.authorization, body: r.body })),
      warmup,
      concurrency,
      logName: auditLog.name,
      progressIntervalMs: 2000,
      sequenceTimeoutMs: 120_000,
      transport: opts.transport ?? 'http',
    };
    let cpu0: NodeJS.CpuUsage | undefined;
    let cpuUsed: NodeJS.CpuUsage | undefined;
    let phaseStart = 0;
    let phaseSeconds = 0;
    let cp0: Promise<number> | undefined;
    let cp1: Promise<number> | undefined;
    const profilePath = opts.profileDir ? join(opts.profileDir, `audit-${engine}${quick ? '-quick' : ''}-${new Date().toISOString().replace(/:/g, '-')}.cpuprofile`) : undefined;
    let profiler: ReturnType<typeof startProfiling> | undefined;
    let profileDone: Promise<CpuProfile> | undefined;
    let ticks0: Promise<{ machine: number; postgres: number }> | undefined;
    let ticks1: Promise<{ machine: number; postgres: number }> | undefined;
    const onPhase = (phase: ReplayPhase) => {
      if (phase === 'measure-start') {
        ticks0 = cpuTicks(engine === 'postgres');
        if (profilePath) profiler = startProfiling();
        cpu0 = process.cpuUsage();
        phaseStart = performance.now();
        cp0 = checkpointCount();
      } else {
        cpuUsed = process.cpuUsage(cpu0);
        phaseSeconds = (performance.now() - phaseStart) / 1000;
        cp1 = checkpointCount();
        ticks1 = cpuTicks(engine === 'postgres');
        if (profiler && profilePath) profileDone = profiler.then((p) => p.stop(profilePath));
      }
    };
    let replay: ReplayResult;
    if (clients === 'child') {
      const specPath = join(tmp, 'replay-spec.json');
      await writeFile(specPath, JSON.stringify(spec));
      replay = await runChild<ReplayResult, ReplayPhase>({ file: 'audit-clients.ts', specPath, failedLabel: 'replay', processLabel: 'replay process', onProgress: log, onPhase });
    } else {
      replay = await runReplay(spec, { onProgress: log, onPhase });
    }
    const checkpoints = (await (cp1 ?? Promise.resolve(0))) - (await (cp0 ?? Promise.resolve(0)));
    if (replay.warmupFailures > 0) notes.push(`${replay.warmupFailures} warm-up submissions failed`);
    if (replay.distinctIndexes !== replay.accepted + replay.duplicates) notes.push(`indexes not distinct: ${replay.distinctIndexes} for ${replay.accepted + replay.duplicates} answers`);
    if (clients === 'inline') notes.push('clients inline: the replaying fetch shares the server’s event loop');
    const cpuMs = cpuUsed ? (cpuUsed.user + cpuUsed.system) / 1000 : 0;
    const serverProcessCores = phaseSeconds > 0 ? Math.round((cpuMs / 1000 / phaseSeconds) * 100) / 100 : 0;
    const profile = profileDone && profilePath ? auditProfile(await profileDone, profilePath) : undefined;
    const [t0, t1] = await Promise.all([ticks0 ?? cpuTicks(false), ticks1 ?? cpuTicks(false)]);
    const perSecond = (v: number) => (phaseSeconds > 0 ? Math.round((v / phaseSeconds) * 100) / 100 : 0);
    const machineCores = perSecond((t1.machine - t0.machine) / CLK_TCK);
    const postgresCores = perSecond((t1.postgres - t0.postgres) / CLK_TCK);
    const clientCores = clients === 'child' ? perSecond(replay.clientCpuMs / 1000) : 0;
    const otherCores = machineCores > 0 ? Math.max(0, Math.round((machineCores - serverProcessCores - clientCores - postgresCores) * 100) / 100) : 0;
    if (otherCores > 0.15) notes.push(`other processes used ${otherCores} cores during the measured phase (shared machine): the figures are lower than on an idle one`);
    if (profile) notes.push('profiled: the V8 sampler ran on the server’s main thread during the measured phase (slightly slower)');
    const submit: SubmitFigure = {
      measured: replay.measured,
      accepted: replay.accepted,
      duplicates: replay.duplicates,
      failures: replay.failures,
      statusCounts: replay.statusCounts,
      errorSamples: replay.errorSamples,
      latencyMs: replay.latencyMs,
      acceptedSeconds: replay.acceptedSeconds,
      commitmentsPerSecond: Math.round(replay.accepted / replay.acceptedSeconds),
      sequencedSeconds: replay.sequencedSeconds,
      sequencedPerSecond: Math.round(replay.accepted / replay.sequencedSeconds),
      lastAnswerToCoveredMs: replay.lastAnswerToCoveredMs,
      treeSize: replay.checkpointSize,
      checkpoints,
      entriesPerCheckpoint: checkpoints > 0 ? Math.round((replay.measured / checkpoints) * 10) / 10 : 0,
      serverProcessCores,
      serverCpuMsPerCommitment: replay.accepted > 0 ? Math.round((cpuMs / replay.accepted) * 100) / 100 : 0,
      cpu: { server: serverProcessCores, client: clientCores, postgres: postgresCores, other: otherCores, machine: machineCores, cores: cpus().length },
      requestBytes: replay.requestBytes,
    };
    log(
      `${submit.accepted.toLocaleString('en-US')} accepted, ${submit.failures} failures: ${submit.commitmentsPerSecond.toLocaleString('en-US')}/s, p50 ${submit.latencyMs.p50} ms p99 ${submit.latencyMs.p99} ms; all sequenced after ${submit.sequencedSeconds} s`,
    );
    let failures = replay.failures + replay.duplicates;

    // --- 2 + 3. evidence ---
    const measuredIds = requests.slice(warmup).map((r) => r.messageId);
    const ev = await runEvidence({ url, bank, sender, devices, measuredIds, evidenceMessages, trust, authorization: requests[0]!.authorization, notes, log });
    const evidence = ev.evidence;
    failures += ev.failures;

    const result: AuditEngineResult = {
      engine,
      config: { customers: customerCount, concurrency, transport: opts.transport ?? 'http', warmup, measured, clients, routing, auditBatchSize: server.config.tlog.batchSize, evidenceMessages },
      pregeneration: { messages: total, seconds: Math.round(pregenSeconds * 10) / 10, perSecond: Math.round(total / pregenSeconds) },
      submit,
      evidence,
      anchors: AUDIT_ANCHORS.map((a) => ({ name: a.name, entriesPerSecond: a.entriesPerSecond, ratio: Math.round((submit.sequencedPerSecond / a.entriesPerSecond) * 100) / 100 })),
      ...(profile ? { profile } : {}),
      notes,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
    };
    return { result, failures };
  } finally {
    await Promise.all(devices.map((d) => d.close().catch(() => {})));
    await sender?.close().catch(() => {});
    await server?.stop().catch((error: unknown) => log(`server stop failed: ${String(error)}`));
    if (schema) await dropSchema(databaseUrl, schema, log);
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs the audit benchmark on each engine; a PostgreSQL that does not answer is skipped with a reason.
 *
 * @example
 * const r = await runAuditBench({ quick: true, engines: ['pglite'], onProgress: console.error });
 * console.log(r.results[0]?.submit.commitmentsPerSecond);
 */
export async function runAuditBench(opts: AuditBenchOptions = {}): Promise<AuditBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  let failures = 0;
  const { results, skipped } = await forEachEngine(
    { section: 'audit', engines: opts.engines, databaseUrl: opts.databaseUrl, progress, beforeEngine: opts.beforeEngine },
    async (engine) => {
      const run = await runEngine(engine, opts, (line) => progress(`audit/${engine}: ${line}`));
      failures += run.failures;
      return run.result;
    },
  );
  return { quick: opts.quick === true, results, skipped, anchors: AUDIT_ANCHORS, failures };
}

// Run alone: npx tsx bench/audit.ts [--quick] [--engine pglite|postgres|both] [--profile] [--routing]
runStandalone(import.meta.url, (a, progress) =>
  runAuditBench({
    quick: a.quick,
    engines: a.engines,
    ...(a.has('--profile') ? { profileDir: tmpdir() } : {}),
    ...(a.has('--routing') ? { routing: true } : {}),
    onProgress: progress,
  }),
);
