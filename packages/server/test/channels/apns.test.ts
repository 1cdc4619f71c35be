/**
 * APNs wake-up channel against the APNs emulator (HTTP/2, h2c on loopback): the shared
 * channel contract, the ES256 provider token, every error mapping, connection reuse and
 * reconnection, the opacity of the payload and the secrecy of keys and tokens.
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApnsEmulator, type ApnsPush } from '@parley/emulators';
import { ChannelError, type OutboundEnvelope, type Recipient, type StatusEvent } from '../../src/channels/channel.js';
import { ApnsChannel, type ApnsChannelOptions } from '../../src/channels/apns.js';
import type { ChannelLogger } from '../../src/channels/channel.js';
import { PLAINTEXT_MARKER, describeChannelContract } from './contract.js';

const TEAM = 'TEAM123456';
const KEY_ID = 'KEY7654321';
const BUNDLE = 'com.example.bank';

function p256(): { privatePem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

/** A device token as iOS hands them out: 32 bytes, hex. */
function deviceToken(): string {
  return randomBytes(32).toString('hex');
}

let serial = 0;
function wake(recipient: Recipient, collapseId = `env-${++serial}`, deliveryId = `delivery-${serial}`): OutboundEnvelope {
  return { deliveryId, messageId: `message-${serial}`, recipient, item: { kind: 'wake', collapseId } };
}

let customers = 0;
function recipient(pushToken: string): Recipient {
  return { pseudonym: `customer-${++customers}`, pushToken };
}

