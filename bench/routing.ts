/**
 * Routing benchmark (capability-aware delivery), on the real server with durable storage
 * (PGlite with a data directory, or PostgreSQL in a fresh schema, dropped afterwards) and
 * every provider as an emulator on loopback (FCM, APNs, RBM, Twilio) driven through the
 * production channel adapters (`startLocalProviders`). Nothing is mocked: customers are
 * SDK devices, and "the phone" reacts to what the emulators deliver.
 *
 * 1. **Routing overhead on the hot path.** Two servers side by side, identical but for
 *    `routing.enabled` (the enabled one has every channel configured). On each, a
 *    business Sender (SDK, HTTP submits) sends audited business messages (class `alert`,
 *    default policy) to customers whose devices are connected, one in flight per customer;
 *    the path is `app`. Rounds alternate between the two servers so machine drift lands on
 *    both. The clients run in their own process by default (bench/routing-clients.ts), so
 *    this process's CPU is the servers'. Per message: send latency (`Sender.send` call →
 *    resolved), submit latency (`POST /v1/messages` → 201, i.e. durable and sequenced in the
 *    audit log), end-to-end latency (`Sender.send` call → the device's `message` event),
 *    throughput, server CPU per message; ratios enabled ÷ disabled. With routing on, also
 *    the device's ack frame → the route's `finished_at` (state `delivered`, path `app`).
 * 2. **Fallback timings** with a policy of small known step timeouts (app 200 ms, push
 *    200 ms, rcs 200 ms, sms-token 5 s) on asleep customers (conversation set up, device
 *    disconnected). Paths: push-app over FCM and APNs (the "phone OS" wakes the app, which
 *    syncs), rcs (the push is ignored — the app does not wake — then RBM hands the envelope
 *    to the Parley RCS client, which feeds the SDK), sms-token-app (push ignored, no RCS;
 *    the app opens the SMS link). Per message: send → the provider emulator has the item,
 *    → it is at the handset, → the device's message event, → route `delivered`; and the
 *    part that is not the configured step timeouts the route actually waited (read from its
 *    events): overall, and from the route's creation to the provider (routing alone: ticks,
 *    database, provider round trips).
 *    Provider send latency per channel: the adapter's `send` timed around the real adapter
 *    while routing, the server's `parley_channel_send_seconds` histogram (mean), and a
 *    direct probe of each adapter on an idle server.
 * 3. **The web path** (customer without the app): `sendToWeb` → SMS at the handset → the
 *    page (HTML + script) → describe → challenge (code to the bank's second factor) → open
 *    → AES-GCM decryption with the key from the link's fragment, over HTTP without a
 *    browser; per step and total.
 *
 * Parts 2 and 3 run the SDK devices and the emulators in this process (low load; the
 * figures are latencies).
 *
 * Run alone: `npx tsx bench/routing.ts [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--tick-ms N]`.
 */
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Envelope } from '@parley/core';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { TwilioHandsetSms } from '@parley/emulators';
import {
  PARLEY_ENVELOPE_TYPE,
  PostgresDatabase,
  startServer,
  type BusinessRouting,
  type Channel,
  type ChannelSet,
  type DeliveryPath,
  type OutboundItem,
  type ParleyServer,
  type Recipient,
  type RouteStep,
  type ServerConfigInput,
} from '@parley/server';
import { ADMIN_TOKEN } from '../packages/server/test/helpers.js';
import { createBusiness, type Business } from '../packages/client/test/fixture.js';
import { DEMO_BRAND, freePort, startLocalProviders, startSecondFactorInbox, type LocalProviders, type SecondFactorInbox } from '../packages/cli/src/demo/providers.js';
import { summarize, type LatencySummary } from './audit-clients.js';
import { Arrivals, TimingFetch, inPool, runHotClients, wall, type HotChildMessage, type HotClientsResult, type HotClientsSpec, type HotPhase, type HotRecord } from './routing-clients.js';
import { DEFAULT_POSTGRES_URL } from './tlog.js';

export { DEFAULT_POSTGRES_URL };

/** The fallback policy's step timeouts (ms): small and known, so the rest is overhead. */
export const FALLBACK_CHAIN: readonly RouteStep[] = [
  { step: 'app', timeoutMs: 200 },
  { step: 'push', timeoutMs: 200 },
  { step: 'rcs', timeoutMs: 200 },
  { step: 'sms-token', timeoutMs: 5_000 },
];

/** The routing server's bank (its routing config holds FALLBACK_CHAIN for `otp`). */
const BANK = 'bench-bank';
/** The hot path's bank on both servers (not in the routing config: default policies). */
const HOT_BANK = 'bench-hot';
const HOT_CLASS = 'alert';
const FALLBACK_CLASS = 'otp';
/** Associated data of web-link ciphertexts (the SDK's and the retrieval page's constant). */
const WEB_MESSAGE_AAD = 'parley/v1/web-message';
const ADAPTER_TIMEOUT_MS = 5_000;

export interface RoutingBenchOptions {
  quick?: boolean;
  engines?: readonly ('pglite' | 'postgres')[];
  databaseUrl?: string;
  /** Hot-path clients in their own process (default) or on this event loop. */
  clients?: 'child' | 'inline';
  /** Connected customers on each hot-path server (one message in flight each; default 16, --quick 8). */
  customers?: number;
  /** Measured hot-path messages per configuration (default 2,000; --quick 160). */
  messages?: number;
  /** Measured messages per fallback path (default 30; --quick 6). */
  fallbackMessages?: number;
  /** Measured web-link messages (default 20; --quick 6). */
  webMessages?: number;
  /** Router tick of the routing server (default: the server's default). */
  tickMs?: number;
  /** Called before each engine's run (the runner waits there for an idle machine). */
  beforeEngine?: (engine: 'pglite' | 'postgres') => Promise<void>;
  onProgress?: (line: string) => void;
}

export interface HotPathFigure {
  routing: 'disabled' | 'enabled';
  messages: number;
  /** Sum over the rounds of first send → last send resolved. */
  seconds: number;
  /** Messages accepted per second (sends resolved ÷ seconds). */
  messagesPerSecond: number;
  /** `Sender.send` call → resolved: SDK work (reconcile, encrypt, sign) + submit. */
  sendMs: LatencySummary;
  /** `POST /v1/messages` → 201 (durable, commitment sequenced in the audit log). */
  submitMs: LatencySummary;
  /** `Sender.send` call → the customer device's `message` event. */
  e2eMs: LatencySummary;
  /**
   * CPU per message over the measured runs (until every message reached its device, and
   * with routing on until every route finished): this process (the servers, their PGlite
   * workers, idle emulators; inline mode: the clients too), the client process, PostgreSQL.
   */
  cpuMsPerMessage: { server: number; clients: number; postgres: number };
  errors: number;
}

export interface HotPathResult {
  config: { customers: number; warmupPerConfig: number; measuredPerConfig: number; rounds: number; class: string; inFlightPerCustomer: 1; clients: 'child' | 'inline' };
  disabled: HotPathFigure;
  enabled: HotPathFigure;
  /** enabled ÷ disabled (latencies and CPU: > 1 is costlier; throughput: < 1 is slower). */
  ratios: {
    sendP50: number;
    sendP99: number;
    submitP50: number;
    submitP99: number;
    e2eP50: number;
    e2eP99: number;
    throughput: number;
    serverCpuPerMessage: number;
  };
  /** enabled − disabled, ms. */
  deltas: { submitP50Ms: number; submitP99Ms: number; e2eP50Ms: number; e2eP99Ms: number; serverCpuMsPerMessage: number };
  /** Routing on: the device's ack frame (first one carrying the envelope) → the route's finished_at. */
  ackToDeliveredMs: LatencySummary;
  /** Routing on: the device's message event → its ack frame (SDK ack batching). */
  messageToAckMs: LatencySummary;
  /** Routing on: `Sender.send` call → the route's finished_at. */
  sendToDeliveredMs: LatencySummary;
  /** Routing on: how the measured routes ended. */
  routes: Record<string, number>;
  clientSetupSeconds: number;
}

