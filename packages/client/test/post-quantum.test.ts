/**
 * Post-quantum conversations (docs/post-quantum.md), end to end on a real server: suites stated
 * in the key log and negotiated per device, a class that requires X-Wing with an old device,
 * the upgrade of a live classic conversation after an app update, and a server that withholds
 * a device's X-Wing KeyPackages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '@parley/core';
import { CLASSIC_SUITE, XWING_SUITE, createKeyPackage, generateSignatureKeyPair, loadSuite } from '@parley/core/mls';
import { nodeCryptoProvider } from '@parley/core/mls/node';
import { Device, KeyPackageError, MemoryKeyStore, SuiteError, type KeyStore } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { sendMessage, type SendContext } from '../src/send-message.js';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'pq-bank');
});
afterAll(async () => t?.stop());

/** A device of an app version without X-Wing: it runs and states the classic suite only. */
async function enrollOld(subject: string, store: KeyStore = new MemoryKeyStore(), approver?: Device): Promise<Device> {
  const device = await Device.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(subject, 'customer'),
    store,
    keyPackageBatch: 5,
    recoveryDelayMs: 500,
    suites: [CLASSIC_SUITE],
    ...nodeRuntime,
  });
  if (approver) {
    await approver.keys.approveDevice(device.keys.approvalRequest().qr);
  }
  return device;
}

