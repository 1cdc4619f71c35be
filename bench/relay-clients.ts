/**
 * Client side of the relay benchmark: N sender→receiver device pairs over
 * WebSocket against a running Parley server. Senders keep `window` submits in
 * flight each; receivers acknowledge every deliver frame, as real devices do.
 * The payloads are pre-encrypted MLS PrivateMessages cycled with unique
 * idempotency keys; receivers do not decrypt (the relay treats them as opaque
 * ciphertext).
 *
 * Runs inline (`runClientLoad`) or as a child process so that client CPU does
 * not share the server's event loop:
 * `node --import tsx bench/relay-clients.ts <spec.json>` (IPC channel required;
 * bench/relay.ts forks it).
 *
 * Kept lean on purpose: submit frames are built from pre-serialized pieces,
 * deliver frames are scanned for envelope ids with a regular expression
 * instead of JSON.parse (full parsing and payload checks run in the warm-up
 * only), and latency samples go into preallocated typed arrays.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { within } from './lib/async.js';
import { childMain, type ChildMessage } from './lib/child.js';
import { summarize, type Percentiles } from './lib/stats.js';
import { ENVELOPE_ID_RE, ackFrame, ackWelcome, authenticate, deliverFrame, openWs, submitAnswers, submitFramer } from './lib/ws-client.js';

export type { Percentiles } from './lib/stats.js';

/** One sender→receiver pair: session tokens, conversation and pre-encrypted messages. */
export interface ClientPairSpec {
  readonly senderToken: string;
  readonly receiverToken: string;
  readonly conversationId: string;
  /** base64 MLSMessages (PrivateMessage) to cycle through. */
  readonly messages: readonly string[];
}

/** The whole client load (written to a spec file in child mode). */
export interface ClientLoadSpec {
  /** ws://host:port/v1/ws */
  readonly wsUrl: string;
  readonly pairs: readonly ClientPairSpec[];
  readonly windowPerSender: number;
  /** Deliveries (all pairs) before the measured phase starts. */
  readonly warmupMessages: number;
  /** Deliveries (all pairs) in the measured phase. */
  readonly measuredMessages: number;
  /** Progress line interval. */
  readonly progressIntervalMs: number;
  /** Give up after this long without finishing (ms). */
  readonly timeoutMs: number;
}

/** What the clients measured. */
export interface ClientLoadResult {
  /** Distinct messages delivered to receivers in the measured phase. */
  readonly measuredMessages: number;
  readonly measuredSeconds: number;
  readonly messagesPerSecond: number;
  /** Sender submit → receiver has the deliver frame (ms). */
  readonly e2eMs: Percentiles;
  /** Sender submit → `submitted` frame back (ms): durable-ack latency. */
  readonly submitAckMs: Percentiles;
  /** Totals over the whole run (warm-up, measured, tail). */
  readonly totals: {
    readonly submitted: number;
    readonly delivered: number;
    readonly duplicateDeliveries: number;
    readonly deliverFrames: number;
    readonly ackFramesSent: number;
    readonly submitErrors: number;
    readonly ackErrors: number;
    readonly otherErrors: number;
    readonly payloadMismatches: number;
    readonly warmupPayloadChecks: number;
    readonly maxEnvelopesPerDeliverFrame: number;
    /** After sending stopped: every submit answered and every accepted message delivered. */
    readonly drainedCleanly: boolean;
    readonly drainMs: number;
  };
  /** Client process CPU over the measured phase (only meaningful when the clients run in their own process). */
  readonly clientCpu: {
    readonly userMs: number;
    readonly systemMs: number;
    readonly coreUtilization: number;
    /** Client event-loop utilization (near 1 would mean the load generator limits the figures). */
    readonly eventLoopUtilization: number;
  };
  readonly errorSamples: readonly string[];
}

/** Points of the load the server side samples at. */
export type ClientPhase = 'warmup-mid' | 'measure-start' | 'measure-end';

