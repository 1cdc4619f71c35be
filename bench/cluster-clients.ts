/**
 * Load generator of the cluster benchmark (bench/cluster.ts), run as a child
 * process: `node --import tsx bench/cluster-clients.ts <spec.json>` (IPC channel
 * required; bench/cluster.ts forks one or more of these, each with its own share of
 * the sender→recipient pairs, so that client work never shares a server's event loop).
 *
 * One workload, four transports:
 * - `parley`: the raw Parley wire protocol over WebSocket (`auth`, `submit`,
 *   `deliver`, `ack` frames; like bench/relay-clients.ts). Each pair's sender and
 *   recipient are registered devices in a real 2-member MLS group; payloads are
 *   pre-encrypted ~1 KiB PrivateMessages cycled with unique idempotency keys.
 *   Sender and recipient connect to the nodes bench/cluster.ts names (different
 *   nodes whenever there is more than one).
 * - `nats`: core NATS; one connection per device; the recipient subscribes to its
 *   own subject, the sender publishes 1 KiB to it.
 * - `jetstream`: the same, with every publish stored in a file-backed stream and
 *   acknowledged by the server (PubAck), and each recipient fed by its own push
 *   consumer with explicit acks.
 * - `mqtt`: Mosquitto, one MQTT 3.1.1 connection per device, QoS 1 both ways
 *   (PUBACK from the broker to the sender; QoS 1 delivery, acked by the recipient).
 * Payloads are opaque: random bytes with a sequence number in the first 4 bytes.
 *
 * Closed loop, the same for every transport: each sender keeps `windowPerSender`
 * messages in flight, and a message leaves the window once it has been delivered
 * to the recipient AND (where the system acknowledges publishes) acknowledged to
 * the sender. The rate is therefore sustained by construction: no backlog can grow.
 *
 * The parent drives the phases over IPC: connect → `start` (warm-up) →
 * `measure-start` → `measure-end` (stop sending, drain) → result → `close`.
 * Latencies go into log-bucketed histograms (1 % resolution) that the parent merges.
 */
import { readFileSync } from 'node:fs';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { within } from './lib/async.js';
import { LogHistogram, type Histogram } from './lib/histogram.js';
import { isMain } from './lib/entry.js';
import { mqttTransport, rawMqttTransport } from './cluster/transport-mqtt.js';
import { natsTransport, rawNatsTransport } from './cluster/transport-nats.js';
import { parleyTransport } from './cluster/transport-parley.js';
import type { Loop, PairState, Pending } from './cluster/transport.js';

export type { Histogram } from './lib/histogram.js';

/** A system the cluster benchmark compares. */
export type SystemKind = 'parley' | 'nats' | 'jetstream' | 'mqtt';

/** One Parley pair: its nodes, tokens, conversation and pre-encrypted messages. */
export interface ParleyPairSpec {
  /** ws://host:port/v1/ws of the sender's node and of the recipient's node. */
  readonly senderWs: string;
  readonly receiverWs: string;
  readonly senderToken: string;
  readonly receiverToken: string;
  readonly conversationId: string;
  /** base64 MLSMessages (PrivateMessage) to cycle through. */
  readonly messages: readonly string[];
}

/** What one client process runs (written to a spec file by the parent). */
export interface ClusterClientSpec {
  readonly system: SystemKind;
  /** Which child this is (progress lines). */
  readonly child: number;
  /** Unique per run: subject / topic prefix, idempotency keys. */
  readonly tag: string;
  /** Global index of this child's first pair (subjects and topics are per global pair). */
  readonly firstPair: number;
  readonly pairCount: number;
  readonly windowPerSender: number;
  /** nats / jetstream / mqtt payload size (bytes). */
  readonly payloadBytes: number;
  /** Connections opened at once while connecting. */
  readonly connectConcurrency: number;
  readonly parley?: readonly ParleyPairSpec[];
  /** Parley: the recipients still have their group's Welcome queued (the first run on a setup); wait for it before the load. */
  readonly expectWelcome?: boolean;
  readonly natsUrl?: string;
  /** JetStream: the stream that captures `<tag>.>` (created by the parent). */
  readonly jetstreamStream?: string;
  readonly mqttUrl?: string;
  /** nats / jetstream / mqtt: lean raw-protocol clients (bench/cluster-wire.ts, default) or the official libraries. */
  readonly brokerClients?: 'raw' | 'lib';
  /**
   * Count-based phases (the relay section's peers, bench/relay/peers.ts): this child starts
   * measuring once `warmup` distinct deliveries arrived and ends after `measured` more,
   * reporting each switch to the parent (instead of the parent's timed phases).
   */
  readonly phaseMessages?: { readonly warmup: number; readonly measured: number };
}


