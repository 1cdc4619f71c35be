/**
 * The RBM channel against the RBM emulator: real HTTP on loopback both ways (the adapter
 * calls the emulator's API through its recording front; the emulator posts signed webhooks
 * to a small receiver here that hands them to `channel.handleWebhook`).
 */
import { createHmac, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RbmEmulator, RBM_PARLEY_FEATURE, type RbmPhoneCapability } from '@parley/emulators';
import { ChannelError, type OutboundEnvelope, type OutboundItem, type Recipient, type StatusEvent } from '../../src/channels/channel.js';
import { RbmChannel, type RbmChannelOptions } from '../../src/channels/rbm.js';
import { describeChannelContract } from './contract.js';

const AGENT_ID = 'example-bank-agent';
const BRAND = 'Example Bank';
const CLIENT_EMAIL = 'rbm-agent@example-bank-rbm.iam.gserviceaccount.com';
const KEY_ID = 'b3f1c0d2e4a5968778695a4b3c2d1e0f12345678';
const CLIENT_TOKEN = 'SJENCPGJESMGUFPY-test';

interface Setup {
  readonly emulator: RbmEmulator;
  readonly channel: RbmChannel;
  readonly events: StatusEvent[];
  /** Status codes the test's webhook receiver answered. */
  readonly answered: number[];
  readonly webhookUrl: string;
  phone(capability: RbmPhoneCapability): Recipient;
  close(): Promise<void>;
}

function rsaKeys(): { privatePem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey };
}

let phoneSerial = 1000;

async function setup(overrides: Partial<RbmChannelOptions> = {}, emulatorOptions: { tokenLifetimeSeconds?: number } = {}): Promise<Setup> {
  const keys = rsaKeys();
  const emulator = await RbmEmulator.start({
    serviceAccounts: [{ clientEmail: CLIENT_EMAIL, publicKey: keys.publicKey, keyId: KEY_ID }],
    agents: [{ agentId: AGENT_ID, brand: BRAND, verified: true, serviceAccountEmail: CLIENT_EMAIL }],
    ...(emulatorOptions.tokenLifetimeSeconds !== undefined ? { tokenLifetimeSeconds: emulatorOptions.tokenLifetimeSeconds } : {}),
  });
  const channel = new RbmChannel({
    agentId: AGENT_ID,
    brand: BRAND,
    serviceAccount: { client_email: CLIENT_EMAIL, private_key: keys.privatePem, private_key_id: KEY_ID, token_uri: emulator.tokenUrl },
    webhookClientToken: CLIENT_TOKEN,
    baseUrl: emulator.url,
    timeoutMs: 2000,
    ...overrides,
  });
  const events: StatusEvent[] = [];
  channel.onStatus((e) => events.push(e));
  const answered: number[] = [];
  const receiver: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        url: `http://127.0.0.1${req.url ?? '/'}`,
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])),
        rawBody: new Uint8Array(Buffer.concat(chunks)),
      };
      const secret = channel.webhookVerificationSecret(request);
      if (secret !== undefined) {
        answered.push(200);
        res.writeHead(200, { 'content-type': 'text/plain' }).end(secret);
        return;
      }
      channel.handleWebhook(request).then(
        () => {
          answered.push(200);
          res.writeHead(200).end();
        },
        (e: unknown) => {
          const status = e instanceof ChannelError && e.reason === 'webhook_signature_invalid' ? 403 : 500;
          answered.push(status);
          res.writeHead(status).end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', () => resolve()));
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/rbm/events`;
  emulator.setWebhook(webhookUrl, CLIENT_TOKEN);
  return {
    emulator,
    channel,
    events,
    answered,
    webhookUrl,
    phone(capability) {
      const phone = `+1555${String(++phoneSerial).padStart(7, '0')}`;
      emulator.setPhone(phone, capability);
      return { pseudonym: `pseudonym-${phoneSerial}`, phone };
    },
    async close() {
      await channel.close();
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      await emulator.close();
    },
  };
}

let serial = 0;
function envelope(recipient: Recipient, item: OutboundItem): OutboundEnvelope {
  serial++;
  return { deliveryId: `delivery-rbm-${serial}-${randomBytes(4).toString('hex')}`, messageId: `message-${serial}`, recipient, item };
}

const linkItem = (token = 'abc123'): OutboundItem => ({
  kind: 'link',
  text: `${BRAND}: you have a secure message. Open https://x.test/r/${token}`,
  url: `https://x.test/r/${token}`,
  brand: BRAND,
});
const ciphertextItem = (bytes: Uint8Array = new Uint8Array(randomBytes(600))): OutboundItem => ({ kind: 'ciphertext', bytes, contentType: 'message/mls' });

