/**
 * The world the fuzz test runs in: a real server (helpers.ts: loopback HTTP, PGlite or
 * PostgreSQL) with an SMS provider (the Twilio emulator) and an RBM channel for signed
 * webhooks; a business with a sending service and customers enrolled as real devices
 * with sessions; a conversation with an audited business message; a retrieval link for
 * the app and one for the web, so that every endpoint can be reached past its checks.
 */
import { generateKeyPairSync, randomBytes as nodeRandomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort, TwilioEmulator } from '@parley/emulators';
import { fromBase64, randomBytes, toBase64, toBase64Url, utf8 } from '@parley/core';
import { commitmentHash, signCommitment, type Commitment } from '@parley/core/audit';
import { commitChanges, createGroup, encryptApplication, type AuthenticateMember, type MlsGroup } from '@parley/core/mls';
import { RbmChannel, TwilioChannel } from '../../src/index.js';
import { api, createBusiness, registerRawDevice, startTestServer, suite, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';

export const BANK = 'fuzz-bank';
export const OTHER_BANK = 'fuzz-other';
export const ALICE_PHONE = '+15550000001';
export const CAROL_PHONE = '+15550000003';
/** A class whose chain sends an app retrieval link by SMS at once. */
export const LINK_CLASS = 'fz-link';
/** A class for customers without the app: a web retrieval link. */
export const WEB_CLASS = 'fz-web';

const acceptAll: AuthenticateMember = async () => true;

export interface World {
  readonly t: TestServer;
  readonly url: string;
  readonly bank: TestBusiness;
  readonly other: TestBusiness;
  readonly sender: RawDevice;
  readonly alice: RawDevice;
  readonly bob: RawDevice;
  /** A device of the business that may be revoked (each call: a new one). */
  newDevice(subject: string): Promise<RawDevice>;
  /** A new device of alice, waiting for approval by her first device. */
  pendingAliceDevice(): Promise<RawDevice>;
  /** The session of a device that was revoked (set by the revoke operation). */
  revokedToken: string | undefined;
  /** A device of another business (tenant isolation). */
  readonly stranger: RawDevice;
  readonly conversationId: string;
  /** The sender's MLS group (advanced by every accepted commit the test sends). */
  group: MlsGroup;
  /** The audited business message to alice. */
  readonly messageId: string;
  readonly commitmentHash: string;
  readonly appToken: string;
  /** A fresh app retrieval link to alice (a new audited business message routed by SMS): its token. */
  appLink(): Promise<string>;
  readonly webToken: string;
  readonly twilio: TwilioEmulator;
  readonly rbmClientToken: string;
  /** One-time codes the business's second factor received. */
  readonly codes: string[];
  /** A fresh web retrieval link (a new message to a customer without the app): its token. */
  webLink(): Promise<string>;
  /** A fresh web message whose link awaits the sender's hand-off report. */
  webMessage(): Promise<{ messageId: string; token: string }>;
  stop(): Promise<void>;
}


/** The business's own backend endpoint for second-factor codes. */
async function secondFactorInbox(codes: string[]): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { code } = JSON.parse(Buffer.concat(chunks).toString()) as { code: string };
      codes.push(code);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}

/** A customer with a phone number: the business's enrollment tokens carry the `phone` claim. */
function withPhone(business: TestBusiness, phone: string): TestBusiness {
  return { ...business, token: (subject, claims = {}, lifetime) => business.token(subject, { ...claims, phone }, lifetime) };
}

