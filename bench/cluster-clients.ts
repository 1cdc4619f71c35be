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
import { randomBytes } from 'node:crypto';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { AckPolicy, DeliverPolicy, connect as natsConnect, type JetStreamClient, type NatsConnection } from 'nats';
import { connectAsync as mqttConnect, type MqttClient } from 'mqtt';
import { RawMqtt, RawNats } from './cluster-wire.js';

export type SystemKind = 'parley' | 'nats' | 'jetstream' | 'mqtt';

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
}

/** Log-bucketed latency histogram (ms): bucket i covers [MIN·G^i, MIN·G^(i+1)). */
export interface Histogram {
  /** Sparse [bucket, count] pairs. */
  readonly buckets: readonly (readonly [number, number])[];
  readonly count: number;
  readonly sum: number;
  readonly max: number;
}

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

export type ParentToChild = { type: 'start' } | { type: 'measure-start' } | { type: 'measure-end' } | { type: 'close' };
export type ChildToParent =
  | { type: 'connected'; child: number; connections: number; ms: number }
  | { type: 'tick'; child: number; delivered: number; errors: number }
  | { type: 'result'; result: ChildResult }
  | { type: 'closed'; child: number }
  | { type: 'failed'; child: number; message: string };

// --- histogram ------------------------------------------------------------------------

const H_MIN = 0.001; // ms
const H_GROWTH = 1.01;
const H_LOG = Math.log(H_GROWTH);

class Hist {
  private readonly counts = new Map<number, number>();
  count = 0;
  sum = 0;
  max = 0;
  add(ms: number): void {
    const v = Math.max(ms, H_MIN);
    const b = Math.floor(Math.log(v / H_MIN) / H_LOG);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }
  toJSON(): Histogram {
    return { buckets: [...this.counts.entries()].sort((a, b) => a[0] - b[0]), count: this.count, sum: this.sum, max: this.max };
  }
}

export interface Percentiles {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Merged percentiles (ms, two decimals; each within 1 % of the exact sample). */
export function histogramPercentiles(hs: readonly Histogram[]): Percentiles {
  const merged = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let max = 0;
  for (const h of hs) {
    for (const [b, c] of h.buckets) merged.set(b, (merged.get(b) ?? 0) + c);
    count += h.count;
    sum += h.sum;
    max = Math.max(max, h.max);
  }
  const round = (v: number) => Math.round(v * 100) / 100;
  if (count === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const sorted = [...merged.entries()].sort((a, b) => a[0] - b[0]);
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * count));
    let seen = 0;
    for (const [b, c] of sorted) {
      seen += c;
      // Geometric middle of the bucket, capped by the true maximum.
      if (seen >= rank) return Math.min(max, H_MIN * Math.pow(H_GROWTH, b + 0.5));
    }
    return max;
  };
  return { count, mean: round(sum / count), p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(max) };
}

// --- the load -------------------------------------------------------------------------

interface Pending {
  readonly sentAt: number;
  acked: boolean;
  deliveredAt: number;
}

/** Everything a transport needs from the shared closed loop. */
interface Loop {
  readonly spec: ClusterClientSpec;
  /** Sending allowed (false once the measured window ended). */
  sending(): boolean;
  /** A message was sent: record it under its per-pair sequence number. */
  sent(pair: PairState, seq: number): void;
  /** The system acknowledged the publish of `seq`. */
  acked(pair: PairState, seq: number, now: number): void;
  /** The recipient has `seq`. */
  delivered(pair: PairState, seq: number, now: number): void;
  /** A publish failed: the message leaves the window. */
  failed(pair: PairState, seq: number, text: string): void;
  /** The same message arrived again (at-least-once delivery; the recipient dedups it). */
  duplicate(text: string): void;
  error(text: string): void;
}

interface PairState {
  readonly index: number;
  readonly pending: Map<number, Pending>;
  nextSeq: number;
  /** Sends as many messages as the window allows. */
  fill(): void;
}

interface Transport {
  /** Opens every connection (and subscription); resolves when all are ready to exchange messages. */
  connect(): Promise<number>;
  pairs: PairState[];
  close(): Promise<void>;
}

async function inPool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

/** A payload: random bytes, the sequence number in the first 4. */
function payloadFor(template: Buffer, seq: number): Buffer {
  const b = Buffer.allocUnsafe(template.length);
  template.copy(b);
  b.writeUInt32BE(seq >>> 0, 0);
  return b;
}

