/**
 * Cluster load benchmark (issue 6 item 5): `npm run bench -- cluster [--quick]`.
 *
 * The same workload through four systems on this machine:
 * - **Parley** with 1, 2 and 3 server nodes: separate `parley serve` processes on
 *   their own ports, one PostgreSQL (a fresh schema per node count, dropped
 *   afterwards) and NATS for cross-node notices (a subject prefix of their own).
 *   Devices are registered over HTTP and paired in real 2-member MLS groups; the
 *   load uses the raw wire protocol (WebSocket `submit` / `deliver` / `ack`, like
 *   bench/relay-clients.ts) with pre-encrypted ~1 KiB PrivateMessages, not SDK
 *   devices (an SDK device per connection would put 1,000 MLS stacks in the load
 *   generator). Devices are spread round-robin over the nodes, device 2i sends to
 *   device 2i+1, so with 2 or 3 nodes every sender and its recipient are on
 *   DIFFERENT nodes: every message crosses nodes through PostgreSQL + a NATS notice.
 * - **NATS core** publish/subscribe of the same payloads to the same number of
 *   subscribers (the physical-limit baseline: no storage, no acks), and **NATS
 *   JetStream** (file storage; publish waits for the PubAck; a push consumer with
 *   explicit acks per recipient).
 * - **Mosquitto**, MQTT QoS 1 both ways (payload opaque).
 *
 * Every system gets the same closed loop (bench/cluster-clients.ts, in child
 * processes): N devices = N/2 sender→recipient pairs, one connection per device,
 * `windowPerSender` messages in flight per sender until delivered (and, where the
 * system acknowledges publishes, acknowledged). Measured: delivered messages/s
 * over a timed window after a warm-up; end-to-end latency (send → the recipient
 * has it) p50/p99/p99.9; server memory per connected device = (RSS of the server
 * processes after the devices connected − before) ÷ devices, each after a GC for
 * the Node processes (a SIGUSR2 hook preloaded into the nodes, bench-side only);
 * CPU of servers, PostgreSQL, NATS, clients and the rest of the machine.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect as natsConnect, RetentionPolicy, StorageType, type NatsConnection } from 'nats';
import { PostgresDatabase } from '@parley/server';
import { ADMIN_TOKEN, createBusiness, openSession, registerRawDevice, type RawDevice } from '../packages/server/test/helpers.js';
import { createPairGroup, inPool, plaintextLengthFor, preEncrypt } from './relay.js';
import {
  histogramPercentiles,
  type ChildResult,
  type ChildToParent,
  type ClusterClientSpec,
  type ParentToChild,
  type ParleyPairSpec,
  type Percentiles,
  type SystemKind,
} from './cluster-clients.js';

export interface ClusterBenchOptions {
  quick?: boolean;
  /** Connected devices (even; default 1000, quick 200). */
  devices?: number;
  /** Parley node counts (default 1, 2, 3). */
  nodeCounts?: readonly number[];
  /** Systems to run (default all: parley, nats, jetstream, mqtt). */
  systems?: readonly SystemKind[];
  /** Messages in flight over all senders (default 500, the relay benchmark's 50 × 10); per sender at least 1. */
  inFlight?: number;
  /** Warm-up and measured window, seconds (default 10 + 30; quick 2 + 4). */
  warmupSeconds?: number;
  measureSeconds?: number;
  /** Client processes sharing the pairs (default 2). */
  clientProcesses?: number;
  /** NATS / MQTT clients: lean raw-protocol clients (default; bench/cluster-wire.ts) or the official `nats` / `mqtt` libraries. */
  brokerClients?: 'raw' | 'lib';
  databaseUrl?: string;
  /** Use this NATS / MQTT server (e.g. the machine's shared nats://127.0.0.1:4222, mqtt://127.0.0.1:1883) instead of a private one started per run. */
  natsUrl?: string;
  mqttUrl?: string;
  /** Longest wait for an idle machine before each system's run (ms; 0: don't wait). */
  waitQuietMs?: number;
  onProgress?: (line: string) => void;
}

export interface MemorySample {
  readonly rssKiB: number;
  /** Node processes only: V8 heap in use + external memory, after a full GC. */
  readonly liveKiB: number | undefined;
}

export interface MemoryFigures {
  /** Processes counted (Parley: the node processes; NATS: nats-server; MQTT: mosquitto). */
  readonly processes: readonly { readonly name: string; readonly pid: number; readonly before: MemorySample; readonly after: MemorySample; readonly afterLoad: MemorySample }[];
  /** RSS summed over the processes: before the devices connected, after, and after the load. */
  readonly beforeKiB: number;
  readonly afterKiB: number;
  readonly afterLoadKiB: number;
  /** RSS: (after − before) ÷ connected devices. */
  readonly perDeviceKiB: number;
  /** Node processes only: live JS memory (heap used + external, after a GC): (after − before) ÷ devices. */
  readonly livePerDeviceKiB: number | undefined;
  /** Parley only: nats-server's growth while the devices connected (a subscription per device), per device. */
  readonly natsServerPerDeviceKiB?: number;
}

export interface CpuCores {
  /** Server processes (Parley nodes, nats-server or mosquitto), in cores over the measured window. */
  readonly servers: number;
  /** PostgreSQL (all its processes on the machine) — Parley only. */
  readonly postgres: number | undefined;
  /** nats-server — Parley runs (cross-node notices). */
  readonly nats: number | undefined;
  readonly clients: number;
  /** Everything else (other processes, kernel): contention that distorts the figures. */
  readonly other: number;
  readonly machineUtilization: number;
  readonly cores: number;
}

export interface ClusterRun {
  readonly system: SystemKind;
  readonly label: string;
  /** Parley only. */
  readonly nodes: number | undefined;
  readonly devices: number;
  readonly connections: number;
  readonly pairs: number;
  readonly windowPerSender: number;
  readonly payloadBytes: number;
  /** Pairs whose sender and recipient were connected to different nodes. */
  readonly crossNodePairs: number | undefined;
  readonly messagesPerSecond: number;
  readonly measuredMessages: number;
  readonly measuredSeconds: number;
  readonly e2eMs: Percentiles;
  /** Send → publish acknowledged (Parley `submitted` = durable in PostgreSQL; JetStream PubAck; MQTT PUBACK); undefined for core NATS. */
  readonly publishAckMs: Percentiles | undefined;
  readonly memory: MemoryFigures;
  readonly cpu: CpuCores;
  /** Delivered messages per CPU-second of the whole machine (servers, database, broker, clients). */
  readonly messagesPerMachineCpuSecond: number;
  readonly clientEventLoopUtilization: readonly number[];
  readonly totals: {
    readonly sent: number;
    readonly acknowledged: number;
    readonly delivered: number;
    readonly duplicates: number;
    readonly unexpected: number;
    readonly publishErrors: number;
    readonly otherErrors: number;
    readonly drainedCleanly: boolean;
  };
  readonly setupSeconds: number;
  readonly connectSeconds: number;
  readonly notes: readonly string[];
  readonly errorSamples: readonly string[];
}

