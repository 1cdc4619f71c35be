/** Figures of the cluster benchmark (bench/cluster.ts): one system's run and its parts. */
import type { Percentiles } from '../lib/stats.js';
import type { SystemKind } from '../cluster-clients.js';

/** Memory of one server process at one moment. */
export interface MemorySample {
  readonly rssKiB: number;
  /** Node processes only: V8 heap in use + external memory, after a full GC. */
  readonly liveKiB: number | undefined;
}

/** The servers' memory growth while the devices connected. */
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

/** CPU over the measured window, in cores, by who used it. */
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

/** One system's run: throughput, latency, memory, CPU and totals. */
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

/** Parley on n nodes ÷ one reference system. */
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