// --- parley ---------------------------------------------------------------------------

function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function authenticate(ws: WebSocket, token: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no ready frame within 20 s')), 20_000);
    const onMessage = (data: WebSocket.RawData) => {
      const text = String(data);
      if (text.startsWith('{"type":"ready"')) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve();
      } else if (text.startsWith('{"type":"error"')) {
        clearTimeout(timer);
        ws.off('message', onMessage);
        reject(new Error(`auth failed: ${text.slice(0, 200)}`));
      }
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ type: 'auth', token }));
  });
}

const ID_RE = /"id":"(\d+)"/g;

function parleyTransport(loop: Loop): Transport {
  const specs = loop.spec.parley ?? [];
  const sockets: WebSocket[] = [];
  const pairs: PairState[] = [];
  return {
    pairs,
    async connect() {
      const built = new Array<PairState>(specs.length);
      await inPool(specs, loop.spec.connectConcurrency, async (p, i) => {
        // Recipient first, so its Welcome (queued at group creation) is read on connect.
        const rx = await openWs(p.receiverWs);
        sockets.push(rx);
        const tx = await openWs(p.senderWs);
        sockets.push(tx);
        /** Envelope id → sequence number, from `submitted`. */
        const seqOfId = new Map<string, number>();
        /** Envelope ids delivered before their `submitted` arrived → time. */
        const early = new Map<string, number>();
        const seen = new Set<string>();
        const mid = `","body":{"idempotencyKey":"${loop.spec.tag}-`;
        const tails = p.messages.map((m) => `","conversationId":"${p.conversationId}","message":"${m}"}}`);
        const state: PairState = {
          index: loop.spec.firstPair + i,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < loop.spec.windowPerSender && tx.readyState === tx.OPEN) {
              const s = state.nextSeq++;
              const n = String(s);
              loop.sent(state, s);
              tx.send('{"type":"submit","requestId":"' + n + mid + n + tails[s % tails.length]);
            }
          },
        };
        let welcomed!: () => void;
        const welcome = new Promise<void>((r) => (welcomed = r));
        let gotWelcome = loop.spec.expectWelcome !== true;
        if (gotWelcome) welcomed();
        tx.on('message', (data: WebSocket.RawData) => {
          const now = performance.now();
          const text = String(data);
          const frames: { type: string; requestId?: string; result?: { id: string } }[] = text.startsWith('{"type":"batch"')
            ? (JSON.parse(text) as { frames: { type: string }[] }).frames
            : text.startsWith('{"type":"submitted"') || text.startsWith('{"type":"error"')
              ? [JSON.parse(text) as { type: string }]
              : [];
          for (const f of frames) {
            if (f.type === 'submitted' && f.requestId !== undefined && f.result) {
              const seq = Number(f.requestId);
              const id = f.result.id;
              const at = early.get(id);
              loop.acked(state, seq, now);
              if (at !== undefined) {
                early.delete(id);
                loop.delivered(state, seq, at);
              } else seqOfId.set(id, seq);
            } else if (f.type === 'error') {
              if (f.requestId !== undefined) loop.failed(state, Number(f.requestId), JSON.stringify(f));
              else loop.error(JSON.stringify(f));
            }
          }
        });
        rx.on('message', (data: WebSocket.RawData) => {
          const now = performance.now();
          let text = String(data);
          if (text.startsWith('{"type":"batch"')) {
            const frames = (JSON.parse(text) as { frames: { type: string }[] }).frames;
            for (const f of frames) if (f.type === 'error') loop.error(JSON.stringify(f));
            const deliver = frames.find((f) => f.type === 'deliver');
            if (!deliver) return;
            text = JSON.stringify(deliver);
          }
          if (!text.startsWith('{"type":"deliver"')) {
            if (text.startsWith('{"type":"error"')) loop.error(text);
            return;
          }
          const ids: string[] = [];
          if (!gotWelcome) {
            const frame = JSON.parse(text) as { envelopes: { id: string; kind: string }[] };
            for (const e of frame.envelopes) ids.push(e.id);
            rx.send(JSON.stringify({ type: 'ack', ids }));
            if (frame.envelopes.some((e) => e.kind === 'welcome')) {
              gotWelcome = true;
              welcomed();
            }
            return;
          }
          for (const m of text.matchAll(ID_RE)) {
            const id = m[1]!;
            ids.push(id);
            if (seen.has(id)) {
              loop.duplicate(`envelope ${id} delivered again`);
              continue;
            }
            seen.add(id);
            const seq = seqOfId.get(id);
            if (seq !== undefined) {
              seqOfId.delete(id);
              loop.delivered(state, seq, now);
            } else early.set(id, now);
          }
          if (ids.length > 0) rx.send('{"type":"ack","ids":["' + ids.join('","') + '"]}');
        });
        const closed = (who: string) => () => {
          if (loop.sending()) loop.error(`${who} socket of pair ${state.index} closed during the load`);
        };
        rx.on('close', closed('recipient'));
        tx.on('close', closed('sender'));
        await authenticate(rx, p.receiverToken);
        await authenticate(tx, p.senderToken);
        if (!(await within(welcome, 30_000))) throw new Error(`pair ${state.index}: the recipient did not get its Welcome`);
        built[i] = state;
      });
      pairs.push(...built);
      return sockets.length;
    },
    async close() {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve();
              ws.once('close', () => resolve());
              ws.close();
              setTimeout(() => (ws.terminate(), resolve()), 2000).unref();
            }),
        ),
      );
    },
  };
}