export interface ClusterRatio {
  /** Which Parley run (n nodes) against which reference. */
  readonly parleyNodes: number;
  readonly reference: string;
  /** Parley ÷ reference: throughput (higher is better). */
  readonly throughput: number;
  /** Parley ÷ reference: latency (lower is better). */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Parley ÷ reference: memory per device (lower is better). */
  readonly memoryPerDevice: number;
}

export interface ClusterBenchResult {
  readonly name: 'cluster';
  readonly quick: boolean;
  readonly config: {
    readonly devices: number;
    readonly pairs: number;
    readonly inFlight: number;
    readonly windowPerSender: number;
    readonly payloadBytes: number;
    readonly warmupSeconds: number;
    readonly measureSeconds: number;
    readonly clientProcesses: number;
    readonly brokerClients: 'raw' | 'lib';
    readonly nodeCounts: readonly number[];
    readonly systems: readonly SystemKind[];
    readonly parleyClients: string;
  };
  readonly runs: readonly ClusterRun[];
  readonly ratios: readonly ClusterRatio[];
  readonly skipped: readonly { readonly system: string; readonly reason: string }[];
  readonly failures: number;
  readonly notes: readonly string[];
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');
const PARLEY_BIN = join(repoRoot, 'packages', 'cli', 'bin', 'parley.js');
/**
 * Preloaded into each node (bench-side; no server change): on SIGUSR2 a full GC, then
 * process.memoryUsage() into $PARLEY_BENCH_MEMORY_FILE, so memory samples hold no garbage.
 */
const MEMORY_HOOK = `data:text/javascript,${encodeURIComponent(
  'import { writeFileSync } from "node:fs"; let seq = 0; process.on("SIGUSR2", () => { if (typeof globalThis.gc === "function") globalThis.gc(); const f = process.env.PARLEY_BENCH_MEMORY_FILE; if (f) writeFileSync(f, JSON.stringify({ seq: ++seq, ...process.memoryUsage() })); });',
)}`;

// --- procfs -----------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

async function rssKiB(pid: number): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function pidTicks(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Pids of the processes whose command name is `comm`. */
async function pidsByComm(comm: string): Promise<number[]> {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return out;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (pid) => {
        try {
          if ((await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === comm) out.push(Number(pid));
        } catch {
          /* gone */
        }
      }),
  );
  return out.sort((a, b) => a - b);
}

async function machineBusyTicks(): Promise<number> {
  try {
    const f = ((await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
    return (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  } catch {
    return 0;
  }
}

interface CpuGroups {
  servers: readonly number[];
  postgres: boolean;
  /** Parley runs: the nats-server carrying the notices. */
  nats: number | undefined;
  clients: readonly number[];
}

interface CpuSnapshot {
  at: number;
  servers: number;
  postgres: number;
  nats: number;
  clients: number;
  machine: number;
}

async function sumTicks(pids: readonly number[]): Promise<number> {
  return (await Promise.all(pids.map(pidTicks))).reduce((a, b) => a + b, 0);
}

async function cpuSnapshot(g: CpuGroups): Promise<CpuSnapshot> {
  const [servers, postgres, nats, clients, machine] = await Promise.all([
    sumTicks(g.servers),
    g.postgres ? pidsByComm('postgres').then(sumTicks) : Promise.resolve(0),
    g.nats !== undefined ? pidTicks(g.nats) : Promise.resolve(0),
    sumTicks(g.clients),
    machineBusyTicks(),
  ]);
  return { at: performance.now(), servers, postgres, nats, clients, machine };
}

function cpuCores(a: CpuSnapshot, b: CpuSnapshot, g: CpuGroups): CpuCores {
  const wall = (b.at - a.at) / 1000;
  const cores = (ticks: number) => Math.round((ticks / CLK_TCK / wall) * 100) / 100;
  const servers = b.servers - a.servers;
  const postgres = b.postgres - a.postgres;
  const nats = b.nats - a.nats;
  const clients = b.clients - a.clients;
  const machine = b.machine - a.machine;
  const n = cpus().length;
  return {
    servers: cores(servers),
    postgres: g.postgres ? cores(postgres) : undefined,
    nats: g.nats !== undefined ? cores(nats) : undefined,
    clients: cores(clients),
    other: Math.max(0, cores(machine - servers - postgres - nats - clients)),
    machineUtilization: Math.round((machine / CLK_TCK / wall / n) * 1000) / 1000,
    cores: n,
  };
}

async function machineBusy(ms: number): Promise<number> {
  const read = async () => {
    try {
      const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
      return { idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.reduce((x, y) => x + y, 0) };
    } catch {
      return { idle: 0, total: 0 };
    }
  };
  const a = await read();
  await sleep(ms);
  const b = await read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/** Waits up to `maxMs` for `seconds` nearly idle seconds in a row (the machine may be shared). */
async function waitForQuiet(maxMs: number, seconds: number, log: (line: string) => void): Promise<number> {
  const t0 = performance.now();
  let quiet = 0;
  let busy = 0;
  let told = false;
  while (performance.now() - t0 < maxMs) {
    busy = await machineBusy(1000);
    quiet = busy < 0.1 ? quiet + 1 : 0;
    if (quiet >= seconds) break;
    if (!told && busy >= 0.1) {
      log(`machine busy (${Math.round(busy * 100)}% of all cores used by other processes); waiting up to ${Math.round(maxMs / 1000)} s for it to go quiet`);
      told = true;
    }
  }
  return busy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tag(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
}

// --- broker instances -------------------------------------------------------------------

interface Broker {
  readonly url: string;
  readonly pid: number;
  /** The process name in /proc (CPU and memory are read there). */
  readonly comm: string;
  /** Started by this benchmark (false: the machine's shared instance, given by URL). */
  readonly private: boolean;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * A private nats-server or mosquitto on a free port (fresh process: a clean memory
 * baseline, and no other user's traffic), with the same options as the machine's
 * instance; or the machine's instance when `sharedUrl` is given.
 */
async function startBroker(kind: 'nats' | 'mqtt', tmp: string, sharedUrl: string | undefined): Promise<Broker> {
  const comm = kind === 'nats' ? 'nats-server' : 'mosquitto';
  if (sharedUrl) {
    const pid = (await pidsByComm(comm))[0];
    if (pid === undefined) throw new Error(`--${kind}-url given but no ${comm} process on this machine (memory and CPU are read from /proc)`);
    return { url: sharedUrl, pid, comm, private: false, stop: async () => {} };
  }
  const port = await freePort();
  const dir = await mkdtemp(join(tmp, `${comm}-`));
  let args: string[];
  if (kind === 'nats') {
    args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir];
  } else {
    const conf = join(dir, 'mosquitto.conf');
    // The machine's configuration, minus the periodic snapshot (persistence) and the log file.
    await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\nmax_connections -1\n`);
    args = ['-c', conf];
  }
  const child = spawn(kind === 'nats' ? '/usr/sbin/nats-server' : '/usr/sbin/mosquitto', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('error', (e) => (err += String(e)));
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${comm} did not start on port ${port}: ${err}`);
    await sleep(50);
  }
  return {
    url: `${kind === 'nats' ? 'nats' : 'mqtt'}://127.0.0.1:${port}`,
    pid: child.pid!,
    comm,
    private: true,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        if (!(await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]))) child.kill('SIGKILL');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// --- Parley nodes -----------------------------------------------------------------------

interface Node {
  readonly nodeId: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Where the memory hook writes. */
  readonly memoryFile: string;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns `parley serve` on PostgreSQL + NATS (with the GC hook) and resolves once it listens. */
async function startNode(o: { databaseUrl: string; keyDir: string; natsUrl: string | undefined; natsPrefix: string; nodeId: string; memoryFile: string }): Promise<Node> {
  const args = [
    '--expose-gc',
    '--import',
    MEMORY_HOOK,
    PARLEY_BIN,
    'serve',
    '--database-url',
    o.databaseUrl,
    '--key-dir',
    o.keyDir,
    '--node-id',
    o.nodeId,
    '--port',
    '0',
    '--admin-token',
    ADMIN_TOKEN,
    '--log-level',
    'warn',
    // Every benchmark client connects from loopback: no per-address cap.
    '--max-connections-per-ip',
    '0',
    ...(o.natsUrl ? ['--nats-url', o.natsUrl, '--nats-prefix', o.natsPrefix] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARLEY_BENCH_MEMORY_FILE: o.memoryFile } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${o.nodeId} did not start within 60 s: ${out}`)), 60_000);
    const onData = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${o.nodeId} exited with ${code}: ${out}`));
    });
  });
  return { nodeId: o.nodeId, url, child, memoryFile: o.memoryFile, output: () => out, stop };
}

async function waitReady(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(3000) });
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = String(error);
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready: ${last}`);
}

/** Full GC in every node (the SIGUSR2 hook), then each node's RSS and live memory. */
async function nodeMemory(nodes: readonly Node[]): Promise<MemorySample[]> {
  const read = async (n: Node): Promise<{ seq: number; heapUsed: number; external: number } | undefined> => {
    try {
      return JSON.parse(await readFile(n.memoryFile, 'utf8')) as { seq: number; heapUsed: number; external: number };
    } catch {
      return undefined;
    }
  };
  const before = await Promise.all(nodes.map(read));
  for (const n of nodes) n.child.kill('SIGUSR2');
  return Promise.all(
    nodes.map(async (n, i) => {
      const deadline = Date.now() + 5000;
      let m = await read(n);
      while ((!m || m.seq <= (before[i]?.seq ?? 0)) && Date.now() < deadline) {
        await sleep(50);
        m = await read(n);
      }
      await sleep(200); // RSS settles after the GC's unmapping
      return { rssKiB: await rssKiB(n.child.pid!), liveKiB: m ? Math.round((m.heapUsed + m.external) / 1024) : undefined };
    }),
  );
}

// --- load driver ------------------------------------------------------------------------

interface LoadOutcome {
  readonly results: ChildResult[];
  readonly cpu: CpuCores;
  readonly connectSeconds: number;
  readonly memoryAfterConnect: MemorySample[];
  readonly memoryAfterLoad: MemorySample[];
}

interface LoadHooks {
  /** RSS of the server processes (KiB each), sampled after the connect (and after the load). */
  sampleMemory(): Promise<MemorySample[]>;
  cpuGroups(clients: readonly number[]): CpuGroups;
}

/**
 * Forks the client processes, lets them connect, samples memory, runs warm-up +
 * measured window, collects their results and closes them.
 */
async function driveLoad(label: string, specs: readonly ClusterClientSpec[], warmupS: number, measureS: number, hooks: LoadHooks, log: (line: string) => void, tmp: string): Promise<LoadOutcome> {
  const children: ChildProcess[] = [];
  const results = new Map<number, ChildResult>();
  const delivered = new Map<number, number>();
  const errors = new Map<number, number>();
  /** How many clients reported each kind of event, and who waits for all of them. */
  const counts = new Map<string, number>();
  const waiters: { kind: string; resolve: () => void }[] = [];
  let failure: string | undefined;
  let failed!: (e: Error) => void;
  const failedPromise = new Promise<never>((_, reject) => (failed = reject));
  failedPromise.catch(() => {});
  const arrive = (kind: string) => {
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
    for (const w of waiters.filter((v) => v.kind === kind)) if ((counts.get(kind) ?? 0) >= specs.length) w.resolve();
  };
  const waitAll = (kind: string, timeoutMs: number): Promise<void> => {
    const all = (counts.get(kind) ?? 0) >= specs.length ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ kind, resolve }));
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      all,
      failedPromise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${label}: clients did not report '${kind}' within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  const connected = waitAll('connected', 300_000);
  let connectMs = 0;
  const t0 = performance.now();
  for (const spec of specs) {
    const path = join(tmp, `clients-${spec.system}-${spec.child}.json`);
    await writeFile(path, JSON.stringify(spec));
    const child = fork(join(here, 'cluster-clients.ts'), [path], { cwd: repoRoot, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    child.on('message', (m: ChildToParent) => {
      if (m.type === 'connected') {
        connectMs = Math.max(connectMs, m.ms);
        arrive('connected');
      } else if (m.type === 'tick') {
        delivered.set(m.child, m.delivered);
        errors.set(m.child, m.errors);
      } else if (m.type === 'result') {
        results.set(m.result.child, m.result);
        arrive('result');
      } else if (m.type === 'closed') arrive('closed');
      else if (m.type === 'failed') {
        failure = `client ${m.child}: ${m.message}`;
        failed(new Error(failure));
      }
    });
    child.on('exit', (code) => {
      if (!results.has(spec.child) && failure === undefined) {
        failure = `client ${spec.child} exited with ${code} before its result`;
        failed(new Error(failure));
      }
    });
  }
  const send = (m: ParentToChild) => {
    for (const c of children) if (c.connected) c.send(m);
  };
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  try {
    await connected;
    const connectSeconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`${specs.reduce((a, s) => a + s.pairCount * 2, 0)} connections up in ${connectSeconds} s (slowest client ${(connectMs / 1000).toFixed(1)} s)`);
    await sleep(1000); // let connect-time work (mailbox reads, subscriptions) settle
    const memoryAfterConnect = await hooks.sampleMemory();
    const groups = hooks.cpuGroups(children.map((c) => c.pid!));

    let phase = 'warm-up';
    let last = 0;
    let lastAt = performance.now();
    const progress = setInterval(() => {
      const total = [...delivered.values()].reduce((a, b) => a + b, 0);
      const now = performance.now();
      const rate = ((total - last) * 1000) / (now - lastAt);
      last = total;
      lastAt = now;
      log(`${phase}: ${total} delivered, ${Math.round(rate)} msg/s now, ${[...errors.values()].reduce((a, b) => a + b, 0)} errors`);
    }, 2000);
    let cpu: CpuCores;
    try {
      send({ type: 'start' });
      await Promise.race([sleep(warmupS * 1000), failedPromise]);
      const c0 = await cpuSnapshot(groups);
      send({ type: 'measure-start' });
      phase = 'measured';
      await Promise.race([sleep(measureS * 1000), failedPromise]);
      send({ type: 'measure-end' });
      const c1 = await cpuSnapshot(groups);
      cpu = cpuCores(c0, c1, groups);
      phase = 'draining';
      await waitAll('result', 30_000);
    } finally {
      clearInterval(progress);
    }
    const memoryAfterLoad = await hooks.sampleMemory();
    send({ type: 'close' });
    await waitAll('closed', 20_000).catch((error: unknown) => log(`closing clients: ${String(error)}`));
    return { results: [...results.values()].sort((a, b) => a.child - b.child), cpu, connectSeconds, memoryAfterConnect, memoryAfterLoad };
  } finally {
    await sleep(300);
    killAll();
  }
}

/** Splits `pairs` into `processes` contiguous shares. */
function shares(pairs: number, processes: number): { first: number; count: number }[] {
  const n = Math.max(1, Math.min(processes, pairs));
  return Array.from({ length: n }, (_, i) => {
    const first = Math.floor((i * pairs) / n);
    return { first, count: Math.floor(((i + 1) * pairs) / n) - first };
  });
}

function summarize(o: {
  system: SystemKind;
  label: string;
  nodes: number | undefined;
  devices: number;
  windowPerSender: number;
  payloadBytes: number;
  crossNodePairs: number | undefined;
  load: LoadOutcome;
  memory: MemoryFigures;
  setupSeconds: number;
  notes: string[];
}): ClusterRun {
  const r = o.load.results;
  const measured = r.reduce((a, x) => a + x.measuredDelivered, 0);
  const mps = Math.round(r.reduce((a, x) => a + (x.measuredSeconds > 0 ? x.measuredDelivered / x.measuredSeconds : 0), 0));
  const seconds = Math.max(...r.map((x) => x.measuredSeconds));
  const sum = (f: (t: ChildResult['totals']) => number) => r.reduce((a, x) => a + f(x.totals), 0);
  const totals = {
    sent: sum((t) => t.sent),
    acknowledged: sum((t) => t.acknowledged),
    delivered: sum((t) => t.delivered),
    duplicates: sum((t) => t.duplicates),
    unexpected: sum((t) => t.unexpected),
    publishErrors: sum((t) => t.publishErrors),
    otherErrors: sum((t) => t.otherErrors),
    drainedCleanly: r.every((x) => x.totals.drainedCleanly),
  };
  const cpu = o.load.cpu;
  const machineCores = cpu.machineUtilization * cpu.cores;
  const notes = [...o.notes];
  if (cpu.other > 0.15) notes.push(`other processes used ${cpu.other.toFixed(2)} cores during the measured window (shared machine): figures are pessimistic`);
  const elu = r.map((x) => x.cpu.eventLoopUtilization);
  if (elu.some((e) => e > 0.9)) notes.push(`a client process's event loop was ${Math.round(Math.max(...elu) * 100)}% busy: the load generator (sharing the machine's cores) may limit this figure`);
  if (!totals.drainedCleanly) notes.push('the drain after the measured window did not complete (see errorSamples)');
  return {
    system: o.system,
    label: o.label,
    nodes: o.nodes,
    devices: o.devices,
    connections: r.reduce((a, x) => a + x.connections, 0),
    pairs: o.devices / 2,
    windowPerSender: o.windowPerSender,
    payloadBytes: o.payloadBytes,
    crossNodePairs: o.crossNodePairs,
    messagesPerSecond: mps,
    measuredMessages: measured,
    measuredSeconds: seconds,
    e2eMs: histogramPercentiles(r.map((x) => x.e2e)),
    publishAckMs: o.system === 'nats' ? undefined : histogramPercentiles(r.map((x) => x.publishAck)),
    memory: o.memory,
    cpu,
    messagesPerMachineCpuSecond: machineCores > 0 ? Math.round(mps / machineCores) : 0,
    clientEventLoopUtilization: elu,
    totals,
    setupSeconds: o.setupSeconds,
    connectSeconds: o.load.connectSeconds,
    notes,
    errorSamples: r.flatMap((x) => x.errorSamples).slice(0, 10),
  };
}

function memoryFigures(names: readonly string[], pids: readonly number[], before: readonly MemorySample[], after: readonly MemorySample[], afterLoad: readonly MemorySample[], devices: number): MemoryFigures {
  const rss = (xs: readonly MemorySample[]) => xs.reduce((a, b) => a + b.rssKiB, 0);
  const live = (xs: readonly MemorySample[]) => xs.reduce((a, b) => a + (b.liveKiB ?? 0), 0);
  const perDevice = (kib: number) => Math.round((kib / devices) * 10) / 10;
  return {
    processes: names.map((name, i) => ({ name, pid: pids[i]!, before: before[i]!, after: after[i]!, afterLoad: afterLoad[i]! })),
    beforeKiB: rss(before),
    afterKiB: rss(after),
    afterLoadKiB: rss(afterLoad),
    perDeviceKiB: perDevice(rss(after) - rss(before)),
    livePerDeviceKiB: before.every((m) => m.liveKiB !== undefined) ? perDevice(live(after) - live(before)) : undefined,
  };
}

// --- the systems --------------------------------------------------------------------------

interface Common {
  devices: number;
  pairs: number;
  windowPerSender: number;
  warmupS: number;
  measureS: number;
  clientProcesses: number;
  brokerClients: 'raw' | 'lib';
  payloadBytes: number;
  databaseUrl: string;
  /** The machine's shared instances when given; private ones otherwise. */
  natsUrl: string | undefined;
  mqttUrl: string | undefined;
  quick: boolean;
  tmp: string;
}

/** One PostgreSQL schema with the registered devices and their MLS groups, shared by the node counts. */
interface ParleySetup {
  readonly schema: string;
  /** The base URL with `search_path` set to the schema. */
  readonly databaseUrl: string;
  readonly keyDir: string;
  readonly devices: RawDevice[];
  /** Per pair: conversation and pre-encrypted messages. */
  readonly groups: readonly { readonly conversationId: string; readonly messages: string[] }[];
  readonly sizes: readonly number[];
  readonly seconds: number;
  /** When the session tokens were issued (they last 15 min). */
  tokensAt: number;
  /** The recipients have received (and acknowledged) their Welcome: true after the first run. */
  welcomed: boolean;
}

/** Starts nodes n{from+1}..n{to} of a schema in parallel. */
async function startNodes(c: Common, databaseUrl: string, keyDir: string, natsUrl: string | undefined, natsPrefix: string, from: number, to: number): Promise<Node[]> {
  const started = await Promise.allSettled(
    Array.from({ length: to - from }, (_, i) => {
      const nodeId = `n${from + i + 1}`;
      return startNode({ databaseUrl, keyDir, natsUrl, natsPrefix, nodeId, memoryFile: join(c.tmp, `memory-${natsPrefix}-${nodeId}.json`) });
    }),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const bad = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw bad.reason;
  }
  await Promise.all(nodes.map((n) => waitReady(n.url)));
  return nodes;
}

/**
 * A fresh schema; one setup node migrates it and creates the shared log keys; the devices
 * register and the pairs create their MLS groups through it; then it stops.
 */
async function setupParley(c: Common, progress: (line: string) => void): Promise<ParleySetup> {
  const log = (line: string) => progress(`cluster[parley setup] ${line}`);
  const t0 = performance.now();
  const schema = `bench_cluster_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`;
  const admin = new PostgresDatabase({ connectionString: c.databaseUrl });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  await admin.close();
  const url = new URL(c.databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const databaseUrl = url.toString();
  const keyDir = await mkdtemp(join(tmpdir(), 'parley-bench-cluster-keys-'));
  log(`fresh PostgreSQL schema ${schema}; starting a setup node`);
  const [node] = await startNodes(c, databaseUrl, keyDir, undefined, tag('ps'), 0, 1);
  try {
    log(`registering ${c.devices} devices`);
    const business = await createBusiness(node!.url);
    let registered = 0;
    const devices: RawDevice[] = await inPool(Array.from({ length: c.devices }, (_, i) => i), 8, async (i) => {
      const d = await registerRawDevice(node!.url, business, i % 2 === 0 ? `s${i >> 1}` : `c${i >> 1}`, { kind: i % 2 === 0 ? 'sender' : 'customer', keyPackages: 1 });
      if (++registered % 250 === 0) log(`  ${registered}/${c.devices} registered`);
      return d;
    });
    const tokensAt = Date.now();
    const unique = c.quick ? 8 : 16;
    log(`creating ${c.pairs} MLS groups, ${unique} pre-encrypted ~${c.payloadBytes} B messages each`);
    let plaintextBytes = 0;
    const sizes: number[] = [];
    const groups = await inPool(Array.from({ length: c.pairs }, (_, i) => i), 4, async (i) => {
      const group = await createPairGroup(node!.url, devices[2 * i]!, devices[2 * i + 1]!);
      if (plaintextBytes === 0) plaintextBytes = await plaintextLengthFor(group, c.payloadBytes);
      const { messages, sizes: sz } = await preEncrypt(group, unique, plaintextBytes);
      sizes.push(...sz);
      return { conversationId: group.conversationId, messages };
    });
    const seconds = Math.round((performance.now() - t0) / 100) / 10;
    log(`setup done in ${seconds} s`);
    return { schema, databaseUrl, keyDir, devices, groups, sizes, seconds, tokensAt, welcomed: false };
  } finally {
    await node!.stop();
  }
}

async function dropParley(c: Common, setup: ParleySetup, log: (line: string) => void): Promise<void> {
  const drop = new PostgresDatabase({ connectionString: c.databaseUrl });
  await drop.exec(`DROP SCHEMA IF EXISTS ${setup.schema} CASCADE`).catch((error: unknown) => log(`drop schema failed: ${String(error)}`));
  await drop.close();
  await rm(setup.keyDir, { recursive: true, force: true });
}

async function runParley(c: Common, setup: ParleySetup, nodeCount: number, progress: (line: string) => void): Promise<ClusterRun> {
  const label = `Parley, ${nodeCount} node${nodeCount > 1 ? 's' : ''}`;
  const log = (line: string) => progress(`cluster[parley×${nodeCount}] ${line}`);
  const natsPrefix = tag('pb');
  const t0 = performance.now();
  const nats = await startBroker('nats', c.tmp, c.natsUrl);
  log(`starting ${nodeCount} × parley serve (schema ${setup.schema}, ${nats.private ? 'private' : 'shared'} NATS ${nats.url}, prefix ${natsPrefix})`);
  // Fresh node processes: their memory baseline holds nothing of the setup or an earlier run.
  let nodes: Node[] = [];
  try {
    nodes = await startNodes(c, setup.databaseUrl, setup.keyDir, nats.url, natsPrefix, 0, nodeCount);
    const nodeOf = (device: number) => nodes[device % nodeCount]!;
    if (Date.now() - setup.tokensAt > 8 * 60_000) {
      log('renewing the session tokens (they last 15 min)');
      const t = Date.now();
      await inPool(setup.devices, 16, async (d, i) => {
        d.token = await openSession(nodeOf(i).url, d.deviceId, d.identity);
      });
      setup.tokensAt = t;
    }
    const ws = (n: Node) => n.url.replace(/^http/, 'ws') + '/v1/ws';
    const pairs: ParleyPairSpec[] = setup.groups.map((g, i) => ({
      senderWs: ws(nodeOf(2 * i)),
      receiverWs: ws(nodeOf(2 * i + 1)),
      senderToken: setup.devices[2 * i]!.token,
      receiverToken: setup.devices[2 * i + 1]!.token,
      conversationId: g.conversationId,
      messages: g.messages,
    }));
    const crossNodePairs = Array.from({ length: c.pairs }, (_, i) => i).filter((i) => (2 * i) % nodeCount !== (2 * i + 1) % nodeCount).length;
    const setupSeconds = Math.round((performance.now() - t0) / 100) / 10;

    const natsPid = nats.pid;
    const natsBefore = await rssKiB(natsPid);
    const before = await nodeMemory(nodes);
    log(`nodes up in ${setupSeconds} s; RSS before connecting: ${before.map((m) => `${(m.rssKiB / 1024).toFixed(0)} MiB`).join(', ')}; connecting ${c.devices} WebSockets`);
    const runTag = tag('m');
    const specs: ClusterClientSpec[] = shares(c.pairs, c.clientProcesses).map((s, child) => ({
      system: 'parley',
      child,
      tag: runTag,
      firstPair: s.first,
      pairCount: s.count,
      windowPerSender: c.windowPerSender,
      payloadBytes: c.payloadBytes,
      connectConcurrency: 32,
      parley: pairs.slice(s.first, s.first + s.count),
      expectWelcome: !setup.welcomed,
    }));
    let natsAfter = 0;
    const load = await driveLoad(label, specs, c.warmupS, c.measureS, {
      sampleMemory: async () => {
        // First called once every client is connected: the Welcomes have been delivered and acknowledged.
        setup.welcomed = true;
        const m = await nodeMemory(nodes);
        if (natsAfter === 0) natsAfter = await rssKiB(natsPid);
        return m;
      },
      cpuGroups: (clients) => ({ servers: nodes.map((n) => n.child.pid!), postgres: true, nats: natsPid, clients }),
    }, log, c.tmp);
    const memory = {
      ...memoryFigures(nodes.map((n) => `parley ${n.nodeId}`), nodes.map((n) => n.child.pid!), before, load.memoryAfterConnect, load.memoryAfterLoad, c.devices),
      natsServerPerDeviceKiB: Math.round(((natsAfter - natsBefore) / c.devices) * 10) / 10,
    };
    const sizes = setup.sizes;
    const notes = [
      'raw wire protocol over WebSocket (auth/submit/deliver/ack frames), not SDK devices: real registered devices and real 2-member MLS groups, payloads pre-encrypted PrivateMessages cycled with unique idempotency keys; recipients do not decrypt (the relay treats payloads as opaque ciphertext)',
      nodeCount > 1
        ? `every pair's sender and recipient on different nodes (${crossNodePairs}/${c.pairs}): stored in PostgreSQL by the sender's node, a NATS notice to the recipient's node, read from PostgreSQL there`
        : 'one node: sender and recipient on the same node (delivered from memory after the commit; the NATS notice is still published, to no subscriber)',
      `durable: a message is acknowledged (submitted) after its PostgreSQL commit; message sizes ${Math.min(...sizes)}–${Math.max(...sizes)} B`,
      'fresh node processes per node count (memory baseline: an idle node with NATS connected); one schema for all node counts, so later runs find the earlier runs\' acknowledged envelope rows in the tables',
    ];
    return summarize({ system: 'parley', label, nodes: nodeCount, devices: c.devices, windowPerSender: c.windowPerSender, payloadBytes: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length), crossNodePairs, load, memory, setupSeconds, notes });
  } finally {
    await Promise.all(nodes.map((n) => n.stop().catch((error: unknown) => log(`stopping ${n.nodeId}: ${String(error)}`))));
    await nats.stop();
  }
}