/** Waits for an SMS carrying a retrieval link to `phone`; returns the link's token. */
async function linkSentTo(twilio: TwilioEmulator, phone: string, seen: ReadonlySet<string>): Promise<string> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    for (const m of twilio.messages.values()) {
      const token = /\/r\/([A-Za-z0-9_-]{22})/.exec(m.body)?.[1];
      if (m.to === phone && token && !seen.has(token)) return token;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no retrieval link reached ${phone}`);
}

/** A signed commitment for a business message from `sender` to `recipient`. */
export function signedCommitment(sender: RawDevice, conversationId: string, recipient: string, messageClass: string, messageId: string) {
  const body: Commitment = {
    v: 1,
    messageId,
    conversationId,
    sender: { identityId: sender.identityId, deviceId: sender.deviceId },
    recipient,
    class: messageClass,
    createdAt: new Date().toISOString(),
    contentCommitment: toBase64Url(randomBytes(32)),
  };
  return { body, signature: toBase64(signCommitment(sender.identity.privateKey, body)) };
}

export function newMessageId(): string {
  return toBase64Url(randomBytes(16));
}

/** An encrypted application message of the sender's group, advancing its state. */
export async function applicationMessage(world: World, text = 'fuzz'): Promise<string> {
  const { group, message } = await encryptApplication(await suite(), world.group, utf8(text));
  world.group = group;
  return toBase64(message);
}

export async function buildWorld(): Promise<World> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const twilio = await TwilioEmulator.start({ callbacks: 'manual' });
  const codes: string[] = [];
  const inbox = await secondFactorInbox(codes);
  const rbmClientToken = nodeRandomBytes(16).toString('hex');
  const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  // Nothing listens on the RBM endpoints: capability checks fail fast and SMS is used.
  const deadUrl = `http://127.0.0.1:${await freePort()}`;
  const step = (name: 'app' | 'sms-token', timeoutMs: number) => ({ step: name, timeoutMs });
  const t = await startTestServer({
    port,
    keyPackages: { claimsPerMinute: 1_000_000 },
    routing: {
      tickMs: 50,
      maxTokenAttempts: 1_000_000,
      channels: {
        sms: new TwilioChannel({
          accountSid: twilio.accountSid,
          authToken: twilio.authToken,
          from: '+15005550006',
          statusCallbackUrl: `${publicUrl}/v1/webhooks/twilio`,
          baseUrl: twilio.baseUrl,
          timeoutMs: 2_000,
        }),
        rbm: new RbmChannel({
          agentId: 'fuzz-agent',
          brand: 'Fuzz Bank',
          serviceAccount: { client_email: 'fuzz@fuzz.iam.gserviceaccount.com', private_key: rsaPem, token_uri: `${deadUrl}/token` },
          webhookClientToken: rbmClientToken,
          baseUrl: deadUrl,
          timeoutMs: 500,
        }),
      },
      businesses: {
        [BANK]: {
          brand: 'Fuzz Bank',
          secondFactor: { url: `http://127.0.0.1:${(inbox.address() as AddressInfo).port}/second-factor`, secret: 'fuzz-second-factor' },
          policies: {
            [LINK_CLASS]: { chain: [step('sms-token', 600_000)], otherwise: 'block' },
            [WEB_CLASS]: { chain: [step('app', 600_000)], otherwise: 'fallback-with-token' },
          },
        },
      },
    },
  });
  const url = t.url;
  try {
    const bank = await createBusiness(url, BANK);
    const other = await createBusiness(url, OTHER_BANK);
    const sender = await registerRawDevice(url, bank, 'sender', { kind: 'sender' });
    const alice = await registerRawDevice(url, withPhone(bank, ALICE_PHONE), 'alice', { keyPackages: 5 });
    const bob = await registerRawDevice(url, bank, 'bob', { keyPackages: 5 });
    const stranger = await registerRawDevice(url, other, 'stranger', { keyPackages: 1 });

    // The conversation: the sender adds alice and bob.
    const s = await suite();
    let group = await createGroup(s, randomBytes(32), { identityId: sender.identityId, deviceId: sender.deviceId }, sender.signature, acceptAll);
    const claim = await api(url, 'POST', '/v1/key-packages/claim', { deviceIds: [alice.deviceId, bob.deviceId] }, sender.token);
    if (claim.status !== 200) throw new Error(`claim: ${claim.status}`);
    const added = await commitChanges(s, group, { add: (claim.body.keyPackages as { keyPackage: string }[]).map((k) => fromBase64(k.keyPackage)) });
    const created = await api(
      url,
      'POST',
      '/v1/messages',
      {
        idempotencyKey: 'fuzz-create',
        conversationId: group.conversationId,
        message: toBase64(added.commit),
        members: [sender.deviceId, alice.deviceId, bob.deviceId],
        welcome: toBase64(added.welcome!),
        groupInfo: toBase64(added.groupInfo),
      },
      sender.token,
    );
    if (created.status !== 201) throw new Error(`group: ${created.status} ${JSON.stringify(created.body)}`);
    group = added.group;
    const conversationId = group.conversationId;

    // An audited business message to alice whose route sends her an app link by SMS.
    const appLinks = new Set<string>();
    const appLink = async (): Promise<{ token: string; messageId: string; commitment: Commitment }> => {
      const messageId = newMessageId();
      const commitment = signedCommitment(sender, conversationId, alice.identityId, LINK_CLASS, messageId);
      const enc = await encryptApplication(s, group, utf8('fuzz business message'));
      group = enc.group;
      const sent = await api(url, 'POST', '/v1/messages', { idempotencyKey: `fuzz-business-${messageId}`, conversationId, message: toBase64(enc.message), commitment: { body: commitment.body, signature: commitment.signature } }, sender.token);
      if (sent.status !== 201) throw new Error(`business message: ${sent.status} ${JSON.stringify(sent.body)}`);
      const token = await linkSentTo(twilio, ALICE_PHONE, appLinks);
      appLinks.add(token);
      return { token, messageId, commitment: commitment.body };
    };
    const first = await appLink();
    let devices = 0;

    // A customer without the app: a web retrieval link.
    const seen = new Set<string>();
    let customers = 0;
    // The server answers with the link (no key: the sender keeps it) for the sender's own SMS provider.
    const webMessage = async (): Promise<{ messageId: string; token: string }> => {
      const messageId = newMessageId();
      const web = await api(
        url,
        'POST',
        '/v1/web-messages',
        { messageId, customerId: `carol-${++customers}`, phone: CAROL_PHONE, class: WEB_CLASS, ciphertext: toBase64(randomBytes(60)) },
        sender.token,
      );
      const link = (web.body.delivery as { url?: string } | undefined)?.url;
      const token = /\/r\/([A-Za-z0-9_-]{22})$/.exec(link ?? '')?.[1];
      if (web.status !== 200 || token === undefined || seen.has(token)) throw new Error(`web message: ${web.status} ${JSON.stringify(web.body)}`);
      seen.add(token);
      return { messageId, token };
    };
    const webLink = async () => {
      const { messageId, token } = await webMessage();
      const handoff = await api(url, 'POST', `/v1/web-messages/${messageId}/handoff`, { ok: true, provider: 'twilio', providerMessageId: `SM${toBase64Url(randomBytes(8))}` }, sender.token);
      if (handoff.status !== 200) throw new Error(`web hand-off: ${handoff.status} ${JSON.stringify(handoff.body)}`);
      return token;
    };
    const webToken = await webLink();

    return {
      t,
      url,
      bank,
      other,
      sender,
      alice,
      bob,
      newDevice: (subject) => registerRawDevice(url, bank, `${subject}-${++devices}`, { keyPackages: 1 }),
      pendingAliceDevice: () => registerRawDevice(url, withPhone(bank, ALICE_PHONE), 'alice', { keyPackages: 1 }),
      revokedToken: undefined,
      stranger,
      conversationId,
      get group() {
        return group;
      },
      set group(next: MlsGroup) {
        group = next;
      },
      messageId: first.messageId,
      commitmentHash: toBase64Url(commitmentHash(first.commitment)),
      appToken: first.token,
      appLink: async () => (await appLink()).token,
      webToken,
      twilio,
      rbmClientToken,
      codes,
      webLink,
      webMessage,
      async stop() {
        await t.stop();
        await twilio.close();
        await new Promise<void>((resolve) => inbox.close(() => resolve()));
      },
    };
  } catch (error) {
    await t.stop().catch(() => {});
    await twilio.close().catch(() => {});
    inbox.close();
    throw error;
  }
}
