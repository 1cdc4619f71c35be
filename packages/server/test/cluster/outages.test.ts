/**
 * Outages of the shared services, each on a PRIVATE instance so the machine's
 * PostgreSQL and NATS (used by other test files at the same time) are never touched:
 * - NATS restart: two `parley serve` nodes report not-ready while it is down, keep
 *   delivering across nodes by fetch (1 s mailbox polls), and go back to notices
 *   (and ready) when it returns;
 * - PostgreSQL restart: two nodes report not-ready ('database unreachable') and
 *   recover without manual action; mail flows again afterwards.
 * A test whose private instance cannot be started skips with a one-line note.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fromBase64, randomBytes, toBase64, toBase64Url, utf8, type Envelope } from '@parley/core';
import { commitChanges, createGroup, encryptApplication, type MlsGroup } from '@parley/core/mls';
import { api, createBusiness, registerRawDevice, suite, type RawDevice } from '@parley/test-kit/server';
import {
  MACHINE_NATS,
  MACHINE_PG,
  cleanup,
  eventually,
  freshSchema,
  machineServices,
  privateNats,
  privatePostgres,
  readiness,
  startNode,
  tempDir,
  waitReady,
  type ClusterNode,
} from './cluster-helpers.js';

const services = await machineServices();
if (!services.ok) console.log(services.note);

afterAll(cleanup, 30_000);

/** A sender on one node and a receiver (raw WebSocket) on another, in one MLS group. */
class Pair {
  private group!: MlsGroup;
  private sender!: RawDevice;
  private n = 0;
  readonly received = new Map<string, number>();
  private ws: WebSocket | undefined;

  constructor(
    private readonly from: ClusterNode,
    private readonly to: ClusterNode,
  ) {}

  async setUp(): Promise<void> {
    const s = await suite();
    const bank = await createBusiness(this.from.url);
    this.sender = await registerRawDevice(this.from.url, bank, 'sender', { kind: 'sender' });
    const receiver = await registerRawDevice(this.to.url, bank, 'alice');
    let group = await createGroup(s, randomBytes(32), { identityId: this.sender.identityId, deviceId: this.sender.deviceId }, this.sender.signature, async () => true);
    const claim = await api(this.from.url, 'POST', '/v1/key-packages/claim', { deviceIds: [receiver.deviceId] }, this.sender.token);
    const out = await commitChanges(s, group, { add: [fromBase64(claim.body.keyPackages[0].keyPackage)] });
    group = out.group;
    const created = await api(this.from.url, 'POST', '/v1/messages', {
      idempotencyKey: 'create', conversationId: group.conversationId, message: toBase64(out.commit),
      members: [this.sender.deviceId, receiver.deviceId], welcome: toBase64(out.welcome!), groupInfo: toBase64(out.groupInfo),
    }, this.sender.token);
    expect(created.status).toBe(201);
    this.group = group;
    const ws = new WebSocket(this.to.url.replace('http', 'ws') + '/v1/ws', { headers: { authorization: `Bearer ${receiver.token}` } });
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; envelopes?: Envelope[]; frames?: { type: string; envelopes?: Envelope[] }[] };
      for (const f of frame.type === 'batch' ? frame.frames! : [frame]) {
        if (f.type !== 'deliver') continue;
        for (const e of f.envelopes!) if (!this.received.has(e.id)) this.received.set(e.id, performance.now());
        ws.send(JSON.stringify({ type: 'ack', ids: f.envelopes!.map((e) => e.id) }));
      }
    });
    ws.on('error', () => {});
    this.ws = ws;
    await new Promise((r) => ws.once('open', r));
    await eventually('the Welcome', () => this.received.size >= 1);
  }

  /** Submits one message on the sender's node; resolves with the delivery lag in ms (or throws after `timeoutMs`). */
  async deliver(timeoutMs: number): Promise<number> {
    const s = await suite();
    const enc = await encryptApplication(s, this.group, utf8(`message ${this.n}`));
    this.group = enc.group;
    const started = performance.now();
    const res = await api(this.from.url, 'POST', '/v1/messages', { idempotencyKey: `m-${this.n++}`, conversationId: this.group.conversationId, message: toBase64(enc.message) }, this.sender.token);
    expect(res.status).toBe(201);
    const at = await eventually(`envelope ${res.body.id} across nodes`, () => this.received.get(res.body.id as string), timeoutMs, 5);
    return at - started;
  }

  close(): void {
    this.ws?.close();
  }
}

