/**
 * The cluster benchmark's NATS transports: core NATS and JetStream, through the lean raw
 * protocol (bench/cluster-wire.ts; nats.js only creates the JetStream consumers) or the
 * official `nats` library. Both open a recipient and a sender connection per pair; with
 * JetStream, the sender's publishes are stored and acknowledged (PubAck) and the
 * recipient is fed by its own push consumer with explicit acks.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AckPolicy, DeliverPolicy, connect as natsConnect, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';
import { RawNats } from '../cluster-wire.js';
import type { ClusterClientSpec } from '../cluster-clients.js';
import { connectPairs, payloadFor, windowedPair, type Loop, type PairState, type Transport } from './transport.js';

const serverUrl = (spec: ClusterClientSpec) => spec.natsUrl ?? 'nats://127.0.0.1:4222';
const subjectOf = (spec: ClusterClientSpec, pair: number) => `${spec.tag}.dev.${pair}`;

/**
 * JetStream: the push consumer of pair `index`'s recipient (explicit acks), fed only the
 * pair's subject, delivering to `<tag>.in.<index>`.
 */
function recipientConsumer(spec: ClusterClientSpec, index: number): Partial<ConsumerConfig> {
  return {
    durable_name: `r${index}`,
    deliver_subject: `${spec.tag}.in.${index}`,
    filter_subject: subjectOf(spec, index),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    max_ack_pending: Math.max(1000, spec.windowPerSender * 4),
  };
}

/** A delivered payload: its first 4 bytes are the sequence number. */
function onPayload(loop: Loop, pair: PairState, data: Uint8Array): void {
  const now = performance.now();
  if (data.length < 4) return loop.error('short payload');
  loop.delivered(pair, new DataView(data.buffer, data.byteOffset, 4).getUint32(0), now);
}

/**
 * Core NATS (`durable` false) or JetStream through the official `nats` library, one client per device.
 *
 * @example
 * const transport = natsTransport(loop, true);
 */
export function natsTransport(loop: Loop, durable: boolean): Transport {
  const spec = loop.spec;
  const connections: NatsConnection[] = [];
  const pairs: PairState[] = [];
  return {
    pairs,
    async connect() {
      const url = serverUrl(spec);
      let jsm: JetStreamManager | undefined;
      if (durable) {
        const admin = await natsConnect({ servers: url, name: `${spec.tag}-admin-${spec.child}` });
        connections.push(admin);
        jsm = await admin.jetstreamManager();
      }
      const connected = await connectPairs(loop, spec.pairCount, async (i) => {
        const index = spec.firstPair + i;
        const subject = subjectOf(spec, index);
        const rx = await natsConnect({ servers: url, name: `${spec.tag}-rx-${index}`, noEcho: true, maxReconnectAttempts: 0 });
        connections.push(rx);
        const tx = await natsConnect({ servers: url, name: `${spec.tag}-tx-${index}`, noEcho: true, maxReconnectAttempts: 0 });
        connections.push(tx);
        const js: JetStreamClient | undefined = durable ? tx.jetstream() : undefined;
        const template = randomBytes(spec.payloadBytes);
        const pair = windowedPair(loop, index, (p, s) => {
          const data = payloadFor(template, s);
          if (js) {
            js.publish(subject, data).then(
              () => loop.acked(p, s, performance.now()),
              (error: unknown) => loop.failed(p, s, `publish: ${String(error)}`),
            );
          } else {
            tx.publish(subject, data);
            loop.acked(p, s, performance.now());
          }
        });
        if (jsm) {
          const consumer = recipientConsumer(spec, index);
          rx.subscribe(consumer.deliver_subject!, {
            callback: (error, msg) => {
              if (error) return loop.error(`consumer: ${error.message}`);
              onPayload(loop, pair, msg.data);
              msg.respond(); // empty reply = +ACK
            },
          });
          await rx.flush();
          await jsm.consumers.add(spec.jetstreamStream!, consumer);
        } else {
          rx.subscribe(subject, {
            callback: (error, msg) => {
              if (error) return loop.error(`subscription: ${error.message}`);
              onPayload(loop, pair, msg.data);
            },
          });
          await rx.flush();
        }
        return pair;
      });
      pairs.push(...connected);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
    },
  };
}

/**
 * Core NATS or JetStream through the raw protocol (bench/cluster-wire.ts); nats.js only creates the consumers.
 *
 * @example
 * const transport = rawNatsTransport(loop, false);
 */
export function rawNatsTransport(loop: Loop, durable: boolean): Transport {
  const spec = loop.spec;
  const connections: RawNats[] = [];
  let admin: NatsConnection | undefined;
  const pairs: PairState[] = [];
  const empty = Buffer.alloc(0);
  return {
    pairs,
    async connect() {
      const url = serverUrl(spec);
      if (durable) admin = await natsConnect({ servers: url, name: `${spec.tag}-admin-${spec.child}` });
      const jsm = admin ? await admin.jetstreamManager() : undefined;
      const connected = await connectPairs(loop, spec.pairCount, async (i) => {
        const index = spec.firstPair + i;
        const subject = subjectOf(spec, index);
        const rx = await RawNats.connect(url, `${spec.tag}-rx-${index}`);
        connections.push(rx);
        const tx = await RawNats.connect(url, `${spec.tag}-tx-${index}`);
        connections.push(tx);
        for (const c of [rx, tx]) c.onError = (text) => loop.error(text);
        const template = randomBytes(spec.payloadBytes);
        const ackInbox = `_INBOX.${spec.tag}.${index}`;
        const pair = windowedPair(loop, index, (p, s) => {
          if (durable) tx.publish(subject, payloadFor(template, s), `${ackInbox}.${s}`);
          else {
            tx.publish(subject, payloadFor(template, s));
            loop.acked(p, s, performance.now());
          }
        });
        if (jsm) {
          // PubAcks come back on the sender's inbox; errors carry an "error" member.
          tx.subscribe(`${ackInbox}.*`, (subj, _reply, payload) => {
            const now = performance.now();
            const seq = Number(subj.slice(subj.lastIndexOf('.') + 1));
            if (payload.includes('"error"')) loop.failed(pair, seq, `PubAck: ${payload.toString('utf8').slice(0, 200)}`);
            else loop.acked(pair, seq, now);
          });
          // A push consumer per recipient with explicit acks (an empty reply is +ACK).
          const consumer = recipientConsumer(spec, index);
          rx.subscribe(consumer.deliver_subject!, (_subj, reply, payload) => {
            onPayload(loop, pair, payload);
            if (reply) rx.publish(reply, empty);
          });
          await Promise.all([rx.flush(), tx.flush()]);
          await jsm.consumers.add(spec.jetstreamStream!, consumer);
        } else {
          rx.subscribe(subject, (_subj, _reply, payload) => onPayload(loop, pair, payload));
          await rx.flush();
        }
        return pair;
      });
      pairs.push(...connected);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(connections.map((c) => c.close()));
      await admin?.close().catch(() => {});
    },
  };
}
