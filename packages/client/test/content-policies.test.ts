/**
 * Content policies (DLP) in the device's pipeline, on a real server: a block on send sends
 * nothing; a redaction changes what is encrypted and is recorded — policy id and action only —
 * in the content and in the business message's signed commitment; on receive, a redaction
 * changes what the app sees and keeps, and a block yields a `message-blocked` event instead of
 * the message. Nothing a policy matched appears in an error, an event or the server's tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardNumberPolicy, ContentBlockedError, emailPolicy, ibanPolicy, keywordPolicy } from '../src/index.js';
import { EventLog, createBusiness, enroll, enrollSender, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'dlp-bank');
});
afterAll(async () => t?.stop());

const PAN = '4111 1111 1111 1111';
const IBAN = 'DE89 3704 0044 0532 0130 00';

/** Every text column of the server's tables that could hold content, as one string. */
async function serverRows(): Promise<string> {
  const tables = ['envelopes', 'audit_commitments', 'routes'];
  const out: string[] = [];
  for (const table of tables) {
    const rows = await t.server.db.query<Record<string, unknown>>(`SELECT * FROM ${table}`, []).catch(() => []);
    out.push(JSON.stringify(rows, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v)));
  }
  return out.join('\n');
}

describe('content policies on the device', () => {
  it('the bank never sends a full card number or IBAN in class alert: blocked before anything is encrypted', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'dlp-alice', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    sender.device.setContentPolicies({
      rules: [
        { policy: cardNumberPolicy({ action: 'block' }), classes: ['alert'], directions: ['send'] },
        { policy: ibanPolicy({ action: 'block' }), classes: ['alert'], directions: ['send'] },
      ],
    });
    const blocked = await sender.send('dlp-alice', `Card ${PAN} was charged`, { class: 'alert' }).catch((e: unknown) => e);
    expect(blocked).toBeInstanceOf(ContentBlockedError);
    expect(blocked).toMatchObject({ code: 'content_blocked', details: { policy: 'card', direction: 'send' } });
    expect(JSON.stringify(blocked) + String((blocked as Error).message)).not.toContain('1111');
    // Checked before anything else: no conversation was made for a message that was never sent.
    expect(await sender.conversationWith('dlp-alice')).toBeUndefined();
    await expect(sender.send('dlp-alice', `Refund to ${IBAN}`, { class: 'alert' })).rejects.toMatchObject({ code: 'content_blocked', details: { policy: 'iban' } });
    // Other classes are not under the rule; the customer gets only that one.
    const ok = await sender.send('dlp-alice', 'Your card ending 1111 was charged EUR 12.00', { class: 'alert' });
    const got = await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === ok.messageId);
    expect(phoneLog.messages()).toHaveLength(1);
    expect(got).not.toHaveProperty('dlp');
    expect(await serverRows()).not.toContain('4111');
    await Promise.all([sender.close(), phone.close()]);
  });

  it('a redaction is what gets encrypted, and the signed commitment says which policy acted', async () => {
    const sender = await enrollSender(t.url, bank);
    const phone = await enroll(t.url, bank, 'dlp-bob', 'customer');
    const phoneLog = new EventLog(phone);
    await Promise.all([sender.connect(), phone.connect()]);
    sender.device.setContentPolicies({ rules: [{ policy: cardNumberPolicy({ action: 'redact' }), conversationKinds: ['business'] }] });
    const sent = await sender.send('dlp-bob', `We blocked card ${PAN} for you.`, { class: 'support' });
    const got = await phoneLog.waitFor((e) => e.type === 'message' && e.messageId === sent.messageId);
    if (got.type !== 'message') throw new Error('unreachable');
    expect(got.text).toBe('We blocked card •••• •••• •••• 1111 for you.');
    expect(got.dlp).toEqual([{ policy: 'card', action: 'redact' }]);
    expect(got.audit?.verified).toBe(true);
    const bundle = await sender.device.exportEvidence(sent.messageId);
    expect(bundle.commitment.dlp).toEqual([{ policy: 'card', action: 'redact' }]);
    const history = JSON.stringify(await sender.device.history(sent.conversationId));
    expect(history).not.toContain('4111');
    await Promise.all([sender.close(), phone.close()]);
  });

  it('on receive: a redaction changes what the app sees and keeps; a block gives message-blocked, no message', async () => {
    const agent = await enroll(t.url, bank, 'dlp-agent', 'agent');
    const phone = await enroll(t.url, bank, 'dlp-carol', 'customer');
    const agentLog = new EventLog(agent);
    await Promise.all([agent.connect(), phone.connect()]);
    agent.setContentPolicies({
      rules: [
        { policy: emailPolicy({ action: 'redact' }), directions: ['receive'] },
        { policy: keywordPolicy({ id: 'passwords', keywords: ['password'], action: 'block', reason: 'credentials' }), directions: ['receive'], conversationKinds: ['business'] },
      ],
    });
    const thread = await agent.createConversation([phone.identityId]);
    await phone.sync();
    const first = await phone.send(thread, 'write to carol@example.org please', { class: 'support' });
    const redacted = await agentLog.waitFor((e) => e.type === 'message' && e.messageId === first.messageId);
    if (redacted.type !== 'message') throw new Error('unreachable');
    expect(redacted.text).toBe('write to [email removed] please');
    expect(redacted.dlp).toEqual([{ policy: 'email', action: 'redact' }]);
    const second = await phone.send(thread, 'my password is hunter2', { class: 'support' });
    const blocked = await agentLog.waitFor((e) => e.type === 'message-blocked' && e.messageId === second.messageId);
    expect(blocked).toMatchObject({ policy: 'passwords', reason: 'credentials', conversationId: thread });
    expect(agentLog.messages().map((m) => m.messageId)).not.toContain(second.messageId);
    const kept = JSON.stringify(await agent.history(thread));
    expect(kept).not.toContain('carol@example.org');
    expect(kept).not.toContain('hunter2');
    await Promise.all([agent.close(), phone.close()]);
  });
});