/** Progress and phase callbacks of {@link runClientLoad}. */
export interface ClientLoadHooks {
  onProgress?: (line: string) => void;
  /** 'warmup-mid': half the warm-up delivered (profilers start here so their start-up pause stays out of the measured phase). */
  onPhase?: (phase: ClientPhase) => void;
}

/** Growable (time, value) sample store in typed arrays. */
class Samples {
  private times = new Float64Array(1 << 16);
  private values = new Float64Array(1 << 16);
  length = 0;
  add(time: number, value: number): void {
    if (this.length === this.times.length) {
      const t = new Float64Array(this.length * 2);
      t.set(this.times);
      this.times = t;
      const v = new Float64Array(this.length * 2);
      v.set(this.values);
      this.values = v;
    }
    this.times[this.length] = time;
    this.values[this.length++] = value;
  }
  /** Percentiles of the values whose time lies in [from, to]. */
  percentiles(from: number, to: number): Percentiles {
    const picked: number[] = [];
    for (let i = 0; i < this.length; i++) {
      const t = this.times[i]!;
      if (t >= from && t <= to) picked.push(this.values[i]!);
    }
    return summarize(picked);
  }
}

const RING = 1024;

/**
 * Runs the load to completion and returns client-side measurements.
 *
 * @example
 * const result = await runClientLoad(spec, { onProgress: console.log })
 */
