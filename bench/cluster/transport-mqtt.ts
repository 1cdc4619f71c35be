/**
 * The cluster benchmark's MQTT transports (Mosquitto, MQTT 3.1.1, QoS 1 both ways):
 * the lean raw protocol (bench/cluster-wire.ts) or the official `mqtt` library. Both
 * open a recipient and a sender connection per pair; the recipient subscribes to the
 * pair's topic, the sender publishes to it and counts the PUBACK as the acknowledgement.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connectAsync as mqttConnect, type MqttClient } from 'mqtt';
import { RawMqtt } from '../cluster-wire.js';
import type { ClusterClientSpec } from '../cluster-clients.js';
import { connectPairs, payloadFor, windowedPair, type Loop, type PairState, type Transport } from './transport.js';

const brokerUrl = (spec: ClusterClientSpec) => spec.mqttUrl ?? 'mqtt://127.0.0.1:1883';
const topicOf = (spec: ClusterClientSpec, pair: number) => `${spec.tag}/dev/${pair}`;

/** A delivered payload: its first 4 bytes are the sequence number. */
function onPayload(loop: Loop, pair: PairState, payload: Buffer): void {
  const now = performance.now();
  if (payload.length < 4) return loop.error('short payload');
  loop.delivered(pair, payload.readUInt32BE(0), now);
}

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
  return {
    pairs,
    async connect() {
      const url = brokerUrl(spec);
      const connected = await connectPairs(loop, spec.pairCount, async (i) => {
        const index = spec.firstPair + i;
        const topic = topicOf(spec, index);
        const rx = await RawMqtt.connect(url, `${spec.tag}-rx-${index}`);
        clients.push(rx);
        const tx = await RawMqtt.connect(url, `${spec.tag}-tx-${index}`);
        clients.push(tx);
        for (const c of [rx, tx]) c.onError = (text) => loop.error(text);
        const template = randomBytes(spec.payloadBytes);
        const pair = windowedPair(loop, index, (p, s) => tx.publish(topic, payloadFor(template, s), () => loop.acked(p, s, performance.now())));
        await rx.subscribe(topic, (_topic, payload) => onPayload(loop, pair, payload));
        return pair;
      });
      pairs.push(...connected);
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
  const options = (id: string) => ({ clientId: id, clean: true, reconnectPeriod: 0, keepalive: 60, connectTimeout: 20_000, protocolVersion: 4 as const });
  return {
    pairs,
    async connect() {
      const url = brokerUrl(spec);
      const connected = await connectPairs(loop, spec.pairCount, async (i) => {
        const index = spec.firstPair + i;
        const topic = topicOf(spec, index);
        const rx = await mqttConnect(url, options(`${spec.tag}-rx-${index}`));
        clients.push(rx);
        const tx = await mqttConnect(url, options(`${spec.tag}-tx-${index}`));
        clients.push(tx);
        const template = randomBytes(spec.payloadBytes);
        const pair = windowedPair(loop, index, (p, s) =>
          tx.publish(topic, payloadFor(template, s), { qos: 1 }, (error) => {
            if (error) loop.failed(p, s, `publish: ${error.message}`);
            else loop.acked(p, s, performance.now());
          }),
        );
        rx.on('message', (_topic: string, payload: Buffer) => onPayload(loop, pair, payload));
        for (const c of [rx, tx]) c.on('error', (error: Error) => loop.error(`mqtt: ${error.message}`));
        await rx.subscribeAsync(topic, { qos: 1 });
        return pair;
      });
      pairs.push(...connected);
      return spec.pairCount * 2;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    },
  };
}
