/**
 * The relay section's peers (issue 18, "benchmark honesty"): after the Parley engines,
 * `npm run bench -- relay` runs **mosquitto 2 with MQTT QoS 1** and **NATS JetStream with
 * file storage** on this machine, in the same invocation, with the relay workload: N
 * sender→receiver pairs (one connection per device), 10 messages in flight per sender,
 * payloads of the Parley messages' mean size (~1 KiB), receivers acknowledging (MQTT QoS 1
 * PUBACK to the broker's delivery; JetStream explicit ack), a warm-up and then the same
 * measured message count as Parley's, end-to-end latency send → the receiver has it, and
 * throughput = distinct deliveries per second over the measured phase.
 *
 * It reuses the cluster section's broker runner (cluster/systems.ts `runBroker`: a private
 * mosquitto / nats-server on a free port, raw-protocol clients from cluster-wire.ts in a
 * child process, cluster-clients.ts) with count-based phases instead of timed ones. A peer
 * whose binary (/usr/sbin/mosquitto, /usr/sbin/nats-server) is missing is skipped with a
 * note. Percentiles: the benchmarks' one definition (lib/stats.ts, nearest rank, over
 * lib/histogram.ts buckets).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBroker, type Common } from '../cluster/systems.js';
import type { ClusterRun } from '../cluster/types.js';
import { DEFAULT_POSTGRES_URL, type Engine } from '../lib/engines.js';
import type { Percentiles } from '../lib/stats.js';

/** A peer the relay section measures next to Parley. */
export type RelayPeer = 'mqtt' | 'jetstream';

/** Every peer, in the order they run. */
export const RELAY_PEERS: readonly RelayPeer[] = ['mqtt', 'jetstream'];

const PEERS: Record<RelayPeer, { readonly name: string; readonly binary: string; readonly versionArgs: readonly string[]; readonly label: (version: string) => string; readonly durability: string }> = {
  mqtt: {
    name: 'mosquitto',
    binary: '/usr/sbin/mosquitto',
    versionArgs: ['-h'],
    label: (v) => `mosquitto ${v}, MQTT QoS 1`,
    durability: 'in memory (not durable)',
  },
  jetstream: {
    name: 'nats-server',
    binary: '/usr/sbin/nats-server',
    versionArgs: ['--version'],
    label: (v) => `NATS JetStream ${v}, file storage`,
    durability: 'file store, no fsync per message',
  },
};

/** One peer's run: the cluster runner's figures plus what the relay report needs. */
export interface RelayPeerRun extends ClusterRun {
  readonly peer: RelayPeer;
  /** The broker's version (from its binary), when it could be read. */
  readonly version: string | undefined;
  /** What an acknowledgement means for this peer. */
  readonly durability: string;
}

/** One Parley engine ÷ one peer measured in the same run. */
export interface RelayPeerComparison {
  readonly engine: Engine;
  readonly peer: RelayPeer;
  readonly peerLabel: string;
  readonly peerMessagesPerSecond: number;
  readonly peerP99Ms: number;
  /** ours ÷ peer (higher is better). */
  readonly throughputRatio: number;
  /** ours ÷ peer, end-to-end p99 (lower is better). */
  readonly p99Ratio: number;
}

/** The peers' runs (`relay/peers` in the JSON results) and the comparisons with each engine. */
export interface RelayPeersResult {
  readonly name: 'relay-peers';
  readonly config: {
    readonly pairs: number;
    readonly windowPerSender: number;
    readonly payloadBytes: number;
    readonly warmupMessages: number;
    readonly measuredMessages: number;
    readonly clientProcesses: number;
    readonly brokerClients: 'raw';
  };
  readonly runs: readonly RelayPeerRun[];
  readonly skipped: readonly { readonly peer: RelayPeer; readonly reason: string }[];
  readonly comparisons: readonly RelayPeerComparison[];
  /** Runs that threw, had errors, did not drain or measured nothing. */
  readonly failures: number;
  readonly notes: readonly string[];
}

/** Options of {@link runRelayPeers}: the relay workload. */
export interface RelayPeersOptions {
  readonly peers: readonly RelayPeer[];
  readonly pairs: number;
  readonly windowPerSender: number;
  readonly payloadBytes: number;
  readonly warmupMessages: number;
  readonly measuredMessages: number;
  readonly quick: boolean;
  readonly onProgress: (line: string) => void;
  /** Called before each peer's run (the runner's wait for an idle machine). */
  readonly beforeEach?: (peer: RelayPeer) => Promise<void>;
}

/** The version in a binary's `-h` / `--version` output (mosquitto prints it and exits non-zero). */
function versionOf(binary: string, args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, [...args], { timeout: 5000 }, (_error, stdout, stderr) => resolve(/v?(\d+\.\d+\.\d+)/.exec(`${stdout}\n${stderr}`)?.[1]));
  });
}

const r2 = (v: number) => Math.round(v * 100) / 100;

/**
 * Parley's figures ÷ each peer's, per engine (ratios 0 when the peer measured nothing).
 *
 * @example
 * const comparisons = compareWithPeers(relayResults, peers.runs);
 */