async function runBroker(c: Common, system: 'nats' | 'jetstream' | 'mqtt', progress: (line: string) => void): Promise<ClusterRun> {
  const label = system === 'nats' ? 'NATS core' : system === 'jetstream' ? 'NATS JetStream' : 'Mosquitto QoS 1';
  const log = (line: string) => progress(`cluster[${system}] ${line}`);
  const setupStart = performance.now();
  const broker = await startBroker(system === 'mqtt' ? 'mqtt' : 'nats', c.tmp, system === 'mqtt' ? c.mqttUrl : c.natsUrl);
  const { comm, pid } = broker;
  const runTag = tag(system === 'mqtt' ? 'bm' : 'bn');
  const stream = `BENCH_${runTag.toUpperCase()}`;
  let admin: NatsConnection | undefined;
  try {
    if (system === 'jetstream') {
      admin = await natsConnect({ servers: broker.url, name: `${runTag}-admin` });
      const jsm = await admin.jetstreamManager();
      await jsm.streams.add({ name: stream, subjects: [`${runTag}.dev.>`], storage: StorageType.File, retention: RetentionPolicy.Limits, max_bytes: 2 * 1024 ** 3, num_replicas: 1 });
    }
    await sleep(500);
    const before = await rssKiB(pid);
    const setupSeconds = Math.round((performance.now() - setupStart) / 100) / 10;
    log(`${broker.private ? 'private' : 'shared'} ${comm} at ${broker.url}, RSS before connecting ${(before / 1024).toFixed(1)} MiB; connecting ${c.devices} clients`);
    const specs: ClusterClientSpec[] = shares(c.pairs, c.clientProcesses).map((s, child) => ({
      system,
      child,
      tag: runTag,
      firstPair: s.first,
      pairCount: s.count,
      windowPerSender: c.windowPerSender,
      payloadBytes: c.payloadBytes,
      connectConcurrency: 32,
      ...(system === 'mqtt' ? { mqttUrl: broker.url } : { natsUrl: broker.url }),
      ...(system === 'jetstream' ? { jetstreamStream: stream } : {}),
      brokerClients: c.brokerClients,
    }));
    const load = await driveLoad(label, specs, c.warmupS, c.measureS, {
      sampleMemory: async () => [{ rssKiB: await rssKiB(pid), liveKiB: undefined }],
      cpuGroups: (clients) => ({ servers: [pid], postgres: false, nats: undefined, clients }),
    }, log, c.tmp);
    const memory = memoryFigures([comm], [pid], [{ rssKiB: before, liveKiB: undefined }], load.memoryAfterConnect, load.memoryAfterLoad, c.devices);
    const notes =
      system === 'nats'
        ? ['core NATS: at-most-once, no storage, no acknowledgement to the sender; a message leaves the window when delivered', 'the physical-limit baseline: one hop through nats-server, no database']
        : system === 'jetstream'
          ? ['JetStream: file storage (one stream, a push consumer with explicit acks per recipient); a message leaves the window when stored (PubAck) and delivered', 'nats-server writes its file store without an fsync per message (it syncs every 2 min by default): stored, not durable per message the way a PostgreSQL commit is']
          : ['MQTT 3.1.1 QoS 1 (PUBACK from the broker; QoS 1 delivery acknowledged by the recipient); clean sessions; a message leaves the window when PUBACKed and delivered', 'mosquitto keeps messages in memory: not durable'];
    notes.push(
      c.brokerClients === 'raw'
        ? `clients: lean raw-protocol ${system === 'mqtt' ? 'MQTT 3.1.1' : 'NATS'} connections (bench/cluster-wire.ts), like the Parley clients' raw WebSocket frames${system === 'jetstream' ? '; nats.js only creates the consumers' : ''}`
        : `clients: the official \`${system === 'mqtt' ? 'mqtt' : 'nats'}\` library, one client object per device`,
    );
    notes.push(
      broker.private
        ? `a private ${comm} (same version and options as the machine's, ${system === 'mqtt' ? 'without the periodic persistence snapshot' : 'JetStream store in a temp dir'}) started for this run: a clean memory baseline and no other user's traffic`
        : `${comm} is the machine's shared instance: memory is its RSS growth while the clients connected (memory freed by earlier clients and other users add noise)`,
    );
    return summarize({ system, label, nodes: undefined, devices: c.devices, windowPerSender: c.windowPerSender, payloadBytes: c.payloadBytes, crossNodePairs: undefined, load, memory, setupSeconds, notes });
  } finally {
    if (admin) {
      const jsm = await admin.jetstreamManager().catch(() => undefined);
      await jsm?.streams.delete(stream).catch((error: unknown) => log(`deleting stream ${stream}: ${String(error)}`));
      await admin.close().catch(() => {});
    }
    await broker.stop();
  }
}

