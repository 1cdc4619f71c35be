/**
 * Automatic and incremental backups on a real server (issue 14): a full backup when automatic
 * backups are turned on, then increments holding only the new messages when due (device clock);
 * a new phone restores the whole chain; a chain the server bent (an increment pointed at another
 * base) or a wrong key is refused before anything is written; a base the server dropped makes
 * the next backup a full one; restoring a chain does not eat the fetch-attempt budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, generateRecoveryKey, issueEnrollmentToken, type DeviceEvent, type Sender } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { EventLog, createBusiness, enrollApproved, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let sender: Sender;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'incr-bank');
  sender = await enrollSender(t.url, bank);
  await sender.connect();
}, 60_000);
afterAll(async () => {
  await sender?.close();
  await t?.stop();
});

async function phoneFor(subject: string, clock: { now: number }, reset = false): Promise<Device> {
  const enrollmentToken = await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject, kind: 'customer', ...(reset ? { reset: true } : {}) });
  return Device.enroll({ serverUrl: t.url, enrollmentToken, store: new MemoryKeyStore(), keyPackageBatch: 3, now: () => new Date(clock.now), ...nodeRuntime });
}

async function receive(log: EventLog, subject: string, texts: string[]): Promise<string> {
  let conversationId = '';
  for (const text of texts) {
    const sent = await sender.send(subject, text, { class: 'alert' });
    conversationId = sent.conversationId;
    await log.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === sent.messageId);
  }
  return conversationId;
}

const texts = (history: unknown[]) => history.map((m) => (m as { text: string }).text);

describe('automatic, incremental backups', () => {
  it('a full backup, then increments of new messages only; a new phone restores the chain', async () => {
    const clock = { now: Date.now() };
    const phone = await phoneFor('inc-1', clock);
    const log = new EventLog(phone);
    await phone.connect();
    // Let the maintenance run that follows a connection (about 1 s later) pass first: afterwards this
    // test moves the device clock and decides itself when a due backup runs.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const conversationId = await receive(log, 'inc-1', ['m1: statement ready', 'm2: card charged', 'm3: new login']);
    const recoveryKey = generateRecoveryKey();

    const first = await phone.backups.enableAutomatic({ recoveryKey }, { intervalMs: 60_000 });
    expect(first).toMatchObject({ incremental: false, messages: 3 });
    expect(await phone.backups.runDue()).toBeUndefined();

    await receive(log, 'inc-1', ['m4: payment due', 'm5: limit raised']);
    clock.now += 61_000;
    const second = await phone.backups.runDue();
    expect(second).toMatchObject({ incremental: true, messages: 2, version: first.version + 1 });
    await receive(log, 'inc-1', ['m6: transfer received']);
    clock.now += 61_000;
    // The device's maintenance runs the due backup (as it does on its timer while connected).
    await phone.maintain();
    const third = log.events.filter((e): e is Extract<DeviceEvent, { type: 'backup-stored' }> => e.type === 'backup-stored').at(-1);
    expect(third).toMatchObject({ automatic: true, incremental: true, messages: 1 });
    expect(log.events.filter((e) => e.type === 'backup-stored')).toHaveLength(3);
    const listed = await phone.backups.list();
    expect(listed.map((b) => [b.version, b.base])).toEqual([
      [third!.version, second!.version],
      [second!.version, first.version],
      [first.version, undefined],
    ]);
    // The increment is smaller than the full backup: it holds one message, not six.
    expect(listed[0]!.size).toBeLessThan(listed[2]!.size);
    await phone.close();

    // The phone is lost; the bank resets the customer; the new phone restores all of it.
    const newPhone = await phoneFor('inc-1', clock, true);
    const before = await newPhone.backups.restore({ recoveryKey: generateRecoveryKey() }).catch((e: unknown) => e);
    expect(before).toMatchObject({ code: 'backup_wrong_key' });
    expect(await newPhone.history(conversationId)).toEqual([]);
    for (let i = 0; i < 5; i++) {
      // Each restore fetches three versions: with the right key they do not use up the attempt budget.
      const summary = await newPhone.backups.restore({ recoveryKey });
      expect(summary.messages).toBe(6);
    }
    // (The device clock stands still between messages here, so their order within a second is not asserted.)
    expect(texts(await newPhone.history(conversationId)).sort()).toEqual(['m1: statement ready', 'm2: card charged', 'm3: new login', 'm4: payment due', 'm5: limit raised', 'm6: transfer received']);
    await newPhone.close();
  });

  it('refuses a chain the server bent, writing nothing; falls back to a full backup when the base is gone', async () => {
    const clock = { now: Date.now() };
    const phone = await phoneFor('inc-2', clock);
    const log = new EventLog(phone);
    await phone.connect();
    const conversationId = await receive(log, 'inc-2', ['a1', 'a2']);
    const recoveryKey = generateRecoveryKey();
    const v1 = await phone.backups.upload({ recoveryKey });
    await receive(log, 'inc-2', ['a3']);
    const v2 = await phone.backups.upload({ recoveryKey }, { incremental: true });
    expect(v2).toMatchObject({ incremental: true, messages: 1 });
    // A second full backup, then an increment on it; the server re-points that increment at v1.
    const v3 = await phone.backups.upload({ recoveryKey });
    await receive(log, 'inc-2', ['a4']);
    const v4 = await phone.backups.upload({ recoveryKey }, { incremental: true });
    expect(v4).toMatchObject({ incremental: true, messages: 1 });
    await t.server.db.query('UPDATE backups SET base_version = $1 WHERE identity_id = $2 AND version = $3', [v1.version, phone.identityId, v4.version]);
    // Another device of the same customer (approved by the phone) reads the identity's backups.
    const other = await enrollApproved(t.url, bank, 'inc-2', phone);
    expect(await other.backups.restore({ recoveryKey }).catch((e: unknown) => e)).toMatchObject({ code: 'backup_corrupt' });
    expect(await other.history(conversationId)).toEqual([]);
    // An older, intact version still restores.
    expect((await other.backups.restore({ recoveryKey }, v2.version)).messages).toBe(3);

    // The server no longer holds the phone's base: the next backup is full.
    await t.server.db.query('DELETE FROM backups WHERE identity_id = $1 AND version = $2', [phone.identityId, v4.version]);
    await t.server.db.query('DELETE FROM backups WHERE identity_id = $1 AND version = $2', [phone.identityId, v3.version]);
    const v5 = await phone.backups.upload({ recoveryKey }, { incremental: true });
    expect(v5).toMatchObject({ incremental: false, messages: 4 });
    // A different secret never extends a chain written under another.
    const v6 = await phone.backups.upload({ recoveryKey: generateRecoveryKey() }, { incremental: true });
    expect(v6.incremental).toBe(false);
    await phone.close();
    await other.close();
  });
});