export type FallbackPathName = 'push-app-fcm' | 'push-app-apns' | 'rcs' | 'sms-token-app';

export interface FallbackPathFigure {
  name: FallbackPathName;
  expectedPath: DeliveryPath;
  /** The channel whose item reaches the customer on this path. */
  channel: 'fcm' | 'apns' | 'rbm' | 'twilio';
  customers: number;
  messages: number;
  ok: number;
  failures: number;
  /** Steps the routes waited out before the delivering step, and their configured timeouts (mean over messages, ms). */
  waitedSteps: string[];
  timeoutsMs: number;
  /** `Sender.send` call → resolved (SDK + submit; the route exists from the submit's commit). */
  submitMs: LatencySummary;
  /** send → the delivering provider's emulator accepted the item (its own receive time). */
  sendToProviderMs: LatencySummary;
  /** send → the item is at the handset (push handed to the app / RBM file delivered / SMS in the inbox). */
  sendToHandsetMs: LatencySummary;
  /** send → the device's message event (decrypted). */
  sendToMessageMs: LatencySummary;
  /** send → the route's finished_at (state delivered). */
  sendToDeliveredMs: LatencySummary;
  /** sendToProvider − waited timeouts: submit, ticks, database, provider round trips. */
  overheadToProviderMs: LatencySummary;
  /** sendToDelivered − waited timeouts: the above plus the handset, the SDK and the ack. */
  overheadToDeliveredMs: LatencySummary;
  /** Routing alone: (the route's created_at → the provider has the item) − waited timeouts: ticks, database, provider round trips. */
  routingOverheadMs: LatencySummary;
  /**
   * Routing alone, split on the server's clock (route_events.at, channel_sends.created_at):
   * the route's commit → its first step ran; each waited step's timeout expiry (its
   * `waiting`/`sent` event + timeout) → the next step started (the router's tick and its
   * database work); the delivering step's start → the provider emulator had the item
   * (database + provider round trip).
   */
  server: { toFirstStepMs: LatencySummary; latenessPerWaitedStepMs: LatencySummary; deliveringStepMs: LatencySummary };
  /** Pieces after the provider: handset → message event (app sync / RCS client / link retrieval, decrypt), message → ack leaves, ack → route delivered. */
  handsetToMessageMs: LatencySummary;
  messageToAckMs: LatencySummary;
  ackToDeliveredMs: LatencySummary;
  /** Every provider item the messages caused, by channel: send → the emulator received it (e.g. the ignored push before RCS). */
  itemsByChannel: Record<string, { items: number; sendToProviderMs: LatencySummary }>;
  errorSamples: string[];
}

export interface WebPathFigure {
  messages: number;
  ok: number;
  failures: number;
  /** `Sender.sendToWeb` → answered (AES-GCM encryption, upload, token, the SMS handed to Twilio). */
  sendMs: LatencySummary;
  /** send → the SMS is in the handset's inbox (includes the emulated carrier: two status callbacks). */
  sendToSmsMs: LatencySummary;
  /** GET /r/<token> and /assets/retrieve.js (in parallel, as a browser would). */
  pageMs: LatencySummary;
  describeMs: LatencySummary;
  /** POST /v1/web/challenge → 200 (the server posts the code to the bank's second-factor endpoint first). */
  challengeMs: LatencySummary;
  /** The code from the bank's second-factor inbox (already there when the challenge answered). */
  codeMs: LatencySummary;
  /** POST /v1/web/open → the ciphertext (the route finishes as sms-token-web on the way). */
  openMs: LatencySummary;
  /** AES-256-GCM decryption with the fragment key (WebCrypto). */
  decryptMs: LatencySummary;
  /** SMS at the handset → decrypted (the retrieval, with no human delay). */
  smsToDecryptedMs: LatencySummary;
  /** send → decrypted. */
  totalMs: LatencySummary;
  errorSamples: string[];
}

export interface ProviderSendFigure {
  channel: string;
  /** While routing parts 2 and 3: `Channel.send` timed around the real adapter (HTTP to the emulator and back). */
  sends: number;
  sendMs: LatencySummary;
  failures: number;
  /** `Channel.capabilities` (RBM capability checks; the router caches them). */
  capabilityChecks: number;
  capabilitiesMs?: LatencySummary;
  /** The server's `parley_channel_send_seconds` histogram over the same sends: count and mean. */
  metricsCount: number;
  metricsMeanMs: number;
  /** The adapter called directly, one send at a time, with nothing else running (no handset reacting). */
  idleProbe: { sends: number; sendMs: LatencySummary; failures: number };
}

export interface RoutingEngineResult {
  engine: 'pglite' | 'postgres';
  config: {
    tickMs: number;
    fallbackChain: readonly RouteStep[];
    fallbackClass: string;
    hotClass: string;
    adapterTimeoutMs: number;
    twilioCallbackDelayMs: number;
    fallbackCustomersPerPath: number;
  };
  hotPath: HotPathResult;
  fallback: FallbackPathFigure[];
  web: WebPathFigure;
  providers: ProviderSendFigure[];
  notes: string[];
  setupSeconds: number;
  seconds: number;
}

export interface RoutingBenchResult {
  quick: boolean;
  results: RoutingEngineResult[];
  skipped: { engine: string; reason: string }[];
  /** Hot-path errors, fallback and web messages that failed or took the wrong path, over all engines (must be 0). */
  failures: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');

// --- helpers ---------------------------------------------------------------------------

const round1 = (n: number) => Math.round(n * 10) / 10;
const round2 = (n: number) => Math.round(n * 100) / 100;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Local ports of this process's TCP connections to `port` (Linux /proc; empty elsewhere). */
async function ownConnectionPorts(port: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd').catch(() => [] as string[])) {
    const link = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const local = f[1]?.split(':')[1];
      const remote = f[2]?.split(':')[1];
      if (local && remote && parseInt(remote, 16) === port && inodes.has(f[9] ?? '')) ports.push(parseInt(local, 16));
    }
  }
  return ports;
}

/**
 * CPU ms so far of each PostgreSQL backend serving this process's connections (the
 * servers' pools), found through pg_stat_activity by client port. Other sessions on the
 * same PostgreSQL (other people's tests on a shared machine) are not counted; neither
 * are shared background processes (WAL writer, checkpointer).
 */
async function postgresBackendCpuMs(server: ParleyServer, port: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const ports = await ownConnectionPorts(port);
  if (ports.length === 0) return out;
  const rows = await server.db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])', [ports.map(String)]);
  for (const { pid } of rows) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(pid), ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1000); // utime + stime
    } catch {
      /* the backend ended */
    }
  }
  return out;
}

/**
 * CPU the backends used between two samples: per backend, end − start (a backend opened
 * in between counts from zero; one that closed in between is lost, as pools close idle
 * connections that is mostly the other, idle server's).
 */
function backendCpuDelta(start: ReadonlyMap<number, number>, end: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ms] of end) total += Math.max(0, ms - (start.get(pid) ?? 0));
  return total;
}

/** Times `send` and `capabilities` of the real channel adapters (the router calls them through these wrappers). */
class ChannelTiming {
  readonly sends = new Map<string, number[]>();
  readonly failures = new Map<string, number>();
  readonly capabilities = new Map<string, number[]>();

