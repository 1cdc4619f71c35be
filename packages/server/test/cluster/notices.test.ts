/**
 * Cross-node notices (NatsNotifier) on the machine's NATS and PostgreSQL:
 * - the notifier alone: per-device subjects, interest follows watch/unwatch, every
 *   kind of notice arrives, nothing comes back to its publisher;
 * - two in-process nodes on one database: a device on node B gets a message
 *   submitted on node A within milliseconds (the poll interval is a minute, so only
 *   the notice can explain it), and NATS saw only ids, never ciphertext.
 * Skips with a note when PostgreSQL or NATS is unreachable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import pino from 'pino';
import { connect, type NatsConnection } from 'nats';
import { fromBase64, randomBytes, toBase64, toBase64Url, utf8, type Envelope, type SingleServerFrame } from '@parley/core';
import { commitChanges, createGroup, encryptApplication } from '@parley/core/mls';
import { NatsNotifier } from '../../src/relay/nats-notifier.js';
import type { LocalDelivery } from '../../src/relay/notifier.js';
import { startServer, type ParleyServer } from '../../src/index.js';
import { ADMIN_TOKEN, api, createBusiness, registerRawDevice, suite } from '@parley/test-kit/server';
import { MACHINE_NATS, MACHINE_PG, cleanup, eventually, freshSchema, machineServices, tempDir } from './cluster-helpers.js';

const services = await machineServices();
if (!services.ok) console.log(services.note);
const prefix = `ptest${toBase64Url(randomBytes(6)).replace(/[^A-Za-z0-9]/g, 'x')}`;
const silent = pino({ level: 'silent' });

afterAll(cleanup, 30_000);

class Recorder implements LocalDelivery {
  readonly calls: string[] = [];
  readonly woken: string[][] = [];
  deliver(deviceId: string, envelopes: readonly Envelope[]): void {
    this.calls.push(`deliver ${deviceId} ${envelopes.map((e) => e.id).join(',')}`);
  }
  wake(deviceId: string, ids: readonly string[]): void {
    this.calls.push(`wake ${deviceId} ${ids.join(',')}`);
    this.woken.push([...ids]);
  }
  control(deviceId: string, frame: SingleServerFrame): void {
    this.calls.push(`control ${deviceId} ${frame.type}`);
  }
  acknowledged(deviceId: string, ids: readonly string[]): void {
    this.calls.push(`ack ${deviceId} ${ids.join(',')}`);
  }
  disconnect(deviceId: string, code: number): void {
    this.calls.push(`disconnect ${deviceId} ${code}`);
  }
}

describe.skipIf(!services.ok)('NatsNotifier', () => {
  it('routes each notice only to the node where the device is connected, and never back to its publisher', async () => {
    const a = new Recorder();
    const b = new Recorder();
    const c = new Recorder();
    const na = new NatsNotifier({ url: MACHINE_NATS, subjectPrefix: prefix, nodeId: 'a', local: a, log: silent });
    const nb = new NatsNotifier({ url: MACHINE_NATS, subjectPrefix: prefix, nodeId: 'b', local: b, log: silent });
    const nc = new NatsNotifier({ url: MACHINE_NATS, subjectPrefix: prefix, nodeId: 'c', local: c, log: silent });
    try {
      await Promise.all([na.start(5000), nb.start(5000), nc.start(5000)]);
      expect(na.connected && nb.connected && nc.connected).toBe(true);
      nb.watch('devB');
      na.watch('devB'); // the publisher also has a socket of devB: it delivers locally, no echo
      // After the subscription is registered, the node reads the mailbox once (closes the subscribe race).
      await eventually('wake after subscribe', () => b.calls.includes('wake devB ') && a.calls.includes('wake devB '));
      const envelope: Envelope = { id: '41', conversationId: 'g', senderDeviceId: 's', senderIdentityId: 'x:s', kind: 'application', epoch: '1', payload: 'AAAA', createdAt: new Date().toISOString() };
      na.notifyEnvelope(['devB', 'devOffline'], envelope);
      na.notifyEnvelope(['devB'], { ...envelope, id: '42' });
      na.notifyControl('devB', { type: 'key-packages-low', stock: { oneTime: 1, lastResort: true, low: true } } as unknown as SingleServerFrame);
      na.notifyAcked('devB', ['41']);
      na.notifyRevoked('devB');
      await eventually('every notice on B', () => b.calls.some((x) => x.startsWith('disconnect')));
      // Two envelopes for one device in one turn: one notice.
      expect(b.calls).toEqual(['wake devB ', 'wake devB 41,42', 'control devB key-packages-low', 'ack devB 41', 'disconnect devB 4004']);
      expect(a.calls).toEqual(['wake devB ', 'deliver devB 41', 'deliver devOffline 41', 'deliver devB 42', 'control devB key-packages-low', 'ack devB 41', 'disconnect devB 4004']);
      expect(c.calls).toEqual([]); // no interest, nothing received
      // Unwatched: no more notices.
      nb.unwatch('devB');
      await new Promise((r) => setTimeout(r, 50));
      na.notifyEnvelope(['devB'], { ...envelope, id: '43' });
      await new Promise((r) => setTimeout(r, 200));
      expect(b.calls.some((x) => x.includes('43'))).toBe(false);
      expect(nb.stats.received).toBe(4);
    } finally {
      await Promise.all([na.close(), nb.close(), nc.close()]);
    }
  });

  it('notices a peer that stops heartbeating without goodbye (died), and not one that said goodbye', async () => {
    const lost: string[] = [];
    const n = new NatsNotifier({ url: MACHINE_NATS, subjectPrefix: prefix, nodeId: 'watcher', local: new Recorder(), log: silent, heartbeatMs: 100, onPeerLost: (id) => lost.push(id) });
    const peer = await connect({ servers: MACHINE_NATS });
    try {
      await n.start(5000);
      const beat = (id: string, t: 'alive' | 'bye') => peer.publish(`${prefix}.nodes`, Buffer.from(JSON.stringify({ n: id, t })));
      await eventually('both peers seen', async () => {
        beat('ghost', 'alive');
        beat('leaver', 'alive');
        await peer.flush();
        return n.peers.length === 2;
      }, 5000, 50);
      beat('leaver', 'bye'); // graceful: its notices were all published
      await peer.flush();
      await eventually('the silent peer declared lost', () => lost.length > 0, 3000);
      await new Promise((r) => setTimeout(r, 400));
      expect(lost).toEqual(['ghost']);
      expect(n.peers).toEqual([]);
    } finally {
      await peer.close();
      await n.close();
    }
  });

  it('serves without NATS (not connected, nothing published) and reports the link state', async () => {
    const r = new Recorder();
    const states: boolean[] = [];
    const n = new NatsNotifier({ url: 'nats://127.0.0.1:1', subjectPrefix: prefix, nodeId: 'z', local: r, log: silent, reconnectWaitMs: 50, onStateChange: (s) => states.push(s) });
    await n.start(200);
    expect(n.connected).toBe(false);
    n.notifyEnvelope(['d'], { id: '1', conversationId: 'g', senderDeviceId: 's', senderIdentityId: 'x:s', kind: 'application', payload: 'AAAA', createdAt: new Date().toISOString() });
    expect(r.calls).toEqual(['deliver d 1']); // local sockets still get it
    await n.close();
    expect(states).toEqual([]);
  });
});

describe.skipIf(!services.ok)('two nodes on one database', () => {
  let nodeA: ParleyServer;
  let nodeB: ParleyServer;
  let spy: NatsConnection;
  const seen: Uint8Array[] = [];

  beforeAll(async () => {
    const { schema } = await freshSchema(MACHINE_PG);
    const keys = tempDir('parley-keys-');
    const common = {
      adminToken: ADMIN_TOKEN,
      database: { kind: 'postgres' as const, url: MACHINE_PG, schema, maxConnections: 8 },
      keys: { dir: keys },
      nats: { url: MACHINE_NATS, subjectPrefix: prefix },
      // A minute between polls: a delivery within milliseconds can only come from a notice.
      limits: { mailboxPollIntervalMs: 60_000 },
      log: { level: 'silent' as const },
    };
    nodeA = await startServer({ ...common, nodeId: 'a' });
    nodeB = await startServer({ ...common, nodeId: 'b' });
    spy = await connect({ servers: MACHINE_NATS });
    spy.subscribe(`${prefix}.>`, { callback: (_e, m) => seen.push(m.data) });
  });
  afterAll(async () => {
    await spy?.close();
    await nodeA?.stop();
    await nodeB?.stop();
  });

  it('a device on node B gets a message submitted on node A within milliseconds; NATS carries ids only', async () => {
    expect((await api(nodeA.url, 'GET', '/readyz')).body).toMatchObject({ status: 'ready', nats: 'connected' });
    const s = await suite();
    const bank = await createBusiness(nodeA.url);
    const sender = await registerRawDevice(nodeA.url, bank, 'sender', { kind: 'sender' });
    const receiver = await registerRawDevice(nodeB.url, bank, 'alice');
    let group = await createGroup(s, randomBytes(32), { identityId: sender.identityId, deviceId: sender.deviceId }, sender.signature, async () => true);
    const claim = await api(nodeA.url, 'POST', '/v1/key-packages/claim', { deviceIds: [receiver.deviceId] }, sender.token);
    const out = await commitChanges(s, group, { add: [fromBase64(claim.body.keyPackages[0].keyPackage)] });
    group = out.group;
    const created = await api(nodeA.url, 'POST', '/v1/messages', {
      idempotencyKey: 'create', conversationId: group.conversationId, message: toBase64(out.commit),
      members: [sender.deviceId, receiver.deviceId], welcome: toBase64(out.welcome!), groupInfo: toBase64(out.groupInfo),
    }, sender.token);
    expect(created.status).toBe(201);

    const received = new Map<string, number>();
    const ws = new WebSocket(nodeB.url.replace('http', 'ws') + '/v1/ws', { headers: { authorization: `Bearer ${receiver.token}` } });
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; envelopes?: Envelope[]; frames?: { type: string; envelopes?: Envelope[] }[] };
      const frames = frame.type === 'batch' ? frame.frames! : [frame];
      for (const f of frames) if (f.type === 'deliver') for (const e of f.envelopes!) received.set(e.id, performance.now());
    });
    await new Promise((r) => ws.once('open', r));
    await eventually('the Welcome over the initial fetch', () => received.size >= 1);

    const latencies: number[] = [];
    const payloads: string[] = [];
    for (let i = 0; i < 10; i++) {
      const enc = await encryptApplication(s, group, utf8(`hello ${i}`));
      group = enc.group;
      payloads.push(toBase64(enc.message));
      const started = performance.now();
      const res = await api(nodeA.url, 'POST', '/v1/messages', { idempotencyKey: `m-${i}`, conversationId: group.conversationId, message: payloads[i] }, sender.token);
      expect(res.status).toBe(201);
      const at = await eventually(`envelope ${res.body.id} on node B`, () => received.get(res.body.id), 5000, 1);
      latencies.push(Math.max(0, at - started));
    }
    ws.close();
    latencies.sort((x, y) => x - y);
    console.log(`cross-node delivery latency (submit on A → socket on B), ms: median ${latencies[5]!.toFixed(1)}, max ${latencies[9]!.toFixed(1)}`);
    expect(latencies[9]!).toBeLessThan(1000);
    expect(latencies[5]!).toBeLessThan(250);

    // What went over NATS: small notices with ids, never a payload.
    expect(seen.length).toBeGreaterThan(0);
    for (const data of seen) {
      const text = Buffer.from(data).toString('utf8');
      expect(data.length).toBeLessThan(300);
      for (const p of payloads) expect(text.includes(p.slice(8, 40))).toBe(false);
    }
  });
});
