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
 *    the envelope, the commitment row and the pending log entry, then batched
 *    sequencing under a signed checkpoint. The server answers a submission with the
 *    commitment's audit-log index, i.e. after it is sequenced. Every answer must be a
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
import { execFileSync, fork } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type SubmitRequest } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import { MemoryKeyStore, Sender, type Device, type DeviceEvent } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { PostgresDatabase, startServer, type ParleyServer } from '@parley/server';
import { ADMIN_TOKEN } from '../packages/server/test/helpers.js';
import { EventLog, createBusiness, enroll, enrollApproved, type Business } from '../packages/client/test/fixture.js';
import { runReplay, summarize, type LatencySummary, type ReplayChildMessage, type ReplayPhase, type ReplayRequest, type ReplayResult, type ReplaySpec } from './audit-clients.js';
import { DEFAULT_POSTGRES_URL, TLOG_ANCHORS } from './tlog.js';
import { startProfiling, summarizeProfile, type CpuProfile } from './cpu-profile.js';

export { DEFAULT_POSTGRES_URL };

/** Sequenced entries/s of established transparency logs (the same anchors as the tlog section). */
export const AUDIT_ANCHORS = TLOG_ANCHORS;

export interface AuditBenchOptions {
  quick?: boolean;
  engines?: readonly ('pglite' | 'postgres')[];
  databaseUrl?: string;
  /** Replay from a child process (default) or on the server's event loop. */
  clients?: 'child' | 'inline';
  /** Submissions in flight (default 32). */
  concurrency?: number;
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
  beforeEngine?: (engine: 'pglite' | 'postgres') => Promise<void>;
  onProgress?: (line: string) => void;
}

export interface SubmitFigure {
  measured: number;
  accepted: number;
  duplicates: number;
  failures: number;
  statusCounts: Record<string, number>;
  errorSamples: string[];
  /** HTTP submit → 201 answer carrying the audit-log index (durable and sequenced). */
  latencyMs: LatencySummary;
  /** First measured submit → last answer. */
  acceptedSeconds: number;
  commitmentsPerSecond: number;
  /** First measured submit → the published checkpoint covers every accepted commitment. */
  sequencedSeconds: number;
  sequencedPerSecond: number;
  lastAnswerToCoveredMs: number;
  /** Audit-log tree size when everything was covered. */
  treeSize: number;
  /** Checkpoints published during the measured phase (one per sequencing batch). */
  checkpoints: number;
  entriesPerCheckpoint: number;
  /** CPU of the server's process (main thread + PGlite worker) per second of the measured phase. */
  serverProcessCores: number;
  /** The same CPU per accepted commitment. */
  serverCpuMsPerCommitment: number;
  /**
   * Cores in use over the measured phase (Linux /proc; 0 elsewhere): the server process, the
   * replaying client (child mode), PostgreSQL's processes, everything else, and the machine.
   */
  cpu: { server: number; client: number; postgres: number; other: number; machine: number; cores: number };
  requestBytes: { mean: number; max: number };
}

export interface EvidenceFigure {
  receipts: number;
  messages: number;
  /** Audit-log size the proofs were made against (at the last fetch). */
  treeSize: number;
  /** `Device.exportEvidence` (HTTP + response schema validation). */
  exportMs: LatencySummary;
  /** `GET /v1/audit/messages/:id/evidence` with plain fetch, body read. */
  endpointMs: LatencySummary;
  /** `verifyEvidenceBundle` (signatures, VRF, inclusion proofs, key-log replay) on the parsed body. */
  verifyMs: LatencySummary;
  /** The bundle as JSON (what an export file holds), UTF-8 bytes. */
  bundleBytes: { p50: number; min: number; max: number; mean: number };
}

