/**
 * Capability-aware routing end to end: a real Parley server, real SDK devices, and every
 * provider as an emulator on loopback (FCM, APNs, RBM, Twilio) driven through the
 * production adapters. The capability matrix (app, push+app over FCM and APNs, RCS with a
 * Parley client, SMS link for the app, web link for a customer without the app, policy
 * block and invitation) and the chaos cases (RCS switched off mid-conversation, RBM
 * outage, FCM UNREGISTERED, APNs 410, SMS gateway hanging, duplicate / out-of-order /
 * forged status webhooks, a device that comes online while its SMS is in flight). For
 * each: the right path, the message exactly once at the customer, the right status — and
 * no plaintext in any byte any emulator received.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import type { Envelope, RouteViewResponse } from '@parley/core';
import { DEMO_BRAND, freePort, startLocalProviders, type LocalProviders } from '../../cli/src/demo/providers.js';
import { smsDeliver } from '../src/channels/sender-sms.js';
import { createBusiness, EventLog, type Business } from '@parley/test-kit/sdk';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '@parley/test-kit/server';

const MARKER = 'PLAINTEXT-MARKER-7d1c0e';
const SECOND_FACTOR_SECRET = 'bank-second-factor-secret';
const FAST = { app: 500, push: 1500, rcs: 1500, sms: 8000 };

let t: TestServer;
let providers: LocalProviders;
let bank: Business;
let sender: Sender;
let backend: Server;
/** One-time codes the bank's backend received for delivery to a second factor. */
const codes: { identityId: string; code: string; signatureOk: boolean }[] = [];
let phoneSerial = 0;
/** The bank's own SMS account: web links (the key in their fragment) go out through it, never through the server. */
let deliver: ReturnType<typeof smsDeliver>;

