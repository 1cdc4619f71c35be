/**
 * The console's delivery and route views over real traffic: a real server with every provider
 * as an emulator on loopback, real SDK devices and a Sender. One message is delivered in the
 * app (the policy's first step), one by the SMS link after its push failed (a fallback, with the
 * provider's error), one blocked by policy; the views' numbers are checked against that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { smsDeliver } from '../../src/channels/sender-sms.js';
import { createBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { deliveryView } from '../../src/console/read-delivery.js';
import { listRoutes, routeDetail } from '../../src/console/read-routes-detail.js';
import { policyOf } from '../../src/routing/routing-config.js';

const APP_MS = 400;
let t: TestServer;
let providers: LocalProviders;
let bank: Business;
let sender: Sender;
/** The server's own policy lookup (the router's `policyFor`), over its resolved configuration. */
const policyFor = (businessId: string, messageClass: string) => policyOf(t.server.config.routing, businessId, messageClass);

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
  const otp = { chain: [{ step: 'app' as const, timeoutMs: APP_MS }, { step: 'push' as const, timeoutMs: 800 }, { step: 'sms-token' as const, timeoutMs: 8000 }], otherwise: 'invite-to-app' as const };
  const notice = { chain: [{ step: 'app' as const, timeoutMs: APP_MS }], otherwise: 'block' as const };
  t = await startTestServer({
    port,
    routing: { channels: providers.channels, tickMs: 50, businesses: { 'console-bank': { brand: DEMO_BRAND, appUrl: 'https://examplebank.test/app', policies: { otp, notice } } } },
  });
  bank = await createBusiness(t.url, 'console-bank');
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: DEMO_BRAND }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  await sender.connect();
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
});

async function customer(id: string, phone: string): Promise<{ device: Device; log: EventLog }> {
  const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue(id, 'customer', { phone }), store: new MemoryKeyStore(), keyPackageBatch: 3, ...nodeRuntime });
  const log = new EventLog(device);
  await device.connect();
  const hello = await sender.send(id, 'Welcome.', { class: 'notice' });
  await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
  return { device, log };
}

async function finished(messageId: string): Promise<void> {
  await expect.poll(async () => (await sender.route(messageId)).state, { timeout: 20_000, interval: 50 }).not.toBe('active');
}

describe('console delivery view', () => {
  it('counts paths, fallbacks, time to delivered and provider errors of real routes', async () => {
    const windowStart = Date.now();
    const before = await deliveryView(t.server.db, { hours: 1, policyFor });
    // The welcome messages of the two customers below are delivered in the app too (class notice).
    const inApp = await customer('c-app', '+15550300001');
    const viaSms = await customer('c-sms', '+15550300002');

    // 1. Delivered in the app: the policy's first step.
    const first = await sender.send('c-app', 'code 1', { class: 'otp' });
    await finished(first.messageId);

    // 2. The customer is offline; the push fails (the app was uninstalled), the SMS link delivers.
    await viaSms.device.disconnect();
    const token = providers.newPushToken('fcm');
    await viaSms.device.setPushToken({ provider: 'fcm', token });
    providers.fcm.unregisterToken(token);
    const second = await sender.send('c-sms', 'code 2', { class: 'otp' });
    for (let i = 0; i < 400 && providers.twilio.inbox('+15550300002').length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const link = providers.twilio.inbox('+15550300002').at(-1)!.text.match(/https?:\/\/\S+/)![0];
    expect(await viaSms.device.openRetrievalLink(link)).toBe(1);
    await finished(second.messageId);

    // 3. A customer without the app, a class whose policy blocks the fallback.
    const blocked = await sender.sendToWeb('no-app', '+15550300003', 'notice', { class: 'notice', deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    expect(blocked.state).toBe('blocked');

    const view = await deliveryView(t.server.db, { hours: 1, policyFor });
    const count = (v: typeof view, cls: string) => v.byClass.find((c) => c.class === cls);
    expect(count(before, 'otp')).toBeUndefined();
    expect(count(view, 'otp')).toEqual({ class: 'otp', total: 2, byPath: { app: 1, 'sms-token-app': 1 } });
    // Earlier notices: the two welcomes (app) and the blocked one.
    expect(count(view, 'notice')).toEqual({ class: 'notice', total: 3, byPath: { app: 2, blocked: 1 } });
    expect(view.buckets.reduce((n, b) => n + Object.values(b.byPath).reduce((a, x) => a + x, 0), 0)).toBe(5);
    expect(view.buckets.length).toBeGreaterThanOrEqual(2);
    // Four delivered (three in the app, one by the SMS link): one fallback.
    expect(view.fallbackRate).toBe(1 / 4);
    expect(view.timeToDelivered.count).toBe(4);
    const slowMs = (await t.server.db.query<{ ms: number }>(`SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM routes WHERE message_id = $1`, [second.messageId]))[0]!.ms;
    expect(Number(slowMs)).toBeGreaterThan(APP_MS);
    expect(view.timeToDelivered.p99Ms).toBe(Math.round(Number(slowMs)));
    expect(view.timeToDelivered.p50Ms!).toBeLessThan(view.timeToDelivered.p99Ms!);
    expect(view.providerErrors).toEqual([{ channel: 'fcm', reason: 'unregistered', count: 1 }]);
    expect(new Date(view.from).getTime()).toBeLessThanOrEqual(windowStart);

    // The route list, newest first, and one route's decisions and hand-offs.
    const { routes } = await listRoutes(t.server.db, 3);
    expect(routes.map((r) => r.messageId)).toEqual([blocked.messageId, second.messageId, first.messageId]);
    expect(routes[1]).toMatchObject({ businessId: 'console-bank', class: 'otp', mode: 'app', state: 'delivered', path: 'sms-token-app' });
    expect(Date.parse(routes[1]!.updatedAt)).toBeGreaterThan(Date.parse(routes[1]!.createdAt));
    const detail = await routeDetail(t.server.db, second.messageId, policyFor);
    expect(detail.route.messageId).toBe(second.messageId);
    expect(detail.sends.map((s) => [s.step, s.channel, s.status])).toEqual([
      ['push', 'fcm', 'failed'],
      ['sms-token', 'twilio', expect.any(String)],
    ]);
    expect(detail.events.at(-1)).toMatchObject({ decision: 'delivered' });
    expect(detail.events.some((e) => e.channel === 'fcm' && e.decision === 'failed')).toBe(true);
    await expect(routeDetail(t.server.db, 'no-such-message-id-000', policyFor)).rejects.toMatchObject({ code: 'route_not_found', status: 404 });
    await Promise.all([inApp.device.close(), viaSms.device.close()]);
  }, 90_000);
});
