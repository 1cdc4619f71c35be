/**
 * The client side of the routing benchmark's hot path (bench/routing.ts, part 1): on each
 * of two servers (routing disabled / enabled) a business Sender (SDK, HTTP submits) and
 * customers whose devices are connected over WebSocket. It sends audited business
 * messages, one in flight per customer, in rounds that alternate between the two
 * servers, and records per message: `Sender.send` call and resolve times, the
 * `POST /v1/messages` round trip, the device's `message` event and the ack frame that
 * carried the envelope (wall-clock ms, comparable with the server's timestamps).
 *
 * Runs in its own process by default (`fork`, IPC), so the SDK's work (MLS, key-log checks,
 * receipts) does not share the servers' event loop and the parent's CPU is the servers'
 * alone; `runHotClients` can also run inline. Before and after each measured run it
 * reports a phase and waits for the parent's go-ahead (the parent samples CPU there and,
 * for the routing server, waits until every route has finished).
 */
import { performance } from 'node:perf_hooks';
import type { SubmitRequest } from '@parley/core';
import { Device, MemoryKeyStore, Sender, type WebSocketFactory } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { createBusiness } from '@parley/test-kit/sdk';
import { inPool, urlOf } from './lib/async.js';
import { childMain, type ChildMessage, type GoMessage } from './lib/child.js';
import { alertText } from './lib/workload.js';

/** Both sides' servers and the workload (written to a spec file in child mode). */
export interface HotClientsSpec {
  readonly sides: readonly { readonly label: 'disabled' | 'enabled'; readonly url: string }[];
  /** Business created on each server for the hot path. */
  readonly businessId: string;
  readonly brand: string;
  readonly messageClass: string;
  readonly customers: number;
  /** Unmeasured messages per side before the rounds. */
  readonly warmup: number;
  readonly perRound: number;
  readonly rounds: number;
}

/** One measured message's times. */
export interface HotRecord {
  messageId: string;
  envelopeId: string;
  /** `Sender.send` called / resolved (wall-clock ms). */
  t0: number;
  t1: number;
  /** `POST /v1/messages` → 201. */
  submitMs?: number;
  /** The customer device's `message` event. */
  eventAt?: number;
  /** The first ack frame carrying the envelope id. */
  ackAt?: number;
}

/** One side's measured messages. */
export interface HotSideResult {
  label: 'disabled' | 'enabled';
  records: HotRecord[];
  /** Sum over the measured runs of first send → last send resolved. */
  seconds: number;
  errors: number;
  errorSamples: string[];
  /** CPU of the client process over the measured runs (child mode: the SDK's work alone). */
  clientCpuMs: number;
}

/** Both sides' results. */
export interface HotClientsResult {
  sides: HotSideResult[];
  setupSeconds: number;
}

/** A measured run's start or end on one side (the parent samples CPU there). */
export interface HotPhase {
  side: 'disabled' | 'enabled';
  round: number;
  phase: 'start' | 'end';
}

/** Messages from this file to bench/routing.ts when it runs as a child. */
export type HotChildMessage = ChildMessage<HotClientsResult, HotPhase>;

/** The parent's go-ahead after a phase. */
export type HotParentMessage = GoMessage;

// --- shared helpers (also used by bench/routing.ts) ------------------------------------

/**
 * Wall-clock milliseconds with sub-millisecond resolution (comparable with database and emulator timestamps).
 *
 * @example
 * const t0 = wall();
 */
export const wall = (): number => performance.timeOrigin + performance.now();

/**
 * A device's `fetch`: times each `POST /v1/messages` (by message id) and records when
 * each envelope id first leaves in a `POST /v1/mailbox/ack` (devices that are not connected ack over HTTP).
 */
