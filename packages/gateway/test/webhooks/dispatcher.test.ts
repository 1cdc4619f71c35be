/**
 * The webhook dispatcher against a real receiver on loopback (every request verified with
 * verifyWebhook and the official `standardwebhooks` library) over a real database (PGlite;
 * PostgreSQL with PARLEY_TEST_ENGINE=postgres).
 */
import { PostgresDatabase, type Database } from '@parley/server';
import { DATABASE_URL, ENGINE } from '@parley/test-kit/server';
import { openGatewayTestDatabase } from '@parley/test-kit/gateway-db';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebhookDispatcher, type WebhookDispatcherOptions } from '../../src/webhooks/dispatcher.js';
import { appendEvent, webhookBody, type GatewayEvent } from '../../src/webhooks/events.js';
import { newWebhookSecret } from '../../src/webhooks/index.js';
import { freePort, startReceiver, until, type Receiver } from './receiver.js';

interface DeliveryRow {
  event_id: string;
  attempts: number;
  delivered_at: Date | null;
  given_up_at: Date | null;
  locked_until: Date | null;
  last_status: number | null;
  last_error: string | null;
}

let db: Database;
let closeDb: () => Promise<void>;
let schema: string | undefined;
const cleanup: (() => Promise<void>)[] = [];
const secret = newWebhookSecret();

// One database per file (an embedded one takes seconds to start), emptied before each test.
beforeAll(async () => {
  ({ db, close: closeDb, schema } = await openGatewayTestDatabase());
});
afterAll(async () => {
  await closeDb();
});
beforeEach(async () => {
  await db.query('TRUNCATE gateway_webhook_deliveries, gateway_events');
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function dispatcher(options: Partial<WebhookDispatcherOptions> = {}): WebhookDispatcher {
  const d = new WebhookDispatcher({ db, secrets: () => [secret], schedule: [0.2, 0.5, 1], timeoutMs: 2000, pollMs: 20, jitter: 0, ...options });
  cleanup.push(() => d.stop());
  return d;
}

async function receiver(...args: Parameters<typeof startReceiver> extends [string, ...infer R] ? R : never): Promise<Receiver> {
  const r = await startReceiver(secret, ...args);
  cleanup.push(() => r.close());
  return r;
}

function append(messageId: string, url: string, type: GatewayEvent['type'] = 'message.sent', data: Record<string, unknown> = { path: 'push' }): Promise<GatewayEvent> {
  return appendEvent(db, { type, messageId, data }, [url]);
}

async function deliveries(): Promise<DeliveryRow[]> {
  const rows = await db.query<DeliveryRow>(
    'SELECT event_id, attempts, delivered_at, given_up_at, locked_until, last_status, last_error FROM gateway_webhook_deliveries ORDER BY seq',
  );
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts), last_status: r.last_status === null ? null : Number(r.last_status) }));
}

async function row(eventId: string): Promise<DeliveryRow> {
  const found = (await deliveries()).find((r) => r.event_id === eventId);
  if (!found) throw new Error('no such delivery');
  return found;
}

const allSettled = async () => (await deliveries()).every((r) => r.delivered_at !== null || r.given_up_at !== null);

