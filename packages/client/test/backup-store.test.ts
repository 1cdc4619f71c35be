/**
 * Backups on a real server: a customer's phone backs its history up under a 64-digit recovery
 * key, the phone is lost, the bank re-enrolls the customer (reset) and the new phone restores
 * the history; a wrong key is refused by the server and by the SDK; another identity sees no
 * backup; fetch attempts are limited; the server holds ciphertext only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, generateRecoveryKey, issueEnrollmentToken, listBackups, restoreBackup, uploadBackup, type BackupItem, type DeviceEvent } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { EventLog, createBusiness, enroll, enrollSender, reenroll, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'backup-bank');
}, 60_000);
afterAll(async () => t?.stop());

async function collect(items: AsyncIterable<BackupItem>): Promise<BackupItem[]> {
  const out: BackupItem[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('backups on the server', () => {
  it('a lost phone: the new one restores the history with the recovery key', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'bk-1', 'customer');
    const log = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const texts = ['Example Bank: statement ready (backup test).', 'Example Bank: card ending 7781 charged EUR 3.20.'];
    let conversationId = '';
    for (const text of texts) {
      const sent = await sender.send('bk-1', text, { class: 'alert' });
      conversationId = sent.conversationId;
      await log.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === sent.messageId);
    }
    const history = (await phone.history(conversationId)).map((m) => ({ kind: 'message', conversationId, ...(m as object) }) as BackupItem);
    expect(history).toHaveLength(2);
    const recoveryKey = generateRecoveryKey();
    const { version } = await uploadBackup(phone.api, { recoveryKey }, history);
    expect(version).toBe(1);
    // The server holds ciphertext: no text, no key.
    const rows = await t.server.db.query<{ blob: Uint8Array; kdf: string }>('SELECT blob, kdf FROM backups');
    for (const row of rows) {
      const stored = new TextDecoder().decode(row.blob) + row.kdf;
      for (const text of texts) expect(stored).not.toContain(text.slice(0, 20));
      expect(stored).not.toContain(recoveryKey.replaceAll(' ', ''));
    }
    await phone.close();

    // The phone is lost: the bank re-enrolls the customer on a new phone (the old device is revoked).
    const newPhone = await Device.enroll({
      serverUrl: t.url,
      enrollmentToken: await issueEnrollmentToken(bank.privateKey, 'k1', { businessId: bank.id, subject: 'bk-1', kind: 'customer', reset: true }),
      store: new MemoryKeyStore(),
      keyPackageBatch: 3,
      ...nodeRuntime,
    });
    expect((await listBackups(newPhone.api)).map((b) => [b.version, b.kdf.name])).toEqual([[1, 'recovery-key']]);
    await expect(collect(restoreBackup(newPhone.api, { recoveryKey: generateRecoveryKey() }))).rejects.toMatchObject({ code: 'backup_wrong_key' });
    expect(await collect(restoreBackup(newPhone.api, { recoveryKey }))).toEqual(history);

    // Another customer has no backup, and cannot name this one.
    const stranger = await enroll(t.url, bank, 'bk-2', 'customer');
    expect(await listBackups(stranger.api)).toEqual([]);
    await expect(collect(restoreBackup(stranger.api, { recoveryKey }))).rejects.toMatchObject({ code: 'backup_not_found' });
    await expect(stranger.api.send('GET', '/v1/backups/1', { headers: { 'parley-backup-key': 'A'.repeat(43) } }, true)).rejects.toMatchObject({ status: 404, code: 'no_backup' });

    // Fetches are counted per identity: guessing is slow.
    let limited: unknown;
    for (let i = 0; i < 12 && !limited; i++) {
      await newPhone.api.send('GET', '/v1/backups/1', { headers: { 'parley-backup-key': 'A'.repeat(43) } }, true).catch((e: { code?: string }) => {
        if (e.code === 'rate_limited') limited = e;
        else expect(e.code).toBe('backup_key_invalid');
      });
    }
    expect(limited).toMatchObject({ status: 429 });
    await Promise.all([newPhone.close(), stranger.close(), sender.close()]);
  }, 60_000);

  it('device.backups: history, tags and verifications come back on the new phone, which the bank then re-adds', async () => {
    // A business of its own: one sender device, so verifying it covers the whole identity.
    const bank4 = await createBusiness(t.url, 'backup-bank-4');
    const sender = await enrollSender(t.url, bank4);
    const phone = await enroll(t.url, bank4, 'bk-4', 'customer', new MemoryKeyStore(), 'Pixel');
    const log = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const first = await sender.send('bk-4', 'Example Bank: welcome (device backups).', { class: 'alert' });
    await log.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === first.messageId);
    await phone.setConversationTag('bank/main', first.conversationId);
    expect(await phone.keys.verifyScanned(sender.device.identityId, await sender.device.keys.verificationQr(phone.identityId))).toBe('match');
    const recoveryKey = generateRecoveryKey();
    await phone.backups.upload({ recoveryKey });
    const exported: string[] = [];
    for await (const line of phone.backups.export({ recoveryKey })) exported.push(line);
    await phone.close();

    const newPhone = await reenroll(t.url, bank4, 'bk-4');
    expect(await newPhone.backups.restore({ recoveryKey })).toEqual({ conversations: 1, messages: 1, tags: 1, verifications: 1, conversationIds: [first.conversationId] });
    expect((await newPhone.history(first.conversationId)).map((m) => (m as { text?: string }).text)).toEqual(['Example Bank: welcome (device backups).']);
    expect(await newPhone.conversationTag('bank/main')).toBe(first.conversationId);
    // Whom the customer verified, still checked against the log: the bank's keys did not change.
    expect(await newPhone.keys.verificationState(sender.device.identityId)).toBe('verified');
    // The bank's next message re-adds the new phone to the same conversation: old and new history together.
    const newLog = new EventLog(newPhone);
    await newPhone.connect();
    const next = await sender.send('bk-4', 'Example Bank: your new phone is set up.', { class: 'alert' });
    await newLog.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === next.messageId, 30_000);
    expect(next.conversationId).toBe(first.conversationId);
    expect((await newPhone.history(first.conversationId)).map((m) => (m as { text?: string }).text)).toEqual([
      'Example Bank: welcome (device backups).',
      'Example Bank: your new phone is set up.',
    ]);
    // The exported file opens too, and a wrong key leaves the device as it was.
    await expect(newPhone.backups.import(exported, { recoveryKey: generateRecoveryKey() })).rejects.toMatchObject({ code: 'backup_wrong_key' });
    expect((await newPhone.backups.import(exported, { recoveryKey })).messages).toBe(1);
    await Promise.all([newPhone.close(), sender.close()]);
  }, 60_000);

  it("the bank's agent re-adds the restored phone to its support thread at its next message, epochs after the backup", async () => {
    const bank5 = await createBusiness(t.url, 'backup-bank-5');
    // Members are re-checked against the key log at every message here (default: every 30 s).
    const agent = await Device.enroll({ serverUrl: t.url, enrollmentToken: await bank5.issue('agent-1', 'agent'), store: new MemoryKeyStore(), keyPackageBatch: 3, trustCheckIntervalMs: 0, ...nodeRuntime });
    const phone = await enroll(t.url, bank5, 'bk-5', 'customer');
    const log = new EventLog(phone);
    await Promise.all([agent.connect(), phone.connect()]);
    const thread = await agent.createConversation([phone.identityId]);
    const hello = await agent.send(thread, 'Dana: how can I help? (support thread)', { class: 'support' });
    await log.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === hello.messageId);
    const recoveryKey = generateRecoveryKey();
    await phone.backups.upload({ recoveryKey });
    await phone.close();
    // The thread moves on several epochs after the backup: the restore does not depend on them.
    const epochAtBackup = agent.epoch(thread);
    for (let i = 0; i < 3; i++) await agent.updateKeys(thread);
    expect(agent.epoch(thread)).toBe(epochAtBackup + 3n);

    const newPhone = await reenroll(t.url, bank5, 'bk-5');
    const newLog = new EventLog(newPhone);
    await newPhone.connect();
    expect((await newPhone.backups.restore({ recoveryKey })).conversationIds).toEqual([thread]);
    // The agent's next message: the lost phone leaves the thread and the new one joins it, in the same conversation.
    const next = await agent.send(thread, 'Dana: I see your new phone. Anything else?', { class: 'support' });
    await newLog.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === next.messageId, 30_000);
    expect(agent.members(thread).filter((m) => m.identityId === phone.identityId).map((m) => m.deviceId)).toEqual([newPhone.deviceId]);
    expect((await newPhone.history(thread)).map((m) => (m as { text?: string }).text)).toEqual(['Dana: how can I help? (support thread)', 'Dana: I see your new phone. Anything else?']);
    await Promise.all([newPhone.close(), agent.close()]);
  }, 60_000);

  it('keeps the last three versions and refuses malformed uploads', async () => {
    const phone = await enroll(t.url, bank, 'bk-3', 'customer');
    const recoveryKey = generateRecoveryKey();
    for (let i = 0; i < 5; i++) await uploadBackup(phone.api, { recoveryKey }, [{ kind: 'label', label: `v${i}` }]);
    expect((await listBackups(phone.api)).map((b) => b.version)).toEqual([5, 4, 3]);
    expect(await collect(restoreBackup(phone.api, { recoveryKey }, 4))).toEqual([{ kind: 'label', label: 'v3' }]);
    await expect(phone.api.send('PUT', '/v1/backups', { headers: { 'content-type': 'application/octet-stream' }, body: new Uint8Array([1]) }, true)).rejects.toMatchObject({ status: 400, code: 'invalid_backup_key' });
    // Version numbers past the database's integer range are a 400, not a database error.
    await expect(phone.api.send('GET', '/v1/backups/99999999999', { headers: { 'parley-backup-key': 'A'.repeat(43) } }, true)).rejects.toMatchObject({ status: 400, code: 'invalid_backup' });
    const hash = { 'parley-backup-access-hash': 'A'.repeat(43), 'parley-backup-kdf': 'eyJuYW1lIjoicmVjb3Zlcnkta2V5In0' };
    await expect(phone.api.send('PUT', '/v1/backups', { headers: { 'content-type': 'application/octet-stream', ...hash, 'parley-backup-base': '9999999999' }, body: new Uint8Array([1]) }, true)).rejects.toMatchObject({ status: 400, code: 'invalid_backup' });
    await phone.close();
  }, 60_000);
});
