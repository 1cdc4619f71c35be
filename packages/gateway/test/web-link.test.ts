/**
 * A customer without the app, through the gateway: the class policy decides. For a web link
 * the gateway seals the text, the server issues a link WITHOUT its key, the gateway appends
 * `#key` and sends the SMS through the bank's own SMS account (a Twilio adapter on the Twilio
 * emulator): the key is in the SMS and nowhere on the Parley server (tables, logs). The
 * customer opens the link (second-factor code, consent) and decrypts; the gateway reports
 * queued → sent (web) → delivered (sms-token-web). A blocking policy fails the message with a
 * reason; a customer the server does not know and no phone fails as `customer_unknown`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64 } from '@parley/core';
import { openWebMessage } from '@parley/core/web-message';
import { TwilioEmulator } from '@parley/emulators';
import { TwilioChannel } from '@parley/server';
import { startTestServer, type TestServer } from '@parley/test-kit/server';
import { call, gatewayWorld, type GatewayWorld } from './fixtures.js';
import type { RunningGateway } from '../src/index.js';

const BUSINESS = 'web-bank';
let server: TestServer;
let world: GatewayWorld;
let gateway: RunningGateway;
let twilio: TwilioEmulator;
let sms: TwilioChannel;
let backend: Server;
const codes: { code: string }[] = [];

beforeAll(async () => {
  backend = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      codes.push(JSON.parse(Buffer.concat(chunks).toString()) as { code: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  const secondFactor = { url: `http://127.0.0.1:${(backend.address() as AddressInfo).port}/codes`, secret: 'gw-link-secret' };
  server = await startTestServer({
    routing: {
      tickMs: 50,
      businesses: {
        [BUSINESS]: {
          brand: 'Web Bank',
          secondFactor,
          policies: {
            otp: { chain: [{ step: 'app', timeoutMs: 500 }], otherwise: 'fallback-with-token' },
            notice: { chain: [{ step: 'app', timeoutMs: 500 }], otherwise: 'block' },
          },
        },
      },
    },
  });
  twilio = await TwilioEmulator.start({ callbacks: 'manual' });
  // The bank's own SMS account: the gateway's provider, not the Parley server's.
  sms = new TwilioChannel({ accountSid: twilio.accountSid, authToken: twilio.authToken, from: '+15005550006', statusCallbackUrl: 'http://127.0.0.1:9/bank-sms-status', baseUrl: twilio.baseUrl, timeoutMs: 5000 });
  world = await gatewayWorld({ server, businessId: BUSINESS });
  gateway = await world.start({ sms });
}, 120_000);

afterAll(async () => {
  await world?.close();
  await sms?.close();
  await twilio?.close();
  await server?.stop();
  await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
});

describe('gateway: customers without the app', () => {
  it('sends a web link whose key only the SMS carries, and reports its delivery when the customer opens it', async () => {
    const phone = '+15555550199';
    const text = 'Web Bank: your code is 730914';
    const sent = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-9001', class: 'otp', body: text, phone });
    expect(sent.status).toBe(202);
    const id = sent.body.id as string;
    await world.receiver.waitFor(() => world.receiver.of(id).some((w) => w.type === 'message.sent'));
    expect(world.receiver.of(id).find((w) => w.type === 'message.sent')!.data['mode']).toBe('web');

    const [message] = twilio.acceptedFor(phone);
    const link = /(https?:\/\/\S+\/r\/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43}))/.exec(message!.body);
    expect(link, message!.body).not.toBeNull();
    const [, , token, key] = link!;
    expect(message!.body).not.toContain('730914');

    // The key is nowhere on the Parley server: no table, no log line.
    for (const table of ['retrieval_tokens', 'routes', 'route_events', 'audit_commitments', 'channel_sends']) {
      const rows = await server.server.db.query<Record<string, unknown>>(`SELECT * FROM ${table}`);
      const dump = JSON.stringify(rows, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64url') + Buffer.from(v).toString('latin1') : v));
      expect(dump, table).not.toContain(key!);
    }
    expect(server.logs.join('\n')).not.toContain(key!);

    // The customer opens the link: a code to the bank's second factor, consent, the ciphertext once.
    const challenge = await fetch(`${server.url}/v1/web/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    expect(challenge.status).toBe(200);
    const code = codes.at(-1)!.code;
    const opened = (await (await fetch(`${server.url}/v1/web/open`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, code, consent: true }) })).json()) as { ciphertext: string };
    expect(await openWebMessage(fromBase64(opened.ciphertext), fromBase64(key!))).toBe(text);

    await world.receiver.waitFor(() => world.receiver.of(id).some((w) => w.type === 'message.delivered'), 30_000);
    const hooks = world.receiver.of(id);
    expect(hooks.every((w) => w.verified)).toBe(true);
    expect(hooks.map((w) => w.type)).toEqual(['message.queued', 'message.sent', 'message.fallback', 'message.delivered']);
    expect(hooks.find((w) => w.type === 'message.delivered')!.data['path']).toBe('sms-token-web');
    const view = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}`);
    expect(view.body).toMatchObject({ status: 'delivered', mode: 'web', path: 'sms-token-web', evidence: { logged: true, complete: true } });
    // Web links carry audit commitments too: the evidence bundle exists.
    const evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${id}/evidence`);
    expect(evidence.status).toBe(200);
    expect(evidence.body.commitment.conversationId).toBe(`web_${id}`);
  });

  it('fails a message the class policy blocks, with the reason, and one for an unknown customer without a phone', async () => {
    const blocked = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-9002', class: 'notice', body: 'New rates', phone: '+15555550198' });
    const unknown = await call(gateway, world.apiKey, 'POST', '/v1/messages', { to: 'c-9003', class: 'otp', body: 'Your code is 1' });
    await world.receiver.waitFor(() => [blocked.body.id, unknown.body.id].every((id: string) => world.receiver.of(id).some((w) => w.type === 'message.failed')));
    expect(world.receiver.of(blocked.body.id).map((w) => w.type)).toEqual(['message.queued', 'message.failed']);
    expect(world.receiver.of(blocked.body.id).at(-1)!.data['reason']).toBe('policy_blocked');
    expect(world.receiver.of(unknown.body.id).at(-1)!.data['reason']).toBe('customer_unknown');
    expect(twilio.acceptedFor('+15555550198')).toEqual([]);
    // The follower asks the server later and reports nothing twice.
    await new Promise((r) => setTimeout(r, 1500));
    expect(world.receiver.of(blocked.body.id).filter((w) => w.type === 'message.failed')).toHaveLength(1);
  });
});