// --- the benchmark --------------------------------------------------------------------------

/**
 * Runs every selected system with the same workload and returns the figures side by side.
 *
 * @example
 * const r = await runClusterBench({ quick: true, onProgress: console.log })
 * for (const run of r.runs) console.log(run.label, run.messagesPerSecond, run.e2eMs.p99)
 */
export async function runClusterBench(opts: ClusterBenchOptions = {}): Promise<ClusterBenchResult> {
  const quick = opts.quick ?? false;
  const devices = opts.devices ?? (quick ? 200 : 1000);
  if (devices < 2 || devices % 2 !== 0) throw new Error('--devices must be an even number ≥ 2');
  const pairs = devices / 2;
  const inFlight = opts.inFlight ?? 500;
  const windowPerSender = Math.max(1, Math.round(inFlight / pairs));
  const nodeCounts = opts.nodeCounts ?? [1, 2, 3];
  const systems = opts.systems ?? ['nats', 'jetstream', 'mqtt', 'parley'];
  const progress = opts.onProgress ?? (() => {});
  const c: Common = {
    devices,
    pairs,
    windowPerSender,
    warmupS: opts.warmupSeconds ?? (quick ? 2 : 10),
    measureS: opts.measureSeconds ?? (quick ? 4 : 30),
    clientProcesses: opts.clientProcesses ?? 2,
    brokerClients: opts.brokerClients ?? 'raw',
    payloadBytes: 1024,
    databaseUrl: opts.databaseUrl ?? 'postgres://postgres@127.0.0.1:5432/test',
    natsUrl: opts.natsUrl,
    mqttUrl: opts.mqttUrl,
    quick,
    tmp: await mkdtemp(join(tmpdir(), 'parley-bench-cluster-')),
  };
  const runs: ClusterRun[] = [];
  const skipped: { system: string; reason: string }[] = [];
  let failures = 0;
  const attempt = async (name: string, fn: () => Promise<ClusterRun>) => {
    if (opts.waitQuietMs && opts.waitQuietMs > 0) {
      const busy = await waitForQuiet(opts.waitQuietMs, quick ? 2 : 3, (line) => progress(`cluster[${name}] ${line}`));
      if (busy >= 0.1) progress(`cluster[${name}] machine still ${Math.round(busy * 100)}% busy; running anyway`);
    }
    try {
      const run = await fn();
      runs.push(run);
      progress(`cluster[${name}] ${run.label}: ${run.messagesPerSecond} msgs/s, e2e p50 ${run.e2eMs.p50} p99 ${run.e2eMs.p99} p99.9 ${run.e2eMs.p999} ms, ${run.memory.perDeviceKiB} KiB/device`);
      const errs = run.totals.publishErrors + run.totals.otherErrors + run.totals.unexpected;
      if (errs > 0 || !run.totals.drainedCleanly || run.measuredMessages === 0) failures++;
    } catch (error) {
      failures++;
      const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
      progress(`cluster[${name}] FAILED ${reason}`);
      skipped.push({ system: name, reason: reason.split('\n')[0] ?? reason });
    }
  };
  progress(`cluster: ${devices} devices (${pairs} pairs), ${windowPerSender} in flight per sender (${pairs * windowPerSender} total), warm-up ${c.warmupS} s, measured ${c.measureS} s, ${c.clientProcesses} client process(es); systems ${systems.join(', ')}`);
  try {
    for (const system of systems) {
      if (system === 'parley') {
        let setup: ParleySetup | undefined;
        try {
          setup = await setupParley(c, progress);
        } catch (error) {
          failures++;
          const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
          progress(`cluster[parley setup] FAILED ${reason}`);
          skipped.push({ system: 'parley', reason: `setup: ${reason.split('\n')[0] ?? reason}` });
          continue;
        }
        try {
          for (const n of nodeCounts) await attempt(`parley×${n}`, () => runParley(c, setup, n, progress));
        } finally {
          await dropParley(c, setup, progress);
        }
      } else {
        await attempt(system, () => runBroker(c, system, progress));
      }
    }
  } finally {
    await rm(c.tmp, { recursive: true, force: true });
  }

  const ratios: ClusterRatio[] = [];
  const r2 = (v: number) => Math.round(v * 100) / 100;
  for (const p of runs.filter((r) => r.system === 'parley')) {
    for (const ref of runs.filter((r) => r.system !== 'parley')) {
      ratios.push({
        parleyNodes: p.nodes ?? 0,
        reference: ref.label,
        throughput: ref.messagesPerSecond > 0 ? r2(p.messagesPerSecond / ref.messagesPerSecond) : 0,
        p50: ref.e2eMs.p50 > 0 ? r2(p.e2eMs.p50 / ref.e2eMs.p50) : 0,
        p99: ref.e2eMs.p99 > 0 ? r2(p.e2eMs.p99 / ref.e2eMs.p99) : 0,
        p999: ref.e2eMs.p999 > 0 ? r2(p.e2eMs.p999 / ref.e2eMs.p999) : 0,
        memoryPerDevice: ref.memory.perDeviceKiB > 0 ? r2(p.memory.perDeviceKiB / ref.memory.perDeviceKiB) : 0,
      });
    }
  }
  const notes = [
    `closed loop: ${windowPerSender} message(s) in flight per sender, ${pairs * windowPerSender} in all; a message leaves the window when delivered (and acknowledged where the system acknowledges publishes), so every rate is sustained (no backlog can build)`,
    `all systems share this machine's ${cpus().length} cores with the load generator (and Parley with PostgreSQL and NATS): more Parley nodes add no cores, only processes`,
    'memory per device = server processes\' RSS growth while the devices connected ÷ devices (Node nodes after a forced GC; brokers as they are)',
  ];
  return {
    name: 'cluster',
    quick,
    config: {
      devices,
      pairs,
      inFlight: pairs * windowPerSender,
      windowPerSender,
      payloadBytes: c.payloadBytes,
      warmupSeconds: c.warmupS,
      measureSeconds: c.measureS,
      clientProcesses: c.clientProcesses,
      brokerClients: c.brokerClients,
      nodeCounts,
      systems,
      parleyClients: 'raw wire protocol (WebSocket frames) with real registered devices and MLS groups; not SDK devices',
    },
    runs,
    ratios,
    skipped,
    failures,
    notes,
  };
}

