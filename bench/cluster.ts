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
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SystemKind } from './cluster-clients.js';
import { DEFAULT_POSTGRES_URL } from './lib/engines.js';
import { waitForQuiet } from './lib/machine.js';
import { dropParley, runBroker, runParley, setupParley, type Common, type ParleySetup } from './cluster/systems.js';
import type { ClusterRatio, ClusterRun } from './cluster/types.js';

export type { ClusterRatio, ClusterRun, CpuCores, MemoryFigures, MemorySample } from './cluster/types.js';

/** Options of {@link runClusterBench}. */
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

/** Every run of {@link runClusterBench}, the Parley ÷ reference ratios and what failed. */
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
    databaseUrl: opts.databaseUrl ?? DEFAULT_POSTGRES_URL,
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
      const { busy } = await waitForQuiet(opts.waitQuietMs, { quietSeconds: quick ? 2 : 3, log: (line) => progress(`cluster[${name}] ${line}`) });
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