// --- NATS (core and JetStream) -------------------------------------------------------

function natsTransport(loop: Loop, durable: boolean): Transport {
  const spec = loop.spec;
  const connections: NatsConnection[] = [];
  const pairs: PairState[] = [];
  const subject = (pair: number) => `${spec.tag}.dev.${pair}`;
  return {
    pairs,
    async connect() {
      const url = spec.natsUrl ?? 'nats://127.0.0.1:4222';
      const jsm = durable ? await (async () => {
        const admin = await natsConnect({ servers: url, name: `${spec.tag}-admin-${spec.child}` });
        connections.push(admin);
        return admin.jetstreamManager();
      })() : undefined;
      const indexes = Array.from({ length: spec.pairCount }, (_, i) => i);
      const built = new Array<PairState>(spec.pairCount);
      await inPool(indexes, spec.connectConcurrency, async (i) => {
        const index = spec.firstPair + i;
        const rx = await natsConnect({ servers: url, name: `${spec.tag}-rx-${index}`, noEcho: true, maxReconnectAttempts: 0 });
        connections.push(rx);
        const tx = await natsConnect({ servers: url, name: `${spec.tag}-tx-${index}`, noEcho: true, maxReconnectAttempts: 0 });
        connections.push(tx);
        const js: JetStreamClient | undefined = durable ? tx.jetstream() : undefined;
        const template = randomBytes(spec.payloadBytes);
        const state: PairState = {
          index,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < spec.windowPerSender) {
              const s = state.nextSeq++;
              loop.sent(state, s);
              const data = payloadFor(template, s);
              if (js) {
                js.publish(subject(index), data).then(
                  () => loop.acked(state, s, performance.now()),
                  (error: unknown) => loop.failed(state, s, `publish: ${String(error)}`),
                );
              } else {
                tx.publish(subject(index), data);
                loop.acked(state, s, performance.now());
              }
            }
          },
        };
        const onData = (data: Uint8Array) => {
          const now = performance.now();
          if (data.length < 4) return loop.error('short payload');
          loop.delivered(state, new DataView(data.buffer, data.byteOffset, 4).getUint32(0), now);
        };
        if (jsm) {
          // A push consumer per recipient with explicit acks, fed only this recipient's subject.
          const inbox = `${spec.tag}.in.${index}`;
          rx.subscribe(inbox, {
            callback: (error, msg) => {
              if (error) return loop.error(`consumer: ${error.message}`);
              onData(msg.data);
              msg.respond(); // empty reply = +ACK
            },
          });
          await rx.flush();
          await jsm.consumers.add(spec.jetstreamStream!, {
            durable_name: `r${index}`,
            deliver_subject: inbox,
            filter_subject: subject(index),
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.New,
            max_ack_pending: Math.max(1000, spec.windowPerSender * 4),
          });
        } else {
          rx.subscribe(subject(index), {
            callback: (error, msg) => {
              if (error) return loop.error(`subscription: ${error.message}`);
              onData(msg.data);
            },
          });
          await rx.flush();
        }
        built[i] = state;
      });
      pairs.push(...built);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
    },
  };
}