// --- printing ---------------------------------------------------------------------------------

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const num = (n: number) => n.toLocaleString('en-US');
const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const x = (n: number) => `${n.toFixed(2)}×`;

/** The side-by-side table, the ratios and the notes (console). */
export function printCluster(r: ClusterBenchResult): void {
  const c = r.config;
  console.log(
    `\nCluster load (${num(c.devices)} connected devices = ${num(c.pairs)} sender→recipient pairs, ${c.payloadBytes} B messages, ${c.windowPerSender} in flight per sender (${num(c.inFlight)} in all), ${c.measureSeconds} s measured after ${c.warmupSeconds} s warm-up${r.quick ? ', quick' : ''})`,
  );
  if (r.runs.length > 0) {
    console.log(
      table(
        ['system', 'msgs/s', 'e2e p50', 'e2e p99', 'e2e p99.9', 'ack p50/p99', 'KiB/device', 'live KiB/dev', 'servers', 'postgres', 'nats', 'clients', 'client loop', 'other', 'msgs/machine-cpu-s', 'errors', 'dups'],
        r.runs.map((run) => [
          run.label,
          num(run.messagesPerSecond),
          ms(run.e2eMs.p50),
          ms(run.e2eMs.p99),
          ms(run.e2eMs.p999),
          run.publishAckMs ? `${ms(run.publishAckMs.p50)}/${ms(run.publishAckMs.p99)}` : '—',
          run.memory.perDeviceKiB.toFixed(1),
          run.memory.livePerDeviceKiB === undefined ? '—' : run.memory.livePerDeviceKiB.toFixed(1),
          run.cpu.servers.toFixed(2),
          run.cpu.postgres === undefined ? '—' : run.cpu.postgres.toFixed(2),
          run.cpu.nats === undefined ? '—' : run.cpu.nats.toFixed(2),
          run.cpu.clients.toFixed(2),
          run.clientEventLoopUtilization.map((e) => `${Math.round(e * 100)}%`).join('+'),
          run.cpu.other.toFixed(2),
          num(run.messagesPerMachineCpuSecond),
          String(run.totals.publishErrors + run.totals.otherErrors + run.totals.unexpected),
          String(run.totals.duplicates),
        ]),
      ),
    );
    console.log(
      '(latency in ms: e2e = send → the recipient has it; ack = send → the publish is acknowledged (Parley: durable in PostgreSQL). KiB/device = server RSS growth while the devices connected ÷ devices; live = Node heap used + external after a GC (Parley nodes only). CPU in cores over the measured window; "nats" = the nats-server carrying Parley\'s notices; client loop = event-loop utilization of each client process (near 100 %: the load generator limits the figure). dups = at-least-once redeliveries (not errors).)',
    );
    for (const run of r.runs.filter((x) => x.system === 'parley')) {
      const m = run.memory;
      console.log(
        `${run.label}: node RSS before/after connecting/after load ${m.processes.map((p) => `${(p.before.rssKiB / 1024).toFixed(0)}/${(p.after.rssKiB / 1024).toFixed(0)}/${(p.afterLoad.rssKiB / 1024).toFixed(0)}`).join(', ')} MiB; live JS memory +${m.livePerDeviceKiB ?? 0} KiB/device${m.natsServerPerDeviceKiB !== undefined ? `; nats-server +${m.natsServerPerDeviceKiB} KiB/device` : ''}; cross-node pairs ${run.crossNodePairs}/${run.pairs}; setup ${run.setupSeconds} s, connect ${run.connectSeconds} s`,
      );
    }
  }
  if (r.ratios.length > 0) {
    console.log('\nParley ÷ reference (throughput: higher is better; latency and memory: lower is better)');
    console.log(
      table(
        ['Parley', 'reference', 'msgs/s', 'p50', 'p99', 'p99.9', 'KiB/device'],
        r.ratios.map((q) => [`${q.parleyNodes} node${q.parleyNodes > 1 ? 's' : ''}`, q.reference, x(q.throughput), x(q.p50), x(q.p99), x(q.p999), q.memoryPerDevice > 0 ? x(q.memoryPerDevice) : '—']),
      ),
    );
  }
  for (const n of r.notes) console.log(`note (cluster): ${n}`);
  for (const run of r.runs) {
    for (const n of run.notes) console.log(`note (${run.label}): ${n}`);
    for (const e of run.errorSamples) console.log(`error sample (${run.label}): ${e}`);
  }
  for (const s of r.skipped) console.log(`cluster: ${s.system} failed — ${s.reason}`);
}
