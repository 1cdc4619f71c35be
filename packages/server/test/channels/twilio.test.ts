/**
 * The Twilio SMS adapter against the Twilio emulator (a real HTTP server on loopback),
 * with status callbacks posted, signed, to a real HTTP receiver that hands them to
 * `channel.handleWebhook` as the server's HTTP layer would.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TwilioEmulator, twilioRequestSignature } from '@parley/emulators';
import { ChannelError, type OutboundEnvelope, type OutboundItem, type Recipient, type StatusEvent } from '../../src/channels/channel.js';
import { TwilioChannel, twilioSignature, verifyTwilioSignature, type TwilioChannelOptions } from '../../src/channels/twilio.js';
import { describeChannelContract } from './contract.js';

/** A status-callback endpoint: passes each POST to the channel and answers 204, or 403 on a bad signature. */
class WebhookReceiver {
  channel: TwilioChannel | undefined;
  readonly results: Array<{ status: number; events: readonly StatusEvent[] }> = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
        const port = (server.address() as AddressInfo).port;
        const request = { url: `http://127.0.0.1:${port}${req.url ?? '/'}`, headers, rawBody: new Uint8Array(Buffer.concat(chunks)) };
        const channel = receiver.channel;
        if (!channel?.handleWebhook) {
          res.writeHead(503).end();
          return;
        }
        channel.handleWebhook(request).then(
          (events) => {
            receiver.results.push({ status: 204, events });
            res.writeHead(204).end();
          },
          (error: unknown) => {
            const status = error instanceof ChannelError && error.reason === 'webhook_signature_invalid' ? 403 : 500;
            receiver.results.push({ status, events: [] });
            res.writeHead(status).end();
          },
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/status`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const SENDER = '+15005550006';
const reachable: Recipient = { pseudonym: 'pseudo-twilio-reachable', phone: '+14155550101' };
const dead: Recipient = { pseudonym: 'pseudo-twilio-dead', phone: '+14155550199' };
type LinkItem = Extract<OutboundItem, { kind: 'link' }>;
const linkItem = (code: string): LinkItem => ({
  kind: 'link',
  text: `Example Bank: you have a secure message. Open https://x.test/r/${code}`,
  url: `https://x.test/r/${code}`,
  brand: 'Example Bank',
});

function channelFor(emulator: TwilioEmulator, receiver: WebhookReceiver, extra: Partial<TwilioChannelOptions> = {}): TwilioChannel {
  return new TwilioChannel({
    accountSid: emulator.accountSid,
    authToken: emulator.authToken,
    from: SENDER,
    statusCallbackUrl: receiver.url,
    baseUrl: emulator.baseUrl,
    timeoutMs: 2_000,
    ...extra,
  });
}

let serial = 0;
const envelope = (recipient: Recipient, item: OutboundItem): OutboundEnvelope => ({
  deliveryId: `twilio-delivery-${++serial}`,
  messageId: `twilio-message-${serial}`,
  recipient,
  item,
});

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

describeChannelContract('twilio', async () => {
  const emulator = await TwilioEmulator.start({ callbacks: 'manual' });
  const receiver = await WebhookReceiver.start();
  const channel = channelFor(emulator, receiver);
  receiver.channel = channel;
  emulator.invalidNumbers.add(dead.phone!);
  return {
    channel,
    reachable,
    dead,
    items: [linkItem('contract')],
    acceptedCount: (r) => emulator.acceptedFor(r.phone!).length,
    reportDelivered: async (sid) => {
      expect(await emulator.deliver(sid)).toBe(204);
    },
    breakProvider: () => {
      emulator.failWith = 503;
      return Promise.resolve();
    },
    restoreProvider: () => {
      emulator.failWith = undefined;
      return Promise.resolve();
    },
    receivedBytes: () => emulator.recorder.bytes(),
    close: async () => {
      await emulator.close();
      await receiver.close();
    },
  };
});