/** Core NATS or JetStream through the raw protocol (bench/cluster-wire.ts); nats.js only creates the consumers. */
function rawNatsTransport(loop: Loop, durable: boolean): Transport {
  const spec = loop.spec;
  const connections: RawNats[] = [];
  let admin: NatsConnection | undefined;
  const pairs: PairState[] = [];
  const subject = (pair: number) => `${spec.tag}.dev.${pair}`;
  const empty = Buffer.alloc(0);
  return {
    pairs,
    async connect() {
      const url = spec.natsUrl ?? 'nats://127.0.0.1:4222';
      if (durable) admin = await natsConnect({ servers: url, name: `${spec.tag}-admin-${spec.child}` });
      const jsm = admin ? await admin.jetstreamManager() : undefined;
      const indexes = Array.from({ length: spec.pairCount }, (_, i) => i);
      const built = new Array<PairState>(spec.pairCount);
      await inPool(indexes, spec.connectConcurrency, async (i) => {
        const index = spec.firstPair + i;
        const rx = await RawNats.connect(url, `${spec.tag}-rx-${index}`);
        connections.push(rx);
        const tx = await RawNats.connect(url, `${spec.tag}-tx-${index}`);
        connections.push(tx);
        for (const c of [rx, tx]) c.onError = (text) => loop.error(text);
        const template = randomBytes(spec.payloadBytes);
        const ackInbox = `_INBOX.${spec.tag}.${index}`;
        const state: PairState = {
          index,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < spec.windowPerSender) {
              const s = state.nextSeq++;
              loop.sent(state, s);
              if (durable) tx.publish(subject(index), payloadFor(template, s), `${ackInbox}.${s}`);
              else {
                tx.publish(subject(index), payloadFor(template, s));
                loop.acked(state, s, performance.now());
              }
            }
          },
        };
        const onData = (payload: Buffer) => {
          const now = performance.now();
          if (payload.length < 4) return loop.error('short payload');
          loop.delivered(state, payload.readUInt32BE(0), now);
        };
        if (jsm) {
          // PubAcks come back on the sender's inbox; errors carry an "error" member.
          tx.subscribe(`${ackInbox}.*`, (subj, _reply, payload) => {
            const now = performance.now();
            const seq = Number(subj.slice(subj.lastIndexOf('.') + 1));
            if (payload.includes('"error"')) loop.failed(state, seq, `PubAck: ${payload.toString('utf8').slice(0, 200)}`);
            else loop.acked(state, seq, now);
          });
          // A push consumer per recipient with explicit acks (an empty reply is +ACK).
          const inbox = `${spec.tag}.in.${index}`;
          rx.subscribe(inbox, (_subj, reply, payload) => {
            onData(payload);
            if (reply) rx.publish(reply, empty);
          });
          await Promise.all([rx.flush(), tx.flush()]);
          await jsm.consumers.add(spec.jetstreamStream!, {
            durable_name: `r${index}`,
            deliver_subject: inbox,
            filter_subject: subject(index),
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.New,
            max_ack_pending: Math.max(1000, spec.windowPerSender * 4),
          });
        } else {
          rx.subscribe(subject(index), (_subj, _reply, payload) => onData(payload));
          await rx.flush();
        }
        built[i] = state;
      });
      pairs.push(...built);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(connections.map((c) => c.close()));
      await admin?.close().catch(() => {});
    },
  };
}

/** MQTT 3.1.1 QoS 1 through the raw protocol (bench/cluster-wire.ts). */
function rawMqttTransport(loop: Loop): Transport {
  const spec = loop.spec;
  const clients: RawMqtt[] = [];
  const pairs: PairState[] = [];
  const topic = (pair: number) => `${spec.tag}/dev/${pair}`;
  return {
    pairs,
    async connect() {
      const url = spec.mqttUrl ?? 'mqtt://127.0.0.1:1883';
      const indexes = Array.from({ length: spec.pairCount }, (_, i) => i);
      const built = new Array<PairState>(spec.pairCount);
      await inPool(indexes, spec.connectConcurrency, async (i) => {
        const index = spec.firstPair + i;
        const rx = await RawMqtt.connect(url, `${spec.tag}-rx-${index}`);
        clients.push(rx);
        const tx = await RawMqtt.connect(url, `${spec.tag}-tx-${index}`);
        clients.push(tx);
        for (const c of [rx, tx]) c.onError = (text) => loop.error(text);
        const template = randomBytes(spec.payloadBytes);
        const state: PairState = {
          index,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < spec.windowPerSender) {
              const s = state.nextSeq++;
              loop.sent(state, s);
              tx.publish(topic(index), payloadFor(template, s), () => loop.acked(state, s, performance.now()));
            }
          },
        };
        await rx.subscribe(topic(index), (_topic, payload) => {
          const now = performance.now();
          if (payload.length < 4) return loop.error('short payload');
          loop.delivered(state, payload.readUInt32BE(0), now);
        });
        built[i] = state;
      });
      pairs.push(...built);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
    },
  };
}