describe.skipIf(!services.ok)('outages of shared services', () => {
  it('NATS restart: nodes go not-ready, delivery continues by fetch, then notices and readiness come back', async (ctx) => {
    const nats = await privateNats();
    if ('note' in nats) {
      console.log(`NATS restart test skipped: ${nats.note}`);
      return ctx.skip();
    }
    const { url } = await freshSchema(MACHINE_PG);
    const keyDir = tempDir('parley-nats-keys-');
    const a = await startNode({ databaseUrl: url, keyDir, natsUrl: nats.url, nodeId: 'a' });
    const b = await startNode({ databaseUrl: url, keyDir, natsUrl: nats.url, nodeId: 'b' });
    await Promise.all([waitReady(a.url), waitReady(b.url)]);
    const pair = new Pair(a, b);
    await pair.setUp();
    try {
      const live = await pair.deliver(5_000);
      expect(live).toBeLessThan(1_000);

      await nats.stop();
      for (const n of [a, b]) {
        const r = await eventually(`${n.nodeId} not ready`, async () => {
          const x = await readiness(n.url);
          return x.status === 503 ? x : undefined;
        }, 10_000, 50);
        expect(r.body.reason).toBe('nats disconnected');
      }
      // Delivery goes on by fetch: the connections poll every second while NATS is down.
      const byFetch: number[] = [];
      for (let i = 0; i < 3; i++) byFetch.push(await pair.deliver(6_000));
      console.log(`NATS down: cross-node delivery by fetch in ${byFetch.map((x) => x.toFixed(0)).join(', ')} ms`);
      expect(Math.max(...byFetch)).toBeLessThan(4_000);

      await nats.start();
      await Promise.all([waitReady(a.url, 20_000), waitReady(b.url, 20_000)]);
      // Back on notices: well under the 1 s poll (the poll interval is 30 s again).
      const after: number[] = [];
      for (let i = 0; i < 3; i++) after.push(await pair.deliver(5_000));
      console.log(`NATS back: cross-node delivery in ${after.map((x) => x.toFixed(0)).join(', ')} ms`);
      expect(Math.min(...after)).toBeLessThan(500);
    } finally {
      pair.close();
    }
  }, 90_000);

  it('PostgreSQL restart: nodes report not-ready, then recover without manual action', async (ctx) => {
    const pg = await privatePostgres();
    if ('note' in pg) {
      console.log(`PostgreSQL restart test skipped: ${pg.note}`);
      return ctx.skip();
    }
    const keyDir = tempDir('parley-pg-keys-');
    const prefix = `po${toBase64Url(randomBytes(6)).replace(/[^A-Za-z0-9]/g, 'x')}`;
    const a = await startNode({ databaseUrl: pg.url, keyDir, natsUrl: MACHINE_NATS, natsPrefix: prefix, nodeId: 'a' });
    const b = await startNode({ databaseUrl: pg.url, keyDir, natsUrl: MACHINE_NATS, natsPrefix: prefix, nodeId: 'b' });
    await Promise.all([waitReady(a.url), waitReady(b.url)]);
    const pair = new Pair(a, b);
    await pair.setUp();
    try {
      expect(await pair.deliver(5_000)).toBeLessThan(1_000);

      await pg.stop();
      for (const n of [a, b]) {
        const r = await eventually(`${n.nodeId} not ready`, async () => {
          const x = await readiness(n.url);
          return x.status === 503 ? x : undefined;
        }, 10_000, 50);
        expect(r.body.reason).toBe('database unreachable');
        // Alive all the same (liveness is not readiness).
        expect((await fetch(`${n.url}/healthz`)).status).toBe(200);
      }

      await pg.start();
      await Promise.all([waitReady(a.url, 30_000), waitReady(b.url, 30_000)]);
      // Writes, notices and reads all work again, on the same processes.
      expect(await pair.deliver(10_000)).toBeLessThan(5_000);
      expect(await pair.deliver(5_000)).toBeLessThan(1_000);
      for (const n of [a, b]) expect(n.child.exitCode).toBe(null);
    } finally {
      pair.close();
    }
  }, 90_000);
});
