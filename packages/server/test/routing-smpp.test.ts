/**
 * The SMS step over SMPP 3.4 instead of Twilio's REST API: a real SMPP server on loopback
 * (the emulator, speaking the `smpp` package's wire protocol), bind_transceiver, submit_sm
 * with the link, deliver_sm receipts that update the send's status; and the app opening
 * the link. The SMS carries only the brand and the link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../cli/src/demo/providers.js';
import { createBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const MARKER = 'PLAINTEXT-MARKER-7d1c0e';
let t: TestServer;
let providers: LocalProviders;
let bank: Business;
let sender: Sender;

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, sms: 'smpp', timeoutMs: 2000 });
  t = await startTestServer({
    port,
    routing: {
      channels: providers.channels,
      tickMs: 50,
      defaultBusiness: { brand: DEMO_BRAND, policies: { otp: { chain: [{ step: 'app', timeoutMs: 300 }, { step: 'sms-token', timeoutMs: 10_000 }], otherwise: 'block' } } },
    },
  });
  bank = await createBusiness(t.url, 'smpp-bank');
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: DEMO_BRAND }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  await sender.connect();
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
});

describe('routing over SMPP', () => {
  it('sends the link by submit_sm, records the deliver_sm receipt, and the app redeems the link', async () => {
    const phone = '+15550401001';
    const device = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('c-1', 'customer', { phone }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const log = new EventLog(device);
    await device.connect();
    const hello = await sender.send('c-1', 'Welcome.', { class: 'support' });
    await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
    await device.disconnect();

    const sent = await sender.send('c-1', `Your code is 909090 ${MARKER}`, { class: 'otp' });
    await expect.poll(() => providers.smpp!.inbox(phone).length, { timeout: 10_000 }).toBe(1);
    const sms = providers.smpp!.inbox(phone)[0]!.text;
    expect(sms).not.toContain(MARKER);
    expect(sms).not.toContain('909090');
    expect(sms.startsWith(`${DEMO_BRAND}:`)).toBe(true);
    // The SMSC's delivery receipt (deliver_sm) reaches the send's record.
    await expect
      .poll(async () => (await t.server.db.query<{ status: string }>(`SELECT status FROM channel_sends WHERE message_id = $1 AND channel = 'smpp'`, [sent.messageId]))[0]?.status, { timeout: 10_000 })
      .toBe('delivered');
    expect(await device.openRetrievalLink(sms.match(/https?:\/\/\S+/)![0])).toBe(1);
    await expect.poll(async () => (await sender.route(sent.messageId)).path).toBe('sms-token-app');
    expect(log.messages().filter((m) => m.messageId === sent.messageId)).toHaveLength(1);
    expect(providers.smpp!.recorder.contains(MARKER)).toBe(false);
    await device.close();
  });
});