async function failure(promise: Promise<unknown>): Promise<ChannelError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelError);
  return error as ChannelError;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function decodeJwtPart(jwt: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

// ---- the shared contract ----------------------------------------------------------

describeChannelContract('apns', async () => {
  const keys = p256();
  const emulator = await ApnsEmulator.start({ teamId: TEAM, keyId: KEY_ID, publicKey: keys.publicKey, topics: [BUNDLE] });
  const reachable = deviceToken();
  const dead = deviceToken();
  emulator.registerToken(reachable);
  emulator.registerToken(dead);
  emulator.unregisterToken(dead);
  const channel = new ApnsChannel({ teamId: TEAM, keyId: KEY_ID, privateKey: keys.privatePem, topic: BUNDLE, baseUrl: emulator.url, timeoutMs: 2000 });
  // The phone OS hands each push to the app; the woken app syncs and the router
  // confirms the delivery to the channel by the push's apns-id.
  const woken = new Map<string, ApnsPush>();
  emulator.onPush((push) => woken.set(push.apnsId, push));
  return {
    channel,
    reachable: recipient(reachable),
    dead: recipient(dead),
    items: [{ kind: 'wake', collapseId: 'envelope-0001' }],
    acceptedCount: (r) => emulator.pushes(r.pushToken).length,
    reportDelivered: (providerMessageId) => {
      if (!woken.has(providerMessageId)) throw new Error('the phone never received that push');
      channel.confirmDelivered(providerMessageId);
      return Promise.resolve();
    },
    breakProvider: () => {
      emulator.setFault('unavailable');
      return Promise.resolve();
    },
    restoreProvider: () => {
      emulator.setFault(null);
      return Promise.resolve();
    },
    receivedBytes: () => emulator.recorder.bytes(),
    close: () => emulator.close(),
  };
});

// ---- APNs specifics ---------------------------------------------------------------

describe('ApnsChannel against the APNs emulator', () => {
  const keys = p256();
  let emulator: ApnsEmulator;
  let clock = Date.now();
  let logs: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const channels: ApnsChannel[] = [];
  const phone = deviceToken();
  const otherAppPhone = deviceToken();
  const uninstalled = deviceToken();

  const logger: ChannelLogger = {
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
  };
  function channel(overrides: Partial<ApnsChannelOptions> = {}): ApnsChannel {
    const c = new ApnsChannel({
      teamId: TEAM,
      keyId: KEY_ID,
      privateKey: keys.privatePem,
      topic: BUNDLE,
      baseUrl: emulator.url,
      timeoutMs: 1500,
      now: () => clock,
      logger,
      ...overrides,
    });
    channels.push(c);
    return c;
  }

  beforeAll(async () => {
    // One clock for the adapter and APNs; `advanceClock` models APNs' clock running ahead.
    emulator = await ApnsEmulator.start({ teamId: TEAM, keyId: KEY_ID, publicKey: keys.publicKey, topics: [BUNDLE, 'com.example.other'], now: () => clock });
    emulator.registerToken(phone);
    emulator.registerToken(otherAppPhone, { topic: 'com.example.other' });
    emulator.registerToken(uninstalled);
    emulator.unregisterToken(uninstalled);
  });
  afterAll(async () => {
    for (const c of channels) await c.close();
    await emulator.close();
  });
  beforeEach(() => {
    clock = Date.now();
    logs = [];
    emulator.setFault(null);
  });

  describe('provider token (ES256 JWT)', () => {
    it('signs kid/iss/iat with the team key and reuses the token until it is 50 minutes old', async () => {
      const c = channel();
      const seenBefore = emulator.providerTokensSeen().length;
      await c.send(wake(recipient(phone)));
      await c.send(wake(recipient(phone)));
      clock += 49 * 60_000;
      await c.send(wake(recipient(phone)));
      const seen = emulator.providerTokensSeen().slice(seenBefore);
      expect(seen).toHaveLength(1);
      const jwt = seen[0]!;
      expect(decodeJwtPart(jwt, 0)).toStrictEqual({ alg: 'ES256', kid: KEY_ID });
      const claims = decodeJwtPart(jwt, 1);
      expect(claims['iss']).toBe(TEAM);
      expect(Object.keys(claims).sort()).toStrictEqual(['iat', 'iss']);
      expect(emulator.requests.at(-1)!.headers['authorization']).toBe(`bearer ${jwt}`);

      clock += 2 * 60_000; // 51 minutes: a fresh token, before APNs' one-hour limit
      await c.send(wake(recipient(phone)));
      expect(emulator.providerTokensSeen().slice(seenBefore)).toHaveLength(2);
    });

    it('on 403 ExpiredProviderToken signs a new token once and retries (clock skew)', async () => {
      const c = channel();
      await c.send(wake(recipient(phone)));
      const seenBefore = emulator.providerTokensSeen().length;
      // 45 minutes pass by our clock (no proactive refresh yet), APNs' clock is 16 minutes
      // ahead: for APNs the cached token is 61 minutes old (expired), a new one 16
      clock += 45 * 60_000;
      emulator.advanceClock(16 * 60_000);
      try {
        const before = emulator.requests.length;
        const { providerMessageId } = await c.send(wake(recipient(phone)));
        expect(providerMessageId).toMatch(/\S/);
        expect(emulator.requests.slice(before).map((r) => r.reason ?? r.status)).toStrictEqual(['ExpiredProviderToken', 200]);
        expect(emulator.providerTokensSeen().length).toBe(seenBefore + 1);
        // and the new token is kept
        await c.send(wake(recipient(phone)));
        expect(emulator.providerTokensSeen().length).toBe(seenBefore + 1);
      } finally {
        emulator.advanceClock(-16 * 60_000);
      }
    });

    it('retries ExpiredProviderToken exactly once, then auth_failed', async () => {
      const c = channel();
      await c.send(wake(recipient(phone)));
      // APNs' clock runs hours ahead: even a freshly signed token looks old to it
      emulator.advanceClock(3 * 3600_000);
      try {
        const before = emulator.requests.length;
        const error = await failure(c.send(wake(recipient(phone))));
        expect(error).toMatchObject({ reason: 'auth_failed', providerCode: 'ExpiredProviderToken' });
        expect(error.retryable).toBe(false);
        expect(emulator.requests.slice(before).map((r) => r.reason)).toStrictEqual(['ExpiredProviderToken', 'ExpiredProviderToken']);
      } finally {
        emulator.advanceClock(-3 * 3600_000);
      }
    });

    it('403 InvalidProviderToken (a key APNs does not know) → auth_failed; health says so', async () => {
      const c = channel({ privateKey: p256().privatePem });
      const error = await failure(c.send(wake(recipient(phone))));
      expect(error).toMatchObject({ reason: 'auth_failed', providerCode: 'InvalidProviderToken' });
      expect(error.retryable).toBe(false);
      const health = await c.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toContain('auth_failed');
      const wrongKid = await failure(channel({ keyId: 'OTHERKEY01' }).send(wake(recipient(phone))));
      expect(wrongKid.providerCode).toBe('InvalidProviderToken');
    });

    it('an unreadable signing key → auth_failed without echoing it', async () => {
      const c = channel({ privateKey: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' });
      const error = await failure(c.send(wake(recipient(phone))));
      expect(error.reason).toBe('auth_failed');
      expect(error.message).not.toContain('bm90IGEga2V5');
    });
  });

  describe('error mapping', () => {
    it('410 Unregistered → unregistered, and the token is reported unreachable afterwards', async () => {
      const c = channel();
      const error = await failure(c.send(wake(recipient(uninstalled))));
      expect(error).toMatchObject({ reason: 'unregistered', providerCode: 'Unregistered' });
      expect(error.retryable).toBe(false);
      expect(await c.capabilities(recipient(uninstalled))).toMatchObject({ reachable: false, source: 'failure' });
      const last = emulator.requests.at(-1)!;
      expect(last.status).toBe(410);
    });

    it('400 BadDeviceToken → unregistered', async () => {
      const error = await failure(channel().send(wake(recipient(deviceToken()))));
      expect(error).toMatchObject({ reason: 'unregistered', providerCode: 'BadDeviceToken' });
    });

    it('400 DeviceTokenNotForTopic → rejected', async () => {
      const error = await failure(channel().send(wake(recipient(otherAppPhone))));
      expect(error).toMatchObject({ reason: 'rejected', providerCode: 'DeviceTokenNotForTopic' });
      const disallowed = await failure(channel({ topic: 'com.example.unknown' }).send(wake(recipient(phone))));
      expect(disallowed).toMatchObject({ reason: 'rejected', providerCode: 'TopicDisallowed' });
    });

    it('429 TooManyRequests → rate_limited; 500 / 503 → unavailable', async () => {
      const c = channel();
      emulator.setFault('throttle');
      const throttled = await failure(c.send(wake(recipient(phone))));
      expect(throttled).toMatchObject({ reason: 'rate_limited', providerCode: 'TooManyRequests' });
      expect(throttled.retryable).toBe(true);
      emulator.setFault('internal');
      expect(await failure(c.send(wake(recipient(phone))))).toMatchObject({ reason: 'unavailable', providerCode: 'InternalServerError' });
      emulator.setFault('unavailable');
      expect(await failure(c.send(wake(recipient(phone))))).toMatchObject({ reason: 'unavailable', providerCode: 'ServiceUnavailable' });
    });

    it('no answer → timeout; nothing listening → unavailable', async () => {
      const c = channel({ timeoutMs: 300 });
      await c.send(wake(recipient(phone)));
      emulator.setFault('hang');
      const started = Date.now();
      const timeout = await failure(c.send(wake(recipient(phone))));
      expect(timeout.reason).toBe('timeout');
      expect(timeout.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      emulator.setFault(null);
      // the connection survives a cancelled stream
      await c.send(wake(recipient(phone)));

      const port = await closedPort();
      const down = await failure(channel({ baseUrl: `http://127.0.0.1:${port}` }).send(wake(recipient(phone))));
      expect(down.reason).toBe('unavailable');
      expect(down.retryable).toBe(true);
      expect((await channel({ baseUrl: `http://127.0.0.1:${port}` }).health()).ok).toBe(false);
    });

    it('a peer that accepts TCP but never speaks HTTP/2 → timeout', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
      try {
        const c = channel({ baseUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 300 });
        expect(await failure(c.send(wake(recipient(phone))))).toMatchObject({ reason: 'timeout' });
        expect(await failure(c.send(wake(recipient(phone))))).toMatchObject({ reason: 'timeout' });
        await c.close();
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });

    it('refuses non-wake items and recipients without a push token', async () => {
      const c = channel();
      await expect(
        c.send({ deliveryId: 'd', messageId: 'm', recipient: recipient(phone), item: { kind: 'link', text: 't', url: 'https://x.test/r', brand: 'b' } }),
      ).rejects.toMatchObject({ reason: 'unsupported_item' });
      await expect(c.send(wake({ pseudonym: 'no-token' }))).rejects.toMatchObject({ reason: 'not_capable' });
      expect(await c.capabilities(recipient(phone))).toMatchObject({ reachable: true, endToEnd: false, source: 'device-report' });
    });
  });

  describe('HTTP/2 connection', () => {
    it('reuses one connection for many pushes', async () => {
      const c = channel();
      const before = emulator.sessionsOpened;
      await Promise.all(Array.from({ length: 10 }, () => c.send(wake(recipient(phone)))));
      for (let i = 0; i < 5; i++) await c.send(wake(recipient(phone)));
      expect(emulator.sessionsOpened - before).toBe(1);
    });

    it('reconnects after GOAWAY', async () => {
      const c = channel();
      const before = emulator.sessionsOpened;
      await c.send(wake(recipient(phone)));
      emulator.goaway();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await c.send(wake(recipient(phone)));
      expect(emulator.sessionsOpened - before).toBe(2);
    });

    it('retries on a new connection when GOAWAY races the push', async () => {
      const c = channel();
      const before = emulator.sessionsOpened;
      await c.send(wake(recipient(phone)));
      emulator.goaway(); // the client has not seen it yet when it sends
      await c.send(wake(recipient(phone)));
      expect(emulator.sessionsOpened - before).toBeGreaterThanOrEqual(2);
    });
  });

  describe('payload, ids and status', () => {
    it('sends only "sync" and the collapse id, with the background wake-up headers', async () => {
      const c = channel();
      const envelope: OutboundEnvelope = {
        deliveryId: `delivery-${PLAINTEXT_MARKER}`,
        messageId: `message-${PLAINTEXT_MARKER}`,
        recipient: { pseudonym: `pseudonym-${PLAINTEXT_MARKER}`, phone: '+15550100', pushToken: phone },
        item: { kind: 'wake', collapseId: 'collapse-42' },
      };
      const { providerMessageId } = await c.send(envelope);
      const request = emulator.requests.filter((r) => r.status === 200).at(-1)!;
      expect(request.headers[':method']).toBe('POST');
      expect(request.headers[':path']).toBe(`/3/device/${phone}`);
      expect(request.headers['apns-topic']).toBe(BUNDLE);
      expect(request.headers['apns-push-type']).toBe('background');
      expect(request.headers['apns-priority']).toBe('5');
      expect(request.headers['apns-collapse-id']).toBe('collapse-42');
      expect(request.headers['apns-id']).toBe(providerMessageId);
      expect(JSON.parse(request.body)).toStrictEqual({ aps: { 'content-available': 1 }, t: 'sync', c: 'collapse-42' });
      expect(emulator.recorder.contains(PLAINTEXT_MARKER)).toBe(false);
      expect(emulator.recorder.contains('+15550100')).toBe(false);
    });

    it('uses a UUID delivery id as apns-id, and generates one otherwise', async () => {
      const c = channel();
      const uuid = randomUUID();
      expect((await c.send(wake(recipient(phone), 'c-1', uuid))).providerMessageId).toBe(uuid);
      const generated = (await c.send(wake(recipient(phone), 'c-2', 'not-a-uuid'))).providerMessageId;
      expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(emulator.pushById(generated)?.token).toBe(phone);
    });

    it('fits a long collapse id into the 64-byte apns-collapse-id', async () => {
      const c = channel();
      const long = 'x'.repeat(100);
      await c.send(wake(recipient(phone), long));
      const push = emulator.pushes(phone).at(-1)!;
      expect(Buffer.byteLength(push.collapseId ?? '')).toBeLessThanOrEqual(64);
      expect(push.payload['c']).toBe(long);
    });

    it('emits accepted on send and delivered once when the woken app confirms', async () => {
      const c = channel();
      const events: StatusEvent[] = [];
      c.onStatus((e) => events.push(e));
      const { providerMessageId } = await c.send(wake(recipient(phone)));
      expect(events).toMatchObject([{ channel: 'apns', providerMessageId, status: 'accepted' }]);
      expect(c.confirmDelivered(randomUUID())).toBe(false);
      expect(c.confirmDelivered(providerMessageId)).toBe(true);
      expect(c.confirmDelivered(providerMessageId)).toBe(false);
      expect(events.map((e) => e.status)).toStrictEqual(['accepted', 'delivered']);
    });

    it('health probes a token that cannot exist, which delivers nothing', async () => {
      const c = channel();
      const before = emulator.pushes().length;
      expect((await c.health()).ok).toBe(true);
      expect(emulator.pushes().length).toBe(before);
      expect(emulator.requests.at(-1)).toMatchObject({ status: 400, reason: 'BadDeviceToken' });
    });
  });

  it('never puts the signing key, the provider token or the device token in an error or a log line', async () => {
    const c = channel({ timeoutMs: 300 });
    const errors: ChannelError[] = [];
    const attempt = async (ch: ApnsChannel, token: string): Promise<void> => {
      await ch.send(wake(recipient(token))).catch((e: unknown) => {
        if (e instanceof ChannelError) errors.push(e);
        else throw e;
      });
    };
    await attempt(c, phone);
    for (const token of [uninstalled, otherAppPhone, deviceToken()]) await attempt(c, token);
    for (const fault of ['throttle', 'internal', 'unavailable', 'hang'] as const) {
      emulator.setFault(fault);
      await attempt(c, phone);
    }
    emulator.setFault(null);
    await attempt(channel({ privateKey: p256().privatePem }), phone);
    emulator.advanceClock(3 * 3600_000);
    try {
      await attempt(c, phone);
    } finally {
      emulator.advanceClock(-3 * 3600_000);
    }
    await attempt(channel({ baseUrl: `http://127.0.0.1:${await closedPort()}` }), phone);
    expect(errors.length).toBeGreaterThanOrEqual(10);

    const pemBody = keys.privatePem.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'));
    const jwts = emulator.requests.map((r) => String(r.headers['authorization'] ?? '').replace(/^bearer /, '')).filter((t) => t.length > 0);
    const secrets = [...new Set([...jwts, ...pemBody, phone, uninstalled, otherAppPhone])];
    const surfaces = [
      ...errors.map((e) => `${e.message} ${String(e.providerCode)} ${e.stack ?? ''} ${e.cause instanceof Error ? `${e.cause.message} ${e.cause.stack ?? ''}` : ''}`),
      ...logs.map((l) => `${l.msg} ${JSON.stringify(l.obj)}`),
    ];
    expect(logs.length).toBeGreaterThan(0);
    for (const surface of surfaces) {
      for (const secret of secrets) expect(surface.includes(secret), `leaked into: ${surface.slice(0, 120)}`).toBe(false);
    }
  });
});
