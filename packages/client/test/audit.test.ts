/**
 * Audit evidence end to end through the SDK, on a real server: the Sender signs
 * a hiding commitment for each business message, the server records it in the
 * audit log, each receiving device checks it and signs receipts, and an evidence
 * bundle exported by either end verifies offline against the logs' keys alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toBase64Url, type SubmitRequest } from '@parley/core';
import {
  commitmentHash,
  contentCommitment,
  newOpening,
  signCommitment,
  signReceipt,
  verifyEvidenceBundle,
  type Commitment,
  type EvidenceTrust,
  type Receipt,
} from '@parley/core/audit';
import { type Device, type DeviceEvent } from '../src/index.js';
import { TransportError } from '../src/errors.js';
import { EventLog, createBusiness, enroll, enrollApproved, enrollSender, startTestServer, type Business, type TestServer, serverTrust } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;
let trust: EvidenceTrust;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'audit-bank');
  trust = await serverTrust(t.url);
});
afterAll(async () => t?.stop());

const isMessage = (id: string) => (e: DeviceEvent) => e.type === 'message' && e.messageId === id;

/** Waits until the server's evidence for `messageId` holds `count` receipts. */
async function receiptsArrive(device: Device, messageId: string, count: number) {
  for (let i = 0; i < 200; i++) {
    const bundle = await device.exportEvidence(messageId);
    if (bundle.receipts.length >= count) return bundle;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('receipts did not arrive');
}

/** The private identity key a device keeps in its store (test-only access, to play a malicious party). */
async function identityPrivateKey(device: Device): Promise<Uint8Array> {
  const { store } = (device as unknown as { parts: { store: { get(name: string): Promise<Uint8Array | undefined> } } }).parts;
  const record = JSON.parse(new TextDecoder().decode((await store.get('device'))!)) as { identityPrivateKey: string };
  return fromBase64(record.identityPrivateKey);
}

describe('audit evidence', () => {
  it('proves what was sent and which devices received and read it, offline', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'cust-a', 'customer');
    const tablet = await enrollApproved(t.url, bank, 'cust-a', phone);
    const phoneLog = new EventLog(phone);
    const tabletLog = new EventLog(tablet);
    await Promise.all([sender.connect(), phone.connect(), tablet.connect()]);

    const text = 'Example Bank: payment of EUR 1,250.00 to ACME GmbH approved.';
    const sent = await sender.send('cust-a', text, { class: 'alert' });
    expect(sent.audit?.index).toBeGreaterThanOrEqual(0);
    const onPhone = (await phoneLog.waitFor(isMessage(sent.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    await tabletLog.waitFor(isMessage(sent.messageId));
    expect(onPhone.audit).toEqual({ commitmentHash: sent.audit!.commitmentHash, verified: true });

    // Both devices' delivered receipts reach the audit log; the phone also reads it (twice: idempotent).
    await receiptsArrive(sender.device, sent.messageId, 2);
    await phone.markRead(sent.messageId);
    await phone.markRead(sent.messageId);
    const bundle = await receiptsArrive(sender.device, sent.messageId, 3);
    expect(bundle.receipts.map((r) => `${r.receipt.deviceId}:${r.receipt.status}`).sort()).toEqual(
      [`${phone.deviceId}:delivered`, `${phone.deviceId}:read`, `${tablet.deviceId}:delivered`].sort(),
    );
    // What the server holds and hands out carries no plaintext and no opening.
    const serialized = JSON.stringify(bundle);
    expect(serialized).not.toContain('1,250.00');
    expect(bundle.opening).toBeUndefined();

    const report = verifyEvidenceBundle(bundle, trust);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.message).toMatchObject({ id: sent.messageId, sender: sender.device.identityId, recipient: phone.identityId, class: 'alert' });
    expect(report.receipts.every((r) => r.verified)).toBe(true);

    // The customer reveals the opening for a dispute: the bundle now proves the text.
    const revealed = await phone.exportEvidence(sent.messageId, { reveal: true });
    expect(revealed.plaintext).toBe(text);
    const proof = verifyEvidenceBundle(revealed, trust, { plaintext: revealed.plaintext!, opening: fromBase64(revealed.opening!) });
    expect(proof.ok).toBe(true);
    const lie = verifyEvidenceBundle(revealed, trust, { plaintext: text.replace('1,250.00', '12,500.00'), opening: fromBase64(revealed.opening!) });
    expect(lie.ok).toBe(false);
    expect(lie.checks.find((c) => !c.ok)?.code).toBe('plaintext_mismatch');
    // The sender can reveal it too; a non-party cannot fetch the evidence at all.
    expect((await sender.device.exportEvidence(sent.messageId, { reveal: true })).opening).toBe(revealed.opening);
    const stranger = await enroll(t.url, bank, 'cust-b', 'customer');
    // (It is told no such evidence exists: a non-party does not learn which message ids exist.)
    await expect(stranger.exportEvidence(sent.messageId)).rejects.toMatchObject({ status: 404 });

    await Promise.all([sender.close(), phone.close(), tablet.close(), stranger.close()]);
  });

  it('a text that does not open the commitment gets a typed event and a commitment-mismatch receipt', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'cust-c', 'customer');
    const log = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    // A faulty (or malicious) sender commits to one amount and encrypts another.
    type Sign = (message: { text: string }) => Promise<{ text: string }>;
    // The device's sending context signs commitments (device-parts.ts): swap its signer.
    const device = (sender.device as unknown as { parts: { sending: { signCommitment: Sign } } }).parts.sending;
    const honest: Sign = device.signCommitment;
    device.signCommitment = async (message) => ({ ...(await honest({ ...message, text: 'EUR 9,999.00' })), text: message.text });
    const sent = await sender.send('cust-c', 'EUR 1.00', { class: 'alert' });
    device.signCommitment = honest;

    const mismatch = await log.waitFor((e) => e.type === 'commitment-mismatch' && e.messageId === sent.messageId);
    expect(mismatch).toMatchObject({ reason: 'the text does not open the commitment' });
    const message = (await log.waitFor(isMessage(sent.messageId))) as Extract<DeviceEvent, { type: 'message' }>;
    expect(message.audit?.verified).toBe(false);
    const bundle = await receiptsArrive(sender.device, sent.messageId, 1);
    expect(bundle.receipts[0]!.receipt.status).toBe('commitment-mismatch');
    expect(verifyEvidenceBundle(bundle, trust).receipts[0]).toMatchObject({ status: 'commitment-mismatch', verified: true });
    await Promise.all([sender.close(), phone.close()]);
  });

  it('rejects bad commitments and receipts with stable codes, and takes a receipt once', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'cust-d', 'customer');
    const other = await enroll(t.url, bank, 'cust-e', 'customer');
    const log = new EventLog(phone);
    // The sender stays off the WebSocket, so its submissions go over HTTP where the test keeps a real ciphertext.
    await Promise.all([phone.connect(), other.connect()]);
    const api = sender.device.api as unknown as { submit: (request: SubmitRequest) => Promise<unknown> };
    const realSubmit = api.submit.bind(sender.device.api);
    let ciphertext = '';
    api.submit = (request) => ((ciphertext = request.message), realSubmit(request));
    const first = await sender.send('cust-d', 'code 111111', { class: 'otp' });
    const second = await sender.send('cust-d', 'code 222222', { class: 'otp' });
    await log.waitFor(isMessage(second.messageId));
    await receiptsArrive(sender.device, second.messageId, 1);
    const conversationId = first.conversationId;
    const senderKey = await identityPrivateKey(sender.device);
    const phoneKey = await identityPrivateKey(phone);

    const commitment = (messageId: string): Commitment => ({
      v: 1,
      messageId,
      conversationId,
      sender: { identityId: sender.device.identityId, deviceId: sender.device.deviceId },
      recipient: phone.identityId,
      class: 'otp',
      createdAt: new Date().toISOString(),
      contentCommitment: toBase64Url(contentCommitment(newOpening(), 'x')),
    });
    const submit = (body: Commitment, signature: Uint8Array) =>
      sender.device.api.submit({
        idempotencyKey: `raw-${Math.random()}`,
        conversationId,
        message: ciphertext,
        commitment: { body, signature: toBase64(signature) },
      });
    // Signed by a key that is not the sender's.
    const c1 = commitment('AAAAAAAAAAAAAAAAAAAAAA');
    await expect(submit(c1, signCommitment(phoneKey, c1))).rejects.toMatchObject({ status: 400, code: 'commitment_signature_invalid' });
    // Another commitment for a message id the log already holds.
    const c2 = commitment(first.messageId);
    await expect(submit(c2, signCommitment(senderKey, c2))).rejects.toMatchObject({ status: 409, code: 'commitment_exists' });
    // A commitment in another device's name.
    const c3 = { ...commitment('BBBBBBBBBBBBBBBBBBBBBB'), sender: { identityId: phone.identityId, deviceId: phone.deviceId } };
    await expect(submit(c3, signCommitment(phoneKey, c3))).rejects.toMatchObject({ status: 403, code: 'commitment_sender_mismatch' });
    // A commitment from a week ago.
    const c4 = { ...commitment('CCCCCCCCCCCCCCCCCCCCCC'), createdAt: new Date(Date.now() - 7 * 86400_000).toISOString() };
    await expect(submit(c4, signCommitment(senderKey, c4))).rejects.toMatchObject({ status: 400, code: 'commitment_time_invalid' });

    const receipt = (messageId: string, hash: string, deviceId = phone.deviceId, identityId = phone.identityId): Receipt => ({
      v: 1,
      messageId,
      commitmentHash: hash,
      identityId,
      deviceId,
      status: 'read',
      time: new Date().toISOString(),
    });
    const bundle = await sender.device.exportEvidence(second.messageId);
    const hash2 = toBase64Url(commitmentHash(bundle.commitment));
    // A forged signature.
    const r1 = receipt(second.messageId, hash2);
    await expect(phone.api.postReceipt({ receipt: r1, signature: toBase64(signReceipt(senderKey, r1)) })).rejects.toMatchObject({
      status: 400,
      code: 'receipt_signature_invalid',
    });
    // A receipt of one message replayed for another.
    const r2 = receipt(first.messageId, hash2);
    await expect(phone.api.postReceipt({ receipt: r2, signature: toBase64(signReceipt(phoneKey, r2)) })).rejects.toMatchObject({
      status: 409,
      code: 'receipt_commitment_mismatch',
    });
    // A receipt in another device's name, and one by a device that was not a recipient.
    await expect(phone.api.postReceipt({ receipt: receipt(second.messageId, hash2, other.deviceId, other.identityId), signature: toBase64(new Uint8Array(64)) })).rejects.toMatchObject({
      status: 403,
      code: 'receipt_device_mismatch',
    });
    const r3 = receipt(second.messageId, hash2, other.deviceId, other.identityId);
    await expect(other.api.postReceipt({ receipt: r3, signature: toBase64(signReceipt(await identityPrivateKey(other), r3)) })).rejects.toMatchObject({
      status: 403,
      code: 'not_a_recipient',
    });
    // A valid receipt twice: one audit entry, the second answer says duplicate.
    const ok1 = await phone.api.postReceipt({ receipt: r1, signature: toBase64(signReceipt(phoneKey, r1)) });
    const ok2 = await phone.api.postReceipt({ receipt: r1, signature: toBase64(signReceipt(phoneKey, r1)) });
    expect(ok2).toMatchObject({ index: ok1.index, duplicate: true });
    await Promise.all([sender.close(), phone.close(), other.close()]);
  });

  it('a receipt written while the server is unreachable is sent once it is back', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'cust-f', 'customer');
    const log = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const sent = await sender.send('cust-f', 'statement ready', { class: 'statement' });
    await log.waitFor(isMessage(sent.messageId));
    await receiptsArrive(sender.device, sent.messageId, 1);
    // Offline: the read receipt is signed and kept in the store, then flushed later.
    const api = phone.api as unknown as { postReceipt: (body: unknown) => Promise<unknown> };
    const real = api.postReceipt.bind(phone.api);
    api.postReceipt = () => Promise.reject(new TransportError('offline'));
    await phone.markRead(sent.messageId).catch(() => {});
    expect((await sender.device.exportEvidence(sent.messageId)).receipts).toHaveLength(1);
    api.postReceipt = real;
    await phone.flushReceipts();
    const bundle = await receiptsArrive(sender.device, sent.messageId, 2);
    expect(bundle.receipts.map((r) => r.receipt.status).sort()).toEqual(['delivered', 'read']);
    await Promise.all([sender.close(), phone.close()]);
  });
});