describe('post-quantum conversations', () => {
  it('uses X-Wing when every device supports it, and says so on every message', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-alice', 'customer');
    expect(phone.suites).toEqual([CLASSIC_SUITE, XWING_SUITE]);
    const log = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const sent = await sender.send('pq-alice', 'Your statement is ready', { class: 'statement' });
    expect(sent.suite).toBe(XWING_SUITE);
    const got = await log.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    if (got.type !== 'message') throw new Error('unreachable');
    expect(got.suite).toBe(XWING_SUITE);
    expect(got.text).toBe('Your statement is ready');
    expect(phone.listConversations().find((c) => c.conversationId === sent.conversationId)?.suite).toBe(XWING_SUITE);
    // The suites come from the verified key log, signed by the device: the sender's view of the phone.
    const [seen] = await sender.device.activeDevices([phone.identityId]);
    expect(seen?.suites).toEqual([CLASSIC_SUITE, XWING_SUITE]);
    await Promise.all([sender.close(), phone.close()]);
  });

  it('falls back to the classic suite for a customer with an old device when X-Wing is only preferred', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-bob', 'customer');
    const old = await enrollOld('pq-bob', new MemoryKeyStore(), phone);
    const oldLog = new EventLog(old);
    await Promise.all([sender.connect(), phone.connect(), old.connect()]);
    const sent = await sender.send('pq-bob', 'Your card was charged EUR 12.00', { class: 'alert' });
    expect(sent.suite).toBe(CLASSIC_SUITE);
    expect([...sent.customerDevices].sort()).toEqual([phone.deviceId, old.deviceId].sort());
    const got = await oldLog.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    if (got.type === 'message') expect(got.suite).toBe(CLASSIC_SUITE);
    await Promise.all([sender.close(), phone.close(), old.close()]);
  });

  it('a class that requires X-Wing reaches the X-Wing devices only; an old device is blocked or invited, never downgraded', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-carol', 'customer');
    const old = await enrollOld('pq-carol', new MemoryKeyStore(), phone);
    const phoneLog = new EventLog(phone);
    const oldLog = new EventLog(old);
    await Promise.all([sender.connect(), phone.connect(), old.connect()]);
    sender.setPostQuantumPolicy({ statement: { pq: 'required' }, contract: { pq: 'required', otherwise: 'invite-to-app' } });

    const statement = await sender.send('pq-carol', 'Statement: IBAN DE89 3704 0044 0532 0130 00', { class: 'statement' });
    expect(statement).toMatchObject({ suite: XWING_SUITE, customerDevices: [phone.deviceId], withheldFrom: [old.deviceId] });
    expect(statement.invitedToUpdate).toBeUndefined();
    const got = await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === statement.messageId);
    if (got.type === 'message') expect(got.suite).toBe(XWING_SUITE);

    const contract = await sender.send('pq-carol', 'Your contract: secret terms', { class: 'contract' });
    expect(contract).toMatchObject({ suite: XWING_SUITE, customerDevices: [phone.deviceId], withheldFrom: [old.deviceId], invitedToUpdate: [old.deviceId] });
    const notice = await oldLog.waitFor((e) => e.type === 'message' && e.class === 'update-app');
    if (notice.type === 'message') expect(notice.suite).toBe(CLASSIC_SUITE);
    await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === contract.messageId);
    // The phone, which has the message, is not in the update notice's conversation.
    await new Promise((r) => setTimeout(r, 300));
    expect(phoneLog.messages().some((m) => m.class === 'update-app')).toBe(false);
    // Neither secret reached the old device.
    expect(oldLog.messages().map((m) => m.text).join()).not.toMatch(/secret|IBAN/);

    // A preferred class still reaches both, on the classic suite (the customer's conversation).
    const alert = await sender.send('pq-carol', 'Card used at ACME', { class: 'alert' });
    expect(alert).toMatchObject({ suite: CLASSIC_SUITE, withheldFrom: [] });
    expect([...alert.customerDevices].sort()).toEqual([phone.deviceId, old.deviceId].sort());
    await Promise.all([sender.close(), phone.close(), old.close()]);
  });

  it('a required class with no X-Wing device sends nothing of the message', async () => {
    const sender = await enrollSender(t.url, bank);
    const old = await enrollOld('pq-hugo');
    const oldLog = new EventLog(old);
    await Promise.all([sender.connect(), old.connect()]);
    const blocked = await sender.send('pq-hugo', 'secret statement', { class: 'statement', postQuantum: { pq: 'required' } }).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(SuiteError);
    expect(blocked).toMatchObject({ code: 'post_quantum_unavailable', details: { devices: [old.deviceId] } });
    const invited = await sender.send('pq-hugo', 'secret contract', { class: 'contract', postQuantum: { pq: 'required', otherwise: 'invite-to-app' } }).catch((e: unknown) => e);
    expect(invited).toMatchObject({ code: 'post_quantum_unavailable', details: { devices: [old.deviceId], invited: true } });
    await oldLog.waitFor((e) => e.type === 'message' && e.class === 'update-app');
    await new Promise((r) => setTimeout(r, 300));
    expect(oldLog.messages().map((m) => m.text).join()).not.toContain('secret');
    await Promise.all([sender.close(), old.close()]);
  });

  it('moves back to the classic suite, visibly, when a device without X-Wing joins a preferred conversation', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-ivy', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const first = await sender.send('pq-ivy', 'first', { class: 'alert' });
    expect(first.suite).toBe(XWING_SUITE);
    const old = await enrollOld('pq-ivy', new MemoryKeyStore(), phone);
    const oldLog = new EventLog(old);
    await old.connect();
    const second = await sender.send('pq-ivy', 'second', { class: 'alert' });
    expect(second.suite).toBe(CLASSIC_SUITE);
    expect([...second.customerDevices].sort()).toEqual([phone.deviceId, old.deviceId].sort());
    await oldLog.waitFor((e) => e.type === 'message' && e.messageId === second.messageId);
    const moved = await phoneLog.waitFor((e) => e.type === 'conversation-upgraded');
    expect(moved).toMatchObject({ from: first.conversationId, to: second.conversationId, suite: CLASSIC_SUITE });
    await Promise.all([sender.close(), phone.close(), old.close()]);
  });

  it('moves a live classic conversation to X-Wing after the app update, losing nothing in flight', async () => {
    const sender = await enrollSender(t.url, bank);
    const store = new MemoryKeyStore();
    let phone = await enrollOld('pq-dave', store);
    const oldAppLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const first = await sender.send('pq-dave', 'before the update', { class: 'alert' });
    expect(first.suite).toBe(CLASSIC_SUITE);
    await oldAppLog.waitFor((e) => e.type === 'message' && e.messageId === first.messageId);
    await phone.close();

    // Sent while the phone is offline, in the classic group: in flight across the upgrade.
    const inFlight = await sender.send('pq-dave', 'in flight', { class: 'alert' });
    // The app update: the same store opened by a version with X-Wing states it in the key log.
    phone = await Device.open({ store, recoveryDelayMs: 500, keyPackageBatch: 5, ...nodeRuntime });
    const log = new EventLog(phone);
    await phone.connect();
    await log.waitFor((e) => e.type === 'suites-stated');
    expect(phone.suites).toEqual([CLASSIC_SUITE, XWING_SUITE]);
    expect(await phone.keys.checkOwnKeys()).toEqual([]);

    const after = await sender.send('pq-dave', 'after the update', { class: 'alert' });
    expect(after.suite).toBe(XWING_SUITE);
    expect(after.conversationId).not.toBe(first.conversationId);
    const upgraded = await log.waitFor((e) => e.type === 'conversation-upgraded');
    expect(upgraded).toMatchObject({ from: first.conversationId, to: after.conversationId, suite: XWING_SUITE });
    const got = await log.waitFor((e) => e.type === 'message' && e.messageId === after.messageId);
    if (got.type === 'message') expect(got.suite).toBe(XWING_SUITE);
    const old = await log.waitFor((e) => e.type === 'message' && e.messageId === inFlight.messageId);
    if (old.type === 'message') expect(old.suite).toBe(CLASSIC_SUITE);
    // A reply in the old group still reaches the bank.
    const senderLog = new EventLog(sender.device);
    const reply = await phone.send(first.conversationId, 'thanks', { class: 'support' });
    await senderLog.waitFor((e) => e.type === 'message' && e.messageId === reply.messageId);
    await Promise.all([sender.close(), phone.close()]);
  });

  it('detects a server that withholds a device’s X-Wing KeyPackages', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-erin', 'customer');
    // The server "forgets" the phone's X-Wing KeyPackages, last resort included, to force classic.
    await t.server.db.query('DELETE FROM key_packages WHERE device_id = $1 AND suite = $2', [phone.deviceId, XWING_SUITE]);
    await sender.connect();
    const refused = await sender.send('pq-erin', 'hello', { class: 'alert' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KeyPackageError);
    expect(refused).toMatchObject({ code: 'key_package_withheld', details: { deviceId: phone.deviceId } });
    await Promise.all([sender.close(), phone.close()]);
  });

  it('refuses a KeyPackage of a suite the device never stated, and an unknown suite', async () => {
    const phone = await enrollOld('pq-frank');
    // An X-Wing KeyPackage for a device that never stated X-Wing would let it be put in X-Wing groups it never agreed to.
    const xwing = await loadSuite(XWING_SUITE, nodeCryptoProvider);
    const kp = await createKeyPackage(xwing, { identityId: phone.identityId, deviceId: phone.deviceId }, await generateSignatureKeyPair(xwing));
    await expect(phone.api.uploadKeyPackages({ keyPackages: [toBase64(kp.keyPackage)] })).rejects.toMatchObject({ status: 400, code: 'unsupported_suite' });
    await expect(phone.api.claimKeyPackages([phone.deviceId], 'NOT_A_SUITE')).rejects.toMatchObject({ status: 400, code: 'unsupported_suite' });
    await expect(phone.api.keyPackageStock('NOT_A_SUITE')).rejects.toMatchObject({ status: 400, code: 'unsupported_suite' });
    await phone.close();
  });
});

