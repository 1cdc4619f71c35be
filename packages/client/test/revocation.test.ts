/**
 * The clean end of a revoked device (issue 14). The bank re-enrolls a customer who lost a phone
 * (reset): the old phone, online or offline, learns it was revoked from a notice it verifies
 * against the key log, discards its outbox with an event (the message is never sent), wipes its
 * store and refuses every further call. A server that claims a revocation the log does not show
 * (or sends a tampered notice) wipes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, DeviceRevokedError, MemoryKeyStore, type DeviceEvent, type Sender } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { EventLog, createBusiness, enroll, enrollSender, reenroll, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let sender: Sender;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'revocation-bank');
  sender = await enrollSender(t.url, bank);
  await sender.connect();
}, 60_000);
afterAll(async () => {
  await sender?.close();
  await t?.stop();
});

/** The bank re-enrolls `subject` on a new phone: every old device of the identity is revoked in the key log. */
const reset = (subject: string) => reenroll(t.url, bank, subject);

const isRevoked = (e: DeviceEvent): e is Extract<DeviceEvent, { type: 'device-revoked' }> => e.type === 'device-revoked';

describe('a revoked device', () => {
  it('online: its socket closes, it verifies the notice, wipes its store and tells the app', async () => {
    const store = new MemoryKeyStore();
    const phone = await enroll(t.url, bank, 'rv-1', 'customer', store);
    const log = new EventLog(phone);
    await phone.connect();
    const sent = await sender.send('rv-1', 'Example Bank: your card was blocked (revocation test).', { class: 'alert' });
    await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    expect((await store.list('')).length).toBeGreaterThan(5);

    const newPhone = await reset('rv-1');
    const event = await log.waitFor(isRevoked, 20_000);
    expect(event).toMatchObject({ deviceId: phone.deviceId, revokedBy: 'reset' });
    expect(event.checkpointSize).toBeGreaterThan(0);
    expect(await store.list('')).toEqual([]);
    await expect(phone.sync()).rejects.toMatchObject({ code: 'device_revoked' });
    await expect(phone.connect(2_000)).rejects.toBeInstanceOf(DeviceRevokedError);
    await phone.close();
    await newPhone.close();
  });

  it('offline: a message written while offline is discarded with an event, never sent', async () => {
    const store = new MemoryKeyStore();
    const phone = await enroll(t.url, bank, 'rv-2', 'customer', store);
    const log = new EventLog(phone);
    await phone.connect();
    const sent = await sender.send('rv-2', 'Example Bank: reply to this message (revocation test).', { class: 'support' });
    await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    await phone.disconnect();

    const newPhone = await reset('rv-2');
    const secret = 'my PIN is 4471 (must never be sent)';
    const error = await phone.send(sent.conversationId, secret).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DeviceRevokedError);
    expect(error).toMatchObject({ code: 'device_revoked' });
    const discarded = await log.waitFor((e): e is Extract<DeviceEvent, { type: 'outbox-discarded' }> => e.type === 'outbox-discarded');
    expect(discarded.messageIds).toHaveLength(1);
    await log.waitFor(isRevoked);
    expect(await store.list('')).toEqual([]);
    // Nothing from the old phone reached the conversation: the bank's side never gets it.
    const rows = await t.server.db.query<{ n: string }>('SELECT count(*)::text AS n FROM envelopes WHERE sender_device_id = $1', [phone.deviceId]);
    expect(Number(rows[0]!.n)).toBe(0);
    await phone.close();
    await newPhone.close();
  });

  it('a refusal whose notice the key log does not confirm wipes nothing', async () => {
    const store = new MemoryKeyStore();
    let forge: 'none' | 'stale' | 'tampered' = 'none';
    let staleNotice: unknown;
    const phoneFetch: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (forge !== 'none' && url.endsWith('/v1/auth/session')) {
        let notice = staleNotice as { entries: { entry: string }[] };
        if (forge === 'tampered') {
          notice = structuredClone(notice);
          const last = notice.entries[notice.entries.length - 1]!;
          last.entry = last.entry.slice(0, 8) + (last.entry[8] === 'A' ? 'B' : 'A') + last.entry.slice(9);
        }
        return new Response(JSON.stringify({ error: { code: 'device_revoked', message: 'this device was revoked', details: { notice } } }), {
          status: 401,
          headers: { 'content-type': 'application/json' },
        });
      }
      return fetch(input, init);
    };
    const phone = await enroll(t.url, bank, 'rv-3', 'customer', store);
    // A real, signed lookup of the identity — one that shows the phone active, not revoked.
    staleNotice = await phone.api.keyLookup(phone.identityId);
    await phone.close();
    const before = await store.list('');

    for (const mode of ['stale', 'tampered'] as const) {
      forge = mode;
      const opened = await Device.open({ store, fetch: phoneFetch, ...nodeRuntime });
      const error = await opened.sync().then(
        () => undefined,
        (e: unknown) => e as DeviceRevokedError,
      );
      expect(error).toMatchObject({ code: 'revocation_unverified' });
      // A stale notice verifies but shows the phone active; a tampered one does not verify at all.
      if (mode === 'stale') expect(error?.details).toBeUndefined();
      else expect(error?.details?.['reason']).toMatch(/^key_log_/);
      expect(await store.list('')).toEqual(before);
      await opened.close();
    }
    forge = 'none';
    const opened = await Device.open({ store, ...nodeRuntime });
    await opened.sync();
    await opened.close();
  });
});
