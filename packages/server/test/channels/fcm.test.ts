/**
 * FCM wake-up channel against the FCM emulator (OAuth token endpoint + HTTP v1 API on
 * loopback): the shared channel contract, the service-account OAuth flow, every error
 * mapping, the opacity of the payload and the secrecy of tokens and keys.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SignJWT, importPKCS8 } from 'jose';
import { FcmEmulator, type FcmPush } from '@parley/emulators';
import { ChannelError, type OutboundEnvelope, type Recipient, type StatusEvent } from '../../src/channels/channel.js';
import { FCM_SCOPE, FcmChannel, parseServiceAccount, type FcmChannelOptions, type FcmServiceAccount } from '../../src/channels/fcm.js';
import type { ChannelLogger } from '../../src/channels/channel.js';
import { PLAINTEXT_MARKER, describeChannelContract } from './contract.js';

const PROJECT = 'parley-test-project';
const EMAIL = 'parley-push@parley-test-project.iam.gserviceaccount.com';
const KEY_ID = 'a1b2c3d4e5';

function rsaServiceAccountKeys(): { privatePem: string; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey };
}

function serviceAccount(emulator: FcmEmulator, privatePem: string): FcmServiceAccount {
  // the way a deployment gets it: the JSON key file Google hands out
  return parseServiceAccount(
    JSON.stringify({
      type: 'service_account',
      project_id: PROJECT,
      private_key_id: KEY_ID,
      private_key: privatePem,
      client_email: EMAIL,
      token_uri: emulator.tokenUri,
    }),
  );
}

async function startEmulator(publicKey: KeyObject, extra: { accessTokenTtlSeconds?: number } = {}): Promise<FcmEmulator> {
  return FcmEmulator.start({ projectId: PROJECT, serviceAccountEmail: EMAIL, publicKey, privateKeyId: KEY_ID, ...extra });
}

let serial = 0;
function wake(recipient: Recipient, collapseId = `env-${++serial}`): OutboundEnvelope {
  return { deliveryId: `delivery-${serial}`, messageId: `message-${serial}`, recipient, item: { kind: 'wake', collapseId } };
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

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---- the shared contract ----------------------------------------------------------

describeChannelContract('fcm', async () => {
  const keys = rsaServiceAccountKeys();
  const emulator = await startEmulator(keys.publicKey);
  emulator.registerToken('fcm-token-reachable');
  emulator.registerToken('fcm-token-dead');
  emulator.unregisterToken('fcm-token-dead');
  const channel = new FcmChannel({ serviceAccount: serviceAccount(emulator, keys.privatePem), baseUrl: emulator.url, timeoutMs: 2000 });
  // The phone OS hands each push to the app; the woken app syncs and the router
  // confirms the delivery to the channel by the push's provider id.
  const woken = new Map<string, FcmPush>();
  emulator.onPush((push) => woken.set(push.name, push));
  return {
    channel,
    reachable: recipient('fcm-token-reachable'),
    dead: recipient('fcm-token-dead'),
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

// ---- FCM specifics ----------------------------------------------------------------

describe('FcmChannel against the FCM emulator', () => {
  const keys = rsaServiceAccountKeys();
  let emulator: FcmEmulator;
  /** One clock for the adapter and the emulator (Google's and our clocks agree). */
  let clock = Date.now();
  let logs: { level: string; obj: Record<string, unknown>; msg: string }[];
  const channels: FcmChannel[] = [];

  const logger: ChannelLogger = {
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
  };
  function channel(overrides: Partial<FcmChannelOptions> = {}): FcmChannel {
    const c = new FcmChannel({
      serviceAccount: serviceAccount(emulator, keys.privatePem),
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
    emulator = await FcmEmulator.start({ projectId: PROJECT, serviceAccountEmail: EMAIL, publicKey: keys.publicKey, privateKeyId: KEY_ID, now: () => clock });
    emulator.registerToken('tok-android');
    emulator.registerToken('tok-ios', { platform: 'ios' });
    emulator.registerToken('tok-other-project', { projectId: 'someone-elses-project' });
    emulator.registerToken('tok-gone');
    emulator.unregisterToken('tok-gone');
  });
  afterAll(async () => {
    for (const c of channels) await c.close();
    await emulator.close();
  });
  beforeEach(() => {
    clock = Date.now();
    logs = [];
    emulator.setFault(null);
    emulator.setThirdPartyAuthValid(true);
  });

  describe('OAuth 2.0 with the service account', () => {
    it('signs an RS256 assertion the token endpoint verifies, then sends with the access token', async () => {
      const c = channel();
      const grantsBefore = emulator.grants.length;
      const { providerMessageId } = await c.send(wake(recipient('tok-android')));
      expect(providerMessageId).toMatch(new RegExp(`^projects/${PROJECT}/messages/.+`));
      expect(emulator.grants.length).toBe(grantsBefore + 1);
      const grant = emulator.grants.at(-1)!;
      expect(grant.assertionHeader).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: KEY_ID });
      const claims = grant.assertionClaims;
      expect(claims).toMatchObject({ iss: EMAIL, scope: FCM_SCOPE, aud: emulator.tokenUri });
      expect(typeof claims['iat']).toBe('number');
      expect((claims['exp'] as number) - (claims['iat'] as number)).toBeLessThanOrEqual(3600);
      // the token request is the RFC 7523 form
      const tokenRequest = emulator.requests.filter((r) => r.path === '/token').at(-1)!;
      expect(tokenRequest.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
      const form = new URLSearchParams(tokenRequest.body);
      expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
      // and the send carried the issued access token
      const sendRequest = emulator.requests.filter((r) => r.path.endsWith('/messages:send')).at(-1)!;
      expect(sendRequest.headers['authorization']).toBe(`Bearer ${grant.accessToken}`);
    });

    it('caches the access token, and fetches a new one shortly before it expires', async () => {
      const c = channel();
      const before = emulator.stats.tokenRequests;
      await c.send(wake(recipient('tok-android')));
      await c.send(wake(recipient('tok-android')));
      await c.send(wake(recipient('tok-android')));
      expect(emulator.stats.tokenRequests).toBe(before + 1);
      clock += 50 * 60_000; // still more than 5 minutes left of the 3599 s token
      await c.send(wake(recipient('tok-android')));
      expect(emulator.stats.tokenRequests).toBe(before + 1);
      clock += 6 * 60_000; // inside the 5-minute margin
      await c.send(wake(recipient('tok-android')));
      expect(emulator.stats.tokenRequests).toBe(before + 2);
    });

    it('shares one token request among concurrent sends', async () => {
      const c = channel();
      const before = emulator.stats.tokenRequests;
      await Promise.all([1, 2, 3, 4, 5].map(() => c.send(wake(recipient('tok-android')))));
      expect(emulator.stats.tokenRequests).toBe(before + 1);
    });

    it('refreshes the access token once when FCM answers 401, and the push goes through', async () => {
      const c = channel();
      await c.send(wake(recipient('tok-android')));
      const tokensBefore = emulator.stats.tokenRequests;
      const unauthenticatedBefore = emulator.stats.unauthenticated;
      const pushesBefore = emulator.pushes('tok-android').length;
      emulator.revokeAccessTokens();
      await c.send(wake(recipient('tok-android')));
      expect(emulator.stats.unauthenticated).toBe(unauthenticatedBefore + 1);
      expect(emulator.stats.tokenRequests).toBe(tokensBefore + 1);
      expect(emulator.pushes('tok-android').length).toBe(pushesBefore + 1);
    });

    it('gives up with auth_failed when a fresh token is refused too', async () => {
      // an emulator whose tokens are dead on arrival
      const shortLived = await startEmulator(keys.publicKey, { accessTokenTtlSeconds: 0.001 });
      try {
        shortLived.registerToken('tok-x');
        const c = channel({ serviceAccount: serviceAccount(shortLived, keys.privatePem), baseUrl: shortLived.url });
        const error = await failure(c.send(wake(recipient('tok-x'))));
        expect(error.reason).toBe('auth_failed');
        expect(error.retryable).toBe(false);
        expect(shortLived.stats.unauthenticated).toBe(2);
        expect(shortLived.stats.tokenRequests).toBe(2);
      } finally {
        await shortLived.close();
      }
    });

    it('maps a token endpoint refusal (wrong key) to auth_failed, and health says so', async () => {
      const wrong = rsaServiceAccountKeys();
      const c = channel({ serviceAccount: serviceAccount(emulator, wrong.privatePem) });
      const error = await failure(c.send(wake(recipient('tok-android'))));
      expect(error.reason).toBe('auth_failed');
      expect(error.providerCode).toBe('invalid_grant');
      expect(error.message).toContain('Invalid JWT Signature');
      const health = await c.health();
      expect(health.ok).toBe(false);
      expect(health.detail).toContain('auth_failed');
    });

    it('maps an unreadable private key to auth_failed without echoing it', async () => {
      const broken = { ...serviceAccount(emulator, keys.privatePem), private_key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' };
      const c = channel({ serviceAccount: broken });
      const error = await failure(c.send(wake(recipient('tok-android'))));
      expect(error.reason).toBe('auth_failed');
      expect(error.message).not.toContain('bm90IGEga2V5');
    });

    it('maps a broken token endpoint to unavailable', async () => {
      const c = channel();
      emulator.setFault('unavailable', { tokenEndpoint: true });
      const error = await failure(c.send(wake(recipient('tok-android'))));
      expect(error.reason).toBe('unavailable');
      expect(error.retryable).toBe(true);
    });
  });

  describe('error mapping', () => {
    it('404 UNREGISTERED → unregistered, and the token is reported unreachable afterwards', async () => {
      const c = channel();
      expect((await c.capabilities(recipient('tok-gone'))).reachable).toBe(true);
      const error = await failure(c.send(wake(recipient('tok-gone'))));
      expect(error.reason).toBe('unregistered');
      expect(error.providerCode).toBe('UNREGISTERED');
      expect(error.retryable).toBe(false);
      const caps = await c.capabilities(recipient('tok-gone'));
      expect(caps).toMatchObject({ reachable: false, source: 'failure' });
    });

    it('400 INVALID_ARGUMENT → rejected', async () => {
      const error = await failure(channel().send(wake(recipient('never-issued-token'))));
      expect(error.reason).toBe('rejected');
      expect(error.providerCode).toBe('INVALID_ARGUMENT');
      expect(error.retryable).toBe(false);
    });

    it('429 QUOTA_EXCEEDED → rate_limited with the Retry-After delay', async () => {
      const c = channel();
      emulator.setFault('quota', { retryAfterSeconds: 17 });
      const error = await failure(c.send(wake(recipient('tok-android'))));
      expect(error.reason).toBe('rate_limited');
      expect(error.providerCode).toBe('QUOTA_EXCEEDED');
      expect(error.retryAfterMs).toBe(17_000);
      expect(error.retryable).toBe(true);
    });

    it('503 UNAVAILABLE and 500 INTERNAL → unavailable', async () => {
      const c = channel();
      emulator.setFault('unavailable', { retryAfterSeconds: 5 });
      const unavailable = await failure(c.send(wake(recipient('tok-android'))));
      expect(unavailable).toMatchObject({ reason: 'unavailable', providerCode: 'UNAVAILABLE', retryAfterMs: 5000 });
      emulator.setFault('internal');
      const internal = await failure(c.send(wake(recipient('tok-android'))));
      expect(internal).toMatchObject({ reason: 'unavailable', providerCode: 'INTERNAL' });
      expect(internal.retryable).toBe(true);
    });

    it('401 THIRD_PARTY_AUTH_ERROR → auth_failed, without a pointless OAuth refresh', async () => {
      const c = channel();
      await c.send(wake(recipient('tok-ios')));
      const tokensBefore = emulator.stats.tokenRequests;
      emulator.setThirdPartyAuthValid(false);
      const error = await failure(c.send(wake(recipient('tok-ios'))));
      expect(error).toMatchObject({ reason: 'auth_failed', providerCode: 'THIRD_PARTY_AUTH_ERROR' });
      expect(emulator.stats.tokenRequests).toBe(tokensBefore);
    });

    it('403 SENDER_ID_MISMATCH → auth_failed', async () => {
      const error = await failure(channel().send(wake(recipient('tok-other-project'))));
      expect(error).toMatchObject({ reason: 'auth_failed', providerCode: 'SENDER_ID_MISMATCH' });
    });

    it('403 PERMISSION_DENIED (a project the account may not use) → auth_failed', async () => {
      const account = { ...serviceAccount(emulator, keys.privatePem), project_id: 'not-our-project' };
      const error = await failure(channel({ serviceAccount: account }).send(wake(recipient('tok-android'))));
      expect(error).toMatchObject({ reason: 'auth_failed', providerCode: 'PERMISSION_DENIED' });
    });

    it('a 404 that is not a Google API error (wrong base URL) → rejected, not unregistered', async () => {
      const error = await failure(channel({ baseUrl: `${emulator.url}/wrong-prefix` }).send(wake(recipient('tok-android'))));
      expect(error.reason).toBe('rejected');
    });

    it('no answer → timeout; nothing listening → unavailable', async () => {
      const c = channel({ timeoutMs: 300 });
      await c.send(wake(recipient('tok-android'))); // token cached
      emulator.setFault('hang');
      const started = Date.now();
      const timeout = await failure(c.send(wake(recipient('tok-android'))));
      expect(timeout.reason).toBe('timeout');
      expect(timeout.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await c.health()).ok).toBe(false);
      emulator.setFault(null);

      const port = await closedPort();
      const down = await failure(channel({ baseUrl: `http://127.0.0.1:${port}` }).send(wake(recipient('tok-android'))));
      expect(down.reason).toBe('unavailable');
      expect(down.retryable).toBe(true);
    });

    it('refuses non-wake items and recipients without a push token', async () => {
      const c = channel();
      await expect(
        c.send({ deliveryId: 'd', messageId: 'm', recipient: recipient('tok-android'), item: { kind: 'ciphertext', bytes: new Uint8Array([1]), contentType: 'message/mls' } }),
      ).rejects.toMatchObject({ reason: 'unsupported_item' });
      await expect(c.send(wake({ pseudonym: 'no-token' }))).rejects.toMatchObject({ reason: 'not_capable' });
      expect(await c.capabilities({ pseudonym: 'no-token' })).toMatchObject({ reachable: false });
      expect(await c.capabilities(recipient('tok-android'))).toMatchObject({ reachable: true, endToEnd: false, source: 'device-report' });
    });
  });

  describe('payload and status', () => {
    it('sends only "sync" and the collapse id: nothing from the message reaches FCM', async () => {
      const c = channel();
      const envelope: OutboundEnvelope = {
        deliveryId: `delivery-${PLAINTEXT_MARKER}`,
        messageId: `message-${PLAINTEXT_MARKER}`,
        recipient: { pseudonym: `pseudonym-${PLAINTEXT_MARKER}`, phone: '+15550100', pushToken: 'tok-android' },
        item: { kind: 'wake', collapseId: 'collapse-42' },
      };
      const { providerMessageId } = await c.send(envelope);
      const request = emulator.requests.filter((r) => r.path === `/v1/projects/${PROJECT}/messages:send` && r.status === 200).at(-1)!;
      expect(JSON.parse(request.body)).toStrictEqual({
        message: {
          token: 'tok-android',
          data: { type: 'sync', collapse: 'collapse-42' },
          android: { collapse_key: 'collapse-42', priority: 'high' },
          apns: {
            headers: { 'apns-priority': '5', 'apns-push-type': 'background', 'apns-collapse-id': 'collapse-42' },
            payload: { aps: { 'content-available': 1 } },
          },
        },
      });
      expect(emulator.pushByName(providerMessageId)?.data).toStrictEqual({ type: 'sync', collapse: 'collapse-42' });
      expect(emulator.recorder.contains(PLAINTEXT_MARKER)).toBe(false);
      expect(emulator.recorder.contains('+15550100')).toBe(false);
    });

    it('leaves the apns block out when asked', async () => {
      const c = channel({ apnsWakeups: false });
      await c.send(wake(recipient('tok-android'), 'no-apns'));
      const request = emulator.requests.filter((r) => r.path.endsWith('/messages:send') && r.status === 200).at(-1)!;
      expect(Object.keys((JSON.parse(request.body) as { message: object }).message).sort()).toStrictEqual(['android', 'data', 'token']);
    });

    it('the emulator refuses anything beyond sync + collapse id with INVALID_ARGUMENT', async () => {
      const key = await importPKCS8(keys.privatePem, 'RS256');
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ scope: FCM_SCOPE })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: KEY_ID })
        .setIssuer(EMAIL)
        .setAudience(emulator.tokenUri)
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(key);
      const tokenResponse = await fetch(emulator.tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      });
      const grant = (await tokenResponse.json()) as { access_token: string; token_type: string; expires_in: number };
      expect(grant.token_type).toBe('Bearer');
      expect(grant.expires_in).toBeGreaterThan(0);
      const post = (message: object) =>
        fetch(`${emulator.url}/v1/projects/${PROJECT}/messages:send`, {
          method: 'POST',
          headers: { authorization: `Bearer ${grant.access_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ message }),
        });
      const pushesBefore = emulator.pushes().length;
      for (const message of [
        { token: 'tok-android', data: { type: 'sync', collapse: 'c', text: 'hello' } },
        { token: 'tok-android', data: { type: 'sync', collapse: 'c' }, notification: { title: 'Example Bank', body: 'hello' } },
        { token: 'tok-android', data: { type: 'sync', collapse: 'c' }, apns: { payload: { aps: { 'content-available': 1, alert: 'hello' } } } },
        { token: 'tok-android', data: { type: 'message', collapse: 'c' } },
      ]) {
        const response = await post(message);
        expect(response.status).toBe(400);
        const body = (await response.json()) as { error: { status: string; details: { '@type': string }[] } };
        expect(body.error.status).toBe('INVALID_ARGUMENT');
        expect(body.error.details[0]?.['@type']).toBe('type.googleapis.com/google.rpc.BadRequest');
      }
      expect(emulator.pushes().length).toBe(pushesBefore);
      expect((await post({ token: 'tok-android', data: { type: 'sync', collapse: 'c' } })).status).toBe(200);
    });

    it('emits accepted on send and delivered once when the woken app confirms', async () => {
      const c = channel();
      const events: StatusEvent[] = [];
      c.onStatus((e) => events.push(e));
      const { providerMessageId } = await c.send(wake(recipient('tok-android')));
      expect(events).toMatchObject([{ channel: 'fcm', providerMessageId, status: 'accepted' }]);
      expect(c.confirmDelivered('projects/x/messages/not-ours')).toBe(false);
      expect(c.confirmDelivered(providerMessageId)).toBe(true);
      expect(c.confirmDelivered(providerMessageId)).toBe(false);
      expect(events.map((e) => e.status)).toStrictEqual(['accepted', 'delivered']);
    });

    it('health probes with validate_only, which delivers nothing', async () => {
      const c = channel();
      const pushesBefore = emulator.pushes().length;
      const health = await c.health();
      expect(health.ok).toBe(true);
      expect(emulator.pushes().length).toBe(pushesBefore);
      const probe = emulator.requests.filter((r) => r.path.endsWith('/messages:send')).at(-1)!;
      expect(JSON.parse(probe.body)).toMatchObject({ validate_only: true, message: { topic: 'parley-health' } });
    });
  });

  it('never puts the private key, the assertion, the access token or the push token in an error or a log line', async () => {
    const c = channel({ timeoutMs: 300 });
    const errors: ChannelError[] = [];
    const attempt = async (token: string): Promise<void> => {
      await c.send(wake(recipient(token))).catch((e: unknown) => {
        if (e instanceof ChannelError) errors.push(e);
        else throw e;
      });
    };
    await attempt('tok-android');
    emulator.revokeAccessTokens();
    await attempt('tok-android'); // 401 → refresh
    for (const token of ['tok-gone', 'never-issued-token', 'tok-other-project']) await attempt(token);
    emulator.setThirdPartyAuthValid(false);
    await attempt('tok-ios');
    for (const fault of ['quota', 'unavailable', 'internal', 'hang'] as const) {
      emulator.setFault(fault);
      await attempt('tok-android');
    }
    emulator.setFault(null);
    await failure(channel({ serviceAccount: serviceAccount(emulator, rsaServiceAccountKeys().privatePem) }).send(wake(recipient('tok-android')))).then((e) =>
      errors.push(e),
    );
    expect(errors.length).toBeGreaterThanOrEqual(9);

    const pemBody = keys.privatePem.split('\n').filter((l) => l.length > 0 && !l.startsWith('-----'));
    const assertions = emulator.requests.filter((r) => r.path === '/token').map((r) => new URLSearchParams(r.body).get('assertion') ?? '');
    const secrets = [...emulator.issuedAccessTokens(), ...assertions, ...pemBody, 'tok-android', 'tok-gone', 'never-issued-token', 'tok-other-project', 'tok-ios'];
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