async function failure(p: Promise<unknown>): Promise<ChannelError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ChannelError);
  return e as ChannelError;
}

// ---------------------------------------------------------------------------

describeChannelContract('rbm', async () => {
  const s = await setup();
  const reachable = s.phone('parley');
  const dead = s.phone('none');
  return {
    channel: s.channel,
    reachable,
    dead,
    items: [ciphertextItem(), linkItem()],
    acceptedCount: (r) => s.emulator.acceptedCount(r.phone ?? ''),
    reportDelivered: async (id) => {
      await s.emulator.deliver(id);
    },
    breakProvider: async () => s.emulator.breakProvider('unavailable'),
    restoreProvider: async () => s.emulator.restoreProvider(),
    receivedBytes: () => s.emulator.recorder.bytes(),
    close: () => s.close(),
  };
});

describe('rbm channel', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup({ capabilityTtlMs: 120_000, notCapableTtlMs: 30_000 });
  });
  afterAll(async () => {
    await s?.close();
  });

  describe('capabilities', () => {
    it('reports no RCS / RCS / RCS with a Parley client, with the configured TTLs', async () => {
      const none = await s.channel.capabilities(s.phone('none'));
      expect(none).toEqual({ reachable: false, endToEnd: false, features: [], source: 'provider-check', ttlMs: 30_000 });

      const rcs = await s.channel.capabilities(s.phone('rcs'));
      expect(rcs.reachable).toBe(true);
      expect(rcs.endToEnd).toBe(false);
      expect(rcs.features).toContain('RICHCARD_STANDALONE');
      expect(rcs.features).not.toContain(RBM_PARLEY_FEATURE);
      expect(rcs.source).toBe('provider-check');
      expect(rcs.ttlMs).toBe(120_000);

      const parley = await s.channel.capabilities(s.phone('parley'));
      expect(parley.reachable).toBe(true);
      expect(parley.endToEnd).toBe(true);
      expect(parley.features).toContain(RBM_PARLEY_FEATURE);
      expect(parley.ttlMs).toBe(120_000);
    });

    it('asks the documented endpoint with a fresh requestId and the agentId', async () => {
      const r = s.phone('rcs');
      await s.channel.capabilities(r);
      await s.channel.capabilities(r);
      const wire = s.emulator.recorder.bytes().toString('latin1');
      const ids = [...wire.matchAll(new RegExp(`GET /v1/phones/\\${r.phone!}/capabilities\\?requestId=([0-9a-f-]{36})&agentId=${AGENT_ID} HTTP/1.1`, 'g'))].map((m) => m[1]);
      expect(ids).toHaveLength(2);
      expect(ids[0]).not.toBe(ids[1]);
      expect(wire).toMatch(/authorization: Bearer ya29\./i);
    });

    it('answers without asking for a recipient without a phone number', async () => {
      const caps = await s.channel.capabilities({ pseudonym: 'no-phone' });
      expect(caps).toMatchObject({ reachable: false, endToEnd: false, source: 'static' });
    });

    it('follows RCS being switched off mid-conversation', async () => {
      const r = s.phone('parley');
      expect((await s.channel.capabilities(r)).endToEnd).toBe(true);
      await s.channel.send(envelope(r, ciphertextItem()));
      s.emulator.setPhone(r.phone!, 'none');
      expect((await s.channel.capabilities(r)).reachable).toBe(false);
      const e = await failure(s.channel.send(envelope(r, ciphertextItem())));
      expect(e.reason).toBe('not_capable');
      expect(e.providerCode).toBe('NOT_FOUND');
      expect(e.message).not.toContain(r.phone!);
      s.emulator.setPhone(r.phone!, 'rcs');
      const back = await s.channel.capabilities(r);
      expect(back).toMatchObject({ reachable: true, endToEnd: false });
    });
  });

  describe('send', () => {
    it('sends a link as a standalone rich card: brand, template text, open-URL action, nothing else', async () => {
      const r = s.phone('rcs');
      const item = linkItem('card1');
      const { providerMessageId } = await s.channel.send(envelope(r, item));
      expect(providerMessageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const m = s.emulator.message(providerMessageId)!;
      expect(m.phone).toBe(r.phone);
      expect(m.agentId).toBe(AGENT_ID);
      expect(m.contentMessage).toEqual({
        richCard: {
          standaloneCard: {
            cardOrientation: 'VERTICAL',
            cardContent: {
              title: BRAND,
              description: item.kind === 'link' ? item.text : '',
              suggestions: [{ action: { text: 'Open message', postbackData: 'parley_open_link', openUrlAction: { url: 'https://x.test/r/card1' } } }],
            },
          },
        },
      });
    });

    it('refuses a link for another brand before calling the provider', async () => {
      const r = s.phone('rcs');
      const e = await failure(s.channel.send(envelope(r, { ...linkItem(), brand: 'Other Bank' } as OutboundItem)));
      expect(e.reason).toBe('rejected');
      expect(s.emulator.acceptedCount(r.phone!)).toBe(0);
    });

    it('uploads the ciphertext and the handset gets exactly those bytes, once delivered', async () => {
      const r = s.phone('parley');
      const bytes = new Uint8Array(4096);
      for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
      bytes.set(randomBytes(1024), 3072);
      const delivered: string[] = [];
      const off = s.emulator.onDelivered((m) => delivered.push(m.messageId));
      try {
        const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem(bytes)));
        const m = s.emulator.message(providerMessageId)!;
        expect(m.contentMessage).toEqual({ uploadedRbmFile: { fileName: m.file!.name } });
        expect(m.file!.name).toMatch(/^files\//);
        expect(s.emulator.ciphertextFiles(r.phone!)).toHaveLength(0); // pending, not on the handset yet
        await s.emulator.deliver(providerMessageId);
        const files = s.emulator.ciphertextFiles(r.phone!);
        expect(files).toHaveLength(1);
        expect(files[0]!.messageId).toBe(providerMessageId);
        expect(files[0]!.contentType).toBe('message/mls');
        expect(Buffer.from(files[0]!.bytes).equals(Buffer.from(bytes))).toBe(true);
        expect(delivered).toEqual([providerMessageId]);
        expect(s.emulator.recorder.contains(bytes)).toBe(true); // raw binary upload, not re-encoded
      } finally {
        off();
      }
    });

    it('reuses the RBM message id when a delivery is retried, and RBM does not deliver it twice', async () => {
      const r = s.phone('parley');
      const env = envelope(r, linkItem('retry'));
      const first = await s.channel.send(env);
      const second = await s.channel.send(env);
      expect(second.providerMessageId).toBe(first.providerMessageId);
      expect(s.emulator.acceptedCount(r.phone!)).toBe(1);
    });
  });

  it('sets the documented ttl on messages when configured', async () => {
    const t = await setup({ messageTtlSeconds: 3600 });
    try {
      const r = t.phone('parley');
      await t.channel.send(envelope(r, linkItem()));
      expect(t.emulator.recorder.bytes().toString('latin1')).toContain('"ttl":"3600s"');
      expect(t.emulator.acceptedCount(r.phone!)).toBe(1);
    } finally {
      await t.close();
    }
  });

  describe('revoke', () => {
    it('revokes an undelivered message: true, and the handset never gets it', async () => {
      const r = s.phone('parley');
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      expect(await s.channel.revoke(providerMessageId)).toBe(true);
      expect(s.emulator.messageState(providerMessageId)).toBe('revoked');
      await expect(s.emulator.deliver(providerMessageId)).rejects.toThrow(/revoked/);
      expect(s.emulator.handset(r.phone!)).toHaveLength(0);
      expect(s.emulator.ciphertextFiles(r.phone!)).toHaveLength(0);
    });

    it('answers false once the message was delivered', async () => {
      const r = s.phone('parley');
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      await s.emulator.deliver(providerMessageId);
      expect(await s.channel.revoke(providerMessageId)).toBe(false);
      expect(s.emulator.handset(r.phone!)).toHaveLength(1);
    });

    it('refuses an id it never sent', async () => {
      const e = await failure(s.channel.revoke('00000000-0000-5000-8000-000000000000'));
      expect(e.reason).toBe('rejected');
    });
  });

  describe('webhooks', () => {
    it('answers RBM’s webhook setup handshake only with the right client token', async () => {
      expect(await s.emulator.verifyWebhook()).toBe(true);
      const wrong = { url: s.webhookUrl, headers: {}, rawBody: new Uint8Array(Buffer.from(JSON.stringify({ clientToken: 'nope', secret: '42' }))) };
      expect(s.channel.webhookVerificationSecret(wrong)).toBeUndefined();
      await expect(s.channel.handleWebhook(wrong)).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
    });

    it('turns a signed DELIVERED and READ into delivered and read events', async () => {
      const r = s.phone('parley');
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      await s.emulator.deliver(providerMessageId);
      await s.emulator.read(providerMessageId);
      const mine = s.events.filter((e) => e.providerMessageId === providerMessageId);
      expect(mine.map((e) => e.status)).toEqual(['delivered', 'read']);
      expect(mine.every((e) => e.channel === 'rbm' && e.at instanceof Date)).toBe(true);
    });

    it('refuses forged and unsigned webhooks (403 to RBM, no event)', async () => {
      const r = s.phone('parley');
      const a = await s.channel.send(envelope(r, ciphertextItem()));
      const b = await s.channel.send(envelope(r, ciphertextItem()));
      s.emulator.setWebhookForgery('forged');
      try {
        await s.emulator.deliver(a.providerMessageId);
        s.emulator.setWebhookForgery('unsigned');
        await s.emulator.deliver(b.providerMessageId);
      } finally {
        s.emulator.setWebhookForgery(undefined);
      }
      const sent = s.emulator.sentWebhooks().filter((w) => w.messageId === a.providerMessageId || w.messageId === b.providerMessageId);
      expect(sent.map((w) => [w.forgery, w.status])).toEqual([
        ['forged', 403],
        ['unsigned', 403],
      ]);
      expect(s.events.some((e) => e.providerMessageId === a.providerMessageId || e.providerMessageId === b.providerMessageId)).toBe(false);
    });

    it('checks the signature over the decoded event, in constant time, and rejects tampering', async () => {
      const event = Buffer.from(JSON.stringify({ senderPhoneNumber: '+15550009999', eventType: 'DELIVERED', eventId: 'E1', messageId: 'M-tamper', agentId: AGENT_ID }));
      const sign = (data: Buffer, key = CLIENT_TOKEN): string => createHmac('sha512', key).update(data).digest('base64');
      const request = (data: Buffer, signature: string | undefined) => ({
        url: s.webhookUrl,
        headers: signature === undefined ? {} : { 'x-goog-signature': signature },
        rawBody: new Uint8Array(Buffer.from(JSON.stringify({ message: { data: data.toString('base64'), messageId: '1', publishTime: new Date().toISOString() }, subscription: 'projects/x/subscriptions/y' }))),
      });
      await expect(s.channel.handleWebhook(request(event, undefined))).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
      await expect(s.channel.handleWebhook(request(event, sign(event, 'another-token')))).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
      const tampered = Buffer.from(event.toString().replace('M-tamper', 'M-other!'));
      await expect(s.channel.handleWebhook(request(tampered, sign(event)))).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
      await expect(s.channel.handleWebhook(request(event, sign(event).slice(0, 40)))).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
      const garbage = { url: s.webhookUrl, headers: { 'x-goog-signature': sign(event) }, rawBody: new Uint8Array(Buffer.from('not json')) };
      await expect(s.channel.handleWebhook(garbage)).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });
      const ok = await s.channel.handleWebhook(request(event, sign(event)));
      expect(ok).toMatchObject([{ channel: 'rbm', providerMessageId: 'M-tamper', status: 'delivered' }]);
    });

    it('emits each (message, status) once across redeliveries', async () => {
      const r = s.phone('parley');
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      const deliveredEvent = await s.emulator.deliver(providerMessageId);
      await s.emulator.redeliverWebhook(deliveredEvent);
      await s.emulator.redeliverWebhook(deliveredEvent);
      const readEvent = await s.emulator.read(providerMessageId);
      await s.emulator.redeliverWebhook(readEvent);
      expect(s.events.filter((e) => e.providerMessageId === providerMessageId).map((e) => e.status)).toEqual(['delivered', 'read']);
      // every redelivery was still acknowledged, so RBM stops retrying
      expect(s.emulator.sentWebhooks().filter((w) => w.messageId === providerMessageId).map((w) => w.status)).toEqual([200, 200, 200, 200, 200]);
    });

    it('keeps delivered before read when READ arrives before DELIVERED', async () => {
      const r = s.phone('parley');
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      s.emulator.holdWebhooks();
      await s.emulator.deliver(providerMessageId);
      await s.emulator.read(providerMessageId);
      await s.emulator.releaseWebhooks({ reverse: true });
      const sent = s.emulator.sentWebhooks().filter((w) => w.messageId === providerMessageId);
      expect(sent.map((w) => w.eventType)).toEqual(['READ', 'DELIVERED']);
      expect(s.events.filter((e) => e.providerMessageId === providerMessageId).map((e) => e.status)).toEqual(['delivered', 'read']);
    });

    it('ignores typing and user messages, and reports an expired (platform-revoked) message as undeliverable', async () => {
      const r = s.phone('parley');
      const before = s.events.length;
      await s.emulator.typing(r.phone!, AGENT_ID);
      await s.emulator.userText(r.phone!, AGENT_ID, 'hello agent');
      expect(s.events.length).toBe(before);
      expect(s.answered.slice(-2)).toEqual([200, 200]);
      const { providerMessageId } = await s.channel.send(envelope(r, ciphertextItem()));
      await s.emulator.expire(providerMessageId);
      expect(s.events.filter((e) => e.providerMessageId === providerMessageId)).toMatchObject([{ status: 'failed', reason: 'undeliverable' }]);
    });
  });

  describe('failures', () => {
    it('maps 404 / 429 / 500 / 503 / 400 / 403 to stable reasons', async () => {
      const e404 = await failure(s.channel.send(envelope(s.phone('none'), linkItem())));
      expect([e404.reason, e404.retryable]).toEqual(['not_capable', false]);

      const r = s.phone('parley');
      s.emulator.breakProvider('rate-limited');
      const e429 = await failure(s.channel.send(envelope(r, linkItem())));
      expect([e429.reason, e429.retryable, e429.retryAfterMs, e429.providerCode]).toEqual(['rate_limited', true, 2000, 'RESOURCE_EXHAUSTED']);
      s.emulator.breakProvider('internal');
      const e500 = await failure(s.channel.send(envelope(r, linkItem())));
      expect([e500.reason, e500.retryable, e500.providerCode]).toEqual(['unavailable', true, 'INTERNAL']);
      s.emulator.breakProvider('unavailable');
      const e503 = await failure(s.channel.capabilities(r));
      expect([e503.reason, e503.retryable, e503.providerCode]).toEqual(['unavailable', true, 'UNAVAILABLE']);
      s.emulator.restoreProvider();

      // a file type RBM does not take: 400 INVALID_ARGUMENT
      const e400 = await failure(s.channel.send(envelope(r, { kind: 'ciphertext', bytes: new Uint8Array([1, 2, 3]), contentType: 'application/x-parley-unknown' })));
      expect([e400.reason, e400.retryable, e400.providerCode]).toEqual(['rejected', false, 'INVALID_ARGUMENT']);

      // the agent loses its verified status: 403 PERMISSION_DENIED
      s.emulator.setAgentVerified(AGENT_ID, false);
      try {
        const e403 = await failure(s.channel.send(envelope(r, linkItem())));
        expect([e403.reason, e403.retryable, e403.providerCode]).toEqual(['auth_failed', false, 'PERMISSION_DENIED']);
        expect((await s.channel.health()).ok).toBe(false);
      } finally {
        s.emulator.setAgentVerified(AGENT_ID, true);
      }
      await s.channel.send(envelope(r, linkItem()));
      expect((await s.channel.health()).ok).toBe(true);
    });

    it('times out on a hanging provider and reports unhealthy until it answers again', async () => {
      const t = await setup({ timeoutMs: 300 });
      try {
        const r = t.phone('parley');
        await t.channel.send(envelope(r, linkItem())); // token cached, provider up
        t.emulator.breakProvider('hang');
        const e = await failure(t.channel.send(envelope(r, linkItem())));
        expect([e.reason, e.retryable]).toEqual(['timeout', true]);
        expect(await t.channel.health()).toEqual({ ok: false, detail: 'timeout' });
        t.emulator.restoreProvider();
        expect((await t.channel.health()).ok).toBe(true);
      } finally {
        await t.close();
      }
    });

    it('fails auth with a key the provider does not know', async () => {
      const t = await setup();
      const stranger = new RbmChannel({
        agentId: AGENT_ID,
        brand: BRAND,
        serviceAccount: { client_email: CLIENT_EMAIL, private_key: rsaKeys().privatePem, private_key_id: KEY_ID, token_uri: t.emulator.tokenUrl },
        webhookClientToken: CLIENT_TOKEN,
        baseUrl: t.emulator.url,
      });
      try {
        const e = await failure(stranger.send(envelope(t.phone('parley'), linkItem())));
        expect([e.reason, e.retryable, e.providerCode]).toEqual(['auth_failed', false, 'invalid_grant']);
        expect(t.emulator.tokenGrants).toBe(0);
      } finally {
        await stranger.close();
        await t.close();
      }
    });
  });

  describe('OAuth', () => {
    it('caches the token, refreshes it before expiry and after a 401, one request at a time', async () => {
      const t = await setup({}, { tokenLifetimeSeconds: 2 });
      try {
        const r = t.phone('parley');
        await Promise.all([t.channel.capabilities(r), t.channel.capabilities(r), t.channel.send(envelope(r, linkItem()))]);
        expect(t.emulator.tokenGrants).toBe(1); // single flight
        await t.channel.send(envelope(r, linkItem()));
        expect(t.emulator.tokenGrants).toBe(1); // cached

        // lifetime 2 s: refreshed 1 s before expiry (the next token lives an hour, so the 401 below is certain)
        t.emulator.setTokenLifetime(3600);
        await new Promise((resolve) => setTimeout(resolve, 1100));
        await t.channel.send(envelope(r, linkItem()));
        expect(t.emulator.tokenGrants).toBe(2);

        // the provider drops every token: the next call gets 401, refreshes and succeeds
        t.emulator.revokeAccessTokens();
        await t.channel.send(envelope(r, linkItem()));
        expect(t.emulator.tokenGrants).toBe(3);
        expect(t.emulator.acceptedCount(r.phone!)).toBe(4);

        // the assertion on the wire: RS256 with the key id, scope and audience the emulator checked
        const wire = t.emulator.recorder.bytes().toString('latin1');
        const assertion = /assertion=([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(wire)![1]!;
        const [h, p] = assertion.split('.') as [string, string];
        expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT', kid: KEY_ID });
        expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toMatchObject({
          iss: CLIENT_EMAIL,
          aud: t.emulator.tokenUrl,
          scope: 'https://www.googleapis.com/auth/rcsbusinessmessaging',
        });
      } finally {
        await t.close();
      }
    });
  });
});
