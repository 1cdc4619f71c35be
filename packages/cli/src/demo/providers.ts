/**
 * Local delivery providers for the demo and the routing tests: every provider Parley
 * talks to (FCM, APNs, RBM, Twilio, SMPP) as a faithful emulator on loopback, and the
 * production channel adapters pointed at them. Only the far end is emulated: the
 * adapters are the code a deployment runs against the real APIs.
 *
 * The emulators also play the customer's phone: an FCM/APNs push "wakes the app"
 * (`onWake`), an RBM file reaches the Parley RCS client (`onRcsFile`), and an SMS lands
 * in the handset's inbox (`onSms`).
 */
import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApnsEmulator, FcmEmulator, RBM_DEFAULT_UPLOAD_TYPES, RbmEmulator, SmppEmulator, TwilioEmulator, type RbmPhoneCapability } from '@parley/emulators';
import { PARLEY_ENVELOPE_TYPE } from '@parley/server';
import { ApnsChannel, FcmChannel, RbmChannel, SmppChannel, TwilioChannel, type BusinessRouting, type Channel, type ChannelSet } from '@parley/server';

/**
 * The demo business's brand (in SMS texts and RBM agent names).
 *
 * @example
 * `${DEMO_BRAND}: you have a new secure message.`
 */
export const DEMO_BRAND = 'Example Bank';
const FCM_PROJECT = 'example-bank-app';
const FCM_EMAIL = 'parley-push@example-bank-app.iam.gserviceaccount.com';
const RBM_AGENT = 'example-bank-agent';
const RBM_EMAIL = 'parley-rbm@example-bank-rbm.iam.gserviceaccount.com';
const APNS_TEAM = 'EXBANK1234';
const APNS_KEY_ID = 'ABC123DEFG';
const APNS_TOPIC = 'com.examplebank.app';
const TWILIO_FROM = '+15005550006';

/** A free loopback port (for a server whose URL must be known before it starts). */
export { freePort } from '@parley/emulators';

/**
 * The loopback provider emulators and the production channel adapters that reach them.
 *
 * @example
 * const push = providers.newPushToken('fcm');
 */
export interface LocalProviders {
  readonly channels: ChannelSet;
  /**
   * The BANK's own SMS account (a Twilio adapter on the Twilio emulator, not the server's
   * channel): web links, whose key only the bank's sender may hold, go out through it
   * (`smsDeliver(providers.businessSms)` as `Sender.sendToWeb`'s `deliver`).
   */
  readonly businessSms: Channel;
  readonly fcm: FcmEmulator;
  readonly apns: ApnsEmulator;
  readonly rbm: RbmEmulator;
  readonly twilio: TwilioEmulator;
  readonly smpp?: SmppEmulator;
  /** A push token the FCM (or APNs) emulator knows, for a device to register. */
  newPushToken(provider: 'fcm' | 'apns'): string;
  /** Sets what RCS a phone has: none, plain RCS, or RCS with a Parley client. */
  setRcs(phone: string, capability: RbmPhoneCapability): void;
  /** Every byte any emulator received. */
  receivedBytes(): Buffer;
  close(): Promise<void>;
}

/**
 * Options of {@link startLocalProviders}.
 *
 * @example
 * const opts: LocalProvidersOptions = { publicUrl: `http://127.0.0.1:${port}`, rbmAutoDeliver: true };
 */
export interface LocalProvidersOptions {
  /** The Parley server's public URL (webhooks are posted there). */
  readonly publicUrl: string;
  /** SMS through SMPP instead of Twilio's REST API. */
  readonly sms?: 'twilio' | 'smpp';
  /** Deliver RBM messages to the handset at once (demo). */
  readonly rbmAutoDeliver?: boolean;
  /** Adapter timeouts (ms); small in tests. */
  readonly timeoutMs?: number;
}

/**
 * Starts the FCM, APNs, RBM and Twilio (or SMPP) emulators on loopback and the channel adapters configured for them.
 *
 * @example
 * const providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}` });
 */
