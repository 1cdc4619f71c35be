/**
 * The cluster benchmark's NATS transports: core NATS and JetStream, through the lean raw
 * protocol (bench/cluster-wire.ts; nats.js only creates the JetStream consumers) or the
 * official `nats` library.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AckPolicy, DeliverPolicy, connect as natsConnect, type JetStreamClient, type NatsConnection } from 'nats';
import { RawNats } from '../cluster-wire.js';
import { inPool } from '../lib/async.js';
import { payloadFor, type Loop, type PairState, type Transport } from './transport.js';

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