describe(`webhook dispatcher (${ENGINE})`, () => {
  it('delivers a signed webhook: the exact JSON of webhookBody, verified by both implementations', async () => {
    const r = await receiver();
    const event = await append('msg_1', r.url, 'message.delivered', { path: 'push', at: '2026-01-01T00:00:00.000Z' });
    expect(await dispatcher().runOnce()).toBe(1);

    expect(r.received).toHaveLength(1);
    const got = r.received[0]!;
    expect(got.verifiedOurs && got.verifiedTheirs).toBe(true);
    expect(got.path).toBe('/parley/status');
    expect(got.id).toBe(event.id);
    expect(event.id).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers['user-agent']).toBe('parley-gateway/0.1');
    expect(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
    expect(got.body).toBe(JSON.stringify(webhookBody(event)));
    expect(JSON.parse(got.body)).toEqual({
      type: 'message.delivered',
      timestamp: event.createdAt,
      data: { messageId: 'msg_1', path: 'push', at: '2026-01-01T00:00:00.000Z' },
    });
    const stored = await row(event.id);
    expect(stored.delivered_at).not.toBeNull();
    expect(stored).toMatchObject({ attempts: 1, last_status: 200, last_error: null, locked_until: null, given_up_at: null });
    // Nothing more is due.
    expect(await dispatcher().runOnce()).toBe(0);
  });

  it('keeps order per message and URL when the first attempt of the first event fails', async () => {
    const r = await receiver();
    const e1 = await append('msg_a', r.url, 'message.queued');
    const e2 = await append('msg_a', r.url, 'message.sent');
    const e3 = await append('msg_a', r.url, 'message.delivered');
    const other = await append('msg_b', r.url, 'message.queued');
    r.respond = ({ id, nth }) => (id === e1.id && nth === 0 ? 500 : 200);
    const d = dispatcher();

    // The first round: e1 (fails) and the other message's event; e2 and e3 wait behind e1.
    expect(await d.runOnce()).toBe(2);
    expect(r.received.map((x) => x.id).sort()).toEqual([e1.id, other.id].sort());
    expect(await d.runOnce()).toBe(0);
    expect((await row(e1.id)).last_status).toBe(500);

    d.start();
    await until(allSettled, 10_000, 'all delivered');
    const forA = r.received.filter((x) => x.id !== other.id).map((x) => x.id);
    expect(forA).toEqual([e1.id, e1.id, e2.id, e3.id]);
    expect(r.received.every((x) => x.verifiedOurs && x.verifiedTheirs)).toBe(true);
    expect((await row(e1.id)).attempts).toBe(2);
  });

  it('survives a receiver that is down, then failing: everything arrives, attempts recorded', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/parley/status`;
    const events = [await append('msg_1', url), await append('msg_2', url), await append('msg_1', url, 'message.read')];
    const d = dispatcher({ schedule: [0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3] });
    d.start();

    // Connection refused: failures recorded without a status.
    await until(async () => (await row(events[0]!.id)).attempts >= 2, 10_000, 'two refused attempts');
    const refused = await row(events[0]!.id);
    expect(refused.last_status).toBeNull();
    expect(refused.last_error).toMatch(/ECONNREFUSED/);
    expect(refused.delivered_at).toBeNull();

    // Back, but answering 500 for a while.
    let failing = true;
    const r = await receiver(() => (failing ? 500 : 204), port);
    await until(async () => (await row(events[0]!.id)).last_status === 500, 10_000, 'a 500 recorded');
    expect((await row(events[0]!.id)).last_error).toBe('HTTP 500');
    failing = false;

    await until(allSettled, 15_000, 'all delivered');
    const rows = await deliveries();
    expect(rows.every((x) => x.delivered_at !== null && x.last_status === 204 && x.given_up_at === null)).toBe(true);
    // Refused, 500, then 204: at least three attempts each, except msg_1's second event,
    // which waited behind its first and went through at once.
    expect((await row(events[0]!.id)).attempts).toBeGreaterThanOrEqual(3);
    expect((await row(events[1]!.id)).attempts).toBeGreaterThanOrEqual(3);
    expect((await row(events[2]!.id)).attempts).toBe(1);
    expect(new Set(r.acknowledged())).toEqual(new Set(events.map((e) => e.id)));
    // Still in order for msg_1: its second event was acknowledged after its first.
    const acked = r.acknowledged();
    expect(acked.indexOf(events[0]!.id)).toBeLessThan(acked.indexOf(events[2]!.id));
    expect(r.received.every((x) => x.verifiedOurs && x.verifiedTheirs)).toBe(true);
  });

  it('gives up after the schedule, then lets the next event of that message through', async () => {
    const r = await receiver();
    const doomed = await append('msg_1', r.url, 'message.sent');
    const next = await append('msg_1', r.url, 'message.delivered');
    r.respond = ({ id }) => (id === doomed.id ? 500 : 200);
    dispatcher({ schedule: [0.1, 0.1] }).start();

    await until(allSettled, 10_000, 'settled');
    const gaveUp = await row(doomed.id);
    expect(gaveUp.given_up_at).not.toBeNull();
    expect(gaveUp).toMatchObject({ attempts: 3, delivered_at: null, last_status: 500, last_error: 'HTTP 500', locked_until: null });
    expect(r.received.filter((x) => x.id === doomed.id)).toHaveLength(3);
    expect((await row(next.id)).delivered_at).not.toBeNull();
    expect(r.received.at(-1)!.id).toBe(next.id);
  });

  it('gives up at once on 410 Gone, never follows a redirect, and times out a silent receiver', async () => {
    const r = await receiver();
    const gone = await append('msg_gone', r.url);
    const moved = await append('msg_moved', r.url);
    const silent = await append('msg_silent', r.url);
    r.respond = ({ id }) => (id === gone.id ? 410 : id === moved.id ? 302 : 'hang');
    expect(await dispatcher({ timeoutMs: 300, lockMs: 5000 }).runOnce()).toBe(3);

    expect(await row(gone.id)).toMatchObject({ attempts: 1, last_status: 410, delivered_at: null });
    expect((await row(gone.id)).given_up_at).not.toBeNull();
    expect(await row(moved.id)).toMatchObject({ attempts: 1, last_status: 302, last_error: 'HTTP 302', given_up_at: null, delivered_at: null });
    expect(r.received.some((x) => x.path === '/redirected')).toBe(false);
    expect(await row(silent.id)).toMatchObject({ attempts: 1, last_status: null, last_error: 'timeout after 300 ms', delivered_at: null });
  });

  it('two dispatchers on one database deliver each event once', async () => {
    const r = await receiver();
    const events: GatewayEvent[] = [];
    for (let i = 0; i < 30; i++) events.push(await append(`msg_${i % 5}`, r.url, 'message.sent', { n: i }));
    // On PostgreSQL the second dispatcher has its own connection pool, as another instance would.
    let otherDb: Database = db;
    if (ENGINE === 'postgres') {
      const pg = new PostgresDatabase({ connectionString: DATABASE_URL, ...(schema ? { schema } : {}) });
      cleanup.unshift(() => pg.close());
      otherDb = pg;
    }
    const a = dispatcher({ batchSize: 3, concurrency: 3 });
    const b = dispatcher({ db: otherDb, batchSize: 3, concurrency: 3 });
    a.start();
    b.start();
    await until(allSettled, 20_000, 'all delivered');

    const counts = new Map<string, number>();
    for (const x of r.received) counts.set(x.id, (counts.get(x.id) ?? 0) + 1);
    expect(counts.size).toBe(30);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect((await deliveries()).every((x) => x.attempts === 1)).toBe(true);
    // Per message, in seq order.
    const seqOf = new Map(events.map((e) => [e.id, BigInt(e.seq)]));
    for (let m = 0; m < 5; m++) {
      const ids = r.received.filter((x) => (JSON.parse(x.body) as { data: { messageId: string } }).data.messageId === `msg_${m}`).map((x) => seqOf.get(x.id)!);
      expect(ids).toEqual([...ids].sort((p, q) => (p < q ? -1 : 1)));
    }
  });

  it('a dispatcher killed mid-call: the other delivers once the claim expires, and the dead one cannot undo it', async () => {
    const r = await receiver();
    const event = await append('msg_1', r.url);
    let release: (status: number) => void = () => {};
    let called = false;
    const stuckFetch = ((): Promise<Response> => {
      called = true;
      return new Promise((resolve) => (release = (status) => resolve(new Response(null, { status }))));
    }) as typeof fetch;
    const a = dispatcher({ fetch: stuckFetch, timeoutMs: 500, lockMs: 1500 });
    cleanup.push(async () => release(500)); // runs before a.stop() even if the test fails
    const b = dispatcher();
    const aRound = a.runOnce(); // hangs: the process "died" holding the claim
    await until(() => called, 5000, 'the stuck call');

    expect(await b.runOnce()).toBe(0);
    expect((await row(event.id)).locked_until).not.toBeNull();
    await until(async () => (await b.runOnce()) === 1, 5000, 'claim expiry');
    expect(r.acknowledged()).toEqual([event.id]);
    expect(r.received[0]!.verifiedOurs && r.received[0]!.verifiedTheirs).toBe(true);

    // The "dead" instance wakes up with a failure: fenced out by `attempts`, the row stays delivered.
    release(500);
    expect(await aRound).toBe(1);
    expect(await row(event.id)).toMatchObject({ attempts: 2, last_status: 200, given_up_at: null });
    expect((await row(event.id)).delivered_at).not.toBeNull();
  });

  it('a dispatcher stopped mid-call releases its claim: another delivers at once', async () => {
    const r = await receiver();
    const event = await append('msg_1', r.url);
    let called = false;
    const waitForAbort = ((_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
      called = true;
      return new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    }) as typeof fetch;
    const a = dispatcher({ fetch: waitForAbort, lockMs: 60_000 });
    a.start();
    await until(() => called, 5000, 'the call');
    await a.stop();
    expect(await row(event.id)).toMatchObject({ attempts: 1, locked_until: null, delivered_at: null, last_error: null });

    expect(await dispatcher().runOnce()).toBe(1);
    expect(r.acknowledged()).toEqual([event.id]);
  });

  it('signs with every current secret; a receiver holding only the new one verifies', async () => {
    const oldSecret = newWebhookSecret();
    let secrets = [oldSecret, secret];
    const r = await receiver(); // knows `secret` only
    await append('msg_1', r.url);
    const d = dispatcher({ secrets: () => secrets });
    expect(await d.runOnce()).toBe(1);
    const got = r.received[0]!;
    expect(String(got.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(got.verifiedOurs && got.verifiedTheirs).toBe(true);

    // After the rotation ends, one signature, still verified.
    secrets = [secret];
    await append('msg_2', r.url);
    expect(await d.runOnce()).toBe(1);
    expect(String(r.received[1]!.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(r.received[1]!.verifiedOurs && r.received[1]!.verifiedTheirs).toBe(true);

    // Signed only with a secret the receiver does not hold: both implementations refuse it.
    secrets = [oldSecret];
    await append('msg_3', r.url);
    expect(await d.runOnce()).toBe(1);
    expect(r.received[2]!.verifiedOurs || r.received[2]!.verifiedTheirs).toBe(false);
  });
});