describe('Twilio request signature', () => {
  // The worked example Twilio publishes for webhook signature validation ("Validate
  // Signature of Request" on https://www.twilio.com/docs/usage/security, whose code samples
  // live in Twilio's docs snippet repository): github.com/TwilioDevEd/api-snippets,
  // security/signature_validation/signature_validation.2.x.js (auth token 12345, Caller/From
  // +14158675310 → GvWf1cFY/Q7PnoempGyD5oXAezc=) and signature_validation.5.x.py (same with
  // +14158675309 → RSOYDt4T1cUTdK1PDd93/VVr8B8=).
  const authToken = '12345';
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
  const params = (caller: string): Array<[string, string]> => [
    ['CallSid', 'CA1234567890ABCDE'],
    ['Caller', caller],
    ['Digits', '1234'],
    ['From', caller],
    ['To', '+18005551212'],
  ];

  it('reproduces Twilio’s documented examples (adapter and emulator alike)', () => {
    expect(twilioSignature(authToken, url, params('+14158675310'))).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
    expect(twilioSignature(authToken, url, params('+14158675309'))).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    expect(twilioRequestSignature(authToken, url, params('+14158675310'))).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
    // Order of the POST parameters does not matter: they are sorted by name.
    expect(twilioSignature(authToken, url, params('+14158675310').reverse())).toBe('GvWf1cFY/Q7PnoempGyD5oXAezc=');
  });

  it('verifies the documented example and refuses any change to it', () => {
    const good = params('+14158675310');
    expect(verifyTwilioSignature(authToken, url, good, 'GvWf1cFY/Q7PnoempGyD5oXAezc=')).toBe(true);
    expect(verifyTwilioSignature('54321', url, good, 'GvWf1cFY/Q7PnoempGyD5oXAezc=')).toBe(false);
    expect(verifyTwilioSignature(authToken, url.replace('bar=2', 'bar=3'), good, 'GvWf1cFY/Q7PnoempGyD5oXAezc=')).toBe(false);
    const tampered = good.map(([k, v]): [string, string] => (k === 'Digits' ? [k, '9999'] : [k, v]));
    expect(verifyTwilioSignature(authToken, url, tampered, 'GvWf1cFY/Q7PnoempGyD5oXAezc=')).toBe(false);
    expect(verifyTwilioSignature(authToken, url, good, 'GvWf1cFY/Q7PnoempGyD5oXAezc')).toBe(false);
    expect(verifyTwilioSignature(authToken, url, good, '')).toBe(false);
    expect(verifyTwilioSignature(authToken, url, good, undefined)).toBe(false);
  });

  it('checks the documented example through handleWebhook', async () => {
    const channel = new TwilioChannel({
      accountSid: `AC${'0'.repeat(32)}`,
      authToken,
      from: SENDER,
      statusCallbackUrl: url,
    });
    const rawBody = new Uint8Array(Buffer.from(new URLSearchParams(params('+14158675310')).toString()));
    // Correctly signed, but not a message status callback: no events.
    await expect(channel.handleWebhook({ url, headers: { 'x-twilio-signature': 'GvWf1cFY/Q7PnoempGyD5oXAezc=' }, rawBody })).resolves.toEqual([]);
    await expect(channel.handleWebhook({ url, headers: { 'x-twilio-signature': 'RSOYDt4T1cUTdK1PDd93/VVr8B8=' }, rawBody })).rejects.toMatchObject({
      reason: 'webhook_signature_invalid',
    });
    await channel.close();
  });
});

