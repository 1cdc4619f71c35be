/**
 * Bank service → gateway → Parley server → customer devices (Node SDK), all real on
 * loopback: one API call sends an OTP end to end, status webhooks arrive signed (Standard
 * Webhooks) and in order, the message view shows path, receipts and evidence, the
 * evidence verifies, and the gateway's database holds no plaintext.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { WebhookReplayGuard, WebhookVerificationError, verifyWebhook } from '@parley/gateway/webhooks';
import { EventLog } from '@parley/test-kit/sdk';
import { call, enrollCustomer, gatewayWorld, type GatewayWorld } from './fixtures.js';
import type { RunningGateway } from '../src/index.js';

let world: GatewayWorld;
let gateway: RunningGateway;

beforeAll(async () => {
  world = await gatewayWorld();
  gateway = await world.start();
});
afterAll(async () => {
  await world?.close();
});

describe('gateway: send an OTP with one call', () => {
  it('delivers end to end, reports queued → sent → delivered → read by signed webhooks, and shows receipts and evidence', async () => {
    const phone = await enrollCustomer(gateway, world.apiKey, 'c-1001', { phone: '+15555550100' });
    const events = new EventLog(phone);
    await phone.connect();

    const sent = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-1001', class: 'otp', body: 'Your code is 493817', idempotencyKey: 'otp-1' });
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ id: expect.any(String), status: 'queued' });
    const id = sent.body.id as string;

    const received = await events.waitFor((e) => e.type === 'message' && e.text === 'Your code is 493817', 30_000);
    expect(received.type === 'message' && received.messageId).toBe(id);
    await phone.markRead(id);

    await world.receiver.waitFor(() => world.receiver.of(id).some((w) => w.type === 'message.read'), 30_000);
    const hooks = world.receiver.of(id);
    expect(hooks.every((w) => w.verified)).toBe(true);
    // The official Standard Webhooks library accepts every one of them too.
    const official = new Webhook(world.webhookSecret);
    for (const w of hooks) expect(() => official.verify(w.raw, w.headers)).not.toThrow();
    expect(hooks.map((w) => w.type)).toEqual(['message.queued', 'message.sent', 'message.delivered', 'message.read']);
    expect(hooks.find((w) => w.type === 'message.delivered')!.data['path']).toBe('app');
    // Both ends run X-Wing: the conversation is post-quantum, and the webhook says so.
    expect(hooks.find((w) => w.type === 'message.sent')!.data['suite']).toBe('MLS_256_XWING_AES256GCM_SHA512_Ed25519');

    const view = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ id, to: 'c-1001', class: 'otp', status: 'read', mode: 'app', path: 'app', idempotencyKey: 'otp-1' });
    expect(view.body.receipts.map((r: { status: string }) => r.status).sort()).toEqual(['delivered', 'read']);
    expect(view.body.receipts.every((r: { deviceId: string }) => r.deviceId === phone.deviceId)).toBe(true);
    expect(view.body.evidence).toMatchObject({ logged: true, complete: true });
    expect(view.body.decisions.length).toBeGreaterThan(0);

    const evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}/evidence`);
    expect(evidence.status).toBe(200);
    expect(evidence.body.commitment.messageId).toBe(id);
    expect(evidence.body.receipts.length).toBeGreaterThanOrEqual(2);
    expect(evidence.body.plaintext).toBeUndefined();
    const revealed = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}/evidence?reveal=true`);
    expect(revealed.body.plaintext).toBe('Your code is 493817');

    // Events feed: the same bodies, in order, for catching up.
    const feed = await call(gateway, world.apiKey, 'GET', `/v1/events?after=0&messageId=${id}`);
    expect(feed.status).toBe(200);
    expect(feed.body.events.map((e: { event: { type: string } }) => e.event.type)).toEqual(hooks.map((w) => w.type));
    expect(feed.body.events.map((e: { id: string }) => e.id)).toEqual(hooks.map((w) => w.id));
    await phone.close();
  });

  it('keeps no plaintext in its database: records, messages and events', async () => {
    const secret = 'Your code is 493817';
    const tables = ['gateway_records', 'gateway_messages', 'gateway_events', 'gateway_settings', 'gateway_webhook_deliveries'];
    for (const table of tables) {
      const rows = await world.db.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
      const dump = JSON.stringify(rows, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
      expect(dump, table).not.toContain(secret);
      expect(dump, table).not.toContain('493817');
    }
  });

  it('answers a repeated idempotency key with the same message, and a reused key with 409', async () => {
    const body = { to: 'c-2002', class: 'alert', body: 'Card charged $12', idempotencyKey: 'alert-7' };
    const first = await call(gateway, world.apiKey, 'POST', '/v1/messages', body);
    const again = await call(gateway, world.apiKey, 'POST', '/v1/messages', body);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const reused = await call(gateway, world.apiKey, 'POST', '/v1/messages', { ...body, body: 'Card charged $13' });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
  });

  it('refuses bad input with 4xx codes and requests without a valid API key with 401', async () => {
    const cases: [unknown, number, string][] = [
      [{ to: 'c-1', class: 'otp' }, 400, 'invalid_request'],
      [{ to: 'c-1', class: 'OTP!', body: 'x' }, 400, 'invalid_request'],
      [{ to: 'c-1', class: 'otp', body: '' }, 400, 'invalid_request'],
      [{ to: 'c-1', class: 'otp', body: 'x', statusCallback: 'ftp://bank.example/x' }, 400, 'invalid_request'],
      [{ to: 'c-1', class: 'otp', body: 'x', phone: '555' }, 400, 'invalid_request'],
      [{ to: 'c-1', class: 'otp', body: 'x'.repeat(70_000) }, 400, 'invalid_request'],
      ['{"to":', 400, 'invalid_json'],
      // 30,000 four-byte characters: under the character limit, over the byte limit.
      [{ to: 'c-1', class: 'otp', body: '😀'.repeat(30_000) }, 413, 'payload_too_large'],
    ];
    for (const [body, status, code] of cases) {
      const res = await call(gateway, world.apiKey, 'POST', '/v1/messages', body);
      expect([res.status, res.body?.error?.code], JSON.stringify(body).slice(0, 60)).toEqual([status, code]);
    }
    expect((await call(gateway, undefined, 'POST', '/v1/messages', { to: 'c-1', class: 'otp', body: 'x' })).status).toBe(401);
    expect((await call(gateway, 'pgw_AAAAAAAAAAAA_' + 'A'.repeat(43), 'GET', '/v1/events')).body.error.code).toBe('unauthorized');
    expect((await call(gateway, world.apiKey, 'GET', '/v1/messages/AAAAAAAAAAAAAAAAAAAAAA')).body.error.code).toBe('unknown_message');
  });

  it('keeps status webhooks while the receiver is down and delivers them in order when it is back', async () => {
    const phone = await enrollCustomer(gateway, world.apiKey, 'c-3003');
    const events = new EventLog(phone);
    await phone.connect();
    world.receiver.down = true;
    const sent = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-3003', class: 'alert', body: 'Card charged $40' });
    const id = sent.body.id as string;
    await events.waitFor((e) => e.type === 'message' && e.messageId === id, 30_000);
    await new Promise((r) => setTimeout(r, 800));
    expect(world.receiver.of(id)).toEqual([]);
    const pending = await world.db.query<{ attempts: number }>(
      'SELECT d.attempts FROM gateway_webhook_deliveries d JOIN gateway_events e ON e.id = d.event_id WHERE e.message_id = $1 AND d.delivered_at IS NULL',
      [id],
    );
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.some((p) => Number(p.attempts) > 0)).toBe(true);
    world.receiver.down = false;
    await world.receiver.waitFor(() => world.receiver.of(id).some((w) => w.type === 'message.delivered'), 30_000);
    expect(world.receiver.of(id).map((w) => w.type)).toEqual(['message.queued', 'message.sent', 'message.delivered']);
    await phone.close();
  });

  it("rejects a forged, tampered, stale or replayed webhook with our helper", () => {
    const hook = world.receiver.received.find((w) => w.verified)!;
    const guard = new WebhookReplayGuard();
    const codeOf = (f: () => unknown) => {
      try {
        f();
        return 'accepted';
      } catch (error) {
        return error instanceof WebhookVerificationError ? error.code : String(error);
      }
    };
    const now = () => Number(hook.headers['webhook-timestamp']) * 1000;
    expect(codeOf(() => verifyWebhook(world.webhookSecret, hook.headers, hook.raw, { now, replayGuard: guard }))).toBe('accepted');
    expect(codeOf(() => verifyWebhook(world.webhookSecret, hook.headers, hook.raw, { now, replayGuard: guard }))).toBe('webhook_replayed');
    expect(codeOf(() => verifyWebhook(world.webhookSecret, hook.headers, hook.raw.replace('message.', 'messagf.'), { now }))).toBe('webhook_signature_invalid');
    expect(codeOf(() => verifyWebhook('whsec_' + Buffer.alloc(32, 7).toString('base64'), hook.headers, hook.raw, { now }))).toBe('webhook_signature_invalid');
    expect(codeOf(() => verifyWebhook(world.webhookSecret, hook.headers, hook.raw, { now: () => now() + 3600_000 }))).toBe('webhook_timestamp_invalid');
    expect(codeOf(() => verifyWebhook(world.webhookSecret, { ...hook.headers, 'webhook-signature': '' }, hook.raw, { now }))).not.toBe('accepted');
  });
});