export class TimingFetch {
  readonly submitMs = new Map<string, number>();
  constructor(readonly acks: Map<string, number> = new Map()) {}
  readonly fetch: typeof fetch = async (input, init) => {
    const body = init?.body;
    if ((init?.method ?? 'GET') !== 'POST' || typeof body !== 'string') return fetch(input, init);
    const path = new URL(urlOf(input)).pathname;
    if (path.endsWith('/v1/mailbox/ack')) {
      const t = wall();
      for (const id of (JSON.parse(body) as { ids: string[] }).ids) if (!this.acks.has(id)) this.acks.set(id, t);
      return fetch(input, init);
    }
    if (!path.endsWith('/v1/messages')) return fetch(input, init);
    const request = JSON.parse(body) as SubmitRequest;
    const t0 = wall();
    const res = await fetch(input, init);
    if (request.commitment && res.ok) this.submitMs.set(request.commitment.body.messageId, wall() - t0);
    return res;
  };
}

/** The `ws` factory of a device, recording when each envelope id first leaves in an ack frame. */
export function ackRecordingWebSocket(acks: Map<string, number>): WebSocketFactory {
  return (url) => {
    const ws = nodeRuntime.webSocket(url);
    const send = ws.send.bind(ws);
    ws.send = (data: string) => {
      if (data.startsWith('{"type":"ack"')) {
        const t = wall();
        for (const id of (JSON.parse(data) as { ids: string[] }).ids) if (!acks.has(id)) acks.set(id, t);
      }
      send(data);
    };
    return ws;
  };
}

