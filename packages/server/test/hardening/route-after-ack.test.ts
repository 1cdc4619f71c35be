/**
 * A message the customer has acknowledged never falls back to push or SMS.
 *
 * The ack statement itself marks the route acknowledged (`routes.acked_at`), so the
 * router's separate, fire-and-forget finishing hook is no longer what stops the chain:
 * - the hook fails (here: it rejects): when the next step comes due, the router finishes
 *   the route as delivered and hands nothing to FCM or Twilio;
 * - the server stops gracefully while a hook is in flight: `stop()` waits for it (it used
 *   to log `routing ack hook failed: PGlite is closed` and leave the route active).
 * The kill -9 case (a real `parley serve` process) is in route-after-ack-crash.test.ts.
 * Real server on loopback, real SDK devices, FCM and Twilio as emulators.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { randomBytes, toBase64Url, type RouteViewResponse } from '@parley/core';
import { freePort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { createBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { Router } from '../../src/routing/router.js';
import { PgliteDatabase } from '../../src/storage/pglite.js';
import { PostgresDatabase } from '../../src/storage/postgres.js';
import type { Database, ServerConfigInput } from '../../src/index.js';
import { DATABASE_URL, ENGINE, startTestServer, type TestServer } from '@parley/test-kit/server';

const MARKER = 'PLAINTEXT-MARKER-7d1c0e';
const BANK = 'ack-bank';
/** app → push → SMS link: after an ack, neither of the last two may ever happen. */
const CHAIN = [
  { step: 'app' as const, timeoutMs: 1_200 },
  { step: 'push' as const, timeoutMs: 800 },
  { step: 'sms-token' as const, timeoutMs: 800 },
];

let providers: LocalProviders;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  providers = await startLocalProviders({ publicUrl: 'http://127.0.0.1:9', timeoutMs: 1000 });
});

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await providers?.close();
});

async function node(overrides: ServerConfigInput = {}): Promise<TestServer> {
  const port = await freePort();
  const t = await startTestServer({
    port,
    ...overrides,
    routing: {
      channels: providers.channels,
      tickMs: 50,
      businesses: {
        [BANK]: {
          brand: 'Ack Bank',
          policies: { otp: { chain: CHAIN, otherwise: 'block' }, hello: { chain: [{ step: 'app', timeoutMs: 600_000 }], otherwise: 'block' } },
        },
      },
    },
  });
  return t;
}

interface Customer {
  readonly id: string;
  readonly phone: string;
  readonly pushToken: string;
  readonly device: Device;
  readonly log: EventLog;
}

let serial = 0;

