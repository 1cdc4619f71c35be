/**
 * The console's read views through HTTP, as the page calls them: a viewer logged in with the
 * session cookie reads delivery, routes, verification, decrypt failures and logs built from
 * real traffic (an SDK Sender, a customer's device, a diagnostics report); without a session
 * every view is 401; bad query parameters are 400; an unknown route is 404 `route_not_found`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Device, Sender } from '@parley/client';
import { createBusiness, enroll, enrollSender, EventLog } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { ConsoleClient, bootstrapAdmin, raw } from './auth-client.js';

const PASSWORD = 'a viewer password of some length';
const VIEWS = ['delivery', 'routes', 'routes/no-such-message-id-0000', 'verification', 'decrypt-failures', 'logs'];
let t: TestServer;
let viewer: ConsoleClient;
let sender: Sender;
let phone: Device;
let messageId: string;

beforeAll(async () => {
  t = await startTestServer();
  const admin = await bootstrapAdmin(t.url, 'root', 'the admin password, long enough');
  expect((await admin.call('POST', 'operators', { name: 'watcher', password: PASSWORD, role: 'viewer' })).status).toBe(201);
  viewer = new ConsoleClient(t.url);
  expect((await viewer.login('watcher', PASSWORD)).status).toBe(200);

  const bank = await createBusiness(t.url, 'read-http-bank');
  sender = await enrollSender(t.url, bank);
  phone = await enroll(t.url, bank, 'c-http', 'customer');
  const log = new EventLog(phone);
  await Promise.all([sender.connect(), phone.connect()]);
  const sent = await sender.send('c-http', 'Your statement is ready.', { class: 'statement' });
  messageId = sent.messageId;
  await log.waitFor((e) => e.type === 'message' && e.messageId === messageId);
  for (let i = 0; i < 400 && (await sender.route(messageId)).state !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 50));
}, 120_000);
afterAll(async () => {
  await Promise.all([sender?.close(), phone?.close()]);
  await t?.stop();
});

describe('console read views over HTTP', () => {
  it('needs a console session', async () => {
    for (const view of VIEWS) {
      const res = await raw(t.url, `/console/api/${view}`);
      expect([view, res.status, res.body.code]).toEqual([view, 401, 'console_session_required']);
    }
  });

  it('delivery, routes and one route', async () => {
    const delivery = await viewer.call('GET', 'delivery?hours=2');
    expect(delivery.status).toBe(200);
    expect(delivery.body.byClass).toEqual([{ class: 'statement', total: 1, byPath: { app: 1 } }]);
    expect(delivery.body).toMatchObject({ fallbackRate: 0, timeToDelivered: { count: 1 }, providerErrors: [] });
    expect(delivery.body.buckets.length).toBeGreaterThanOrEqual(2);
    expect(Date.parse(delivery.body.to) - Date.parse(delivery.body.from)).toBe(2 * 3_600_000);

    const routes = await viewer.call('GET', 'routes?limit=5');
    expect(routes.body.routes).toEqual([
      { messageId, businessId: 'read-http-bank', class: 'statement', mode: 'app', state: 'delivered', path: 'app', createdAt: expect.any(String), updatedAt: expect.any(String) },
    ]);
    const one = await viewer.call('GET', `routes/${messageId}`);
    expect(one.status).toBe(200);
    expect(one.body.route.messageId).toBe(messageId);
    expect(one.body.events.at(-1)).toMatchObject({ step: 'app', decision: 'delivered' });
    expect(one.body.sends).toEqual([]);
    const missing = await viewer.call('GET', 'routes/no-such-message-id-0000');
    expect([missing.status, missing.body.code]).toEqual([404, 'route_not_found']);
  });

  it('verification, decrypt failures and logs', async () => {
    const verification = await viewer.call('GET', 'verification');
    expect(verification.body).toMatchObject({ customers: { total: 1, verified: 0 }, byMethod: { qr: 0, numeric: 0 }, pendingDevices: [] });
    expect(verification.body.keyChanges.map((c: { kind: string }) => c.kind)).toEqual(['device-added', 'device-added']);

    // The SDK reports with its own session (device-side counterpart, packages/client/test/diagnostics.test.ts).
    const report = await phone.api.send('POST', '/v1/diagnostics', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sdkVersion: '0.1.0', platform: 'node', decryptFailures: [{ reason: 'missed-epoch', count: 3 }] }) }, true);
    expect(report.status).toBe(202);
    const failures = await viewer.call('GET', 'decrypt-failures?hours=24');
    expect(failures.body).toMatchObject({ total: 3, byReason: [{ reason: 'missed-epoch', count: 3 }], byVersion: [{ sdkVersion: '0.1.0', platform: 'node', count: 3 }] });
    expect(failures.body.buckets).toHaveLength(25);

    const logs = await viewer.call('GET', 'logs');
    expect(logs.body.logs.map((l: { name: string }) => l.name)).toEqual(['keys', 'audit']);
    expect(logs.body.monitor).toMatchObject({ ok: true, problems: [] });
  });

  it('refuses bad query parameters with 400', async () => {
    for (const path of ['delivery?hours=0', 'delivery?hours=abc', 'decrypt-failures?hours=-1', 'routes?limit=0', 'routes?limit=10&x=1']) {
      const res = await viewer.call('GET', path);
      expect([path, res.status, res.body.code]).toEqual([path, 400, 'invalid_request']);
    }
  });
});
