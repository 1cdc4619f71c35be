/**
 * One signed provider webhook is applied once: exactly one `provider-delivered` decision
 * in the route. (The webhook route used to apply each event AND the adapter emitted the
 * same event to the router's subscription, so a route showed `provider-delivered` twice.)
 * Twilio (status callback, form-encoded, X-Twilio-Signature) and RBM (Pub/Sub push,
 * X-Goog-Signature): the two adapters with webhooks. The others (SMPP deliver_sm, FCM
 * and APNs confirmations) have no webhook: their events reach the router only through
 * the adapter's listeners. Real server, real SDK devices, emulators on loopback.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { smsDeliver } from '@parley/server';
import { nodeRuntime } from '@parley/client/node';
import type { RouteViewResponse } from '@parley/core';
import { freePort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { createBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const BANK = 'hook-bank';
let t: TestServer;
let providers: LocalProviders;
let bank: Business;
let sender: Sender;

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
  providers.twilio.callbacks = 'manual'; // one callback, when the test posts it
  providers.rbm.autoDeliver = false;
  t = await startTestServer({
    port,
    routing: {
      channels: providers.channels,
      tickMs: 50,
      businesses: {
        [BANK]: {
          brand: 'Hook Bank',
          appUrl: 'https://hookbank.test/app',
          policies: {
            statement: { chain: [{ step: 'app', timeoutMs: 500 }], otherwise: 'invite-to-app' },
            rich: { chain: [{ step: 'rcs', timeoutMs: 60_000 }], otherwise: 'block' },
            hello: { chain: [{ step: 'app', timeoutMs: 600_000 }], otherwise: 'block' },
          },
        },
      },
    },
  });
  bank = await createBusiness(t.url, BANK);
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: 'Hook Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
});

const decisions = (route: RouteViewResponse, channel: string, decision: string) => route.events.filter((e) => e.channel === channel && e.decision === decision);

/** The route's events once `settleMs` passed with no new event (both old paths had time to land). */
async function settled(messageId: string, settleMs = 500): Promise<RouteViewResponse> {
  let last = await sender.route(messageId);
  for (;;) {
    await new Promise((r) => setTimeout(r, settleMs));
    const now = await sender.route(messageId);
    if (now.events.length === last.events.length) return now;
    last = now;
  }
}

describe('provider webhooks reach the router once', () => {
  it('twilio: one signed status callback → one provider-delivered decision, stored before the 200', async () => {
    const phone = '+15550501001';
    const invited = await sender.sendToWeb('no-app-hook', phone, 'Your statement is ready.', { class: 'statement', deliver: smsDeliver(providers.businessSms) });
    expect(invited).toMatchObject({ path: 'invited' });
    const [message] = providers.twilio.acceptedFor(phone);
    expect(message).toBeDefined();

    expect(await providers.twilio.deliver(message!.sid)).toBe(200);
    // The webhook answered once the status was stored.
    const [send] = await t.server.db.query<{ status: string }>(`SELECT status FROM channel_sends WHERE message_id = $1 AND channel = 'twilio'`, [invited.messageId]);
    expect(send!.status).toBe('delivered');
    const route = await settled(invited.messageId);
    expect(decisions(route, 'twilio', 'provider-delivered')).toHaveLength(1);
    expect(decisions(route, 'twilio', 'sent')).toHaveLength(1);
  });

  it('rbm: one signed DELIVERED event → one provider-delivered decision', async () => {
    const phone = '+15550501002';
    providers.setRcs(phone, 'parley');
    const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('rcs-hook', 'customer', { phone }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const log = new EventLog(device);
    try {
      await device.connect();
      const hello = await sender.send('rcs-hook', 'Welcome.', { class: 'hello' });
      await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
      await device.disconnect(); // asleep: the RCS step runs

      const sent = await sender.send('rcs-hook', 'Your card is on its way.', { class: 'rich' });
      await expect.poll(async () => decisions(await sender.route(sent.messageId), 'rbm', 'sent').length, { timeout: 10_000 }).toBe(1);
      const [send] = await t.server.db.query<{ provider_message_id: string }>(`SELECT provider_message_id FROM channel_sends WHERE message_id = $1 AND channel = 'rbm'`, [sent.messageId]);
      const before = providers.rbm.sentWebhooks().length;
      await providers.rbm.deliver(send!.provider_message_id);
      const hooks = providers.rbm.sentWebhooks().slice(before);
      expect(hooks.map((h) => [h.eventType, h.status])).toEqual([['DELIVERED', 200]]);
      const route = await settled(sent.messageId);
      expect(decisions(route, 'rbm', 'provider-delivered')).toHaveLength(1);
    } finally {
      await device.close();
    }
  });
});