  private wrapOne(channel: Channel | undefined): Channel | undefined {
    if (!channel) return undefined;
    const record = (map: Map<string, number[]>, ms: number) => {
      const list = map.get(channel.name) ?? [];
      list.push(ms);
      map.set(channel.name, list);
    };
    const send: Channel['send'] = async (envelope) => {
      const t0 = performance.now();
      try {
        const result = await channel.send(envelope);
        record(this.sends, performance.now() - t0);
        return result;
      } catch (error) {
        this.failures.set(channel.name, (this.failures.get(channel.name) ?? 0) + 1);
        throw error;
      }
    };
    const capabilities: Channel['capabilities'] = async (recipient) => {
      const t0 = performance.now();
      const caps = await channel.capabilities(recipient);
      record(this.capabilities, performance.now() - t0);
      return caps;
    };
    return new Proxy(channel, {
      get(target, prop) {
        if (prop === 'send') return send;
        if (prop === 'capabilities') return capabilities;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  wrap(set: ChannelSet): ChannelSet {
    const fcm = this.wrapOne(set.fcm);
    const apns = this.wrapOne(set.apns);
    const rbm = this.wrapOne(set.rbm);
    const sms = this.wrapOne(set.sms);
    return { ...(fcm ? { fcm } : {}), ...(apns ? { apns } : {}), ...(rbm ? { rbm } : {}), ...(sms ? { sms } : {}) };
  }

  reset(): void {
    this.sends.clear();
    this.failures.clear();
    this.capabilities.clear();
  }
}

/** `parley_channel_send_seconds` sum and count per channel from a /metrics text. */
function channelSendMetrics(text: string): Map<string, { count: number; sumSeconds: number }> {
  const out = new Map<string, { count: number; sumSeconds: number }>();
  for (const m of text.matchAll(/^parley_channel_send_seconds_(sum|count)\{([^}]*)\} ([0-9.eE+-]+)$/gm)) {
    const channel = /channel="([^"]*)"/.exec(m[2]!)?.[1];
    if (!channel) continue;
    const entry = out.get(channel) ?? { count: 0, sumSeconds: 0 };
    if (m[1] === 'sum') entry.sumSeconds += Number(m[3]);
    else entry.count += Number(m[3]);
    out.set(channel, entry);
  }
  return out;
}

/** Collects the servers' warn/error log lines (level `warn`): counted and sampled into the notes. */
class LogSink {
  count = 0;
  readonly samples: string[] = [];
  readonly destination = {
    write: (line: string): void => {
      this.count++;
      if (this.samples.length < 5) {
        try {
          const o = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          this.samples.push(`${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}`.slice(0, 200));
        } catch {
          this.samples.push(line.slice(0, 200));
        }
      }
    },
  };
}

const otpText = (i: number) => `Example Bank: your one-time code is ${String((i * 7919 + 123_457) % 1_000_000).padStart(6, '0')}. Never share it.`;

interface RouteRow {
  message_id: string;
  state: string;
  path: string | null;
  created_at: Date | string;
  finished_at: Date | string | null;
}

async function routeRows(server: ParleyServer, ids: readonly string[]): Promise<Map<string, RouteRow>> {
  const rows = await server.db.query<RouteRow>('SELECT message_id, state, path, created_at, finished_at FROM routes WHERE message_id = ANY($1::text[])', [ids]);
  return new Map(rows.map((r) => [r.message_id, r]));
}

/** Waits until none of the routes is active (or the deadline); returns the rows. */
async function settledRoutes(server: ParleyServer, ids: readonly string[], timeoutMs: number): Promise<Map<string, RouteRow>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await routeRows(server, ids);
    const active = ids.filter((id) => (rows.get(id)?.state ?? 'active') === 'active');
    if (active.length === 0 || Date.now() > deadline) return rows;
    await sleep(25);
  }
}

/** Waits until the server has no active route (or the deadline); returns how many are still active. */
async function noActiveRoutes(server: ParleyServer, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await server.db.query<{ n: string | number }>(`SELECT count(*) AS n FROM routes WHERE state = 'active'`);
    const n = Number(row?.n ?? 0);
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(20);
  }
}

const epochMs = (d: Date | string) => new Date(d).getTime();

// --- servers ---------------------------------------------------------------------------

interface BenchServer {
  server: ParleyServer;
  url: string;
  schema?: string;
}