describe('Twilio channel', () => {
  let emulator: TwilioEmulator;
  let receiver: WebhookReceiver;
  let channel: TwilioChannel;
  let events: StatusEvent[];

  beforeAll(async () => {
    emulator = await TwilioEmulator.start({ callbacks: 'manual' });
    receiver = await WebhookReceiver.start();
    channel = channelFor(emulator, receiver);
    receiver.channel = channel;
    events = [];
    channel.onStatus((e) => events.push(e));
  });
  afterEach(() => {
    emulator.failWith = undefined;
    emulator.hang = false;
    emulator.rateLimited = false;
    emulator.callbackSignature = 'valid';
    emulator.callbackOrder = 'normal';
    emulator.callbacks = 'manual';
  });
  afterAll(async () => {
    await channel.close();
    await emulator.close();
    await receiver.close();
  });

  it('sends the link text, and only the link text, to the handset; the link works', async () => {
    // The retrieval service the link points at.
    const retrieval = createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`retrieval page for ${req.url}`));
    await new Promise<void>((resolve) => retrieval.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(retrieval.address() as AddressInfo).port}`;
    try {
      const item: OutboundItem = { kind: 'link', text: `Example Bank: a secure message is waiting ${base}/r/k7Qm2`, url: `${base}/r/k7Qm2`, brand: 'Example Bank' };
      const phone = '+14155550123';
      const delivered = new Promise<{ text: string }>((resolve) => emulator.once('sms', resolve));
      const { providerMessageId } = await channel.send(envelope({ pseudonym: 'p-link', phone }, item));
      expect(providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
      const message = emulator.messages.get(providerMessageId)!;
      expect(message).toMatchObject({ to: phone, from: SENDER, body: item.text, statusCallback: receiver.url, status: 'queued' });

      expect(await emulator.deliver(providerMessageId)).toBe(204);
      expect((await delivered).text).toBe(item.text);
      const inbox = emulator.inbox(phone);
      expect(inbox).toHaveLength(1);
      expect(inbox[0]!.text).toBe(item.text);
      expect(inbox[0]!.from).toBe(SENDER);

      // The handset follows the link in the text.
      const link = /https?:\/\/\S+/.exec(inbox[0]!.text)?.[0];
      expect(link).toBe(item.url);
      const page = await fetch(link!);
      expect(await page.text()).toBe('retrieval page for /r/k7Qm2');

      // What went over the wire: To, From, Body (the link text), StatusCallback; nothing else.
      const wire = emulator.recorder.bytes().toString('latin1');
      expect(wire).toContain(new URLSearchParams({ Body: item.text }).toString());
      expect(events).toContainEqual(expect.objectContaining({ providerMessageId, status: 'delivered', channel: 'twilio' }));
    } finally {
      retrieval.closeAllConnections();
      await new Promise<void>((resolve) => retrieval.close(() => resolve()));
    }
  });

  it('uses HTTP Basic auth with the Account SID and Auth Token', async () => {
    await channel.send(envelope(reachable, linkItem('auth')));
    const expected = `Basic ${Buffer.from(`${emulator.accountSid}:${emulator.authToken}`).toString('base64')}`;
    expect(emulator.recorder.bytes().toString('latin1').toLowerCase()).toContain(`authorization: ${expected.toLowerCase()}`);
  });

  it('can authenticate with an API key and send through a Messaging Service', async () => {
    const keySid = `SK${'1'.repeat(32)}`;
    const keyed = await TwilioEmulator.start({ callbacks: 'manual', apiKeys: { [keySid]: 'key-secret' } });
    const messagingServiceSid = `MG${'2'.repeat(32)}`;
    const c = new TwilioChannel({
      accountSid: keyed.accountSid,
      authToken: keyed.authToken,
      apiKey: { sid: keySid, secret: 'key-secret' },
      messagingServiceSid,
      statusCallbackUrl: receiver.url,
      baseUrl: keyed.baseUrl,
    });
    try {
      const { providerMessageId } = await c.send(envelope(reachable, linkItem('key')));
      expect(keyed.messages.get(providerMessageId)).toMatchObject({ messagingServiceSid, from: undefined, status: 'accepted' });
      const wrong = new TwilioChannel({
        accountSid: keyed.accountSid,
        authToken: keyed.authToken,
        apiKey: { sid: keySid, secret: 'nope' },
        messagingServiceSid,
        statusCallbackUrl: receiver.url,
        baseUrl: keyed.baseUrl,
      });
      expect((await failure(wrong.send(envelope(reachable, linkItem('key2'))))).reason).toBe('auth_failed');
    } finally {
      await c.close();
      await keyed.close();
    }
  });

  it('maps every documented error', async () => {
    const invalid = { pseudonym: 'p-invalid', phone: '+14155550201' };
    const landline = { pseudonym: 'p-landline', phone: '+14155550202' };
    const stopped = { pseudonym: 'p-stop', phone: '+14155550203' };
    emulator.invalidNumbers.add(invalid.phone);
    emulator.notMobileNumbers.add(landline.phone);
    emulator.unsubscribedNumbers.add(stopped.phone);

    for (const [recipient, code] of [
      [invalid, 21211],
      [landline, 21614],
      [stopped, 21610],
    ] as const) {
      const error = await failure(channel.send(envelope(recipient, linkItem('e'))));
      expect(error).toMatchObject({ channel: 'twilio', reason: 'not_capable', providerCode: code });
      expect(error.retryable).toBe(false);
      // The refusal is remembered in capabilities.
      expect(await channel.capabilities(recipient)).toMatchObject({ reachable: false, source: 'failure' });
      // Error messages quote codes, never the provider's text (which echoes the number).
      expect(error.message).not.toContain(recipient.phone);
    }

    const badAuth = channelFor(emulator, receiver, { authToken: 'f'.repeat(32) });
    expect(await failure(badAuth.send(envelope(reachable, linkItem('e'))))).toMatchObject({ reason: 'auth_failed', providerCode: 20003 });
    expect((await badAuth.health()).ok).toBe(false);

    emulator.rateLimited = true;
    const limited = await failure(channel.send(envelope(reachable, linkItem('e'))));
    expect(limited).toMatchObject({ reason: 'rate_limited', providerCode: 20429 });
    expect(limited.retryable).toBe(true);
    emulator.rateLimited = false;

    for (const status of [500, 503] as const) {
      emulator.failWith = status;
      const error = await failure(channel.send(envelope(reachable, linkItem('e'))));
      expect(error).toMatchObject({ reason: 'unavailable', providerCode: 20000 + status });
      expect(error.retryable).toBe(true);
    }
    emulator.failWith = undefined;

    // A bad request that is our fault (Body over 1600 characters) → rejected.
    const long: OutboundItem = { kind: 'link', text: `${'x'.repeat(1601)} https://x.test/r/a`, url: 'https://x.test/r/a', brand: 'B' };
    expect(await failure(channel.send(envelope(reachable, long)))).toMatchObject({ reason: 'rejected', providerCode: 21617 });

    // No phone number, or not E.164: not capable, without asking Twilio.
    expect(await failure(channel.send(envelope({ pseudonym: 'p-nophone' }, linkItem('e'))))).toMatchObject({ reason: 'not_capable' });
    expect(await channel.capabilities({ pseudonym: 'p-national', phone: '0415555' })).toMatchObject({ reachable: false });
  });

  it('maps a hanging provider to timeout, and no connection to unavailable', async () => {
    const quick = channelFor(emulator, receiver, { timeoutMs: 200 });
    emulator.hang = true;
    const started = Date.now();
    const error = await failure(quick.send(envelope(reachable, linkItem('hang'))));
    expect(error.reason).toBe('timeout');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await quick.health()).toMatchObject({ ok: false });
    emulator.hang = false;

    const nowhere = channelFor(emulator, receiver, { baseUrl: 'http://127.0.0.1:1' });
    expect(await failure(nowhere.send(envelope(reachable, linkItem('down'))))).toMatchObject({ reason: 'unavailable' });
  });

  it('rejects forged and missing callback signatures, and emits nothing for them', async () => {
    const { providerMessageId } = await channel.send(envelope(reachable, linkItem('forged')));
    expect(await emulator.postCallback(providerMessageId, 'delivered', { signature: 'forged' })).toBe(403);
    expect(await emulator.postCallback(providerMessageId, 'delivered', { signature: 'missing' })).toBe(403);
    expect(events.filter((e) => e.providerMessageId === providerMessageId)).toEqual([]);

    // A genuine callback with a changed parameter (here: the status) no longer verifies.
    const params = new URLSearchParams({ AccountSid: emulator.accountSid, MessageSid: providerMessageId, MessageStatus: 'sent' });
    const signature = twilioRequestSignature(emulator.authToken, receiver.url, params);
    params.set('MessageStatus', 'delivered');
    await expect(
      channel.handleWebhook({ url: receiver.url, headers: { 'x-twilio-signature': signature }, rawBody: new Uint8Array(Buffer.from(params.toString())) }),
    ).rejects.toMatchObject({ channel: 'twilio', reason: 'webhook_signature_invalid' });
    // Signed for another URL.
    const other = twilioRequestSignature(emulator.authToken, `${receiver.url}?x=1`, params);
    await expect(
      channel.handleWebhook({ url: receiver.url, headers: { 'x-twilio-signature': other }, rawBody: new Uint8Array(Buffer.from(params.toString())) }),
    ).rejects.toMatchObject({ reason: 'webhook_signature_invalid' });

    expect(await emulator.postCallback(providerMessageId, 'delivered')).toBe(204);
    expect(events.filter((e) => e.providerMessageId === providerMessageId).map((e) => e.status)).toEqual(['delivered']);
  });

  it('tolerates duplicate and out-of-order callbacks: one event per status, never back to accepted', async () => {
    const { providerMessageId: sid } = await channel.send(envelope(reachable, linkItem('order')));
    const statuses = (): string[] => events.filter((e) => e.providerMessageId === sid).map((e) => e.status);
    expect(await emulator.postCallback(sid, 'queued')).toBe(204);
    expect(await emulator.postCallback(sid, 'sent')).toBe(204);
    expect(await emulator.postCallback(sid, 'sent')).toBe(204);
    expect(await emulator.postCallback(sid, 'delivered')).toBe(204);
    expect(await emulator.postCallback(sid, 'delivered')).toBe(204);
    expect(await emulator.postCallback(sid, 'sent')).toBe(204);
    expect(await emulator.postCallback(sid, 'undelivered', { errorCode: 30003 })).toBe(204);
    expect(statuses()).toEqual(['accepted', 'delivered']);
    // The duplicates were accepted (204) but produced no events.
    expect(receiver.results.slice(-5).map((r) => r.events.length)).toEqual([0, 1, 0, 0, 0]);
  });

  it('follows the emulator’s automatic callbacks: duplicated, reversed, and undelivered', async () => {
    emulator.callbacks = 'auto';
    emulator.callbackDelayMs = 5;

    emulator.callbackOrder = 'duplicate';
    const { providerMessageId: dup } = await channel.send(envelope(reachable, linkItem('dup')));
    await expect.poll(() => emulator.callbackLog.filter((c) => c.sid === dup).length, { timeout: 5_000 }).toBe(4);
    expect(events.filter((e) => e.providerMessageId === dup).map((e) => e.status)).toEqual(['accepted', 'delivered']);

    emulator.callbackOrder = 'reversed';
    const { providerMessageId: rev } = await channel.send(envelope(reachable, linkItem('rev')));
    await expect.poll(() => emulator.callbackLog.filter((c) => c.sid === rev).length, { timeout: 5_000 }).toBe(2);
    expect(emulator.callbackLog.filter((c) => c.sid === rev).map((c) => c.status)).toEqual(['delivered', 'sent']);
    expect(events.filter((e) => e.providerMessageId === rev).map((e) => e.status)).toEqual(['delivered']);

    emulator.callbackOrder = 'normal';
    const gone = { pseudonym: 'p-gone', phone: '+14155550300' };
    emulator.undeliverable.add(gone.phone);
    const { providerMessageId: und } = await channel.send(envelope(gone, linkItem('und')));
    await expect.poll(() => events.filter((e) => e.providerMessageId === und).length, { timeout: 5_000 }).toBe(2);
    expect(events.filter((e) => e.providerMessageId === und).map((e) => [e.status, e.reason])).toEqual([
      ['accepted', undefined],
      ['failed', 'undeliverable'],
    ]);
    expect(emulator.inbox(gone.phone)).toEqual([]);
  });

  it('refuses items SMS must not carry', async () => {
    for (const item of [
      { kind: 'wake', collapseId: 'c' },
      { kind: 'ciphertext', bytes: new Uint8Array([1]), contentType: 'message/mls' },
    ] as const) {
      expect(await failure(channel.send(envelope(reachable, item)))).toMatchObject({ reason: 'unsupported_item' });
    }
    // A "link" whose text does not carry its URL is not a rendered link template.
    const notALink: OutboundItem = { kind: 'link', text: 'Your balance is 1,234.56', url: 'https://x.test/r/q', brand: 'B' };
    expect(await failure(channel.send(envelope(reachable, notALink)))).toMatchObject({ reason: 'rejected' });
  });
});