// --- MQTT -----------------------------------------------------------------------------

function mqttTransport(loop: Loop): Transport {
  const spec = loop.spec;
  const clients: MqttClient[] = [];
  const pairs: PairState[] = [];
  const topic = (pair: number) => `${spec.tag}/dev/${pair}`;
  return {
    pairs,
    async connect() {
      const url = spec.mqttUrl ?? 'mqtt://127.0.0.1:1883';
      const indexes = Array.from({ length: spec.pairCount }, (_, i) => i);
      const built = new Array<PairState>(spec.pairCount);
      const options = (id: string) => ({ clientId: id, clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: 20_000, protocolVersion: 4 as const });
      await inPool(indexes, spec.connectConcurrency, async (i) => {
        const index = spec.firstPair + i;
        const rx = await mqttConnect(url, options(`${spec.tag}-rx-${index}`));
        clients.push(rx);
        const tx = await mqttConnect(url, options(`${spec.tag}-tx-${index}`));
        clients.push(tx);
        const template = randomBytes(spec.payloadBytes);
        const state: PairState = {
          index,
          pending: new Map(),
          nextSeq: 0,
          fill() {
            while (loop.sending() && state.pending.size < spec.windowPerSender) {
              const s = state.nextSeq++;
              loop.sent(state, s);
              tx.publish(topic(index), payloadFor(template, s), { qos: 1 }, (error) => {
                if (error) loop.failed(state, s, `publish: ${error.message}`);
                else loop.acked(state, s, performance.now());
              });
            }
          },
        };
        rx.on('message', (_topic: string, payload: Buffer) => {
          const now = performance.now();
          if (payload.length < 4) return loop.error('short payload');
          loop.delivered(state, payload.readUInt32BE(0), now);
        });
        for (const c of [rx, tx]) c.on('error', (error: Error) => loop.error(`mqtt: ${error.message}`));
        await rx.subscribeAsync(topic(index), { qos: 1 });
        built[i] = state;
      });
      pairs.push(...built);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    },
  };
}

// --- driver ---------------------------------------------------------------------------

/** Runs one child's share of the load, driven by the parent over IPC. */
async function runChild(spec: ClusterClientSpec, send: (m: ChildToParent) => void, commands: AsyncIterable<ParentToChild>): Promise<void> {
  const e2e = new Hist();
  const publishAck = new Hist();
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
  for await (const command of commands) {
    if (command.type === 'start') {
      sending = true;
      tick = setInterval(() => send({ type: 'tick', child: spec.child, delivered: deliveredTotal, errors: publishErrors + otherErrors }), 1000);
      for (const p of transport.pairs) p.fill();
    } else if (command.type === 'measure-start') {
      recording = true;
      tStart = performance.now();
      cpu0 = process.cpuUsage();
      elu0 = performance.eventLoopUtilization();
    } else if (command.type === 'measure-end') {
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
          measuredDelivered,
          measuredSeconds: Math.round(tEnd - tStart) / 1000,
          e2e: e2e.toJSON(),
          publishAck: publishAck.toJSON(),
          totals: { sent: sentTotal, acknowledged: ackedTotal, delivered: deliveredTotal, duplicates, unexpected, publishErrors, otherErrors, drainedCleanly: drained, drainMs },
          cpu: { userMs: Math.round(cpu.user / 1000), systemMs: Math.round(cpu.system / 1000), eventLoopUtilization: Math.round(elu * 1000) / 1000 },
          connectMs,
          errorSamples,
        },
      });
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

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
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
