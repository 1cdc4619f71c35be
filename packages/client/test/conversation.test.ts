import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore, Device } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { EventLog, createBusiness, enroll, enrollApproved, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'example-bank');
});
afterAll(async () => t?.stop());

describe('business to customer messaging', () => {
  it('delivers an alert to every device of the customer, authenticated, once', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'alice', 'customer', new MemoryKeyStore(), 'phone');
    const tablet = await enrollApproved(t.url, bank, 'alice', phone, new MemoryKeyStore(), 'tablet');
    const phoneLog = new EventLog(phone);
    const tabletLog = new EventLog(tablet);
    await Promise.all([sender.connect(), phone.connect(), tablet.connect()]);

    const sent = await sender.send('alice', 'Payment of EUR 120.00 to ACME approved', { class: 'alert', idempotencyKey: 'alert-1' });
    expect(sent.recipients).toBe(2);
    expect([...sent.customerDevices].sort()).toEqual([phone.deviceId, tablet.deviceId].sort());
    const [p, tb] = await Promise.all([
      phoneLog.waitFor((e) => e.type === 'message'),
      tabletLog.waitFor((e) => e.type === 'message'),
    ]);
    for (const m of [p, tb]) {
      if (m.type !== 'message') throw new Error('unreachable');
      expect(m.text).toBe('Payment of EUR 120.00 to ACME approved');
      expect(m.class).toBe('alert');
      expect(m.sender.identityId).toBe('example-bank:sender');
      expect(m.sender.deviceId).toBe(sender.device.deviceId);
    }

    // retry with the same idempotency key: the server says duplicate, nothing new arrives
    const again = await sender.send('alice', 'Payment of EUR 120.00 to ACME approved', { class: 'alert', idempotencyKey: 'alert-1' });
    expect(again.duplicate).toBe(true);
    const otp = await sender.send('alice', 'Your code is 493021', { class: 'otp' });
    await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === otp.messageId);
    await tabletLog.waitFor((e) => e.type === 'message' && e.messageId === otp.messageId);
    expect(phoneLog.messages().map((m) => m.text)).toEqual(['Payment of EUR 120.00 to ACME approved', 'Your code is 493021']);

    // the customer replies; the bank receives it
    const senderLog = new EventLog(sender.device);
    const reply = await phone.send(sent.conversationId, 'thanks!', { class: 'support' });
    const got = await senderLog.waitFor((e) => e.type === 'message' && e.messageId === reply.messageId);
    if (got.type === 'message') expect(got.sender.deviceId).toBe(phone.deviceId);
    await tabletLog.waitFor((e) => e.type === 'message' && e.messageId === reply.messageId);

    await Promise.all([sender.close(), phone.close(), tablet.close()]);
  });

  it("includes a customer's newly enrolled device from the next send on", async () => {
    const b = await createBusiness(t.url, 'bank-two');
    const sender = await enrollSender(t.url, b);
    const phone = await enroll(t.url, b, 'carol', 'customer');
    await Promise.all([sender.connect(), phone.connect()]);
    const first = await sender.send('carol', 'before the tablet', { class: 'alert' });
    expect(first.customerDevices).toEqual([phone.deviceId]);
    const tablet = await enrollApproved(t.url, b, 'carol', phone);
    const tabletLog = new EventLog(tablet);
    await tablet.connect();
    const second = await sender.send('carol', 'after the tablet', { class: 'alert' });
    expect([...second.customerDevices].sort()).toEqual([phone.deviceId, tablet.deviceId].sort());
    expect(second.conversationId).toBe(first.conversationId);
    await tabletLog.waitFor((e) => e.type === 'message' && e.messageId === second.messageId);
    expect(tabletLog.messages().map((m) => m.text)).toEqual(['after the tablet']);
    await Promise.all([sender.close(), phone.close(), tablet.close()]);
  });

  it('a device restarted from its store reads what it missed', async () => {
    const b = await createBusiness(t.url, 'bank-three');
    const sender = await enrollSender(t.url, b);
    const store = new MemoryKeyStore();
    const phone = await enroll(t.url, b, 'bob', 'customer', store);
    await Promise.all([sender.connect(), phone.connect()]);
    const log1 = new EventLog(phone);
    const first = await sender.send('bob', 'one', { class: 'alert' });
    await log1.waitFor((e) => e.type === 'message' && e.messageId === first.messageId);
    await phone.close();

    const missed: { messageId: string }[] = [];
    for (const text of ['two', 'three', 'four']) missed.push(await sender.send('bob', text, { class: 'alert' }));

    const restarted = await Device.open({ store, ...nodeRuntime });
    const log2 = new EventLog(restarted);
    await restarted.connect();
    await log2.waitFor((e) => e.type === 'message' && e.messageId === missed[2]!.messageId);
    expect(log2.messages().map((m) => m.text)).toEqual(['two', 'three', 'four']);
    await Promise.all([sender.close(), restarted.close()]);
  });
});

describe('sessions', () => {
  it('reconnects with a fresh session when the WebSocket session expires, without losing mail', async () => {
    const short = await startTestServer({ auth: { sessionTtlSeconds: 2 } });
    try {
      const b = await createBusiness(short.url, 'short-bank');
      const sender = await enrollSender(short.url, b);
      const phone = await enroll(short.url, b, 'dora', 'customer');
      const log = new EventLog(phone);
      await Promise.all([sender.connect(), phone.connect()]);
      const before = await sender.send('dora', 'before expiry', { class: 'alert' });
      await log.waitFor((e) => e.type === 'message' && e.messageId === before.messageId);
      await log.waitFor((e) => e.type === 'connection' && !e.online, 10_000);
      const after = await sender.send('dora', 'after expiry', { class: 'alert' });
      await log.waitFor((e) => e.type === 'message' && e.messageId === after.messageId, 15_000);
      expect(log.events.filter((e) => e.type === 'connection' && e.online).length).toBeGreaterThanOrEqual(2);
      await Promise.all([sender.close(), phone.close()]);
    } finally {
      await short.stop();
    }
  });
});