export async function startLocalProviders(options: LocalProvidersOptions): Promise<LocalProviders> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaPem = rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecPem = ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const timeoutMs = options.timeoutMs ?? 5_000;
  const rbmClientToken = randomBytes(16).toString('hex');

  const fcm = await FcmEmulator.start({ projectId: FCM_PROJECT, serviceAccountEmail: FCM_EMAIL, publicKey: rsa.publicKey });
  const apns = await ApnsEmulator.start({ teamId: APNS_TEAM, keyId: APNS_KEY_ID, publicKey: ec.publicKey, topics: [APNS_TOPIC] });
  const rbm = await RbmEmulator.start({
    serviceAccounts: [{ clientEmail: RBM_EMAIL, publicKey: rsa.publicKey }],
    agents: [{ agentId: RBM_AGENT, brand: DEMO_BRAND, verified: true, serviceAccountEmail: RBM_EMAIL }],
    webhook: { url: `${options.publicUrl}/v1/webhooks/rbm`, clientToken: rbmClientToken },
    // A Parley envelope (JSON around the MLS ciphertext) as an RBM file: the platform has to accept this type (see rbm.ts).
    uploadTypes: [...RBM_DEFAULT_UPLOAD_TYPES, PARLEY_ENVELOPE_TYPE],
    ...(options.rbmAutoDeliver ? { autoDeliver: true } : {}),
  });
  const twilio = await TwilioEmulator.start({ callbacks: 'auto' });
  const smpp = options.sms === 'smpp' ? await SmppEmulator.start({ autoReceipt: true }) : undefined;

  const channels: ChannelSet = {
    fcm: new FcmChannel({
      serviceAccount: { client_email: FCM_EMAIL, private_key: rsaPem, token_uri: `${fcm.url}/token`, project_id: FCM_PROJECT },
      baseUrl: fcm.url,
      timeoutMs,
    }),
    apns: new ApnsChannel({ teamId: APNS_TEAM, keyId: APNS_KEY_ID, privateKey: ecPem, topic: APNS_TOPIC, baseUrl: apns.url, timeoutMs }),
    rbm: new RbmChannel({
      agentId: RBM_AGENT,
      brand: DEMO_BRAND,
      serviceAccount: { client_email: RBM_EMAIL, private_key: rsaPem, token_uri: rbm.tokenUrl },
      webhookClientToken: rbmClientToken,
      baseUrl: rbm.url,
      timeoutMs,
    }),
    sms: smpp
      ? new SmppChannel({ host: smpp.host, port: smpp.port, systemId: smpp.systemId, password: smpp.password, sourceAddr: DEMO_BRAND.replace(/\s/g, '').slice(0, 11), submitTimeoutMs: timeoutMs })
      : new TwilioChannel({
          accountSid: twilio.accountSid,
          authToken: twilio.authToken,
          from: TWILIO_FROM,
          statusCallbackUrl: `${options.publicUrl}/v1/webhooks/twilio`,
          baseUrl: twilio.baseUrl,
          timeoutMs,
        }),
  };
  const businessSms = new TwilioChannel({
    accountSid: twilio.accountSid,
    authToken: twilio.authToken,
    from: TWILIO_FROM,
    // The bank's own status endpoint: none in the demo (the emulator's callbacks to it go nowhere).
    statusCallbackUrl: 'http://127.0.0.1:9/bank-sms-status',
    baseUrl: twilio.baseUrl,
    timeoutMs,
  });
  let serial = 0;
  return {
    channels,
    businessSms,
    fcm,
    apns,
    rbm,
    twilio,
    ...(smpp ? { smpp } : {}),
    newPushToken(provider) {
      const token = provider === 'fcm' ? `fcm-${randomBytes(24).toString('base64url')}` : randomBytes(32).toString('hex');
      if (provider === 'fcm') fcm.registerToken(token);
      else apns.registerToken(token);
      serial++;
      return token;
    },
    setRcs(phone, capability) {
      rbm.setPhone(phone, capability);
    },
    receivedBytes() {
      return Buffer.concat([fcm.recorder.bytes(), apns.recorder.bytes(), rbm.recorder.bytes(), twilio.recorder.bytes(), ...(smpp ? [smpp.recorder.bytes()] : [])]);
    },
    async close() {
      for (const c of [channels.fcm, channels.apns, channels.rbm, channels.sms, businessSms]) await c?.close().catch(() => {});
      const closing: Promise<void>[] = [fcm.close(), apns.close(), rbm.close(), twilio.close()];
      if (smpp) closing.push(smpp.close());
      await Promise.all(closing.map((p) => p.catch(() => {})));
    },
  };
}

/** The handset's SMS inbox across whichever SMS emulator is in use. */
export function smsInbox(providers: LocalProviders, phone: string): readonly { readonly to: string; readonly text: string }[] {
  return providers.smpp ? providers.smpp.inbox(phone) : providers.twilio.inbox(phone);
}

/**
 * The bank's own backend endpoint for second-factor codes (Parley POSTs `{identityId,
 * code}` there, HMAC-signed; a real bank would e-mail or call the customer). Keeps the
 * codes for the demo's "customer" to read.
 */
export interface SecondFactorInbox {
  readonly url: string;
  readonly secret: string;
  /** Waits for the next code sent for this identity. */
  nextCode(identityId: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the bank's second-factor endpoint on loopback: it keeps the codes the server posts.
 *
 * @example
 * const code = await (await startSecondFactorInbox()).nextCode('example-bank:c-1005');
 */
export async function startSecondFactorInbox(): Promise<SecondFactorInbox> {
  const secret = randomBytes(24).toString('base64url');
  const codes: { identityId: string; code: string; taken: boolean }[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const expected = createHmac('sha256', secret).update(body).digest('base64');
      if (req.headers['x-parley-signature'] !== expected) {
        res.writeHead(401).end();
        return;
      }
      const json = JSON.parse(body.toString()) as { identityId: string; code: string };
      codes.push({ identityId: json.identityId, code: json.code, taken: false });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/second-factor`,
    secret,
    async nextCode(identityId, timeoutMs = 10_000) {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; ) {
        const found = codes.find((c) => c.identityId === identityId && !c.taken);
        if (found) {
          found.taken = true;
          return found.code;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error('no second-factor code arrived');
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The demo bank's routing: the example policies with demo-sized timeouts. */
export function demoRouting(secondFactor: SecondFactorInbox): BusinessRouting {
  const chain = [
    { step: 'app' as const, timeoutMs: 1_500 },
    { step: 'push' as const, timeoutMs: 4_000 },
    { step: 'rcs' as const, timeoutMs: 4_000 },
    { step: 'sms-token' as const, timeoutMs: 60_000 },
  ];
  return {
    brand: DEMO_BRAND,
    appUrl: 'https://examplebank.example/app',
    secondFactor: { url: secondFactor.url, secret: secondFactor.secret },
    policies: {
      otp: { chain, otherwise: 'fallback-with-token' },
      alert: { chain, otherwise: 'require-consent' },
      support: { chain: [{ step: 'app', timeoutMs: 10_000 }, { step: 'push', timeoutMs: 60_000 }], otherwise: 'invite-to-app' },
      statement: { chain: [{ step: 'app', timeoutMs: 10_000 }], otherwise: 'invite-to-app' },
      notice: { chain: [{ step: 'app', timeoutMs: 10_000 }], otherwise: 'block' },
    },
  };
}
