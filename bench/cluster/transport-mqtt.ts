/**
 * The cluster benchmark's MQTT transports (Mosquitto, MQTT 3.1.1, QoS 1 both ways):
 * the lean raw protocol (bench/cluster-wire.ts) or the official `mqtt` library.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectAsync as mqttConnect, type MqttClient } from 'mqtt';
import { RawMqtt } from '../cluster-wire.js';
import { inPool } from '../lib/async.js';
import { payloadFor, type Loop, type PairState, type Transport } from './transport.js';

/**
 * MQTT 3.1.1 QoS 1 through the raw protocol (bench/cluster-wire.ts).
 *
 * @example
 * const transport = rawMqttTransport(loop);
 */
export function rawMqttTransport(loop: Loop): Transport {
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

/**
 * MQTT 3.1.1 QoS 1 through the official `mqtt` library, one client per device.
 *
 * @example
 * const transport = mqttTransport(loop);
 */
export function mqttTransport(loop: Loop): Transport {
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