async function startBenchServer(
  engine: 'pglite' | 'postgres',
  label: string,
  tmp: string,
  databaseUrl: string,
  sink: LogSink,
  extra: Pick<ServerConfigInput, 'port' | 'routing'>,
): Promise<BenchServer> {
  let database: { kind: 'pglite'; dataDir: string } | { kind: 'postgres'; url: string; schema: string };
  let schema: string | undefined;
  if (engine === 'postgres') {
    schema = `bench_routing_${label}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
    const admin = new PostgresDatabase({ connectionString: databaseUrl });
    try {
      await admin.exec(`CREATE SCHEMA ${schema}`);
    } finally {
      await admin.close();
    }
    database = { kind: 'postgres', url: databaseUrl, schema };
  } else {
    database = { kind: 'pglite', dataDir: join(tmp, `pgdata-${label}`) };
  }
  const server = await startServer({
    log: { level: 'warn', destination: sink.destination },
    auth: { sessionTtlSeconds: 3600 },
    adminToken: ADMIN_TOKEN,
    database,
    // Durable signing keys on PostgreSQL too (PGlite keeps them in its data directory).
    ...(engine === 'postgres' ? { keys: { dir: join(tmp, `keys-${label}`) } } : {}),
    ...extra,
  });
  return { server, url: server.url, ...(schema ? { schema } : {}) };
}

// --- part 1: the hot path --------------------------------------------------------------

function runHotInChild(spec: HotClientsSpec, dir: string, onProgress: (line: string) => void, onPhase: (phase: HotPhase) => Promise<void>): Promise<HotClientsResult> {
  return (async () => {
    const specPath = join(dir, 'routing-hot-spec.json');
    await writeFile(specPath, JSON.stringify(spec));
    return new Promise<HotClientsResult>((resolve, reject) => {
      const child = fork(join(here, 'routing-clients.ts'), [specPath], {
        cwd: repoRoot,
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let result: HotClientsResult | undefined;
      let failure: string | undefined;
      child.on('message', (m: HotChildMessage) => {
        if (m.type === 'progress') onProgress(m.line);
        else if (m.type === 'phase') {
          onPhase(m.phase).then(
            () => child.send({ type: 'go' }),
            (error: unknown) => {
              failure = errorText(error);
              child.kill();
            },
          );
        } else if (m.type === 'result') result = m.result;
        else failure = m.message;
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        if (result) resolve(result);
        else reject(new Error(failure !== undefined ? `hot-path clients failed: ${failure}` : `hot-path client process exited with code ${code} without a result`));
      });
    });
  })();
}

async function runHotPath(
  engine: 'pglite' | 'postgres',
  on: BenchServer,
  off: BenchServer,
  o: { customers: number; warmup: number; perRound: number; rounds: number; clients: 'child' | 'inline'; tmp: string; databaseUrl: string },
  notes: string[],
  log: (line: string) => void,
): Promise<HotPathResult> {
  const spec: HotClientsSpec = {
    sides: [
      { label: 'disabled', url: off.url },
      { label: 'enabled', url: on.url },
    ],
    businessId: HOT_BANK,
    brand: DEMO_BRAND,
    messageClass: HOT_CLASS,
    customers: o.customers,
    warmup: o.warmup,
    perRound: o.perRound,
    rounds: o.rounds,
  };
  const cpu = { disabled: { server: 0, postgres: 0 }, enabled: { server: 0, postgres: 0 } };
  let cpu0 = process.cpuUsage();
  let pg0 = new Map<number, number>();
  const pgPort = Number(new URL(o.databaseUrl).port || 5432);
  const pgCpu = (label: 'disabled' | 'enabled') =>
    engine === 'postgres' ? postgresBackendCpuMs(label === 'enabled' ? on.server : off.server, pgPort) : Promise.resolve(new Map<number, number>());
  let stillActive = 0;
  const onPhase = async (p: HotPhase): Promise<void> => {
    if (p.phase === 'start') {
      pg0 = await pgCpu(p.side);
      cpu0 = process.cpuUsage();
      return;
    }
    // With routing on, the run ends when every route has finished (its CPU belongs to the run).
    if (p.side === 'enabled') stillActive += await noActiveRoutes(on.server, 15_000);
    const used = process.cpuUsage(cpu0);
    const pg1 = await pgCpu(p.side);
    cpu[p.side].server += (used.user + used.system) / 1000;
    cpu[p.side].postgres += backendCpuDelta(pg0, pg1);
  };
  const progress = (line: string) => log(`hot path: ${line}`);
  const clients =
    o.clients === 'child' ? await runHotInChild(spec, o.tmp, progress, onPhase) : await runHotClients(spec, { onProgress: progress, onPhase });
  if (stillActive > 0) notes.push(`hot path: ${stillActive} routes were still active 15 s after a measured run`);
  const side = (label: 'disabled' | 'enabled') => {
    const s = clients.sides.find((x) => x.label === label);
    if (!s) throw new Error(`no ${label} side in the client result`);
    return s;
  };
  const figure = (label: 'disabled' | 'enabled'): HotPathFigure => {
    const s = side(label);
    const n = Math.max(1, s.records.length);
    const e2e = s.records.flatMap((r) => (r.eventAt === undefined ? [] : [r.eventAt - r.t0]));
    return {
      routing: label,
      messages: s.records.length,
      seconds: round2(s.seconds),
      messagesPerSecond: s.seconds > 0 ? Math.round(s.records.length / s.seconds) : 0,
      sendMs: summarize(s.records.map((r) => r.t1 - r.t0)),
      submitMs: summarize(s.records.flatMap((r) => (r.submitMs === undefined ? [] : [r.submitMs]))),
      e2eMs: summarize(e2e),
      cpuMsPerMessage: {
        server: round2(cpu[label].server / n),
        clients: o.clients === 'child' ? round2(s.clientCpuMs / n) : 0,
        postgres: round2(cpu[label].postgres / n),
      },
      errors: s.errors,
    };
  };
  const d = figure('disabled');
  const e = figure('enabled');
  for (const s of clients.sides) for (const x of s.errorSamples) notes.push(`hot path (routing ${s.label}) error: ${x}`);

  const records: HotRecord[] = side('enabled').records;
  const rows = await settledRoutes(on.server, records.map((x) => x.messageId), 15_000);
  const routes: Record<string, number> = {};
  const ackToDelivered: number[] = [];
  const messageToAck: number[] = [];
  const sendToDelivered: number[] = [];
  for (const rec of records) {
    const row = rows.get(rec.messageId);
    const key = row ? `${row.state}${row.path ? `/${row.path}` : ''}` : 'missing';
    routes[key] = (routes[key] ?? 0) + 1;
    if (rec.ackAt !== undefined && rec.eventAt !== undefined) messageToAck.push(rec.ackAt - rec.eventAt);
    if (row?.state === 'delivered' && row.finished_at !== null) {
      const done = epochMs(row.finished_at);
      sendToDelivered.push(done - rec.t0);
      if (rec.ackAt !== undefined) ackToDelivered.push(done - rec.ackAt);
    }
  }
  const notApp = records.length - (routes['delivered/app'] ?? 0);
  if (notApp > 0) {
    e.errors += notApp;
    notes.push(`hot path: ${notApp} of ${records.length} routes did not end delivered/app: ${JSON.stringify(routes)}`);
  }
  const ratio = (a: number, b: number) => (b > 0 ? round2(a / b) : 0);
  const serverCpu = (f: HotPathFigure) => f.cpuMsPerMessage.server + f.cpuMsPerMessage.postgres;
  return {
    config: { customers: o.customers, warmupPerConfig: o.warmup, measuredPerConfig: o.perRound * o.rounds, rounds: o.rounds, class: HOT_CLASS, inFlightPerCustomer: 1, clients: o.clients },
    disabled: d,
    enabled: e,
    ratios: {
      sendP50: ratio(e.sendMs.p50, d.sendMs.p50),
      sendP99: ratio(e.sendMs.p99, d.sendMs.p99),
      submitP50: ratio(e.submitMs.p50, d.submitMs.p50),
      submitP99: ratio(e.submitMs.p99, d.submitMs.p99),
      e2eP50: ratio(e.e2eMs.p50, d.e2eMs.p50),
      e2eP99: ratio(e.e2eMs.p99, d.e2eMs.p99),
      throughput: ratio(e.messagesPerSecond, d.messagesPerSecond),
      serverCpuPerMessage: ratio(serverCpu(e), serverCpu(d)),
    },
    deltas: {
      submitP50Ms: round2(e.submitMs.p50 - d.submitMs.p50),
      submitP99Ms: round2(e.submitMs.p99 - d.submitMs.p99),
      e2eP50Ms: round2(e.e2eMs.p50 - d.e2eMs.p50),
      e2eP99Ms: round2(e.e2eMs.p99 - d.e2eMs.p99),
      serverCpuMsPerMessage: round2(serverCpu(e) - serverCpu(d)),
    },
    ackToDeliveredMs: summarize(ackToDelivered),
    messageToAckMs: summarize(messageToAck),
    sendToDeliveredMs: summarize(sendToDelivered),
    routes,
    clientSetupSeconds: clients.setupSeconds,
  };
}

// --- part 2: fallback paths ------------------------------------------------------------

interface FallbackSpec {
  name: FallbackPathName;
  expected: DeliveryPath;
  channel: 'fcm' | 'apns' | 'rbm' | 'twilio';
  push: 'fcm' | 'apns';
  /** Does the push wake the app (which then syncs)? */
  wakes: boolean;
  rcs: 'none' | 'parley';
}

const FALLBACK_PATHS: readonly FallbackSpec[] = [
  { name: 'push-app-fcm', expected: 'push-app', channel: 'fcm', push: 'fcm', wakes: true, rcs: 'none' },
  { name: 'push-app-apns', expected: 'push-app', channel: 'apns', push: 'apns', wakes: true, rcs: 'none' },
  { name: 'rcs', expected: 'rcs', channel: 'rbm', push: 'fcm', wakes: false, rcs: 'parley' },
  { name: 'sms-token-app', expected: 'sms-token-app', channel: 'twilio', push: 'fcm', wakes: false, rcs: 'none' },
];

/** What reached a provider / the handset for one in-flight message. */
interface ProviderItem {
  channel: string;
  /** The emulator's own receive time (ms since the epoch). */
  providerAt: number;
  /** When the handset had it (this process's listener ran). */
  handsetAt: number;
}

interface FallbackCustomer {
  id: string;
  spec: FallbackSpec;
  device: Device;
  /** Items for the message in flight. */
  items: ProviderItem[];
  errors: string[];
}

interface RouteEventView {
  step: string;
  channel: string | null;
  decision: string;
}

const STEP_OF_PATH: Readonly<Record<string, string>> = { app: 'app', 'push-app': 'push', rcs: 'rcs', 'sms-token-app': 'sms-token' };

/** The configured timeouts a route waited out before the step that delivered it (from its events). */
function waitedTimeouts(events: readonly RouteEventView[], path: DeliveryPath): { ms: number; steps: string[] } {
  const final = FALLBACK_CHAIN.findIndex((s) => s.step === STEP_OF_PATH[path]);
  let total = 0;
  const steps: string[] = [];
  for (let i = 0; i < Math.max(0, final); i++) {
    const s = FALLBACK_CHAIN[i]!;
    // The router's events: `app`/waiting for the app step; `step-<index>`/sent when a provider took the step's item.
    const waited = i === 0 ? events.some((e) => e.step === 'app' && e.decision === 'waiting') : events.some((e) => e.step === `step-${i}` && (e.decision === 'sent' || e.decision === 'already-sent'));
    if (waited) {
      total += s.timeoutMs;
      steps.push(`${s.step} ${s.timeoutMs} ms`);
    }
  }
  return { ms: total, steps };
}

/**
 * When each step of a route started and when its timeout started, on the database's clock:
 * a step starts with its first event or provider hand-off (`channel_sends.created_at`); its
 * timeout starts with its `waiting` (app) or `sent` event (the router sets next_at right after).
 */
async function stepTimeline(server: ParleyServer, messageId: string): Promise<{ startOf(i: number): number | undefined; endOf(i: number): number | undefined }> {
  const events = await server.db.query<{ step: string; decision: string; at: Date | string }>('SELECT step, decision, at FROM route_events WHERE message_id = $1 ORDER BY id', [messageId]);
  const sends = await server.db.query<{ step: number; created_at: Date | string }>('SELECT step, created_at FROM channel_sends WHERE message_id = $1', [messageId]);
  const min = (values: number[]) => (values.length > 0 ? Math.min(...values) : undefined);
  return {
    startOf: (i) =>
      min([
        ...sends.filter((x) => Number(x.step) === i).map((x) => epochMs(x.created_at)),
        ...events.filter((e) => e.step === FALLBACK_CHAIN[i]?.step || e.step === `step-${i}`).map((e) => epochMs(e.at)),
      ]),
    endOf: (i) => {
      const e = i === 0 ? events.find((x) => x.step === 'app' && x.decision === 'waiting') : events.find((x) => x.step === `step-${i}` && x.decision === 'sent');
      return e ? epochMs(e.at) : undefined;
    },
  };
}

async function runFallback(
  on: BenchServer,
  business: Business,
  providers: LocalProviders,
  o: { customersPerPath: number; messagesPerCustomer: number },
  devices: Device[],
  log: (line: string) => void,
): Promise<{ figures: FallbackPathFigure[]; sender: Sender }> {
  const sender = await Sender.enroll({
    serverUrl: on.url,
    enrollmentToken: await business.issue('fallback-sender', 'sender', { name: DEMO_BRAND }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    ...nodeRuntime,
  });
  devices.push(sender.device);
  const arrivals = new Arrivals();
  const acks = new Map<string, number>();
  const byToken = new Map<string, FallbackCustomer>();
  const byPhone = new Map<string, FallbackCustomer>();
  const record = (c: FallbackCustomer | undefined, channel: string, providerAt: number) => {
    if (c) c.items.push({ channel, providerAt, handsetAt: wall() });
    return c;
  };
  // The phones: what each emulator delivers reaches the customer's app here.
  const unsubscribe: (() => void)[] = [];
  unsubscribe.push(
    providers.fcm.onPush((push) => {
      const c = record(push.token ? byToken.get(push.token) : undefined, 'fcm', push.receivedAt.getTime());
      if (c?.spec.wakes) void c.device.sync().catch((error: unknown) => c.errors.push(`sync: ${errorText(error)}`));
    }),
  );
  unsubscribe.push(
    providers.apns.onPush((push) => {
      const c = record(byToken.get(push.token), 'apns', push.receivedAt.getTime());
      if (c?.spec.wakes) void c.device.sync().catch((error: unknown) => c.errors.push(`sync: ${errorText(error)}`));
    }),
  );
  unsubscribe.push(
    providers.rbm.onDelivered((message) => {
      const c = record(byPhone.get(message.phone), 'rbm', message.sendTime.getTime());
      if (!c || !message.file) return;
      const envelope = JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope;
      void c.device.receive([envelope]).catch((error: unknown) => c.errors.push(`rcs receive: ${errorText(error)}`));
    }),
  );
  const onSms = (sms: TwilioHandsetSms) => {
    const c = byPhone.get(sms.to);
    if (!c) return;
    record(c, 'twilio', providers.twilio.messages.get(sms.sid)?.dateCreated.getTime() ?? Number.NaN);
    const link = /https?:\/\/\S+/.exec(sms.text)?.[0];
    if (!link) {
      c.errors.push('an SMS without a link');
      return;
    }
    void c.device.openRetrievalLink(link).catch((error: unknown) => c.errors.push(`open link: ${errorText(error)}`));
  };
  providers.twilio.on('sms', onSms);
  unsubscribe.push(() => providers.twilio.off('sms', onSms));

  const figures: FallbackPathFigure[] = [];
  let serial = 0;
  try {
    for (const spec of FALLBACK_PATHS) {
      log(`fallback ${spec.name}: enrolling ${o.customersPerPath} asleep customers (push ${spec.push}${spec.wakes ? ' wakes the app' : ' ignored'}, RCS ${spec.rcs})`);
      const customers = await inPool(Array.from({ length: o.customersPerPath }, () => ++serial), 3, async (n) => {
        const id = `fb-${spec.name}-${n}`;
        const phone = `+1555020${String(n).padStart(4, '0')}`;
        providers.setRcs(phone, spec.rcs);
        const device = await Device.enroll({
          serverUrl: on.url,
          enrollmentToken: await business.issue(id, 'customer', { phone }),
          store: new MemoryKeyStore(),
          keyPackageBatch: 5,
          ...nodeRuntime,
          fetch: new TimingFetch(acks).fetch,
        });
        devices.push(device);
        arrivals.watch(device);
        await device.connect();
        const hello = await sender.send(id, 'Welcome to Example Bank messaging.', { class: HOT_CLASS });
        if (!(await arrivals.wait(hello.messageId, 30_000))) throw new Error(`first contact with ${id} did not arrive`);
        await device.disconnect();
        const pushToken = providers.newPushToken(spec.push);
        await device.setPushToken({ provider: spec.push, token: pushToken });
        const c: FallbackCustomer = { id, spec, device, items: [], errors: [] };
        byToken.set(pushToken, c);
        byPhone.set(phone, c);
        return c;
      });

      const samples = {
        submit: [] as number[],
        toProvider: [] as number[],
        toHandset: [] as number[],
        toMessage: [] as number[],
        toDelivered: [] as number[],
        overheadProvider: [] as number[],
        overheadDelivered: [] as number[],
        routing: [] as number[],
        firstStep: [] as number[],
        lateness: [] as number[],
        deliveringStep: [] as number[],
        handsetToMessage: [] as number[],
        messageToAck: [] as number[],
        ackToDelivered: [] as number[],
        timeouts: [] as number[],
      };
      const byChannel = new Map<string, number[]>();
      const waitedSteps = new Set<string>();
      const errorSamples: string[] = [];
      let ok = 0;
      let failures = 0;
      let measured = 0;
      // One warm-up message per customer (OAuth tokens, HTTP/2 session, capability cache), then the measured ones.
      await Promise.all(
        customers.map(async (c) => {
          for (let k = 0; k <= o.messagesPerCustomer; k++) {
            const warm = k === 0;
            c.items = [];
            c.errors = [];
            const t0 = wall();
            let messageId = '';
            try {
              const sent = await sender.send(c.id, otpText(serial * 100 + k), { class: FALLBACK_CLASS });
              const t1 = wall();
              messageId = sent.messageId;
              const arrived = await arrivals.wait(messageId, 20_000);
              const row = (await settledRoutes(on.server, [messageId], 15_000)).get(messageId);
              if (warm) continue;
              measured++;
              const view = await sender.route(messageId);
              const problem = !arrived
                ? 'the message never reached the device'
                : row?.state !== 'delivered' || row.finished_at === null
                  ? `route ${row?.state ?? 'missing'}`
                  : row.path !== spec.expected
                    ? `path ${String(row.path)}, expected ${spec.expected}`
                    : c.errors.length > 0
                      ? c.errors.join('; ')
                      : undefined;
              const item = c.items.find((x) => x.channel === spec.channel);
              if (problem !== undefined || !item || !row || row.finished_at === null) {
                failures++;
                if (errorSamples.length < 5) errorSamples.push(`${c.id}: ${problem ?? `no ${spec.channel} item`} (${view.events.map((e) => `${e.step}/${e.channel ?? '-'}/${e.decision}`).join(', ')})`);
                continue;
              }
              ok++;
              const waited = waitedTimeouts(view.events, spec.expected);
              for (const s of waited.steps) waitedSteps.add(s);
              const at = arrivals.at.get(messageId)!;
              const done = epochMs(row.finished_at);
              const ack = acks.get(sent.envelopeId);
              samples.submit.push(t1 - t0);
              samples.toProvider.push(item.providerAt - t0);
              samples.toHandset.push(item.handsetAt - t0);
              samples.toMessage.push(at - t0);
              samples.toDelivered.push(done - t0);
              samples.overheadProvider.push(item.providerAt - t0 - waited.ms);
              samples.overheadDelivered.push(done - t0 - waited.ms);
              samples.routing.push(item.providerAt - epochMs(row.created_at) - waited.ms);
              const timeline = await stepTimeline(on.server, messageId);
              const final = FALLBACK_CHAIN.findIndex((x) => STEP_OF_PATH[spec.expected] === x.step);
              const first = timeline.startOf(0);
              if (first !== undefined) samples.firstStep.push(first - epochMs(row.created_at));
              for (let i = 0; i < final; i++) {
                const end = timeline.endOf(i);
                const next = timeline.startOf(i + 1);
                if (end !== undefined && next !== undefined) samples.lateness.push(next - (end + FALLBACK_CHAIN[i]!.timeoutMs));
              }
              const deliveringStart = timeline.startOf(final);
              if (deliveringStart !== undefined) samples.deliveringStep.push(item.providerAt - deliveringStart);
              samples.handsetToMessage.push(at - item.handsetAt);
              if (ack !== undefined) {
                samples.messageToAck.push(ack - at);
                samples.ackToDelivered.push(done - ack);
              }
              samples.timeouts.push(waited.ms);
              for (const x of c.items) {
                const list = byChannel.get(x.channel) ?? [];
                list.push(x.providerAt - t0);
                byChannel.set(x.channel, list);
              }
            } catch (error) {
              if (warm) throw error;
              measured++;
              failures++;
              if (errorSamples.length < 5) errorSamples.push(`${c.id} ${messageId}: ${errorText(error)}`);
            }
          }
        }),
      );
      const figure: FallbackPathFigure = {
        name: spec.name,
        expectedPath: spec.expected,
        channel: spec.channel,
        customers: customers.length,
        messages: measured,
        ok,
        failures,
        waitedSteps: [...waitedSteps],
        timeoutsMs: round1(samples.timeouts.reduce((a, b) => a + b, 0) / Math.max(1, samples.timeouts.length)),
        submitMs: summarize(samples.submit),
        sendToProviderMs: summarize(samples.toProvider),
        sendToHandsetMs: summarize(samples.toHandset),
        sendToMessageMs: summarize(samples.toMessage),
        sendToDeliveredMs: summarize(samples.toDelivered),
        overheadToProviderMs: summarize(samples.overheadProvider),
        overheadToDeliveredMs: summarize(samples.overheadDelivered),
        routingOverheadMs: summarize(samples.routing),
        server: { toFirstStepMs: summarize(samples.firstStep), latenessPerWaitedStepMs: summarize(samples.lateness), deliveringStepMs: summarize(samples.deliveringStep) },
        handsetToMessageMs: summarize(samples.handsetToMessage),
        messageToAckMs: summarize(samples.messageToAck),
        ackToDeliveredMs: summarize(samples.ackToDelivered),
        itemsByChannel: Object.fromEntries([...byChannel.entries()].map(([k, v]) => [k, { items: v.length, sendToProviderMs: summarize(v) }])),
        errorSamples,
      };
      figures.push(figure);
      log(
        `fallback ${spec.name}: ${ok}/${measured} ok; send→${spec.channel} p50 ${figure.sendToProviderMs.p50} ms, send→delivered p50 ${figure.sendToDeliveredMs.p50} p99 ${figure.sendToDeliveredMs.p99} ms; timeouts ${figure.timeoutsMs} ms; overhead p50 ${figure.overheadToDeliveredMs.p50} ms (routing alone ${figure.routingOverheadMs.p50} ms: to first step ${figure.server.toFirstStepMs.p50}, lateness per waited step ${figure.server.latenessPerWaitedStepMs.p50}, delivering step ${figure.server.deliveringStepMs.p50})`,
      );
      for (const c of customers) await c.device.close().catch(() => {});
    }
  } finally {
    for (const u of unsubscribe) u();
  }
  return { figures, sender };
}

// --- part 3: the web path --------------------------------------------------------------

async function runWeb(on: BenchServer, providers: LocalProviders, secondFactor: SecondFactorInbox, sender: Sender, count: number, log: (line: string) => void): Promise<WebPathFigure> {
  const inboxWaiters = new Map<string, (sms: TwilioHandsetSms, at: number) => void>();
  const onSms = (sms: TwilioHandsetSms) => inboxWaiters.get(sms.to)?.(sms, wall());
  providers.twilio.on('sms', onSms);
  const post = async (path: string, body: unknown): Promise<Response> =>
    fetch(`${on.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const s = {
    send: [] as number[],
    toSms: [] as number[],
    page: [] as number[],
    describe: [] as number[],
    challenge: [] as number[],
    code: [] as number[],
    open: [] as number[],
    decrypt: [] as number[],
    smsToDecrypted: [] as number[],
    total: [] as number[],
  };
  const errorSamples: string[] = [];
  let ok = 0;
  let failures = 0;
  try {
    // One warm-up, then the measured ones, one after another.
    for (let i = 0; i <= count; i++) {
      const warm = i === 0;
      const customerId = `web-${i}`;
      const phone = `+1555030${String(i).padStart(4, '0')}`;
      const text = otpText(10_000 + i);
      try {
        const sms = new Promise<{ sms: TwilioHandsetSms; at: number }>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no SMS reached the handset')), 15_000);
          inboxWaiters.set(phone, (m, at) => {
            clearTimeout(timer);
            resolve({ sms: m, at });
          });
        });
        const t0 = wall();
        const result = await sender.sendToWeb(customerId, phone, text, { class: FALLBACK_CLASS });
        const t1 = wall();
        if (result.path !== 'pending') throw new Error(`sendToWeb answered path ${result.path}`);
        const { sms: message, at: smsAt } = await sms;
        inboxWaiters.delete(phone);
        const link = new URL(/https?:\/\/\S+/.exec(message.text)?.[0] ?? '');
        const token = link.pathname.split('/').pop() ?? '';
        const key = link.hash.slice(1);
        const t2 = wall();
        const [page, script] = await Promise.all([fetch(`${on.url}/r/${token}`), fetch(`${on.url}/assets/retrieve.js`)]);
        await Promise.all([page.text(), script.text()]);
        if (!page.ok || !script.ok) throw new Error(`page ${page.status}, script ${script.status}`);
        const t3 = wall();
        const described = (await (await post('/v1/web/describe', { token })).json()) as { state?: string };
        if (described.state !== 'usable') throw new Error(`describe: ${JSON.stringify(described)}`);
        const t4 = wall();
        const challenged = await post('/v1/web/challenge', { token });
        await challenged.text();
        if (!challenged.ok) throw new Error(`challenge ${challenged.status}`);
        const t5 = wall();
        const code = await secondFactor.nextCode(`${BANK}:${customerId}`, 5_000);
        const t6 = wall();
        const opened = await post('/v1/web/open', { token, code, consent: true });
        const body = (await opened.json()) as { ciphertext?: string };
        if (!opened.ok || typeof body.ciphertext !== 'string') throw new Error(`open ${opened.status}: ${JSON.stringify(body).slice(0, 200)}`);
        const t7 = wall();
        const sealed = Buffer.from(body.ciphertext, 'base64');
        const aesKey = await crypto.subtle.importKey('raw', Buffer.from(key, 'base64url'), 'AES-GCM', false, ['decrypt']);
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: new TextEncoder().encode(WEB_MESSAGE_AAD) }, aesKey, sealed.subarray(12));
        const t8 = wall();
        if (new TextDecoder().decode(plain) !== text) throw new Error('decrypted text differs');
        const route = await sender.route(result.messageId);
        if (route.state !== 'delivered' || route.path !== 'sms-token-web') throw new Error(`route ${route.state}/${String(route.path)}`);
        if (warm) continue;
        ok++;
        s.send.push(t1 - t0);
        s.toSms.push(smsAt - t0);
        s.page.push(t3 - t2);
        s.describe.push(t4 - t3);
        s.challenge.push(t5 - t4);
        s.code.push(t6 - t5);
        s.open.push(t7 - t6);
        s.decrypt.push(t8 - t7);
        s.smsToDecrypted.push(t8 - smsAt);
        s.total.push(t8 - t0);
      } catch (error) {
        inboxWaiters.delete(phone);
        if (warm) throw error;
        failures++;
        if (errorSamples.length < 5) errorSamples.push(`${customerId}: ${errorText(error)}`);
      }
    }
  } finally {
    providers.twilio.off('sms', onSms);
  }
  const figure: WebPathFigure = {
    messages: count,
    ok,
    failures,
    sendMs: summarize(s.send),
    sendToSmsMs: summarize(s.toSms),
    pageMs: summarize(s.page),
    describeMs: summarize(s.describe),
    challengeMs: summarize(s.challenge),
    codeMs: summarize(s.code),
    openMs: summarize(s.open),
    decryptMs: summarize(s.decrypt),
    smsToDecryptedMs: summarize(s.smsToDecrypted),
    totalMs: summarize(s.total),
    errorSamples,
  };
  log(`web: ${ok}/${count} ok; send→SMS p50 ${figure.sendToSmsMs.p50} ms, challenge p50 ${figure.challengeMs.p50} ms, open p50 ${figure.openMs.p50} ms, total p50 ${figure.totalMs.p50} p99 ${figure.totalMs.p99} ms`);
  return figure;
}