/** One client process's figures for its share of the pairs. */
export interface ChildResult {
  readonly child: number;
  readonly connections: number;
  /** Deliveries completed inside the measured window. */
  readonly measuredDelivered: number;
  /** Child-local length of the measured window (s). */
  readonly measuredSeconds: number;
  /** Send → delivered to the recipient (ms). */
  readonly e2e: Histogram;
  /** Send → the system acknowledged the publish (Parley `submitted`: durable; JetStream PubAck: stored; MQTT PUBACK). Empty for core NATS. */
  readonly publishAck: Histogram;
  readonly totals: {
    readonly sent: number;
    readonly acknowledged: number;
    readonly delivered: number;
    readonly duplicates: number;
    readonly unexpected: number;
    readonly publishErrors: number;
    readonly otherErrors: number;
    readonly drainedCleanly: boolean;
    readonly drainMs: number;
  };
  readonly cpu: { readonly userMs: number; readonly systemMs: number; readonly eventLoopUtilization: number };
  readonly connectMs: number;
  readonly errorSamples: readonly string[];
}

/** Commands from the parent (bench/cluster/load.ts). */
export type ParentToChild = { type: 'start' } | { type: 'measure-start' } | { type: 'measure-end' } | { type: 'close' };
/** Reports to the parent. */
export type ChildToParent =
  | { type: 'connected'; child: number; connections: number; ms: number }
  | { type: 'tick'; child: number; delivered: number; errors: number }
  | { type: 'phase'; child: number; phase: 'measure-start' | 'measure-end' }
  | { type: 'result'; result: ChildResult }
  | { type: 'closed'; child: number }
  | { type: 'failed'; child: number; message: string };

// --- driver ---------------------------------------------------------------------------

