/**
 * Attachments inside messages, end to end on a real server: the Sender uploads a statement and
 * sends its reference in an audited message; the customer's device receives the reference, the
 * commitment names the ciphertext's hash, and the file decrypts; the customer sends a photo back
 * in the thread. Only the conversation's devices may fetch a blob the message names.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url, type AttachmentRef } from '@parley/core';
import { commitmentHash } from '@parley/core/audit';
import { ApiError, InvalidArgumentError } from '../src/index.js';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'media-bank');
});
afterAll(async () => t?.stop());

const bytes = (n: number) => new Uint8Array(randomBytes(n));

describe('attachments in messages', () => {
  it('a statement PDF to the customer: the reference arrives, the commitment covers its ciphertext, the file decrypts', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'media-alice', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const pdf = bytes(300_000);
    const ref = await sender.device.attachments.upload({ data: pdf, size: pdf.length, mime: 'application/pdf', name: 'statement-2026-11.pdf' });
    const sent = await sender.send('media-alice', 'Your November statement', { class: 'statement', attachments: [ref] });
    const got = await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    if (got.type !== 'message') throw new Error('unreachable');
    expect(got.audit?.verified).toBe(true);
    expect(got.attachments).toEqual([ref]);
    expect(await phone.attachments.downloadBytes(got.attachments![0]!)).toEqual(pdf);
    // The signed commitment the audit log holds names the file's ciphertext hash.
    const bundle = await sender.device.exportEvidence(sent.messageId);
    expect(bundle.commitment.attachments).toEqual([ref.sha256]);
    expect(got.audit?.commitmentHash).toBe(toBase64Url(commitmentHash(bundle.commitment)));
    await Promise.all([sender.close(), phone.close()]);
  });

  it('a sender that commits to one file and sends another gets a commitment-mismatch (the audit trail covers the files)', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'media-frank', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    const [a, b] = [bytes(1000), bytes(1000)];
    const refA = await sender.device.attachments.upload({ data: a, size: a.length, mime: 'application/pdf' });
    const refB = await sender.device.attachments.upload({ data: b, size: b.length, mime: 'application/pdf' });
    // The device's sending context signs commitments (device-parts.ts): make it name file A while B is sent.
    type Sign = (message: { attachments?: readonly string[] }) => Promise<unknown>;
    const sending = (sender.device as unknown as { parts: { sending: { signCommitment: Sign } } }).parts.sending;
    const honest = sending.signCommitment;
    sending.signCommitment = (message) => honest({ ...message, attachments: [refA.sha256] });
    const sent = await sender.send('media-frank', 'contract', { class: 'statement', attachments: [refB] });
    sending.signCommitment = honest;
    const mismatch = await phoneLog.waitFor((e) => e.type === 'commitment-mismatch' && e.messageId === sent.messageId);
    expect(mismatch).toMatchObject({ reason: 'the commitment names other attachments' });
    await Promise.all([sender.close(), phone.close()]);
  });

  it('a photo back in a support thread; a device outside the conversation cannot fetch it', async () => {
    const agent = await enroll(t.url, bank, 'media-agent', 'agent');
    const phone = await enroll(t.url, bank, 'media-bob', 'customer');
    const stranger = await enroll(t.url, bank, 'media-eve', 'customer');
    const agentLog = new EventLog(agent);
    await Promise.all([agent.connect(), phone.connect()]);
    const thread = await agent.createConversation([phone.identityId]);
    await new EventLog(phone).waitFor((e) => e.type === 'conversation-joined' && e.conversationId === thread).catch(() => phone.sync());
    const photo = bytes(70_000);
    const thumb = bytes(2_000);
    const ref = await phone.attachments.upload({ data: photo, size: photo.length, mime: 'image/jpeg', name: 'receipt.jpg', thumbnail: { data: thumb, mime: 'image/jpeg' } });
    const sent = await phone.send(thread, 'the receipt', { class: 'support', attachments: [ref] });
    const got = await agentLog.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    if (got.type !== 'message') throw new Error('unreachable');
    const [received] = got.attachments ?? [];
    expect(received?.name).toBe('receipt.jpg');
    expect(await agent.attachments.downloadBytes(received!.thumbnail!)).toEqual(thumb);
    expect(await agent.attachments.downloadBytes(received!)).toEqual(photo);
    // The reference alone (a leaked message, a guessed id) opens nothing for someone else.
    await expect(stranger.attachments.downloadBytes(ref)).rejects.toMatchObject({ status: 404, code: 'no_blob' });
    await Promise.all([agent.close(), phone.close(), stranger.close()]);
  });

  it('refuses a reference that is not one (typed error, nothing sent) and a blob the sender does not own', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'media-carol', 'customer');
    const other = await enroll(t.url, bank, 'media-dan', 'customer');
    await sender.connect();
    const bogus = { blobId: 'x', key: '', sha256: '', size: 1, cipherSize: 17, mime: 'text/plain' } as AttachmentRef;
    await expect(sender.send('media-carol', 'hello', { class: 'alert', attachments: [bogus] })).rejects.toBeInstanceOf(InvalidArgumentError);
    // Another customer's blob: the server refuses to let the sender hand it out.
    const theirs = await other.attachments.upload({ data: bytes(10), size: 10, mime: 'text/plain' });
    const refused = await sender.send('media-carol', 'hello', { class: 'alert', attachments: [theirs] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: 'unknown_blob' });
    await Promise.all([sender.close(), phone.close(), other.close()]);
  });
});