// --- provider probe --------------------------------------------------------------------

/** Each adapter called directly, one send at a time, on an idle server (no handset reacting in this process). */
async function probeProviders(providers: LocalProviders, count: number): Promise<Map<string, { ms: number[]; failures: number }>> {
  const out = new Map<string, { ms: number[]; failures: number }>();
  const probePhone = '+15550409999';
  providers.setRcs(probePhone, 'parley');
  const fcmToken = providers.newPushToken('fcm');
  const apnsToken = providers.newPushToken('apns');
  const envelopeBytes = new TextEncoder().encode(JSON.stringify({ id: '1', payload: randomBytes(700).toString('base64') }));
  const cases: { channel: Channel | undefined; recipient: Recipient; item: OutboundItem }[] = [
    { channel: providers.channels.fcm, recipient: { pseudonym: 'probe-fcm', pushToken: fcmToken, deviceIds: ['probe'] }, item: { kind: 'wake', collapseId: 'probe' } },
    { channel: providers.channels.apns, recipient: { pseudonym: 'probe-apns', pushToken: apnsToken, deviceIds: ['probe'] }, item: { kind: 'wake', collapseId: 'probe' } },
    { channel: providers.channels.rbm, recipient: { pseudonym: 'probe-rbm', phone: probePhone }, item: { kind: 'ciphertext', bytes: envelopeBytes, contentType: PARLEY_ENVELOPE_TYPE } },
    {
      channel: providers.channels.sms,
      recipient: { pseudonym: 'probe-sms', phone: probePhone },
      item: { kind: 'link', text: `${DEMO_BRAND}: you have a new secure message. Open it in the app: https://parley.example/r/AAAAAAAAAAAAAAAAAAAAAA`, url: 'https://parley.example/r/AAAAAAAAAAAAAAAAAAAAAA', brand: DEMO_BRAND },
    },
  ];
  for (const { channel, recipient, item } of cases) {
    if (!channel) continue;
    const entry = { ms: [] as number[], failures: 0 };
    out.set(channel.name, entry);
    for (let i = 0; i < count + 2; i++) {
      const t0 = performance.now();
      try {
        await channel.send({ deliveryId: `probe.${i}.${channel.name}.${randomBytes(4).toString('hex')}`, messageId: `probe-${i}`, recipient, item });
        if (i >= 2) entry.ms.push(performance.now() - t0); // the first two warm the connection
      } catch {
        entry.failures++;
      }
      await sleep(5);
    }
  }
  return out;
}