/** Runs one child's share of the load, driven by the parent over IPC. */
async function runChild(spec: ClusterClientSpec, send: (m: ChildToParent) => void, commands: AsyncIterable<ParentToChild>): Promise<void> {
  const e2e = new LogHistogram();
  const publishAck = new LogHistogram();
  const errorSamples: string[] = [];
  let sending = false;
  let recording = false;
  let sentTotal = 0;
  let ackedTotal = 0;
  let deliveredTotal = 0;
  let measuredDelivered = 0;
  let duplicates = 0;
  let unexpected = 0;
  let publishErrors = 0;
  let otherErrors = 0;
  let inFlight = 0;
  let onIdle: (() => void) | undefined;
  /** Count-based phases: distinct deliveries when the measured phase started (-1: not yet). */
  let deliveredAtStart = -1;
  let measureEnded = false;
  let countPhases: (phases: { readonly warmup: number; readonly measured: number }) => void = () => {};
  const note = (text: string) => {
    if (errorSamples.length < 10) errorSamples.push(text.slice(0, 300));
  };
  const complete = (pair: PairState, seq: number, p: Pending) => {
    pair.pending.delete(seq);
    inFlight--;
    if (recording) {
      e2e.add(p.deliveredAt - p.sentAt);
      measuredDelivered++;
    }
    if (sending) pair.fill();
    else if (inFlight === 0) onIdle?.();
  };
  const loop: Loop = {
    spec,
    sending: () => sending,
    sent(pair, seq) {
      pair.pending.set(seq, { sentAt: performance.now(), acked: false, deliveredAt: Number.NaN });
      inFlight++;
      sentTotal++;
    },
    acked(pair, seq, now) {
      const p = pair.pending.get(seq);
      if (!p || p.acked) return;
      p.acked = true;
      ackedTotal++;
      if (recording) publishAck.add(now - p.sentAt);
      if (!Number.isNaN(p.deliveredAt)) complete(pair, seq, p);
    },
    delivered(pair, seq, now) {
      const p = pair.pending.get(seq);
      if (!p) {
        if (seq < pair.nextSeq) duplicates++;
        else unexpected++;
        return;
      }
      if (!Number.isNaN(p.deliveredAt)) {
        duplicates++;
        return;
      }
      p.deliveredAt = now;
      deliveredTotal++;
      if (p.acked) complete(pair, seq, p);
      if (spec.phaseMessages) countPhases(spec.phaseMessages);
    },
    failed(pair, seq, text) {
      const p = pair.pending.get(seq);
      publishErrors++;
      note(text);
      if (!p) return;
      pair.pending.delete(seq);
      inFlight--;
      if (sending) pair.fill();
      else if (inFlight === 0) onIdle?.();
    },
    duplicate(text) {
      duplicates++;
      if (duplicates <= 3) note(`duplicate (not an error): ${text}`);
    },
    error(text) {
      otherErrors++;
      note(text);
    },
  };

  const lib = spec.brokerClients === 'lib';
  const transport =
    spec.system === 'parley'
      ? parleyTransport(loop)
      : spec.system === 'mqtt'
        ? lib
          ? mqttTransport(loop)
          : rawMqttTransport(loop)
        : lib
          ? natsTransport(loop, spec.system === 'jetstream')
          : rawNatsTransport(loop, spec.system === 'jetstream');
  const t0 = performance.now();
  const connections = await transport.connect();
  const connectMs = Math.round(performance.now() - t0);
  send({ type: 'connected', child: spec.child, connections, ms: connectMs });

  let tick: NodeJS.Timeout | undefined;
  let tStart = 0;
  let tEnd = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  let cpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  let elu0: EventLoopUtilization | undefined;
  let elu = 0;
  function startMeasure(): void {
    recording = true;
    tStart = performance.now();
    cpu0 = process.cpuUsage();
    elu0 = performance.eventLoopUtilization();
  }
  async function endMeasure(): Promise<void> {
    measureEnded = true;
    recording = false;
    sending = false;
    tEnd = performance.now();
    cpu = process.cpuUsage(cpu0);
    elu = elu0 ? performance.eventLoopUtilization(elu0).utilization : 0;
    clearInterval(tick);
    const drainStart = performance.now();
    const drained = inFlight === 0 || (await within(new Promise<void>((r) => (onIdle = r)), 15_000));
    const drainMs = Math.round(performance.now() - drainStart);
    if (!drained) note(`drain incomplete after 15 s: ${inFlight} messages still in flight`);
    send({
      type: 'result',
      result: {
        child: spec.child,
        connections,
        // Count-based phases: distinct deliveries in the measured phase (the relay section's definition).
        measuredDelivered: spec.phaseMessages && deliveredAtStart >= 0 ? Math.min(deliveredTotal, deliveredAtStart + spec.phaseMessages.measured) - deliveredAtStart : measuredDelivered,
        measuredSeconds: Math.round(tEnd - tStart) / 1000,
        e2e: e2e.toJSON(),
        publishAck: publishAck.toJSON(),
        totals: { sent: sentTotal, acknowledged: ackedTotal, delivered: deliveredTotal, duplicates, unexpected, publishErrors, otherErrors, drainedCleanly: drained, drainMs },
        cpu: { userMs: Math.round(cpu.user / 1000), systemMs: Math.round(cpu.system / 1000), eventLoopUtilization: Math.round(elu * 1000) / 1000 },
        connectMs,
        errorSamples,
      },
    });
  }
  countPhases = (phases) => {
    if (deliveredAtStart < 0 && deliveredTotal >= phases.warmup) {
      deliveredAtStart = deliveredTotal;
      startMeasure();
      send({ type: 'phase', child: spec.child, phase: 'measure-start' });
    } else if (deliveredAtStart >= 0 && !measureEnded && deliveredTotal >= deliveredAtStart + phases.measured) {
      send({ type: 'phase', child: spec.child, phase: 'measure-end' });
      void endMeasure();
    }
  };
  for await (const command of commands) {
    if (command.type === 'start') {
      sending = true;
      tick = setInterval(() => send({ type: 'tick', child: spec.child, delivered: deliveredTotal, errors: publishErrors + otherErrors }), 1000);
      for (const p of transport.pairs) p.fill();
    } else if (command.type === 'measure-start') {
      startMeasure();
    } else if (command.type === 'measure-end') {
      // Count-based phases end by themselves; the parent's command then only cuts a stalled run short.
      if (!measureEnded) await endMeasure();
    } else if (command.type === 'close') {
      await transport.close();
      send({ type: 'closed', child: spec.child });
      return;
    }
  }
}

/** IPC messages from the parent as an async stream. */
function parentCommands(): AsyncIterable<ParentToChild> {
  const queue: ParentToChild[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  process.on('message', (m: ParentToChild) => {
    queue.push(m);
    wake?.();
  });
  process.on('disconnect', () => {
    ended = true;
    wake?.();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    },
  };
}

if (isMain(import.meta.url)) {
  if (!process.send) {
    console.error('bench/cluster-clients.ts runs as a child of bench/cluster.ts (needs an IPC channel)');
    process.exitCode = 2;
  } else {
    const specPath = process.argv[2];
    if (!specPath) throw new Error('usage: cluster-clients.ts <spec.json>');
    const spec = JSON.parse(readFileSync(specPath, 'utf8')) as ClusterClientSpec;
    const send = (m: ChildToParent) => process.send?.(m);
    runChild(spec, send, parentCommands())
      .catch((error: unknown) => send({ type: 'failed', child: spec.child, message: error instanceof Error ? (error.stack ?? error.message) : String(error) }))
      .finally(() => {
        process.disconnect?.();
        // Client libraries may keep timers; the parent has everything it needs.
        setTimeout(() => process.exit(0), 500).unref();
      });
  }
}