/** Records devices' `message` events (by message id) and lets callers wait for one. */
export class Arrivals {
  readonly at = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  watch(device: Device): void {
    device.subscribe((e) => {
      if (e.type !== 'message') return;
      if (!this.at.has(e.messageId)) this.at.set(e.messageId, wall());
      const w = this.waiters.get(e.messageId);
      if (w) {
        this.waiters.delete(e.messageId);
        w();
      }
    });
  }
  wait(messageId: string, timeoutMs: number): Promise<boolean> {
    if (this.at.has(messageId)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(messageId);
        resolve(false);
      }, timeoutMs);
      this.waiters.set(messageId, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

// --- the hot path ----------------------------------------------------------------------

interface Side {
  label: 'disabled' | 'enabled';
  sender: Sender;
  timing: TimingFetch;
  customers: { id: string; device: Device }[];
  arrivals: Arrivals;
  acks: Map<string, number>;
  result: HotSideResult;
}

async function setupSide(spec: HotClientsSpec, label: 'disabled' | 'enabled', url: string, devices: Device[], log: (line: string) => void): Promise<Side> {
  const bank = await createBusiness(url, spec.businessId);
  const timing = new TimingFetch();
  const sender = await Sender.enroll({
    serverUrl: url,
    enrollmentToken: await bank.issue('alerts', 'sender', { name: spec.brand }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    ...nodeRuntime,
    fetch: timing.fetch,
  });
  devices.push(sender.device);
  const arrivals = new Arrivals();
  const acks = new Map<string, number>();
  log(`routing ${label}: enrolling ${spec.customers} connected customers, first contact`);
  const customers = await inPool(
    Array.from({ length: spec.customers }, (_, i) => `hot-${i}`),
    4,
    async (id) => {
      const device = await Device.enroll({
        serverUrl: url,
        enrollmentToken: await bank.issue(id, 'customer'),
        store: new MemoryKeyStore(),
        keyPackageBatch: 5,
        ...nodeRuntime,
        webSocket: ackRecordingWebSocket(acks),
      });
      devices.push(device);
      arrivals.watch(device);
      if (!(await device.connect())) throw new Error(`customer ${id} could not connect`);
      return { id, device };
    },
  );
  for (const c of customers) {
    const hello = await sender.send(c.id, 'Welcome to Example Bank messaging.', { class: spec.messageClass });
    if (!(await arrivals.wait(hello.messageId, 30_000))) throw new Error(`first contact with ${c.id} did not arrive`);
  }
  return { label, sender, timing, customers, arrivals, acks, result: { label, records: [], seconds: 0, errors: 0, errorSamples: [], clientCpuMs: 0 } };
}

/** Sends `count` messages, one in flight per customer, and waits until every one reached its device. */
async function run(spec: HotClientsSpec, side: Side, count: number, first: number, measure: boolean): Promise<void> {
  let next = 0;
  const records: HotRecord[] = [];
  const cpu0 = process.cpuUsage();
  const start = wall();
  let lastResolved = start;
  const fail = (message: string) => {
    side.result.errors++;
    if (side.result.errorSamples.length < 5) side.result.errorSamples.push(message);
  };
  await Promise.all(
    side.customers.map(async (c) => {
      while (next < count) {
        const i = next++;
        const t0 = wall();
        try {
          const sent = await side.sender.send(c.id, alertText(first + i), { class: spec.messageClass });
          const t1 = wall();
          lastResolved = Math.max(lastResolved, t1);
          records.push({ messageId: sent.messageId, envelopeId: sent.envelopeId, t0, t1 });
        } catch (error) {
          if (measure) fail(error instanceof Error ? error.message : String(error));
        }
      }
    }),
  );
  const seconds = (lastResolved - start) / 1000;
  const missing = (await Promise.all(records.map((r) => side.arrivals.wait(r.messageId, 30_000)))).filter((ok) => !ok).length;
  // Let the last acks leave (the SDK batches them for a few ms).
  await new Promise((r) => setTimeout(r, 50));
  const cpu = process.cpuUsage(cpu0);
  if (!measure) return;
  if (missing > 0) fail(`${missing} messages never reached the device`);
  side.result.records.push(...records);
  side.result.seconds += seconds;
  side.result.clientCpuMs += (cpu.user + cpu.system) / 1000;
}

/**
 * Sets up both sides, warms them up, then runs the measured rounds (order alternating:
 * disabled first in even rounds, enabled first in odd ones).
 */
export async function runHotClients(
  spec: HotClientsSpec,
  hooks: { onProgress?: (line: string) => void; onPhase?: (phase: HotPhase) => Promise<void> },
): Promise<HotClientsResult> {
  const log = hooks.onProgress ?? (() => {});
  const devices: Device[] = [];
  const t0 = performance.now();
  try {
    const sides: Side[] = [];
    for (const s of spec.sides) sides.push(await setupSide(spec, s.label, s.url, devices, log));
    log(`warm-up, ${spec.warmup} messages per configuration`);
    for (const side of sides) await run(spec, side, spec.warmup, 0, false);
    const setupSeconds = (performance.now() - t0) / 1000;
    for (let r = 0; r < spec.rounds; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const side of order) {
        await hooks.onPhase?.({ side: side.label, round: r, phase: 'start' });
        await run(spec, side, spec.perRound, spec.warmup + r * spec.perRound, true);
        await hooks.onPhase?.({ side: side.label, round: r, phase: 'end' });
        const done = side.result.records.length;
        const rate = side.result.seconds > 0 ? Math.round(done / side.result.seconds) : 0;
        log(`round ${r + 1}/${spec.rounds}, routing ${side.label}: ${done} measured so far, ${rate} msgs/s`);
      }
    }
    for (const side of sides) {
      for (const rec of side.result.records) {
        const submit = side.timing.submitMs.get(rec.messageId);
        const event = side.arrivals.at.get(rec.messageId);
        const ack = side.acks.get(rec.envelopeId);
        if (submit !== undefined) rec.submitMs = Math.round(submit * 100) / 100;
        if (event !== undefined) rec.eventAt = event;
        if (ack !== undefined) rec.ackAt = ack;
      }
    }
    return { sides: sides.map((s) => s.result), setupSeconds: Math.round(setupSeconds * 10) / 10 };
  } finally {
    await Promise.all(devices.map((d) => d.close().catch(() => {})));
  }
}

// --- child-process entry ------------------------------------------------------------

childMain<HotClientsSpec, HotClientsResult, HotPhase>({
  moduleUrl: import.meta.url,
  file: 'routing-clients.ts',
  parent: 'routing.ts',
  awaitGo: true,
  withStack: true,
  run: (spec, hooks) => runHotClients(spec, hooks),
});