// --- one engine ------------------------------------------------------------------------

async function runEngine(engine: 'pglite' | 'postgres', opts: RoutingBenchOptions, log: (line: string) => void): Promise<{ result: RoutingEngineResult; failures: number }> {
  const quick = opts.quick === true;
  const startedAt = performance.now();
  const customers = opts.customers ?? (quick ? 8 : 16);
  const rounds = quick ? 2 : 4;
  const perRound = Math.ceil((opts.messages ?? (quick ? 160 : 2_000)) / rounds);
  const warmup = Math.max(customers * 2, Math.round((perRound * rounds) / 10));
  const fallbackMessages = opts.fallbackMessages ?? (quick ? 6 : 30);
  const customersPerPath = quick ? 3 : 5;
  const messagesPerCustomer = Math.max(1, Math.ceil(fallbackMessages / customersPerPath));
  const webMessages = opts.webMessages ?? (quick ? 6 : 20);
  const clients = opts.clients ?? 'child';
  const databaseUrl = opts.databaseUrl ?? DEFAULT_POSTGRES_URL;
  const notes: string[] = [];
  const sink = new LogSink();
  const tmp = await mkdtemp(join(tmpdir(), 'parley-bench-routing-'));
  const servers: BenchServer[] = [];
  const devices: Device[] = [];
  let providers: LocalProviders | undefined;
  let secondFactor: SecondFactorInbox | undefined;
  try {
    const port = await freePort();
    providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: ADAPTER_TIMEOUT_MS, rbmAutoDeliver: true });
    secondFactor = await startSecondFactorInbox();
    const timing = new ChannelTiming();
    const bankRouting: BusinessRouting = {
      brand: DEMO_BRAND,
      appUrl: 'https://examplebank.example/app',
      secondFactor: { url: secondFactor.url, secret: secondFactor.secret },
      policies: { [FALLBACK_CLASS]: { chain: FALLBACK_CHAIN, otherwise: 'fallback-with-token' } },
    };
    log(`starting two servers (${engine}; one with routing enabled and every emulated provider, one with routing disabled)`);
    const started = await Promise.allSettled([
      startBenchServer(engine, 'on', tmp, databaseUrl, sink, {
        port,
        routing: { channels: timing.wrap(providers.channels), businesses: { [BANK]: bankRouting }, ...(opts.tickMs !== undefined ? { tickMs: opts.tickMs } : {}) },
      }),
      startBenchServer(engine, 'off', tmp, databaseUrl, sink, { routing: { enabled: false } }),
    ]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const [onStart, offStart] = started;
    if (onStart?.status !== 'fulfilled' || offStart?.status !== 'fulfilled') {
      throw new Error(`a server did not start: ${started.map((x) => (x.status === 'rejected' ? errorText(x.reason) : 'ok')).join('; ')}`);
    }
    const on = onStart.value;
    const off = offStart.value;
    const tickMs = on.server.config.routing.tickMs;
    const setupSeconds = (performance.now() - startedAt) / 1000;

    // --- 1. hot path ---
    log(`hot path: ${customers} connected customers per server, ${warmup} warm-up + ${perRound * rounds} measured messages per configuration in ${rounds} alternating rounds (clients ${clients})`);
    const hotPath = await runHotPath(engine, on, off, { customers, warmup, perRound, rounds, clients, tmp, databaseUrl }, notes, log);
    const r = hotPath.ratios;
    log(
      `hot path: enabled ÷ disabled: submit p50 ${r.submitP50}× p99 ${r.submitP99}×, e2e p50 ${r.e2eP50}× p99 ${r.e2eP99}×, throughput ${r.throughput}×, server CPU/msg ${r.serverCpuPerMessage}× (+${hotPath.deltas.serverCpuMsPerMessage} ms); ack → delivered p50 ${hotPath.ackToDeliveredMs.p50} ms p99 ${hotPath.ackToDeliveredMs.p99} ms`,
    );
    timing.reset();
    const metricsBefore = channelSendMetrics(await (await fetch(`${on.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text());

    // --- 2. fallback paths ---
    const bank = await createBusiness(on.url, BANK);
    const { figures: fallback, sender } = await runFallback(on, bank, providers, { customersPerPath, messagesPerCustomer }, devices, log);

    // --- 3. web path ---
    const web = await runWeb(on, providers, secondFactor, sender, webMessages, log);

    // --- provider send latency ---
    const metricsAfter = channelSendMetrics(await (await fetch(`${on.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text());
    await Promise.all(devices.splice(0).map((d) => d.close().catch(() => {})));
    log(`providers: probing each adapter directly (${quick ? 10 : 30} sends each, one at a time)`);
    const probe = await probeProviders(providers, quick ? 10 : 30);
    const channelNames = new Set([...timing.sends.keys(), ...timing.capabilities.keys(), ...metricsAfter.keys(), ...probe.keys()]);
    const providerFigures: ProviderSendFigure[] = [...channelNames].sort().map((channel) => {
      const a = metricsAfter.get(channel) ?? { count: 0, sumSeconds: 0 };
      const b = metricsBefore.get(channel) ?? { count: 0, sumSeconds: 0 };
      const count = a.count - b.count;
      const caps = timing.capabilities.get(channel) ?? [];
      const p = probe.get(channel) ?? { ms: [], failures: 0 };
      return {
        channel,
        sends: timing.sends.get(channel)?.length ?? 0,
        sendMs: summarize(timing.sends.get(channel) ?? []),
        failures: timing.failures.get(channel) ?? 0,
        capabilityChecks: caps.length,
        ...(caps.length > 0 ? { capabilitiesMs: summarize(caps) } : {}),
        metricsCount: count,
        metricsMeanMs: count > 0 ? round2(((a.sumSeconds - b.sumSeconds) / count) * 1000) : 0,
        idleProbe: { sends: p.ms.length, sendMs: summarize(p.ms), failures: p.failures },
      };
    });
    for (const p of providerFigures) {
      log(`provider ${p.channel}: routing ${p.sends} sends p50 ${p.sendMs.p50} ms p99 ${p.sendMs.p99} ms (histogram mean ${p.metricsMeanMs} ms); idle probe p50 ${p.idleProbe.sendMs.p50} ms p99 ${p.idleProbe.sendMs.p99} ms`);
    }

    if (sink.count > 0) notes.push(`the servers logged ${sink.count} warnings/errors, e.g. ${sink.samples.map((x) => JSON.stringify(x)).join('; ')}`);
    if (clients === 'inline') notes.push('hot-path clients inline: the SDK devices share the servers’ event loop and their CPU is in the server figure');
    notes.push('fallback and web paths: the SDK devices, the emulators and the server share this process (handsets react on the server’s event loop)');
    const failures = hotPath.disabled.errors + hotPath.enabled.errors + fallback.reduce((a, f) => a + f.failures, 0) + web.failures;
    const result: RoutingEngineResult = {
      engine,
      config: {
        tickMs,
        fallbackChain: FALLBACK_CHAIN,
        fallbackClass: FALLBACK_CLASS,
        hotClass: HOT_CLASS,
        adapterTimeoutMs: ADAPTER_TIMEOUT_MS,
        twilioCallbackDelayMs: providers.twilio.callbackDelayMs,
        fallbackCustomersPerPath: customersPerPath,
      },
      hotPath,
      fallback,
      web,
      providers: providerFigures,
      notes,
      setupSeconds: round1(setupSeconds),
      seconds: round1((performance.now() - startedAt) / 1000),
    };
    return { result, failures };
  } finally {
    await Promise.all(devices.map((d) => d.close().catch(() => {})));
    for (const s of servers) {
      await s.server.stop().catch((error: unknown) => log(`server stop failed: ${String(error)}`));
      if (s.schema) {
        const admin = new PostgresDatabase({ connectionString: databaseUrl });
        await admin.exec(`DROP SCHEMA ${s.schema} CASCADE`).catch((error: unknown) => log(`drop schema failed: ${String(error)}`));
        await admin.close();
      }
    }
    await secondFactor?.close().catch(() => {});
    await providers?.close().catch(() => {});
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Runs the routing benchmark on each engine; a PostgreSQL that does not answer is skipped with a reason.
 *
 * @example
 * const r = await runRoutingBench({ quick: true, engines: ['pglite'], onProgress: console.error });
 * console.log(r.results[0]?.hotPath.ratios);
 */
export async function runRoutingBench(opts: RoutingBenchOptions = {}): Promise<RoutingBenchResult> {
  const progress = opts.onProgress ?? (() => {});
  const results: RoutingEngineResult[] = [];
  const skipped: { engine: string; reason: string }[] = [];
  let failures = 0;
  for (const engine of opts.engines ?? ['pglite', 'postgres']) {
    if (engine === 'postgres') {
      const probe = new PostgresDatabase({ connectionString: opts.databaseUrl ?? DEFAULT_POSTGRES_URL });
      try {
        await probe.ping();
      } catch (error) {
        skipped.push({ engine, reason: errorText(error) });
        progress(`routing/postgres: skipped (${skipped[skipped.length - 1]!.reason})`);
        continue;
      } finally {
        await probe.close().catch(() => {});
      }
    }
    await opts.beforeEngine?.(engine);
    const run = await runEngine(engine, opts, (line) => progress(`routing/${engine}: ${line}`));
    results.push(run.result);
    failures += run.failures;
  }
  return { quick: opts.quick === true, results, skipped, failures };
}

// Run alone: npx tsx bench/routing.ts [--quick] [--engine pglite|postgres|both] [--clients child|inline] [--tick-ms N]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const arg = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const engineArg = arg('--engine') ?? 'both';
  const engines: ('pglite' | 'postgres')[] = engineArg === 'pglite' || engineArg === 'postgres' ? [engineArg] : ['pglite', 'postgres'];
  const tick = arg('--tick-ms') !== undefined ? Number(arg('--tick-ms')) : undefined;
  runRoutingBench({
    quick: argv.includes('--quick'),
    engines,
    clients: arg('--clients') === 'inline' ? 'inline' : 'child',
    ...(tick !== undefined && Number.isFinite(tick) ? { tickMs: tick } : {}),
    onProgress: (l) => process.stderr.write(`${l}\n`),
  }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