describe('successor notices', () => {
  it('a member cannot point the others at a group it is not in: no conversation-upgraded, an undecryptable event', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'pq-liam', 'customer');
    const senderLog = new EventLog(sender.device);
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const sent = await sender.send('pq-liam', 'hello', { class: 'alert' });
    await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    // The customer's device sends a forged notice (the SDK's own send path, as a modified app would).
    const { sending } = (phone as unknown as { parts: { sending: SendContext } }).parts;
    await sendMessage(sending, sent.conversationId, '', { class: 'conversation-upgrade', successor: { conversationId: 'A'.repeat(43), suite: XWING_SUITE } });
    const refused = await senderLog.waitFor((e) => e.type === 'undecryptable');
    expect(refused).toMatchObject({ reason: 'invalid-content', code: 'successor_unverified' });
    expect(senderLog.events.some((e) => e.type === 'conversation-upgraded')).toBe(false);
    await Promise.all([sender.close(), phone.close()]);
  });
});

describe('the device checks its own suites in the log', () => {
  it('raises this-device-suites-not-logged when the log shows other suites than it signed', async () => {
    const store = new MemoryKeyStore();
    const old = await enrollOld('pq-jack', store);
    expect(await old.keys.checkOwnKeys()).toEqual([]);
    await old.close();
    // The device believes it stated X-Wing (its record says so), but the log has no such statement:
    // what a server that dropped or replayed an older statement would show.
    const record = JSON.parse(new TextDecoder().decode((await store.get('device'))!)) as { suites: string[]; suitesSeq: number };
    await store.write([{ op: 'put', name: 'device', value: new TextEncoder().encode(JSON.stringify({ ...record, suites: [CLASSIC_SUITE, XWING_SUITE], suitesSeq: 1 })) }]);
    const reopened = await Device.open({ store, suites: [CLASSIC_SUITE], ...nodeRuntime });
    expect(await reopened.keys.checkOwnKeys()).toContainEqual(expect.objectContaining({ deviceId: reopened.deviceId, change: 'this-device-suites-not-logged' }));
    await reopened.close();
  });
});

