/**
 * The web-link fallback without the server ever holding the key (issue 12): the SDK seals
 * the text, posts only the ciphertext and a signed commitment, composes the link
 * `<url>#<key>` itself and sends the SMS through the BANK's own SMS account (a Twilio
 * adapter on the Twilio emulator, not the server's channel), then reports the hand-off.
 * Checked here: no byte the SDK sent to the server and no table holds the key, while the
 * SMS at the emulator carries it; a repeat before the hand-off re-issues the link; a failed
 * hand-off fails the route; another business cannot report a hand-off; the commitment is in
 * the audit log and the evidence bundle verifies offline (and with `parley audit verify`);
 * the old `fragmentKey` field is refused.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryKeyStore, Sender, type WebLinkHandoff, type WebLinkSms } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { fromBase64, toBase64, toBase64Url } from '@parley/core';
import { verifyEvidenceBundle, type EvidenceTrust } from '@parley/core/audit';
import { sealWebMessage } from '@parley/core/web-message';
import type { Database } from '../src/storage/database.js';
import { smsDeliver } from '../src/channels/sender-sms.js';
import { runAuditVerify } from '../../cli/src/commands/audit-verify.js';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../cli/src/demo/providers.js';
import { createBusiness, enroll, type Business } from '@parley/test-kit/sdk';
import { startTestServer, type TestServer } from '@parley/test-kit/server';

const MARKER = 'PLAINTEXT-MARKER-5e0a91';

let t: TestServer;
let providers: LocalProviders;
let backend: Server;
let sender: Sender;
let bank: Business;
let trust: EvidenceTrust;
/** Every request body the sender's SDK sent to the server, as bytes. */
const sentBodies: Uint8Array[] = [];
/** Simulates a crash between the web-message request and the hand-off report: the report never leaves. */
let dropHandoffReports = false;
const codes: { identityId: string; code: string }[] = [];
let phoneSerial = 0;

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      codes.push(JSON.parse(Buffer.concat(chunks).toString()) as { identityId: string; code: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const secondFactor = { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/codes`, secret: 'link-secret' };
  const policies = { otp: { chain: [{ step: 'app' as const, timeoutMs: 500 }], otherwise: 'fallback-with-token' as const } };
  t = await startTestServer({
    port,
    routing: { channels: providers.channels, tickMs: 50, businesses: { 'link-bank': { brand: DEMO_BRAND, secondFactor, policies }, 'other-bank': { brand: 'Other Bank', secondFactor, policies } } },
  });
  bank = await createBusiness(t.url, 'link-bank');
  const recording: typeof fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (typeof init?.body === 'string') sentBodies.push(new TextEncoder().encode(init.body));
    else if (init?.body !== undefined && init.body !== null) throw new Error('the SDK sent a body this test cannot record');
    if (dropHandoffReports && url.endsWith('/handoff')) throw new TypeError('fetch failed (the sender crashed)');
    return fetch(input, init);
  };
  sender = await Sender.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue('sender', 'sender', { name: DEMO_BRAND }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    fetch: recording,
    ...nodeRuntime,
  });
  const logs = (await (await fetch(`${t.url}/v1/logs`)).json()) as { logs: { name: string; verifierKey: string }[] };
  const keys = (await (await fetch(`${t.url}/v1/keys`)).json()) as { vrfPublicKey: string };
  trust = { auditLogKey: logs.logs.find((l) => l.name === 'audit')!.verifierKey, keyLogKey: logs.logs.find((l) => l.name === 'keys')!.verifierKey, vrfPublicKey: keys.vrfPublicKey };
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
});

const newPhone = () => `+1555040${String(++phoneSerial).padStart(4, '0')}`;

/** The links of the SMS that reached `phone` at the Twilio emulator, once `count` arrived. */
async function linksAt(phone: string, count = 1): Promise<string[]> {
  await expect.poll(() => providers.twilio.inbox(phone).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(count);
  return providers.twilio.inbox(phone).map((sms) => {
    expect(sms.text).not.toContain(MARKER);
    return sms.text.match(/https?:\/\/\S+/)![0];
  });
}

const post = async (path: string, body: unknown) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Opens a web link as the page does (code to the second factor, consent) and decrypts with the key from its fragment. */
async function read(link: string, identityId: string): Promise<string> {
  const url = new URL(link);
  const token = url.pathname.split('/').pop()!;
  const before = codes.length;
  expect((await post('/v1/web/challenge', { token })).status).toBe(200);
  const code = codes.slice(before).find((c) => c.identityId === identityId)!.code;
  const opened = await post('/v1/web/open', { token, code, consent: true });
  expect(opened.status).toBe(200);
  const sealed = Buffer.from(((await opened.json()) as { ciphertext: string }).ciphertext, 'base64');
  const key = await crypto.subtle.importKey('raw', Buffer.from(url.hash.slice(1), 'base64url'), 'AES-GCM', false, ['decrypt']);
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: new TextEncoder().encode('parley/v1/web-message') }, key, sealed.subarray(12));
  return new TextDecoder().decode(plain);
}

/** Every value of every table, as raw bytes (bytea) or text (everything else). */
async function dumpDatabase(db: Database): Promise<{ table: string; bytes: Uint8Array[]; texts: string[] }[]> {
  const tables = await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
  const out: { table: string; bytes: Uint8Array[]; texts: string[] }[] = [];
  for (const { table_name } of tables) {
    const bytes: Uint8Array[] = [];
    const texts: string[] = [];
    for (const row of await t.server.db.query<Record<string, unknown>>(`SELECT * FROM ${table_name}`)) {
      for (const value of Object.values(row)) {
        if (value instanceof Uint8Array) bytes.push(value);
        else if (value !== null && value !== undefined) texts.push(typeof value === 'object' ? JSON.stringify(value) : String(value));
      }
    }
    out.push({ table: table_name, bytes, texts });
  }
  return out;
}

/** Where the key shows up: as raw bytes, or base64url / base64 text, in the bodies and in the database. */
async function whereIsKey(key: Uint8Array): Promise<string[]> {
  const forms = [toBase64Url(key), toBase64(key), toBase64(key).replace(/=+$/, '')];
  const raw = Buffer.from(key);
  const found: string[] = [];
  sentBodies.forEach((body, i) => {
    const text = new TextDecoder().decode(body);
    if (Buffer.from(body).indexOf(raw) >= 0) found.push(`raw in request body #${i}`);
    if (forms.some((f) => text.includes(f))) found.push(`encoded in request body #${i}`);
  });
  for (const table of await dumpDatabase(t.server.db)) {
    if (table.bytes.some((b) => Buffer.from(b).indexOf(raw) >= 0)) found.push(`raw in table ${table.table}`);
    if (table.texts.some((s) => forms.some((f) => s.includes(f)))) found.push(`encoded in table ${table.table}`);
  }
  if (forms.some((f) => t.logs.join('\n').includes(f))) found.push('in the server log');
  return found;
}

