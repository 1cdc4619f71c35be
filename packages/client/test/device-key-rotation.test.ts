/**
 * Identity-key rotation of a device and of the business sender, on a real server: the key log
 * records the change signed by the old key and the new one, conversations are re-keyed,
 * contacts who verified the device stay verified, evidence signed before and after verifies,
 * and the server refuses rotations nobody signed for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIdentityKeyPair, localEd25519Signer, toBase64 } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import { Device, MemoryKeyStore, type DeviceEvent } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer, serverTrust } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let trust: EvidenceTrust;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'rotate-bank');
  trust = await serverTrust(t.url);
}, 60_000);
afterAll(async () => t?.stop());

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

async function evidenceWithReceipts(device: Device, messageId: string, count: number) {
  for (let i = 0; i < 200; i++) {
    const bundle = await device.exportEvidence(messageId);
    if (bundle.receipts.length >= count) return bundle;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('receipts did not arrive');
}

describe('device key rotation', () => {
  it('a customer rotates: re-keyed conversation, still verified by the bank, evidence on both sides of the change', async () => {
    const sender = await enrollSender(t.url, bank);
    const store = new MemoryKeyStore();
    const phone = await enroll(t.url, bank, 'rot-1', 'customer', store);
    const senderLog = new EventLog(sender.device);
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);

    const before = await sender.send('rot-1', 'Example Bank: your code is 314159.', { class: 'otp' });
    await phoneLog.waitFor(isMessage(before.messageId));
    await evidenceWithReceipts(sender.device, before.messageId, 1);
    // The bank verified the customer's phone (QR), the customer the bank.
    expect(await sender.device.keys.verifyScanned(phone.identityId, await phone.keys.verificationQr(sender.device.identityId))).toBe('match');
    expect(await phone.keys.verifyScanned(sender.device.identityId, await sender.device.keys.verificationQr(phone.identityId))).toBe('match');
    const oldKey = phone.identityKey;
    const oldNumber = (await sender.device.keys.safetyNumber(phone.identityId)).digits;

    const rotated = await phone.keys.rotate();
    expect(rotated.failed).toEqual([]);
    expect(rotated.rekeyed).toBe(1);
    expect(phone.identityKey).not.toEqual(oldKey);
    await phoneLog.waitFor((e) => e.type === 'keys-rotated' && e.index === rotated.index);

    // The log as the bank verifies it: the same device, new keys, the old ones replaced at that entry.
    const [seen] = (await sender.device.keys.devicesOf(phone.identityId)).filter((d) => d.deviceId === phone.deviceId);
    expect(seen!.status).toBe('approved');
    expect(seen!.identityKey).toEqual(phone.identityKey);
    expect(seen!.previousKeys.map((k) => [k.identityKey, k.rotatedAt])).toEqual([[oldKey, rotated.index]]);
    // A verified rotation, not a key change: still verified; the safety number follows the new key.
    expect(await sender.device.keys.verificationState(phone.identityId)).toBe('verified');
    expect((await sender.device.keys.safetyNumber(phone.identityId)).digits).not.toBe(oldNumber);
    await senderLog.waitFor((e) => e.type === 'member-rekeyed' && e.member.deviceId === phone.deviceId);
    expect(senderLog.events.some((e) => e.type === 'membership-changed' && e.removed.some((m) => m.deviceId === phone.deviceId))).toBe(false);
    expect((await phone.keys.checkOwnKeys()).filter((a) => a.deviceId === phone.deviceId)).toEqual([]);

    // Messages flow both ways after the change, with the new leaf.
    const after = await sender.send('rot-1', 'Example Bank: your code is 271828.', { class: 'otp' });
    const got = (await phoneLog.waitFor(isMessage(after.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(got.audit?.verified).toBe(true);
    const reply = await phone.send(after.conversationId, 'thanks', { class: 'otp' });
    await senderLog.waitFor(isMessage(reply.messageId));

    // Receipts signed with the old key (before) and the new one (after) both verify offline.
    for (const messageId of [before.messageId, after.messageId]) {
      const bundle = await evidenceWithReceipts(sender.device, messageId, 1);
      expect(verifyEvidenceBundle(bundle, trust).checks.filter((c) => !c.ok)).toEqual([]);
    }

    // The rotated device signs in with its new key after a restart from its store.
    await phone.close();
    const reopened = await Device.open({ store, ...nodeRuntime });
    const reopenedLog = new EventLog(reopened);
    expect(reopened.identityKey).toEqual(seen!.identityKey);
    expect(await reopened.connect()).toBe(true);
    const third = await sender.send('rot-1', 'Example Bank: statement ready.', { class: 'alert' });
    await reopenedLog.waitFor(isMessage(third.messageId));
    await reopened.close();
    await sender.close();
  }, 60_000);

  it('the business sender rotates: customers stay verified and keep receiving audited messages', async () => {
    // A business of its own: one sender device, so the customer's verification covers all of it.
    const bank2 = await createBusiness(t.url, 'rotate-bank-2');
    const sender = await enrollSender(t.url, bank2);
    const phone = await enroll(t.url, bank2, 'rot-2', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    await phoneLog.waitFor(isMessage((await sender.send('rot-2', 'hello', { class: 'alert' })).messageId));
    expect(await phone.keys.verifyScanned(sender.device.identityId, await sender.device.keys.verificationQr(phone.identityId))).toBe('match');
    expect(await phone.keys.verificationState(sender.device.identityId)).toBe('verified');

    const { rekeyed, failed } = await sender.device.keys.rotate();
    expect([rekeyed, failed]).toEqual([1, []]);
    expect(await phone.keys.verificationState(sender.device.identityId)).toBe('verified');
    const next = await sender.send('rot-2', 'Example Bank: card ending 4242 blocked.', { class: 'alert' });
    const got = (await phoneLog.waitFor(isMessage(next.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(got.audit?.verified).toBe(true);
    const bundle = await evidenceWithReceipts(sender.device, next.messageId, 1);
    expect(verifyEvidenceBundle(bundle, trust).checks.filter((c) => !c.ok)).toEqual([]);
    await phone.close();
    await sender.close();
  }, 60_000);

  it('refuses rotations nobody signed for, of another device, or of a device with external keys without their successors', async () => {
    const phone = await enroll(t.url, bank, 'rot-3', 'customer');
    const other = await enroll(t.url, bank, 'rot-4', 'customer');
    const fresh = generateIdentityKeyPair();
    const body = {
      identityKey: toBase64(fresh.publicKey),
      signatureKey: toBase64(generateIdentityKeyPair().publicKey),
      signature: toBase64(new Uint8Array(64)),
      proof: toBase64(new Uint8Array(64)),
      keyPackages: ['AAAA'],
      lastResortKeyPackage: 'AAAA',
    };
    await expect(phone.api.rotateKeys(phone.deviceId, body)).rejects.toMatchObject({ status: 401, code: 'rotation_signature_invalid' });
    await expect(other.api.rotateKeys(phone.deviceId, body)).rejects.toMatchObject({ status: 403, code: 'not_your_device' });
    await expect(phone.api.rotateKeys(phone.deviceId, { ...body, identityKey: toBase64(phone.identityKey) })).rejects.toMatchObject({ status: 400, code: 'rotation_same_key' });
    // Nothing changed: the log shows the enrolled keys only.
    const [self] = await phone.keys.devicesOf(phone.identityId);
    expect(self!.previousKeys).toEqual([]);

    const external = await Device.enroll({
      serverUrl: t.url,
      enrollmentToken: await bank.issue('rot-5', 'customer'),
      store: new MemoryKeyStore(),
      keyPackageBatch: 3,
      signers: { identity: localEd25519Signer(generateIdentityKeyPair().privateKey) },
      ...nodeRuntime,
    });
    await expect(external.keys.rotate()).rejects.toMatchObject({ code: 'signer_required' });
    const next = localEd25519Signer(generateIdentityKeyPair().privateKey);
    const done = await external.keys.rotate({ signers: { identity: next } });
    expect(done.index).toBeGreaterThan(0);
    expect(external.identityKey).toEqual(next.publicKey);
    // Each rotation is a key-log entry every contact replays: five a day per device, then 429.
    for (let i = 1; i < 5; i++) await external.keys.rotate({ signers: { identity: localEd25519Signer(generateIdentityKeyPair().privateKey) } });
    await expect(external.keys.rotate({ signers: { identity: localEd25519Signer(generateIdentityKeyPair().privateKey) } })).rejects.toMatchObject({ status: 429, code: 'rate_limited' });
    expect((await external.keys.devicesOf(external.identityId))[0]!.previousKeys).toHaveLength(5);
    await Promise.all([phone.close(), other.close(), external.close()]);
  }, 60_000);
});
