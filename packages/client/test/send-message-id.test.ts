/**
 * Caller-chosen message ids (`SendOptions.messageId`, `SenderSendOptions.messageId`): a
 * gateway names each message before sending it, so a retry after a crash is the same
 * message end to end. The id is checked on the device; a repeat (same id and idempotency
 * key, encrypted again: new ciphertext, new commitment) is dropped by the server as a
 * duplicate of (sender device, idempotency key) — the customer's device never receives it,
 * the first commitment and route stand, and `send` reports `duplicate: true` with the
 * first commitment's hash and audit-log index. Real server on loopback, real SDK devices;
 * the customer's mailbox (the envelopes the server delivers) is what is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, newMessageId, type Envelope } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import { nodeRuntime } from '@parley/client/node';
import { InvalidArgumentError, MemoryKeyStore, Sender, type Device, type DeviceEvent } from '../src/index.js';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer, serverTrust } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let trust: EvidenceTrust;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'msgid-bank');
  trust = await serverTrust(t.url);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await t?.stop();
});

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

/** The application envelopes from `senderDeviceId` waiting in `phone`'s mailbox (what the server delivers). */
async function applicationEnvelopes(phone: Device, senderDeviceId: string): Promise<Envelope[]> {
  const { envelopes } = await phone.api.mailbox(1000);
  return envelopes.filter((e) => e.kind === 'application' && e.senderDeviceId === senderDeviceId);
}

/** What the server stored under a message id: commitments, routes, envelopes of the idempotency key. */
async function stored(messageId: string, senderDeviceId: string, idempotencyKey: string) {
  const db = t.server.db;
  const commitments = await db.query<{ commitment_hash: Uint8Array }>('SELECT commitment_hash FROM audit_commitments WHERE message_id = $1', [messageId]);
  const routes = await db.query<{ envelope_id: string }>('SELECT envelope_id FROM routes WHERE message_id = $1', [messageId]);
  const envelopes = await db.query<{ id: string }>('SELECT id FROM envelopes WHERE sender_device_id = $1 AND idempotency_key = $2', [senderDeviceId, idempotencyKey]);
  return { commitments, routes: routes.map((r) => String(r.envelope_id)), envelopes: envelopes.map((e) => String(e.id)) };
}

/** A copy of a store's records as they are now (the state a crashed process left on disk). */
async function copyOf(store: MemoryKeyStore): Promise<MemoryKeyStore> {
  const copy = new MemoryKeyStore();
  const names = await store.list('');
  await copy.write(await Promise.all(names.map(async (name) => ({ op: 'put' as const, name, value: (await store.get(name))! }))));
  return copy;
}