export function compareWithPeers(results: readonly { readonly engine: Engine; readonly messagesPerSecond: number; readonly e2eMs: Percentiles }[], runs: readonly RelayPeerRun[]): RelayPeerComparison[] {
  return results.flatMap((r) =>
    runs.map((p) => ({
      engine: r.engine,
      peer: p.peer,
      peerLabel: p.label,
      peerMessagesPerSecond: p.messagesPerSecond,
      peerP99Ms: p.e2eMs.p99,
      throughputRatio: p.messagesPerSecond > 0 ? r2(r.messagesPerSecond / p.messagesPerSecond) : 0,
      p99Ratio: p.e2eMs.p99 > 0 ? r2(r.e2eMs.p99 / p.e2eMs.p99) : 0,
    })),
  );
}

/**
 * Runs the installed peers one after the other with the relay workload (a missing binary:
 * skipped with a note) and returns their figures; `comparisons` is left empty for the
 * caller ({@link compareWithPeers}).
 *
 * @example
 * const peers = await runRelayPeers({ peers: RELAY_PEERS, pairs: 50, windowPerSender: 10, payloadBytes: 1024, warmupMessages: 3000, measuredMessages: 15000, quick: true, onProgress: console.log });
 */
export async function runRelayPeers(o: RelayPeersOptions): Promise<RelayPeersResult> {
  const log = (line: string) => o.onProgress(`relay[peers] ${line}`);
  const c: Common = {
    devices: o.pairs * 2,
    pairs: o.pairs,
    windowPerSender: o.windowPerSender,
    // Count-based phases: these are only the longest waits (the Parley clients give up after max(120 s, 2 ms per measured message)).
    warmupS: Math.max(60, Math.ceil(o.warmupMessages / 250)),
    measureS: Math.max(120, Math.ceil((o.measuredMessages * 2) / 1000)),
    // One client process, like the Parley relay clients (bench/relay-clients.ts).
    clientProcesses: 1,
    brokerClients: 'raw',
    payloadBytes: o.payloadBytes,
    databaseUrl: DEFAULT_POSTGRES_URL,
    natsUrl: undefined,
    mqttUrl: undefined,
    quick: o.quick,
    tmp: await mkdtemp(join(tmpdir(), 'parley-bench-relay-peers-')),
    phaseMessages: { warmup: o.warmupMessages, measured: o.measuredMessages },
  };
  const runs: RelayPeerRun[] = [];
  const skipped: { peer: RelayPeer; reason: string }[] = [];
  let failures = 0;
  try {
    for (const peer of o.peers) {
      const info = PEERS[peer];
      if (!existsSync(info.binary)) {
        const reason = `${info.binary} is not installed`;
        log(`${peer}: skipped (${reason})`);
        skipped.push({ peer, reason });
        continue;
      }
      await o.beforeEach?.(peer);
      const version = await versionOf(info.binary, info.versionArgs);
      const label = info.label(version ?? '(version unknown)');
      log(`${label}: ${o.pairs} pairs, window ${o.windowPerSender}, ${o.payloadBytes} B, warm-up ${o.warmupMessages}, measured ${o.measuredMessages}`);
      try {
        const run = await runBroker(c, peer, (line) => o.onProgress(line.replace(/^cluster\[(\w+)\]/, 'relay[peer $1]')));
        runs.push({ ...run, label, peer, version, durability: info.durability });
        log(`${label}: ${run.messagesPerSecond} msgs/s, e2e p50 ${run.e2eMs.p50} p99 ${run.e2eMs.p99} p99.9 ${run.e2eMs.p999} ms`);
        if (run.totals.publishErrors + run.totals.otherErrors + run.totals.unexpected > 0 || !run.totals.drainedCleanly || run.measuredMessages === 0) failures++;
      } catch (error) {
        failures++;
        const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
        log(`${peer}: FAILED ${reason}`);
        skipped.push({ peer, reason: `failed: ${reason.split('\n')[0] ?? reason}` });
      }
    }
  } finally {
    await rm(c.tmp, { recursive: true, force: true });
  }
  return {
    name: 'relay-peers',
    config: {
      pairs: o.pairs,
      windowPerSender: o.windowPerSender,
      payloadBytes: o.payloadBytes,
      warmupMessages: o.warmupMessages,
      measuredMessages: o.measuredMessages,
      clientProcesses: c.clientProcesses,
      brokerClients: 'raw',
    },
    runs,
    skipped,
    comparisons: [],
    failures,
    notes: [
      `the relay workload through the cluster section's broker runner (cluster/systems.ts), after the Parley engines in the same invocation: a private broker on a free port, raw-protocol clients in one child process (like the Parley relay clients), count-based phases (warm-up ${o.warmupMessages}, measured ${o.measuredMessages} distinct deliveries)`,
      "window: a peer's message leaves the sender's window once delivered AND acknowledged to the sender (PUBACK / PubAck); the Parley relay clients free a slot at `submitted` (durable), so the peers' window is at least as strict",
      `payloads: ${o.payloadBytes} opaque bytes in binary frames; Parley's are MLS PrivateMessages of that mean size, base64 in JSON frames`,
      'durability differs: Parley acknowledges a submit after its database commit (PostgreSQL: fsync); mosquitto keeps messages in memory; JetStream writes its file store without an fsync per message',
    ],
  };
}