describe('web links composed by the sender', () => {
  it('the key never reaches the server: not in any request the SDK sent, not in the database; the SMS at the emulator carries it', async () => {
    const phone = newPhone();
    const text = `Example Bank: your code is 602214. ${MARKER}`;
    const bodiesBefore = sentBodies.length;
    const sent = await sender.sendToWeb('no-app-1', phone, text, { class: 'otp', deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    expect(sent).toMatchObject({ state: 'active', path: 'pending' });
    expect(sent.audit?.index).toEqual(expect.any(Number));
    const [link] = await linksAt(phone);
    expect(link).toMatch(new RegExp(`^${t.url}/r/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`));
    const key = new Uint8Array(Buffer.from(new URL(link!).hash.slice(1), 'base64url'));
    expect(key).toHaveLength(32);
    // The SDK talked to the server (web message, hand-off report), and the ciphertext went up.
    const bodies = sentBodies.slice(bodiesBefore).map((b) => new TextDecoder().decode(b));
    expect(bodies.some((b) => b.includes('"ciphertext"'))).toBe(true);
    expect(bodies.some((b) => b.includes('"provider":"twilio"'))).toBe(true);
    expect(await whereIsKey(key)).toEqual([]);
    // The search itself can fail: the commitment signature, which the SDK did send and the server stores, is found.
    const signature = fromBase64((await sender.device.exportEvidence(sent.messageId)).commitmentSignature);
    expect(await whereIsKey(signature)).toEqual(expect.arrayContaining([expect.stringMatching(/^encoded in request body/), 'raw in table audit_commitments']));
    const route = await sender.route(sent.messageId);
    expect(route.events).toEqual(expect.arrayContaining([expect.objectContaining({ step: 'otherwise', channel: 'sms', decision: 'web-link-sent', reason: 'fallback-with-token' })]));
    // The customer reads it in the browser's place: the link works end to end.
    expect(await read(link!, 'link-bank:no-app-1')).toBe(text);
    await expect.poll(async () => (await sender.route(sent.messageId)).path).toBe('sms-token-web');
  });

  it('the commitment is in the audit log: the evidence bundle (no receipts) verifies offline and with `parley audit verify`', async () => {
    const phone = newPhone();
    const text = `Example Bank: EUR 1,250.00 paid to ACME. ${MARKER}`;
    const sent = await sender.sendToWeb('no-app-2', phone, text, { class: 'otp', deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    const bundle = await sender.device.exportEvidence(sent.messageId, { reveal: true });
    expect(bundle.commitment).toMatchObject({ messageId: sent.messageId, conversationId: `web_${sent.messageId}`, recipient: 'link-bank:no-app-2', class: 'otp' });
    expect(bundle.audit.index).toBe(sent.audit!.index);
    expect(bundle.receipts).toEqual([]);
    expect(bundle.plaintext).toBe(text);
    const report = verifyEvidenceBundle(bundle, trust, { plaintext: text, opening: fromBase64(bundle.opening!) });
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    // A different text does not open it.
    expect(verifyEvidenceBundle(bundle, trust, { plaintext: text.replace('1,250.00', '12,500.00'), opening: fromBase64(bundle.opening!) }).ok).toBe(false);
    // What the server hands out carries no plaintext and no opening.
    const stored = await sender.device.exportEvidence(sent.messageId);
    expect(JSON.stringify(stored)).not.toContain(MARKER);
    expect(stored.opening).toBeUndefined();

    const dir = await mkdtemp(join(tmpdir(), 'parley-web-evidence-'));
    try {
      await writeFile(join(dir, 'bundle.json'), JSON.stringify(bundle));
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), readStdin: async () => new Uint8Array() };
      const code = await runAuditVerify([join(dir, 'bundle.json'), '--log-key', trust.auditLogKey, '--key-log-key', trust.keyLogKey, '--vrf-key', trust.vrfPublicKey!], io);
      expect(out.join('\n')).toMatch(/by web link; no receipts/);
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a repeat before the hand-off (the sender crashed) re-issues the link; after the hand-off a repeat returns the state only', async () => {
    const phone = newPhone();
    const text = `Example Bank: your code is 118833. ${MARKER}`;
    const messageId = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    const crashed: WebLinkSms[] = [];
    dropHandoffReports = true;
    try {
      const crash = async (sms: WebLinkSms): Promise<WebLinkHandoff> => {
        crashed.push(sms);
        throw new Error('the sender died before its SMS went out');
      };
      await expect(sender.sendToWeb('no-app-3', phone, text, { class: 'otp', messageId, deliver: crash })).rejects.toThrow(/died/);
    } finally {
      dropHandoffReports = false;
    }
    expect(crashed).toHaveLength(1);
    const firstToken = new URL(crashed[0]!.url).pathname.split('/').pop()!;
    expect((await sender.route(messageId)).state).toBe('active');
    // The same message again: a fresh link; the first one is burnt; the same commitment (none twice in the log).
    const again = await sender.sendToWeb('no-app-3', phone, text, { class: 'otp', messageId, deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    expect(again).toMatchObject({ messageId, state: 'active', path: 'pending' });
    const [link] = await linksAt(phone);
    const secondToken = new URL(link!).pathname.split('/').pop()!;
    expect(secondToken).not.toBe(firstToken);
    expect(await (await post('/v1/web/describe', { token: firstToken })).json()).toMatchObject({ state: 'used' });
    expect(await (await post('/v1/web/describe', { token: secondToken })).json()).toMatchObject({ state: 'usable' });
    const [rows] = await t.server.db.query<{ tokens: string; live: string; commitments: string }>(
      `SELECT (SELECT count(*) FROM retrieval_tokens WHERE message_id = $1) AS tokens,
              (SELECT count(*) FROM retrieval_tokens WHERE message_id = $1 AND used_at IS NULL AND ciphertext IS NOT NULL) AS live,
              (SELECT count(*) FROM audit_commitments WHERE message_id = $1) AS commitments`,
      [messageId],
    );
    expect(rows).toEqual({ tokens: '2', live: '1', commitments: '1' });
    expect((await sender.route(messageId)).events.map((e) => e.decision)).toEqual(expect.arrayContaining(['web-link-issued', 'web-link-reissued', 'web-link-sent']));
    // After the hand-off: the state only, nothing to send.
    let called = 0;
    const third = await sender.sendToWeb('no-app-3', phone, text, { class: 'otp', messageId, deliver: async () => (called++, { ok: true, provider: 'twilio' }) });
    expect(called).toBe(0);
    expect(third).toMatchObject({ messageId, state: 'active', path: 'pending' });
    expect(providers.twilio.inbox(phone)).toHaveLength(1);
    expect(await read(link!, 'link-bank:no-app-3')).toBe(text);
  });

  it('a failed hand-off fails the route and burns the link; a throwing deliver is reported as deliver_failed and rethrown', async () => {
    const refused = await sender.sendToWeb('no-app-4', newPhone(), `Refused ${MARKER}`, { class: 'otp', deliver: async () => ({ ok: false, reason: 'not_capable' }) });
    expect(refused).toMatchObject({ state: 'failed' });
    const view = await sender.route(refused.messageId);
    expect(view.state).toBe('failed');
    expect(view.events).toEqual(expect.arrayContaining([expect.objectContaining({ step: 'otherwise', channel: 'sms', decision: 'failed', reason: 'not_capable' })]));
    const [token] = await t.server.db.query<{ used: boolean; ciphertext: Uint8Array | null }>(`SELECT used_at IS NOT NULL AS used, ciphertext FROM retrieval_tokens WHERE message_id = $1`, [refused.messageId]);
    expect(token).toEqual({ used: true, ciphertext: null });
    // Reported once: a later report changes nothing.
    expect(await sender.device.api.webHandoff(refused.messageId, { ok: true, provider: 'twilio' })).toMatchObject({ state: 'failed' });

    const messageId = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    await expect(
      sender.sendToWeb('no-app-5', newPhone(), `Thrown ${MARKER}`, {
        class: 'otp',
        messageId,
        deliver: async () => {
          throw new Error('provider SDK exploded');
        },
      }),
    ).rejects.toThrow('provider SDK exploded');
    const thrown = await sender.route(messageId);
    expect(thrown.state).toBe('failed');
    expect(thrown.events).toEqual(expect.arrayContaining([expect.objectContaining({ decision: 'failed', reason: 'deliver_failed' })]));
  });

  it('only the sending business reports a hand-off: another business, or a customer device, sees no such message', async () => {
    const phone = newPhone();
    // A message awaiting its hand-off (posted as the SDK would, then not reported yet).
    const { ciphertext, key } = await sealWebMessage(`Pending ${MARKER}`);
    key.fill(0);
    const messageId = toBase64Url(crypto.getRandomValues(new Uint8Array(16)));
    const pending = await sender.device.api.webMessage({ messageId, customerId: 'no-app-6', phone, class: 'otp', ciphertext: toBase64(ciphertext) });
    expect(pending.delivery?.url).toMatch(new RegExp(`^${t.url}/r/[A-Za-z0-9_-]{22}$`));
    expect(pending.delivery?.template).toBe(`${DEMO_BRAND}: you have a new secure message. Read it here: {link}`);

    const other = await createBusiness(t.url, 'other-bank');
    const otherSender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await other.issue('sender', 'sender', { name: 'Other Bank' }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
    const customer = await enroll(t.url, bank, 'c-1', 'customer');
    try {
      for (const report of [{ ok: true as const, provider: 'twilio' }, { ok: false as const, reason: 'spoofed' }]) {
        await expect(otherSender.device.api.webHandoff(messageId, report)).rejects.toMatchObject({ status: 404, code: 'unknown_message' });
        await expect(customer.api.webHandoff(messageId, report)).rejects.toMatchObject({ status: 404, code: 'unknown_message' });
      }
      // Another business's sender cannot take over the message id either.
      await expect(otherSender.device.api.webMessage({ messageId, customerId: 'no-app-6', phone, class: 'otp', ciphertext: toBase64(ciphertext) })).rejects.toMatchObject({
        status: 409,
        code: 'message_id_conflict',
      });
      // Untouched: the owner still reports it.
      expect(await sender.device.api.webHandoff(messageId, { ok: true, provider: 'twilio', providerMessageId: 'SM0001' })).toMatchObject({ messageId, state: 'active', path: 'pending' });
    } finally {
      await otherSender.close();
      await customer.close();
    }
  });

  it('the old `fragmentKey` field is refused (400); a commitment for another recipient or conversation is refused', async () => {
    const { ciphertext, key } = await sealWebMessage('x');
    const body = { messageId: toBase64Url(crypto.getRandomValues(new Uint8Array(16))), customerId: 'no-app-7', phone: newPhone(), class: 'otp', ciphertext: toBase64(ciphertext) };
    await expect(sender.device.api.webMessage({ ...body, fragmentKey: toBase64Url(key) } as typeof body)).rejects.toMatchObject({ status: 400 });
    key.fill(0);
    expect(await t.server.db.query('SELECT 1 FROM routes WHERE message_id = $1', [body.messageId])).toEqual([]);
    // The SDK's own commitment, replayed for another customer: refused.
    const sent = await sender.sendToWeb('no-app-8', newPhone(), `Mine ${MARKER}`, { class: 'otp', deliver: smsDeliver(providers.businessSms, DEMO_BRAND) });
    const mine = (await sender.device.exportEvidence(sent.messageId)).commitment;
    const signature = (await sender.device.exportEvidence(sent.messageId)).commitmentSignature;
    await expect(
      sender.device.api.webMessage({ ...body, messageId: toBase64Url(crypto.getRandomValues(new Uint8Array(16))), commitment: { body: mine, signature } }),
    ).rejects.toMatchObject({ status: 400, code: 'commitment_mismatch' });
    await expect(sender.device.api.webMessage({ ...body, messageId: sent.messageId, customerId: 'no-app-9', commitment: { body: mine, signature } })).rejects.toMatchObject({ status: 409 });
  });
});