beforeAll(async () => {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  providers = await startLocalProviders({ publicUrl, timeoutMs: 1000, rbmAutoDeliver: true });
  deliver = smsDeliver(providers.businessSms, DEMO_BRAND);
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = createHmac('sha256', SECOND_FACTOR_SECRET).update(body).digest('base64');
      const json = JSON.parse(body.toString()) as { identityId: string; code: string };
      codes.push({ ...json, signatureOk: req.headers['x-parley-signature'] === expected });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const chain = [
    { step: 'app' as const, timeoutMs: FAST.app },
    { step: 'push' as const, timeoutMs: FAST.push },
    { step: 'rcs' as const, timeoutMs: FAST.rcs },
    { step: 'sms-token' as const, timeoutMs: FAST.sms },
  ];
  t = await startTestServer({
    port,
    routing: {
      channels: providers.channels,
      tickMs: 50,
      businesses: {
        'route-bank': {
          brand: DEMO_BRAND,
          appUrl: 'https://examplebank.test/app',
          secondFactor: { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/second-factor`, secret: SECOND_FACTOR_SECRET },
          policies: {
            otp: { chain, otherwise: 'fallback-with-token' },
            alert: { chain, otherwise: 'require-consent' },
            statement: { chain: [{ step: 'app', timeoutMs: FAST.app }], otherwise: 'invite-to-app' },
            notice: { chain: [{ step: 'app', timeoutMs: FAST.app }], otherwise: 'block' },
          },
        },
      },
    },
  });
  bank = await createBusiness(t.url, 'route-bank');
  sender = await Sender.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue('sender', 'sender', { name: DEMO_BRAND }), store: new MemoryKeyStore(), keyPackageBatch: 5, ...nodeRuntime });
  await sender.connect();
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
});

interface Customer {
  readonly id: string;
  readonly phone: string;
  readonly device: Device;
  readonly log: EventLog;
}

/** A customer with the app: enrolled with a phone number, conversation set up while online, then asleep. */
async function customer(options: { push?: 'fcm' | 'apns'; rcs?: 'none' | 'rcs' | 'parley' } = {}): Promise<Customer & { pushToken?: string }> {
  const id = `c-${++phoneSerial}`;
  const phone = `+1555010${String(phoneSerial).padStart(4, '0')}`;
  providers.setRcs(phone, options.rcs ?? 'none');
  const device = await Device.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(id, 'customer', { phone }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    ...nodeRuntime,
  });
  const log = new EventLog(device);
  await device.connect();
  const hello = await sender.send(id, 'Welcome to Example Bank messaging.', { class: 'support' });
  await log.waitFor((e) => e.type === 'message' && e.messageId === hello.messageId);
  await device.disconnect();
  let pushToken: string | undefined;
  if (options.push) {
    pushToken = providers.newPushToken(options.push);
    await device.setPushToken({ provider: options.push, token: pushToken });
  }
  return { id, phone, device, log, ...(pushToken ? { pushToken } : {}) };
}

async function routeOf(messageId: string, done = (r: RouteViewResponse) => r.state !== 'active'): Promise<RouteViewResponse> {
  let last: RouteViewResponse | undefined;
  for (let i = 0; i < 400; i++) {
    last = await sender.route(messageId);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`route of ${messageId} did not finish: ${JSON.stringify(last)}`);
}

const received = (c: Customer, messageId: string) => c.log.messages().filter((m) => m.messageId === messageId);

/** The link in the newest SMS to a phone (Twilio handset inbox). */
async function smsLink(phone: string, count = 1): Promise<string> {
  for (let i = 0; i < 200 && providers.twilio.inbox(phone).length < count; i++) await new Promise((r) => setTimeout(r, 25));
  const inbox = providers.twilio.inbox(phone);
  expect(inbox.length).toBeGreaterThanOrEqual(count);
  const text = inbox[inbox.length - 1]!.text;
  expect(text).not.toContain(MARKER);
  expect(text.startsWith(`${DEMO_BRAND}:`)).toBe(true);
  return text.match(/https?:\/\/\S+/)![0];
}

describe('routing: the capability matrix', () => {
  it('app: a connected device gets it over the WebSocket; nothing else is sent', async () => {
    const c = await customer({ push: 'fcm', rcs: 'parley' });
    await c.device.connect();
    const pushesBefore = providers.fcm.pushes(c.pushToken).length;
    const sent = await sender.send(c.id, `Your code is 111111 ${MARKER}`, { class: 'otp' });
    const route = await routeOf(sent.messageId);
    expect(route).toMatchObject({ state: 'delivered', path: 'app' });
    expect(received(c, sent.messageId)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, FAST.app + 200));
    expect(providers.fcm.pushes(c.pushToken).length).toBe(pushesBefore);
    expect(providers.twilio.inbox(c.phone)).toHaveLength(0);
    await c.device.close();
  });

  for (const provider of ['fcm', 'apns'] as const) {
    it(`push-app (${provider}): an opaque wake-up, then the app fetches the ciphertext`, async () => {
      const c = await customer({ push: provider });
      const unsubscribe = (provider === 'fcm' ? providers.fcm : providers.apns).onPush((push) => {
        if (push.token === c.pushToken) void c.device.sync(); // the phone OS wakes the app
      });
      const sent = await sender.send(c.id, `Your code is 222222 ${MARKER}`, { class: 'otp' });
      const route = await routeOf(sent.messageId);
      unsubscribe();
      expect(route).toMatchObject({ state: 'delivered', path: 'push-app' });
      expect(received(c, sent.messageId)).toHaveLength(1);
      // The woken app's ack confirms the push to its adapter (push services report no delivery).
      await expect
        .poll(async () => (await t.server.db.query<{ status: string }>('SELECT status FROM channel_sends WHERE message_id = $1 AND channel = $2', [sent.messageId, provider]))[0]?.status)
        .toBe('delivered');
      const pushes = (provider === 'fcm' ? providers.fcm : providers.apns).pushes(c.pushToken);
      expect(pushes.length).toBeGreaterThanOrEqual(1);
      // Only "sync" and a collapse id: no content, no sender name.
      const wire = JSON.stringify(pushes);
      expect(wire).not.toContain(MARKER);
      expect(wire).not.toContain(DEMO_BRAND);
      expect(wire).toContain('sync');
      await c.device.close();
    });
  }

  it('rcs: the ciphertext reaches the Parley RCS client through RBM, which hands it to the SDK', async () => {
    const c = await customer({ rcs: 'parley' });
    const stop = providers.rbm.onDelivered((message) => {
      if (message.phone !== c.phone || !message.file) return;
      const envelope = JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope;
      void c.device.receive([envelope]);
    });
    const sent = await sender.send(c.id, `Payment of EUR 10.00 approved ${MARKER}`, { class: 'otp' });
    const route = await routeOf(sent.messageId);
    stop();
    expect(route).toMatchObject({ state: 'delivered', path: 'rcs' });
    expect(received(c, sent.messageId)).toHaveLength(1);
    expect(providers.twilio.inbox(c.phone)).toHaveLength(0);
    expect(route.events.some((e) => e.channel === 'rbm' && e.decision === 'sent')).toBe(true);
    await c.device.close();
  });

  it('sms-token-app: a one-time link by SMS; the app redeems it once and decrypts', async () => {
    const c = await customer();
    const sent = await sender.send(c.id, `Your code is 333333 ${MARKER}`, { class: 'otp' });
    const link = await smsLink(c.phone);
    expect(link).toMatch(new RegExp(`^${t.url}/r/[A-Za-z0-9_-]{22}$`));
    expect(await c.device.openRetrievalLink(link)).toBe(1);
    const route = await routeOf(sent.messageId);
    expect(route).toMatchObject({ state: 'delivered', path: 'sms-token-app' });
    expect(received(c, sent.messageId)).toHaveLength(1);
    // Single use, and bound to the recipient.
    await expect(c.device.openRetrievalLink(link)).rejects.toMatchObject({ status: 410, code: 'token_used' });
    const other = await customer();
    const link2Message = await sender.send(c.id, `Second ${MARKER}`, { class: 'otp' });
    const link2 = await smsLink(c.phone, 2);
    await expect(other.device.openRetrievalLink(link2)).rejects.toMatchObject({ status: 403, code: 'token_wrong_recipient' });
    expect(await c.device.openRetrievalLink(link2)).toBe(1);
    expect((await routeOf(link2Message.messageId)).path).toBe('sms-token-app');
    await Promise.all([c.device.close(), other.device.close()]);
  });

  it('sms-token-web: a customer without the app reads it after a second-factor code and consent', async () => {
    const phone = '+15550209999';
    const text = `Your code is 444444. ${MARKER}`;
    const result = await sender.sendToWeb('no-app-1', phone, text, { class: 'otp', deliver });
    expect(result).toMatchObject({ path: 'pending', state: 'active' });
    const link = await smsLink(phone);
    const url = new URL(link);
    const token = url.pathname.split('/').pop()!;
    const key = url.hash.slice(1);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const post = (path: string, body: unknown) => fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await (await post('/v1/web/describe', { token })).json()).toEqual({ brand: DEMO_BRAND, kind: 'web', state: 'usable' });
    // Without consent, or with a wrong code, nothing is handed out.
    expect((await post('/v1/web/challenge', { token })).status).toBe(200);
    const code = codes[codes.length - 1]!;
    expect(code).toMatchObject({ identityId: 'route-bank:no-app-1', signatureOk: true });
    expect(await (await post('/v1/web/open', { token, code: code.code, consent: false })).json()).toMatchObject({ error: { code: 'consent_required' } });
    const wrong = code.code === '000000' ? '000001' : '000000';
    expect(await (await post('/v1/web/open', { token, code: wrong, consent: true })).json()).toMatchObject({ error: { code: 'otp_invalid' } });
    const opened = await post('/v1/web/open', { token, code: code.code, consent: true });
    expect(opened.status).toBe(200);
    const { ciphertext } = (await opened.json()) as { ciphertext: string };
    const sealed = Buffer.from(ciphertext, 'base64');
    const aesKey = await crypto.subtle.importKey('raw', Buffer.from(key, 'base64url'), 'AES-GCM', false, ['decrypt']);
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: new TextEncoder().encode('parley/v1/web-message') }, aesKey, sealed.subarray(12));
    expect(new TextDecoder().decode(plain)).toBe(text);
    expect((await routeOf(result.messageId)).path).toBe('sms-token-web');
    // Reused link: gone.
    expect(await (await post('/v1/web/open', { token, code: code.code, consent: true })).json()).toMatchObject({ error: { code: 'token_used' } });
    // The server never held the key: not in any table.
    const rows = await t.server.db.query<{ n: string }>(`SELECT count(*) AS n FROM retrieval_tokens WHERE encode(coalesce(ciphertext, ''::bytea), 'base64') LIKE $1`, [`%${key}%`]);
    expect(rows[0]!.n).toBe('0');
    expect(t.logs.join('\n')).not.toContain(key);
  });

  it('web links: wrong codes lock the link; an expired link is refused', async () => {
    const result = await sender.sendToWeb('no-app-2', '+15550208888', `Locked ${MARKER}`, { class: 'otp', deliver });
    const token = new URL(await smsLink('+15550208888')).pathname.split('/').pop()!;
    const post = (path: string, body: unknown) => fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    await post('/v1/web/challenge', { token });
    const right = codes[codes.length - 1]!.code;
    const wrong = right === '123456' ? '654321' : '123456';
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push(((await (await post('/v1/web/open', { token, code: wrong, consent: true })).json()) as { error: { code: string } }).error.code);
    expect(answers.slice(0, 3)).toEqual(['otp_invalid', 'otp_invalid', 'otp_invalid']);
    expect(answers).toContain('token_locked');
    expect(((await (await post('/v1/web/open', { token, code: right, consent: true })).json()) as { error: { code: string } }).error.code).toMatch(/token_used|token_locked/);
    expect((await sender.route(result.messageId)).state).toBe('active');

    await sender.sendToWeb('no-app-3', '+15550207777', `Expired ${MARKER}`, { class: 'otp', deliver });
    const expired = new URL(await smsLink('+15550207777')).pathname.split('/').pop()!;
    await t.server.db.query(`UPDATE retrieval_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'web' AND used_at IS NULL`);
    expect(((await (await post('/v1/web/challenge', { token: expired })).json()) as { error: { code: string } }).error.code).toBe('token_expired');
    expect((await post('/v1/web/open', { token: expired, code: '123456', consent: true })).status).toBe(410);
  });

  it('blocked and invited: the policy decides for a customer without the app; nothing of the message is sent', async () => {
    const blocked = await sender.sendToWeb('no-app-4', '+15550206666', `Blocked ${MARKER}`, { class: 'notice', deliver });
    expect(blocked).toMatchObject({ path: 'blocked', state: 'blocked' });
    expect(providers.twilio.inbox('+15550206666')).toHaveLength(0);
    const invited = await sender.sendToWeb('no-app-5', '+15550205555', `Statement ${MARKER}`, { class: 'statement', deliver });
    expect(invited).toMatchObject({ path: 'invited' });
    await expect.poll(() => providers.twilio.inbox('+15550205555').length).toBe(1);
    const inbox = providers.twilio.inbox('+15550205555');
    expect(inbox[0]!.text).toBe(`${DEMO_BRAND}: you have a new message in the ${DEMO_BRAND} app. Get the app: https://examplebank.test/app`);
    // require-consent: blocked until the business records the customer's consent.
    expect(await sender.sendToWeb('no-app-6', '+15550204444', `Alert ${MARKER}`, { class: 'alert', deliver })).toMatchObject({ path: 'blocked' });
    await sender.recordFallbackConsent('no-app-6');
    expect(await sender.sendToWeb('no-app-6', '+15550204444', `Alert ${MARKER}`, { class: 'alert', deliver })).toMatchObject({ path: 'pending' });
    // A customer who has the app is refused the web path.
    const c = await customer();
    await expect(sender.sendToWeb(c.id, c.phone, 'x', { class: 'otp', deliver })).rejects.toMatchObject({ code: 'customer_has_app' });
    await c.device.close();
  });
});

describe('routing: chaos', () => {
  it('RCS switched off mid-conversation: the cached capability fails, is re-detected, and the SMS link takes over', async () => {
    const c = await customer({ rcs: 'parley' });
    const stop = providers.rbm.onDelivered((message) => {
      if (message.phone === c.phone && message.file) void c.device.receive([JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope]);
    });
    const first = await sender.send(c.id, `First ${MARKER}`, { class: 'otp' });
    expect((await routeOf(first.messageId)).path).toBe('rcs');
    providers.setRcs(c.phone, 'none'); // the carrier turns RCS off
    const second = await sender.send(c.id, `Second ${MARKER}`, { class: 'otp' });
    const link = await smsLink(c.phone);
    await c.device.openRetrievalLink(link);
    const route = await routeOf(second.messageId);
    stop();
    expect(route.path).toBe('sms-token-app');
    expect(route.events.find((e) => e.channel === 'rbm' && e.decision === 'failed')?.reason).toBe('not_capable');
    expect(received(c, second.messageId)).toHaveLength(1);
    await c.device.close();
  });

  it('first delivery wins: an RCS message still undelivered when the app gets the message is revoked (DELETE)', async () => {
    const c = await customer({ rcs: 'parley' });
    providers.rbm.autoDeliver = false; // the handset is out of coverage
    try {
      const sent = await sender.send(c.id, `Revoke me ${MARKER}`, { class: 'otp' });
      await expect.poll(async () => (await sender.route(sent.messageId)).events.some((e) => e.channel === 'rbm' && e.decision === 'sent'), { timeout: 10_000 }).toBe(true);
      await c.device.connect(); // the app comes back first
      // Finished as delivered, then the path corrected once the RBM message was revoked undelivered.
      const route = await routeOf(sent.messageId, (r) => r.events.some((e) => e.decision === 'path-corrected'));
      expect(route).toMatchObject({ state: 'delivered', path: 'app' }); // the app got it by itself
      expect(route.events.find((e) => e.step === 'cancel')).toMatchObject({ channel: 'rbm', decision: 'revoked' });
      expect(providers.rbm.handset(c.phone).some((m) => m.file && new TextDecoder().decode(m.file.bytes).includes(sent.envelopeId))).toBe(false);
      expect(received(c, sent.messageId)).toHaveLength(1);
    } finally {
      providers.rbm.autoDeliver = true;
      await c.device.close();
    }
  });

  it('RBM outage (5xx): retried with backoff, then the next step', async () => {
    const c = await customer({ rcs: 'parley' });
    const stop = providers.rbm.onDelivered((message) => {
      if (message.phone === c.phone && message.file) void c.device.receive([JSON.parse(new TextDecoder().decode(message.file.bytes)) as Envelope]);
    });
    const warm = await sender.send(c.id, `Warm ${MARKER}`, { class: 'otp' });
    expect((await routeOf(warm.messageId)).path).toBe('rcs'); // RCS with a Parley client is now cached
    stop();
    providers.rbm.breakProvider('unavailable');
    try {
      const sent = await sender.send(c.id, `Outage ${MARKER}`, { class: 'otp' });
      const link = await smsLink(c.phone);
      await c.device.openRetrievalLink(link);
      const route = await routeOf(sent.messageId);
      expect(route.path).toBe('sms-token-app');
      expect(route.events.filter((e) => e.channel === 'rbm' && e.decision === 'retry').length).toBeGreaterThanOrEqual(1);
    } finally {
      providers.rbm.restoreProvider();
      await c.device.close();
    }
  });

  for (const provider of ['fcm', 'apns'] as const) {
    it(`${provider} reports the token dead (${provider === 'fcm' ? 'UNREGISTERED' : '410 Unregistered'}): the token is dropped and routing moves on`, async () => {
      const c = await customer({ push: provider });
      (provider === 'fcm' ? providers.fcm : providers.apns).unregisterToken(c.pushToken!);
      const sent = await sender.send(c.id, `Dead token ${MARKER}`, { class: 'otp' });
      await c.device.openRetrievalLink(await smsLink(c.phone));
      const route = await routeOf(sent.messageId);
      expect(route.path).toBe('sms-token-app');
      expect(route.events.some((e) => e.decision === 'token-dropped' && e.reason === 'unregistered')).toBe(true);
      const [row] = await t.server.db.query<{ push_token: string | null }>('SELECT push_token FROM devices WHERE id = $1', [c.device.deviceId]);
      expect(row!.push_token).toBeNull();
      await c.device.close();
    });
  }

  it('SMS gateway hangs: the step times out once (never a second SMS) and the message waits in the mailbox', async () => {
    const c = await customer();
    providers.twilio.hang = true;
    let sent;
    try {
      sent = await sender.send(c.id, `Hang ${MARKER}`, { class: 'otp' });
      const route = await routeOf(sent.messageId);
      expect(route.state).toBe('exhausted');
      expect(route.events.some((e) => e.channel === 'twilio' && e.decision === 'failed' && e.reason === 'timeout')).toBe(true);
    } finally {
      providers.twilio.hang = false;
    }
    // The ciphertext is still in the mailbox: the app gets it on its next sync, once.
    await c.device.sync();
    expect(received(c, sent.messageId)).toHaveLength(1);
    await c.device.close();
  });

  it('duplicate, out-of-order and forged status webhooks: no regression, no duplicate, forged ones refused and counted', async () => {
    const c = await customer();
    providers.twilio.callbackOrder = 'reversed';
    try {
      const sent = await sender.send(c.id, `Callbacks ${MARKER}`, { class: 'otp' });
      await smsLink(c.phone);
      await new Promise((r) => setTimeout(r, 300));
      providers.twilio.callbackOrder = 'duplicate';
      const sid = providers.twilio.acceptedFor(c.phone)[0]!.sid;
      expect(await providers.twilio.deliver(sid)).toBe(200);
      const [send] = await t.server.db.query<{ status: string }>(`SELECT status FROM channel_sends WHERE message_id = $1 AND channel = 'twilio'`, [sent.messageId]);
      expect(send!.status).toBe('delivered');
      providers.twilio.callbackSignature = 'forged';
      expect(await providers.twilio.postCallback(sid, 'failed')).toBe(401);
      providers.twilio.callbackSignature = 'missing';
      expect(await providers.twilio.postCallback(sid, 'failed')).toBe(401);
      const [after] = await t.server.db.query<{ status: string }>(`SELECT status FROM channel_sends WHERE message_id = $1 AND channel = 'twilio'`, [sent.messageId]);
      expect(after!.status).toBe('delivered');
      const metrics = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
      expect(metrics).toMatch(/parley_webhook_signature_failures_total\{[^}]*channel="twilio"[^}]*\} [2-9]/);
      await c.device.openRetrievalLink(await smsLink(c.phone));
      expect(received(c, sent.messageId)).toHaveLength(1);
    } finally {
      providers.twilio.callbackOrder = 'normal';
      providers.twilio.callbackSignature = 'valid';
      await c.device.close();
    }
  });

  it('a device that comes online while its SMS is in flight gets the message once; the link then hands out nothing more', async () => {
    const c = await customer();
    const sent = await sender.send(c.id, `In flight ${MARKER}`, { class: 'otp' });
    const link = await smsLink(c.phone);
    await c.device.connect(); // the app opens by itself before the customer taps the link
    const route = await routeOf(sent.messageId, (r) => r.events.some((e) => e.decision === 'delivered'));
    expect(route).toMatchObject({ state: 'delivered', path: 'app' }); // the link was never needed
    expect(await c.device.openRetrievalLink(link)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(received(c, sent.messageId)).toHaveLength(1);
    await c.device.close();
  });

  it('metrics: deliveries by path and class, fallbacks, latency — metadata only', async () => {
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    for (const path of ['app', 'push-app', 'rcs', 'sms-token-app', 'sms-token-web']) expect(text).toMatch(new RegExp(`parley_deliveries_total\\{[^}]*path="${path}"`));
    expect(text).toMatch(/parley_route_fallbacks_total\{/);
    expect(text).toMatch(/parley_channel_send_seconds_bucket\{/);
    expect(text).toMatch(/parley_policy_blocks_total\{/);
    expect(text).not.toContain(MARKER);
    expect(text).not.toMatch(/\+1555/);
  });

  it('no plaintext in any byte any emulator received, and none in the server’s tables or logs', async () => {
    const bytes = providers.receivedBytes();
    expect(bytes.length).toBeGreaterThan(10_000);
    expect(bytes.includes(Buffer.from(MARKER))).toBe(false);
    expect(t.logs.join('\n')).not.toContain(MARKER);
    for (const table of ['routes', 'route_events', 'channel_sends', 'retrieval_tokens', 'capability_cache']) {
      const rows = await t.server.db.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
      expect(JSON.stringify(rows, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v))).not.toContain(MARKER);
    }
  });
});