/** An enrolled customer with a phone and an FCM token, online (WebSocket), in a conversation with the bank. */
async function customer(url: string, bank: Business, sender: Sender): Promise<Customer> {
  const id = `ack-${++serial}-${toBase64Url(randomBytes(3))}`;
  const phone = `+1555030${String(serial).padStart(4, '0')}`;
  const device = await Device.enroll({ serverUrl: url, enrollmentToken: await bank.issue(id, 'customer', { phone }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  const log = new EventLog(device);
  await device.connect();
  const hello = await sender.send(id, 'Welcome.', { class: 'hello' });
  await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
  const pushToken = providers.newPushToken('fcm');
  await device.setPushToken({ provider: 'fcm', token: pushToken });
  return { id, phone, pushToken, device, log };
}

async function acknowledged(db: Database, envelopeId: string): Promise<void> {
  await expect.poll(async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM deliveries WHERE envelope_id = $1', [envelopeId]))[0]!.n), { timeout: 10_000 }).toBe(0);
}

/** What any provider got for this customer: FCM pushes to the token, SMS accepted for the phone. */
function providerTraffic(c: Customer): number {
  return providers.fcm.pushes(c.pushToken).length + providers.twilio.acceptedFor(c.phone).length;
}

describe('route after ack', () => {
  it('the ack hook fails: no push or SMS for the acknowledged message once its next steps come due; the route ends delivered', async () => {
    const t = await node();
    cleanups.push(() => t.stop());
    const bank = await createBusiness(t.url, BANK);
    const sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Ack Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    cleanups.push(() => sender.close());
    const c = await customer(t.url, bank, sender);
    cleanups.push(() => c.device.close());

    // The router's finishing hook is down (a failed query, a bug): every call rejects.
    const hook = vi.spyOn(Router.prototype, 'onAcked').mockRejectedValue(new Error('ack hook down'));
    const sent = await sender.send(c.id, `Your code is 123456. ${MARKER}`, { class: 'otp' });
    await c.log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    await acknowledged(t.server.db, sent.envelopeId);
    await expect.poll(() => hook.mock.calls.length, { timeout: 5_000 }).toBeGreaterThan(0);

    // Well past the app step (1.2 s), the push (0.8 s) and the SMS link (0.8 s) steps.
    const deadline = Date.now() + CHAIN.reduce((n, s) => n + s.timeoutMs, 0) + 2_000;
    while (Date.now() < deadline && providerTraffic(c) === 0) await new Promise((r) => setTimeout(r, 100));
    // The route's state and its `delivered` decision (written just after the state).
    let route: RouteViewResponse = await sender.route(sent.messageId);
    for (let i = 0; i < 100 && !route.events.some((e) => e.decision === 'delivered'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      route = await sender.route(sent.messageId);
    }
    expect(providers.fcm.pushes(c.pushToken)).toHaveLength(0);
    expect(providers.twilio.acceptedFor(c.phone)).toHaveLength(0);
    expect(route).toMatchObject({ state: 'delivered', path: 'app' });
    expect(route.events.filter((e) => e.decision === 'sent')).toEqual([]);
    expect(route.events.filter((e) => e.decision === 'delivered')).toHaveLength(1);
    expect(c.log.messages().filter((m) => m.messageId === sent.messageId)).toHaveLength(1);
    expect(t.logs.some((l) => l.includes('routing ack hook failed'))).toBe(true);
    expect(t.logs.join('\n')).not.toContain(MARKER);
  }, 60_000);

  it('a graceful stop waits for the ack hook in flight: the route is finished before the database closes', async () => {
    // A database that outlives the server, to read the route after stop().
    let database: ServerConfigInput['database'];
    let open: () => Promise<Database>;
    if (ENGINE === 'postgres') {
      const schema = `t_${toBase64Url(randomBytes(9)).toLowerCase().replace(/[^a-z0-9]/g, '_')}`;
      const admin = new PostgresDatabase({ connectionString: DATABASE_URL });
      await admin.exec(`CREATE SCHEMA ${schema}`);
      await admin.close();
      cleanups.push(async () => {
        const a = new PostgresDatabase({ connectionString: DATABASE_URL });
        await a.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await a.close();
      });
      database = { kind: 'postgres', url: DATABASE_URL, schema };
      open = async () => new PostgresDatabase({ connectionString: DATABASE_URL, schema });
    } else {
      const dir = await mkdtemp(join(tmpdir(), 'parley-ack-hook-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      database = { kind: 'pglite', dataDir: dir };
      open = () => PgliteDatabase.open({ dataDir: dir });
    }
    const t = await node({ database });
    const bank = await createBusiness(t.url, BANK);
    const sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Ack Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const c = await customer(t.url, bank, sender);

    // A slow hook (a busy database): still running when the operator stops the node.
    const original = Router.prototype.onAcked;
    let started = 0;
    vi.spyOn(Router.prototype, 'onAcked').mockImplementation(async function (this: Router, ids: readonly string[]) {
      started++;
      await new Promise((r) => setTimeout(r, 400));
      return original.call(this, ids);
    });
    const sent = await sender.send(c.id, `Your code is 654321. ${MARKER}`, { class: 'otp' });
    await c.log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    await expect.poll(() => started, { timeout: 10_000 }).toBeGreaterThan(0);
    await c.device.close();
    await sender.close();
    await t.stop();

    expect(t.logs.filter((l) => l.includes('routing ack hook failed'))).toEqual([]);
    const db = await open();
    try {
      const [row] = await db.query<{ state: string; path: string | null }>('SELECT state, path FROM routes WHERE message_id = $1', [sent.messageId]);
      expect(row).toEqual({ state: 'delivered', path: 'app' });
    } finally {
      await db.close();
    }
    expect(providerTraffic(c)).toBe(0);
  }, 60_000);
});