export interface AuditEngineResult {
  engine: 'pglite' | 'postgres';
  config: {
    customers: number;
    concurrency: number;
    warmup: number;
    measured: number;
    clients: 'child' | 'inline';
    /** Whether the server also routed each business message (`routing.enabled`). */
    routing: boolean;
    auditBatchSize: number;
    evidenceMessages: number;
  };
  /** SDK work to build the submissions (MLS encryption, commitment signing, store writes); context only. */
  pregeneration: { messages: number; seconds: number; perSecond: number };
  submit: SubmitFigure;
  evidence: EvidenceFigure[];
  /** Sequenced commitments/s ÷ each anchor's entries/s. */
  anchors: { name: string; entriesPerSecond: number; ratio: number }[];
  /** With `profileDir`: where the server's main thread spent the measured phase. */
  profile?: AuditProfile;
  notes: string[];
  setupSeconds: number;
}

export interface AuditProfile {
  path: string;
  totalMs: number;
  idlePercent: number;
  gcPercent: number;
  /** Inclusive time of the functions on the audited-submit path (each counted once per sample), % of sampled time. */
  inclusive: { name: string; percent: number; ms: number }[];
  selfByFunction: { name: string; percent: number; ms: number }[];
}

export interface AuditBenchResult {
  quick: boolean;
  results: AuditEngineResult[];
  skipped: { engine: string; reason: string }[];
  anchors: typeof AUDIT_ANCHORS;
  /** Commitment submissions or evidence checks that failed, over all engines (must be 0). */
  failures: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');

// --- helpers ---------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Busy ticks of the whole machine and of PostgreSQL's processes (Linux /proc; zeros elsewhere). */
async function cpuTicks(withPostgres: boolean): Promise<{ machine: number; postgres: number }> {
  let machine = 0;
  try {
    const fields = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait
    machine = fields.slice(0, 8).reduce((a, b, i) => (i === 3 || i === 4 ? a : a + b), 0);
  } catch {
    /* no procfs */
  }
  let postgres = 0;
  if (withPostgres) {
    const pids = await readdir('/proc').catch(() => [] as string[]);
    await Promise.all(
      pids
        .filter((p) => /^\d+$/.test(p))
        .map(async (pid) => {
          try {
            const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
            const close = stat.lastIndexOf(')');
            if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') return;
            const f = stat.slice(close + 2).split(' ');
            postgres += Number(f[11]) + Number(f[12]); // utime + stime
          } catch {
            /* the process ended */
          }
        }),
    );
  }
  return { machine, postgres };
}

async function inPool<T, R>(items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/**
 * A `fetch` for the Sender: passes everything through, except that while
 * capturing it keeps each `POST /v1/messages` (body and session token) and
 * answers it itself, as the server would have (schema-valid `SubmitResponse`).
 */
class CapturingFetch {
  capturing = false;
  readonly captured: (ReplayRequest & { messageId: string })[] = [];
  private fakeId = 0;

  readonly fetch: typeof fetch = async (input, init) => {
    const url = urlOf(input);
    if (!this.capturing || (init?.method ?? 'GET') !== 'POST' || !new URL(url).pathname.endsWith('/v1/messages')) return fetch(input, init);
    const body = init?.body;
    if (typeof body !== 'string') throw new Error('expected a JSON string body');
    const authorization = new Headers(init?.headers).get('authorization');
    if (!authorization) throw new Error('submission without a session token');
    const request = JSON.parse(body) as SubmitRequest;
    if (!request.commitment) throw new Error('captured a submission without a commitment');
    this.captured.push({ authorization, body, messageId: request.commitment.body.messageId });
    const answer = { id: String(++this.fakeId), duplicate: false, recipients: 1, storedBytes: 0, audit: { index: 0 } };
    return new Response(JSON.stringify(answer), { status: 201, headers: { 'content-type': 'application/json' } });
  };
}

function runReplayInChild(spec: ReplaySpec, dir: string, onProgress: (line: string) => void, onPhase: (phase: ReplayPhase) => void): Promise<ReplayResult> {
  return (async () => {
    const specPath = join(dir, 'replay-spec.json');
    await writeFile(specPath, JSON.stringify(spec));
    return new Promise<ReplayResult>((resolve, reject) => {
      const child = fork(join(here, 'audit-clients.ts'), [specPath], {
        cwd: repoRoot,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let result: ReplayResult | undefined;
      let failure: string | undefined;
      child.on('message', (m: ReplayChildMessage) => {
        if (m.type === 'progress') onProgress(m.line);
        else if (m.type === 'phase') onPhase(m.phase);
        else if (m.type === 'result') result = m.result;
        else failure = m.message;
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        if (result) resolve(result);
        else reject(new Error(failure !== undefined ? `replay failed: ${failure}` : `replay process exited with code ${code} without a result`));
      });
    });
  })();
}

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

/** Waits until the server's evidence for each message holds `count` receipts. */
async function receiptsArrive(device: Device, messageIds: readonly string[], count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const id of messageIds) {
    for (;;) {
      if ((await device.exportEvidence(id)).receipts.length >= count) break;
      if (Date.now() > deadline) throw new Error(`receipts for ${id} did not reach ${count} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function bytesSummary(values: readonly number[]): EvidenceFigure['bundleBytes'] {
  const s = [...values].sort((a, b) => a - b);
  return {
    p50: s[Math.floor(s.length / 2)] ?? 0,
    min: s[0] ?? 0,
    max: s[s.length - 1] ?? 0,
    mean: Math.round(s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)),
  };
}

/** Business alert texts of realistic length. */
function alertText(i: number): string {
  const amount = ((i * 7919) % 250_000) / 100;
  return `Example Bank: card payment of EUR ${amount.toFixed(2)} at merchant ${1000 + (i % 9000)} approved. Not you? Call us. Ref ${String(i).padStart(8, '0')}`;
}

type ProfileFrame = CpuProfile['nodes'][number]['callFrame'];

/** Functions whose inclusive time says where an audited submission spends the server's CPU. */
const AUDIT_PATH: readonly { label: string; test: (f: ProfileFrame) => boolean }[] = [
  { label: 'AuditService.prepare (commitment checks)', test: (f) => f.functionName === 'prepare' && f.url.endsWith('audit/audit-service.ts') },
  { label: 'verifyCommitmentSignature (Ed25519 verify)', test: (f) => f.functionName === 'verifyCommitmentSignature' },
  { label: '@noble/curves (all uses)', test: (f) => f.url.includes('/@noble/curves/') },
  { label: 'Relay.flushAudited (envelope + commitment + pending entry tx)', test: (f) => f.functionName === 'flushAudited' },
  { label: 'sequenceBatch (tlog sequencing tx)', test: (f) => f.functionName === 'sequenceBatch' },
  { label: 'signNote (checkpoint signature)', test: (f) => f.functionName === 'signNote' },
  { label: 'fastify (routing, hooks, reply)', test: (f) => f.url.includes('/fastify/') || f.url.includes('/find-my-way/') },
  { label: 'jose (session token verify)', test: (f) => f.url.includes('/jose/') },
  { label: 'typebox Check (schema validation)', test: (f) => f.functionName === 'Check' && f.url.includes('typebox') },
  { label: 'pg driver', test: (f) => f.url.includes('/pg/lib/') || f.url.includes('/pg-protocol/') || f.url.includes('/pg-pool/') },
  { label: 'PGlite client (worker messaging)', test: (f) => f.url.endsWith('storage/pglite.ts') },
  { label: 'JSON.parse (builtin)', test: (f) => f.functionName === 'parse' && f.url === '' },
  { label: 'JSON.stringify (builtin)', test: (f) => f.functionName === 'stringify' && f.url === '' },
];

function auditProfile(profile: CpuProfile, path: string): AuditProfile {
  const base = summarizeProfile(profile, 15);
  const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0));
  let totalUs = 0;
  for (const v of selfUs.values()) totalUs += v;
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const credited = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      for (const m of AUDIT_PATH) {
        if (!credited.has(m.label) && m.test(frame)) {
          credited.add(m.label);
          inclusive.set(m.label, (inclusive.get(m.label) ?? 0) + us);
        }
      }
    }
  }
  return {
    path,
    totalMs: base.totalMs,
    idlePercent: base.idlePercent,
    gcPercent: base.gcPercent,
    inclusive: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, percent: Math.round((us / Math.max(1, totalUs)) * 1000) / 10, ms: Math.round(us / 1000) })),
    selfByFunction: base.selfByFunction.map((r) => ({ name: r.name, percent: r.percent, ms: r.ms })),
  };
}

// --- one engine ------------------------------------------------------------------------

async function runEngine(engine: 'pglite' | 'postgres', opts: AuditBenchOptions, log: (line: string) => void): Promise<{ result: AuditEngineResult; failures: number }> {
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
    let database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; schema: string };
    if (engine === 'postgres') {
      schema = `bench_audit_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
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
    const replay =
      clients === 'child'
        ? await runReplayInChild(spec, tmp, log, onPhase)
        : await runReplay(spec, { onProgress: log, onPhase });
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
    const authorization = requests[0]!.authorization;
    const measureEvidence = async (ids: readonly string[], receipts: number): Promise<EvidenceFigure> => {
      const exportMs: number[] = [];
      const endpointMs: number[] = [];
      const verifyMs: number[] = [];
      const sizes: number[] = [];
      let treeSize = 0;
      const warm = Math.min(3, ids.length);
      for (let i = 0; i < warm + ids.length; i++) {
        const id = ids[i < warm ? i : i - warm]!;
        const record = i >= warm;
        const t0 = performance.now();
        const bundle = await senderDevice.exportEvidence(id);
        const t1 = performance.now();
        const res = await fetch(`${url}/v1/audit/messages/${encodeURIComponent(id)}/evidence`, { headers: { authorization } });
        const text = await res.text();
        const t2 = performance.now();
        if (!res.ok) throw new Error(`evidence ${id}: ${res.status} ${text.slice(0, 200)}`);
        const parsed: unknown = JSON.parse(text);
        const t3 = performance.now();
        const report = verifyEvidenceBundle(parsed, trust);
        const t4 = performance.now();
        const bad = report.checks.filter((c) => !c.ok);
        if (!report.ok || bundle.receipts.length !== receipts || !report.receipts.every((r) => r.verified)) {
          failures++;
          notes.push(`evidence of ${id} (${receipts} receipts): ok=${report.ok}, ${bundle.receipts.length} receipts, failed checks ${JSON.stringify(bad.slice(0, 3))}`);
        }
        if (!record) continue;
        exportMs.push(t1 - t0);
        endpointMs.push(t2 - t1);
        verifyMs.push(t4 - t3);
        sizes.push(Buffer.byteLength(JSON.stringify(bundle)));
        treeSize = Number(bundle.auditCheckpoint.split('\n')[1]);
      }
      return {
        receipts,
        messages: ids.length,
        treeSize,
        exportMs: summarize(exportMs),
        endpointMs: summarize(endpointMs),
        verifyMs: summarize(verifyMs),
        bundleBytes: bytesSummary(sizes),
      };
    };

    const evidence: EvidenceFigure[] = [];
    // 0 receipts: measured commitments spread over the log (their customers are offline).
    const measuredIds = requests.slice(warmup).map((r) => r.messageId);
    const step = Math.max(1, Math.floor(measuredIds.length / evidenceMessages));
    const zeroIds = Array.from({ length: Math.min(evidenceMessages, measuredIds.length) }, (_, i) => measuredIds[i * step]!);
    log(`evidence: ${zeroIds.length} messages without receipts`);
    evidence.push(await measureEvidence(zeroIds, 0));

    // 1 receipt: a customer with one phone (its `delivered` receipt).
    const one = await enroll(url, bank, 'ev-one', 'customer');
    devices.push(one);
    const oneLog = new EventLog(one);
    await one.connect();
    log(`evidence: sending ${evidenceMessages} messages to a one-device customer and waiting for the delivered receipts`);
    const oneIds: string[] = [];
    for (let i = 0; i < evidenceMessages; i++) oneIds.push((await sender.send('ev-one', alertText(i), { class: 'alert' })).messageId);
    for (const id of oneIds) await oneLog.waitFor(isMessage(id), 60_000);
    await receiptsArrive(senderDevice, oneIds, 1);
    evidence.push(await measureEvidence(oneIds, 1));

    // 3 receipts: a phone and a tablet (both `delivered`), and the phone's `read`.
    const phone = await enroll(url, bank, 'ev-three', 'customer');
    devices.push(phone);
    const tablet = await enrollApproved(url, bank, 'ev-three', phone);
    devices.push(tablet);
    const phoneLog = new EventLog(phone);
    const tabletLog = new EventLog(tablet);
    await Promise.all([phone.connect(), tablet.connect()]);
    log(`evidence: sending ${evidenceMessages} messages to a two-device customer, waiting for 2 delivered + 1 read receipts each`);
    const threeIds: string[] = [];
    for (let i = 0; i < evidenceMessages; i++) threeIds.push((await sender.send('ev-three', alertText(i), { class: 'alert' })).messageId);
    for (const id of threeIds) {
      await phoneLog.waitFor(isMessage(id), 60_000);
      await tabletLog.waitFor(isMessage(id), 60_000);
      await phone.markRead(id);
    }
    await receiptsArrive(senderDevice, threeIds, 3);
    evidence.push(await measureEvidence(threeIds, 3));
    for (const e of evidence) {
      log(`evidence (${e.receipts} receipts): export p50 ${e.exportMs.p50} ms, endpoint p50 ${e.endpointMs.p50} ms, verify p50 ${e.verifyMs.p50} ms, ${e.bundleBytes.p50} bytes`);
    }

    const result: AuditEngineResult = {
      engine,
      config: { customers: customerCount, concurrency, warmup, measured, clients, routing, auditBatchSize: server.config.tlog.batchSize, evidenceMessages },
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
    if (schema) {
      const admin = new PostgresDatabase({ connectionString: databaseUrl });
      await admin.exec(`DROP SCHEMA ${schema} CASCADE`).catch((error: unknown) => log(`drop schema failed: ${String(error)}`));
      await admin.close();
    }
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
  const results: AuditEngineResult[] = [];
  const skipped: { engine: string; reason: string }[] = [];
  let failures = 0;
  for (const engine of opts.engines ?? ['pglite', 'postgres']) {
    if (engine === 'postgres') {
      const probe = new PostgresDatabase({ connectionString: opts.databaseUrl ?? DEFAULT_POSTGRES_URL });
      try {
        await probe.ping();
      } catch (error) {
        skipped.push({ engine, reason: error instanceof Error ? error.message : String(error) });
        progress(`audit/postgres: skipped (${skipped[skipped.length - 1]!.reason})`);
        continue;
      } finally {
        await probe.close().catch(() => {});
      }
    }
    await opts.beforeEngine?.(engine);
    const run = await runEngine(engine, opts, (line) => progress(`audit/${engine}: ${line}`));
    results.push(run.result);
    failures += run.failures;
  }
  return { quick: opts.quick === true, results, skipped, anchors: AUDIT_ANCHORS, failures };
}

// Run alone: npx tsx bench/audit.ts [--quick] [--engine pglite|postgres|both] [--profile] [--routing]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const engineArg = argv.includes('--engine') ? argv[argv.indexOf('--engine') + 1] : 'both';
  const engines: ('pglite' | 'postgres')[] = engineArg === 'pglite' || engineArg === 'postgres' ? [engineArg] : ['pglite', 'postgres'];
  runAuditBench({
    quick: argv.includes('--quick'),
    engines,
    ...(argv.includes('--profile') ? { profileDir: tmpdir() } : {}),
    ...(argv.includes('--routing') ? { routing: true } : {}),
    onProgress: (l) => process.stderr.write(`${l}\n`) }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