export async function runClientLoad(spec: ClientLoadSpec, hooks: ClientLoadHooks = {}): Promise<ClientLoadResult> {
  const W = spec.warmupMessages;
  const target = spec.warmupMessages + spec.measuredMessages;
  const e2e = new Samples();
  const submitAck = new Samples();
  const errorSamples: string[] = [];
  let delivered = 0;
  let submittedOk = 0;
  let duplicateDeliveries = 0;
  let deliverFrames = 0;
  let ackFramesSent = 0;
  let submitErrors = 0;
  let ackErrors = 0;
  let otherErrors = 0;
  let payloadMismatches = 0;
  let warmupPayloadChecks = 0;
  let maxPerFrame = 0;
  let sending = true;
  let drainedCleanly = false;
  let drainMs = 0;
  let tStart = Number.NaN;
  let tEnd = Number.NaN;
  let cpuStart: NodeJS.CpuUsage | undefined;
  let cpuDiff: NodeJS.CpuUsage | undefined;
  let eluStart: EventLoopUtilization | undefined;
  let eluEnd: EventLoopUtilization | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  let drained!: () => void;
  const allDrained = new Promise<void>((r) => (drained = r));
  const outstanding = { n: 0 };
  const noteError = (text: string) => {
    if (errorSamples.length < 10) errorSamples.push(text.slice(0, 300));
  };
  const checkDrained = () => {
    if (!sending && outstanding.n === 0 && delivered >= submittedOk) drained();
  };

  const onDelivered = (count: number) => {
    const before = delivered;
    delivered += count;
    if (before < W / 2 && delivered >= W / 2) hooks.onPhase?.('warmup-mid');
    if (before < W && delivered >= W) {
      tStart = performance.now();
      cpuStart = process.cpuUsage();
      eluStart = performance.eventLoopUtilization();
      hooks.onPhase?.('measure-start');
    }
    if (before < target && delivered >= target) {
      tEnd = performance.now();
      cpuDiff = process.cpuUsage(cpuStart);
      eluEnd = performance.eventLoopUtilization();
      sending = false;
      hooks.onPhase?.('measure-end');
      finish();
    }
  };

  // Connect receivers first so nothing is paged from the database later than it would be live.
  const receivers = await Promise.all(spec.pairs.map(() => openWs(spec.wsUrl)));
  const senders = await Promise.all(spec.pairs.map(() => openWs(spec.wsUrl)));
  const welcomes: Promise<void>[] = [];

  const pairs = spec.pairs.map((p, index) => {
    const rx = receivers[index]!;
    const tx = senders[index]!;
    const deliveredAt = new Map<string, number>();
    const submittedAt = new Map<string, number>();
    const seen = new Set<string>();
    const expectedPayloads = new Set(p.messages);
    const sentAt = new Float64Array(RING);
    const submitFrame = submitFramer('m', p.conversationId, p.messages);
    let seq = 0;
    let inFlight = 0;
    let welcomeSeen!: () => void;
    welcomes.push(new Promise<void>((r) => (welcomeSeen = r)));
    let gotWelcome = false;

    const sendNext = () => {
      const s = seq++;
      sentAt[s % RING] = performance.now();
      inFlight++;
      outstanding.n++;
      tx.send(submitFrame(s));
    };
    const fill = () => {
      while (sending && inFlight < spec.windowPerSender) sendNext();
    };

    const onSubmitted = (now: number, frame: { requestId: string; result: { id: string } }) => {
      const t0 = sentAt[Number(frame.requestId) % RING]!;
      submitAck.add(now, now - t0);
      submittedOk++;
      const id = frame.result.id;
      const at = deliveredAt.get(id);
      if (at !== undefined) {
        deliveredAt.delete(id);
        e2e.add(at, at - t0);
      } else submittedAt.set(id, t0);
    };
    const onSubmitError = (text: string, frame: { requestId?: string }): boolean => {
      noteError(text);
      if (frame.requestId === undefined) {
        otherErrors++;
        return false;
      }
      submitErrors++;
      return true;
    };
    tx.on('message', (data: WebSocket.RawData) => {
      const now = performance.now();
      // Frames of one server turn may arrive together in a `batch` frame.
      for (const frame of submitAnswers(String(data))) {
        if (frame.type === 'submitted') onSubmitted(now, frame as { requestId: string; result: { id: string } });
        else if (frame.type === 'error') {
          if (!onSubmitError(JSON.stringify(frame), frame)) continue;
        } else continue;
        inFlight--;
        outstanding.n--;
      }
      fill();
      checkDrained();
    });

    rx.on('message', (data: WebSocket.RawData) => {
      const now = performance.now();
      // Unwrap a `batch` (at most one deliver frame each); count errors.
      const text = deliverFrame(String(data), (frame) => {
        ackErrors++;
        noteError(frame);
      });
      if (text === undefined) return;
      if (!gotWelcome) {
        // The group's Welcome (queued before the socket opened): acknowledge, not counted.
        if (ackWelcome(rx, text)) {
          gotWelcome = true;
          welcomeSeen();
        }
        return;
      }
      const ids: string[] = [];
      deliverFrames++;
      if (delivered < W) {
        // Warm-up only: check that what arrives is exactly what this pair's sender submitted.
        const frame = JSON.parse(text) as { envelopes: { payload: string; conversationId: string; kind: string }[] };
        for (const e of frame.envelopes) {
          warmupPayloadChecks++;
          if (!expectedPayloads.has(e.payload) || e.conversationId !== p.conversationId || e.kind !== 'application') payloadMismatches++;
        }
      }
      let fresh = 0;
      for (const m of text.matchAll(ENVELOPE_ID_RE)) {
        const id = m[1]!;
        ids.push(id);
        if (seen.has(id)) {
          duplicateDeliveries++;
          continue;
        }
        seen.add(id);
        fresh++;
        const t0 = submittedAt.get(id);
        if (t0 !== undefined) {
          submittedAt.delete(id);
          e2e.add(now, now - t0);
        } else deliveredAt.set(id, now);
      }
      if (ids.length > maxPerFrame) maxPerFrame = ids.length;
      rx.send(ackFrame(ids));
      ackFramesSent++;
      if (fresh > 0) onDelivered(fresh);
      checkDrained();
    });

    return { rx, tx, p, fill };
  });

  await Promise.all(pairs.map(({ rx, p }) => authenticate(rx, p.receiverToken, 10_000)));
  await Promise.all(pairs.map(({ tx, p }) => authenticate(tx, p.senderToken, 10_000)));
  if (!(await within(Promise.all(welcomes), 30_000))) throw new Error('receivers did not get their Welcome');

  const t0 = performance.now();
  let lastDelivered = 0;
  let lastTime = t0;
  const progress = setInterval(() => {
    const now = performance.now();
    const rate = ((delivered - lastDelivered) * 1000) / (now - lastTime);
    lastDelivered = delivered;
    lastTime = now;
    const phase = delivered < W ? 'warm-up' : delivered < target ? 'measured' : 'draining';
    hooks.onProgress?.(
      `${phase}: ${delivered}/${target} delivered, ${Math.round(rate)} msg/s now, ${submitErrors + ackErrors + otherErrors} errors`,
    );
  }, spec.progressIntervalMs);
  const timeout = setTimeout(() => {
    sending = false;
    noteError(`timeout after ${spec.timeoutMs} ms with ${delivered}/${target} delivered`);
    if (Number.isNaN(tEnd)) {
      tEnd = performance.now();
      cpuDiff = process.cpuUsage(cpuStart);
    }
    finish();
    drained();
  }, spec.timeoutMs);

  try {
    for (const pair of pairs) pair.fill();
    await finished;
    // Stop sending; wait until every submit is answered and delivered (acks flow too).
    const drainStart = performance.now();
    drainedCleanly = await within(allDrained, 15_000);
    drainMs = Math.round(performance.now() - drainStart);
    if (!drainedCleanly) {
      noteError(`drain incomplete after 15 s: ${outstanding.n} submits unanswered, ${submittedOk - delivered} accepted messages not delivered`);
    }
  } finally {
    clearInterval(progress);
    clearTimeout(timeout);
    for (const { rx, tx } of pairs) {
      rx.close();
      tx.close();
    }
  }

  if (Number.isNaN(tStart)) tStart = t0;
  const seconds = (tEnd - tStart) / 1000;
  const measured = Math.max(0, Math.min(delivered, target) - W);
  const cpu = cpuDiff ?? { user: 0, system: 0 };
  return {
    measuredMessages: measured,
    measuredSeconds: round3(seconds),
    messagesPerSecond: Math.round(measured / seconds),
    e2eMs: e2e.percentiles(tStart, tEnd),
    submitAckMs: submitAck.percentiles(tStart, tEnd),
    totals: {
      submitted: submittedOk,
      delivered,
      duplicateDeliveries,
      deliverFrames,
      ackFramesSent,
      submitErrors,
      ackErrors,
      otherErrors,
      payloadMismatches,
      warmupPayloadChecks,
      maxEnvelopesPerDeliverFrame: maxPerFrame,
      drainedCleanly,
      drainMs,
    },
    clientCpu: {
      userMs: Math.round(cpu.user / 1000),
      systemMs: Math.round(cpu.system / 1000),
      coreUtilization: round3((cpu.user + cpu.system) / 1000 / 1000 / seconds),
      eventLoopUtilization: eluStart && eluEnd ? round3(performance.eventLoopUtilization(eluEnd, eluStart).utilization) : 0,
    },
    errorSamples,
  };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

// --- child-process entry ------------------------------------------------------------

/** Messages between bench/relay.ts and this file when it runs as a child. */
export type ClientChildMessage = ChildMessage<ClientLoadResult, ClientPhase>;

childMain<ClientLoadSpec, ClientLoadResult, ClientPhase>({
  moduleUrl: import.meta.url,
  file: 'relay-clients.ts',
  parent: 'relay.ts',
  run: (spec, hooks) => runClientLoad(spec, { onProgress: hooks.onProgress, onPhase: (phase) => void hooks.onPhase(phase) }),
});