describe('stating suites after a crash', () => {
  it('states them again after the statement the server logged when the record missed it', async () => {
    const store = new MemoryKeyStore();
    const old = await enrollOld('pq-kate', store);
    const before = JSON.parse(new TextDecoder().decode((await store.get('device'))!)) as Record<string, unknown>;
    await old.close();
    const updated = await Device.open({ store, ...nodeRuntime });
    const log = new EventLog(updated);
    await updated.connect();
    await log.waitFor((e) => e.type === 'suites-stated');
    await updated.close();
    // The crash: the server logged the statement (seq 1), the record was not written.
    await store.write([{ op: 'put', name: 'device', value: new TextEncoder().encode(JSON.stringify(before)) }]);
    const again = await Device.open({ store, ...nodeRuntime });
    const againLog = new EventLog(again);
    await again.connect();
    const stated = await againLog.waitFor((e) => e.type === 'suites-stated');
    expect(stated).toMatchObject({ suites: [CLASSIC_SUITE, XWING_SUITE] });
    expect(again.suites).toEqual([CLASSIC_SUITE, XWING_SUITE]);
    expect(JSON.parse(new TextDecoder().decode((await store.get('device'))!))).toMatchObject({ suitesSeq: 2 });
    expect(await again.keys.checkOwnKeys()).toEqual([]);
    await again.close();
  });
});

describe('device registration with suites', () => {
  it('keeps one KeyPackage stock per suite', async () => {
    const phone = await enroll(t.url, bank, 'pq-gina', 'customer');
    const classic = await phone.api.keyPackageStock();
    const xwing = await phone.api.keyPackageStock(XWING_SUITE);
    expect(classic).toMatchObject({ suite: CLASSIC_SUITE, lastResort: true });
    expect(xwing).toMatchObject({ suite: XWING_SUITE, lastResort: true });
    expect(xwing.oneTime).toBe(classic.oneTime);
    await phone.close();
  });
});