describe('caller-chosen message ids', () => {
  it('refuses an id outside MESSAGE_ID_PATTERN on the device, before anything is sent', async () => {
    const sender = await enrollSender(t.url, bank);
    closers.push(() => sender.close());
    await enroll(t.url, bank, 'c-bad-id', 'customer').then((d) => closers.push(() => d.close()));
    for (const messageId of ['short', 'has space in it 0123', 'x'.repeat(65), 'ünïcödé-0123456789']) {
      const refused = await sender.send('c-bad-id', 'hi', { class: 'otp', messageId }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(InvalidArgumentError);
      expect(refused).toMatchObject({ code: 'invalid_argument', details: { argument: 'messageId' } });
    }
    // Nothing reached the server: no conversation was even created.
    expect(await sender.conversationWith('c-bad-id')).toBeUndefined();
  });

  it('the same id and key again after the first send completed: the customer gets one message, send says duplicate', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'c-again', 'customer');
    closers.push(() => sender.close(), () => phone.close());
    const log = new EventLog(phone);
    const M = newMessageId();
    const K = `otp-${M}`;
    const text = 'Your code is 246810';

    const first = await sender.send('c-again', text, { class: 'otp', messageId: M, idempotencyKey: K });
    expect(first).toMatchObject({ messageId: M, duplicate: false });
    // The outbox record is gone: this call encrypts again (new ciphertext, new commitment).
    const second = await sender.send('c-again', text, { class: 'otp', messageId: M, idempotencyKey: K });
    expect(second).toMatchObject({ messageId: M, duplicate: true, envelopeId: first.envelopeId, audit: first.audit });

    // The server kept the first commitment and route, and one envelope for the key.
    const s = await stored(M, sender.device.deviceId, K);
    expect(s.commitments).toHaveLength(1);
    expect(s.routes).toEqual([first.envelopeId]);
    expect(s.envelopes).toEqual([first.envelopeId]);
    // The customer's mailbox holds exactly one application envelope: the first.
    expect((await applicationEnvelopes(phone, sender.device.deviceId)).map((e) => e.id)).toEqual([first.envelopeId]);

    await phone.connect();
    await log.waitFor(isMessage(M));
    await phone.idle();
    expect(log.messages().filter((m) => m.messageId === M)).toHaveLength(1);
    expect(log.events.filter((e) => e.type === 'undecryptable')).toEqual([]);

    // The sender's local evidence of M is still the first one's: it opens the logged commitment.
    const revealed = await sender.device.exportEvidence(M, { reveal: true });
    const proof = verifyEvidenceBundle(revealed, trust, { plaintext: revealed.plaintext!, opening: fromBase64(revealed.opening!) });
    expect(proof.checks.filter((c) => !c.ok)).toEqual([]);
    // …and one history entry for it.
    const conversationId = (await sender.conversationWith('c-again'))!;
    const history = (await sender.device.history(conversationId)) as { messageId: string }[];
    expect(history.filter((h) => h.messageId === M)).toHaveLength(1);
  });

  it('a second instance opened from a copy of the store taken before the send sends it again: the server drops it', async () => {
    const store = new MemoryKeyStore();
    const sender = await enrollSender(t.url, bank, store);
    const phone = await enroll(t.url, bank, 'c-crash', 'customer');
    closers.push(() => phone.close());
    const log = new EventLog(phone);
    await phone.connect();
    const hello = await sender.send('c-crash', 'Welcome to Example Bank.', { class: 'alert' });
    await log.waitFor(isMessage(hello.messageId));
    await phone.disconnect();

    // The state "on disk" before the send: the crashed process's last durable write was lost.
    const before = await copyOf(store);
    const M = newMessageId();
    const K = `otp-${M}`;
    const first = await sender.send('c-crash', 'Your code is 135790', { class: 'otp', messageId: M, idempotencyKey: K });
    expect(first.duplicate).toBe(false);
    await sender.close();

    // The restarted process: same device, the ratchet as it was before the first send.
    // It encrypts M again with the sending generation the first ciphertext already used
    // (a reused key). The customer's device would reject that second ciphertext, so the
    // server must never deliver it: it drops the submission by (sender device, idempotency key).
    const again = await Sender.open({ store: before, ...nodeRuntime });
    closers.push(() => again.close());
    const repeat = await again.send('c-crash', 'Your code is 135790', { class: 'otp', messageId: M, idempotencyKey: K });
    expect(repeat).toMatchObject({ messageId: M, duplicate: true, envelopeId: first.envelopeId, audit: first.audit });

    const s = await stored(M, again.device.deviceId, K);
    expect(s.commitments).toHaveLength(1);
    expect(s.routes).toEqual([first.envelopeId]);
    expect(s.envelopes).toEqual([first.envelopeId]);
    expect((await applicationEnvelopes(phone, again.device.deviceId)).map((e) => e.id)).toEqual([first.envelopeId]);
    // This instance's opening does not open the logged commitment: it keeps no evidence of M.
    await expect(again.device.exportEvidence(M, { reveal: true })).rejects.toMatchObject({ code: 'not_an_audited_message' });

    await phone.connect();
    await log.waitFor(isMessage(M));
    // The restarted sender goes on from its (advanced) ratchet: the next message decrypts.
    const next = await again.send('c-crash', 'Your card was charged $12', { class: 'alert' });
    await log.waitFor(isMessage(next.messageId));
    await phone.idle();
    expect(log.messages().filter((m) => m.messageId === M)).toHaveLength(1);
    expect(log.events.filter((e) => e.type === 'undecryptable')).toEqual([]);
  });
});
