/**
 * Hardening regressions: one customer cannot hurt another. A real server with routing
 * through the provider emulators, real SDK devices of two businesses.
 *
 * - (issue item 2) a customer device cannot make the server push or SMS another customer
 *   (SMS pumping at the business's expense), and a sender cannot name a recipient who is
 *   not in the conversation;
 * - (item 6) a customer cannot list, probe or drain another customer's devices and
 *   KeyPackages, and one target's KeyPackages are rate-limited across all requesters;
 * - (item 9) unauthenticated endpoints answer unknown, revoked and other-business
 *   devices alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { Device, MemoryKeyStore, Sender } from '@parley/client';
import { nodeRuntime } from '@parley/client/node';
import { newDeviceId, toBase64 } from '@parley/core';
import { freePort, startLocalProviders, type LocalProviders } from '../../../cli/src/demo/providers.js';
import { createBusiness, enroll, type Business } from '@parley/test-kit/sdk';
import { api, startTestServer, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let providers: LocalProviders;
let bank: Business;
let otherBank: Business;
let sender: Sender;
const STEP_MS = 300;

beforeAll(async () => {
  const port = await freePort();
  providers = await startLocalProviders({ publicUrl: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
  const chain = [
    { step: 'app' as const, timeoutMs: STEP_MS },
    { step: 'push' as const, timeoutMs: STEP_MS },
    { step: 'sms-token' as const, timeoutMs: STEP_MS },
  ];
  t = await startTestServer({
    port,
    keyPackages: { claimsPerTargetPerMinute: 3 },
    routing: {
      channels: providers.channels,
      tickMs: 50,
      businesses: { 'iso-bank': { brand: 'Iso Bank', policies: { otp: { chain, otherwise: 'invite-to-app' } } } },
    },
  });
  bank = await createBusiness(t.url, 'iso-bank');
  otherBank = await createBusiness(t.url, 'iso-other');
  sender = await Sender.fromDevice(await enroll(t.url, bank, 'sender', 'sender'));
}, 120_000);

afterAll(async () => {
  await sender?.close();
  await t?.stop();
  await providers?.close();
});

/** A customer with a phone number and a registered FCM token (so push and SMS could reach her). */
async function reachableCustomer(subject: string, phone: string): Promise<{ device: Device; pushToken: string }> {
  const device = await Device.enroll({
    serverUrl: t.url,
    enrollmentToken: await bank.issue(subject, 'customer', { phone }),
    store: new MemoryKeyStore(),
    keyPackageBatch: 5,
    ...nodeRuntime,
  });
  const pushToken = providers.newPushToken('fcm');
  await device.api.setPushToken({ provider: 'fcm', token: pushToken });
  return { device, pushToken };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('business messages come only from the business, to members of the conversation (item 2)', () => {
  it('a customer naming another customer as the recipient is refused, and nothing is pushed or texted to the victim', async () => {
    const victim = await reachableCustomer('victim-1', '+15550100001');
    const attacker = await enroll(t.url, bank, 'attacker-1', 'customer');
    const alone = await attacker.createConversation([]);
    for (const cls of ['otp', 'never-configured-class']) {
      await expect(attacker.send(alone, 'pay me', { class: cls, audit: { recipient: victim.device.identityId } })).rejects.toMatchObject({ status: 403, code: 'sender_required' });
    }
    // Well past the whole chain (app → push → SMS link → invitation).
    await sleep(STEP_MS * 6);
    expect(providers.fcm.pushes(victim.pushToken)).toHaveLength(0);
    expect(providers.twilio.inbox('+15550100001')).toHaveLength(0);
  });

  it("a sender cannot route a message to a customer who is not in the conversation", async () => {
    const member = await reachableCustomer('member-2', '+15550100002');
    const outsider = await reachableCustomer('outsider-2', '+15550100003');
    const sent = await sender.send('member-2', 'hello member', { class: 'otp' });
    await expect(
      sender.device.send(sent.conversationId, 'for the outsider', { class: 'otp', audit: { recipient: outsider.device.identityId } }),
    ).rejects.toMatchObject({ status: 400, code: 'recipient_not_member' });
    await sleep(STEP_MS * 6);
    expect(providers.fcm.pushes(outsider.pushToken)).toHaveLength(0);
    expect(providers.twilio.inbox('+15550100003')).toHaveLength(0);
    // The member's own message went its way: she was woken (the app never acknowledged).
    expect(providers.fcm.pushes(member.pushToken).length).toBeGreaterThan(0);
  });
});

describe('the key directory shows a customer only whom it has a reason to see (item 6)', () => {
  it('another customer looks exactly like one that does not exist; the business and co-members are visible', async () => {
    const alice = await enroll(t.url, bank, 'alice-6', 'customer');
    const bob = await enroll(t.url, bank, 'bob-6', 'customer');
    const ghost = `${bank.id}:nobody-6`;
    /** [status, code] of a directory call as this customer's device. */
    const outcome = async (call: () => Promise<unknown>): Promise<[number, string]> => {
      try {
        await call();
        return [200, 'ok'];
      } catch (error) {
        const e = error as { status?: number; code?: string };
        return [e.status ?? 0, e.code ?? 'none'];
      }
    };
    const pairs: [() => Promise<unknown>, () => Promise<unknown>][] = [
      [() => alice.api.identityDevices(bob.identityId), () => alice.api.identityDevices(ghost)],
      [() => alice.api.keyLookup(bob.identityId), () => alice.api.keyLookup(ghost)],
      [() => alice.api.device(bob.deviceId), () => alice.api.device(newDeviceId())],
      [() => alice.api.claimKeyPackages([bob.deviceId]), () => alice.api.claimKeyPackages([newDeviceId()])],
    ];
    for (const [other, missing] of pairs) {
      const seen = await outcome(other);
      expect(seen[0]).toBe(404);
      expect(seen).toEqual(await outcome(missing));
    }
    // Her own identity and the business's identities stay visible.
    expect(await outcome(() => alice.api.identityDevices(alice.identityId))).toEqual([200, 'ok']);
    expect(await outcome(() => alice.api.keyLookup(sender.device.identityId))).toEqual([200, 'ok']);
    // Once the business puts them in one conversation, they may verify each other's keys.
    await sender.device.createConversation([alice.identityId, bob.identityId]);
    expect(await outcome(() => alice.api.keyLookup(bob.identityId))).toEqual([200, 'ok']);
    // Another business's identities never.
    const foreign = await enroll(t.url, otherBank, 'carol-6', 'sender');
    expect(await outcome(() => alice.api.keyLookup(foreign.identityId))).toEqual([404, 'unknown_identity']);
  });

  it("limits claims of one device's KeyPackages across all requesters", async () => {
    const target = await enroll(t.url, bank, 'target-6', 'customer');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const agent = await enroll(t.url, bank, `agent-6-${i}`, 'agent');
      statuses.push(await agent.api.claimKeyPackages([target.deviceId]).then(() => 200, (e: { status?: number }) => e.status ?? 0));
    }
    // claimsPerTargetPerMinute is 3 here: each requester is new, the target is the same.
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });
});

describe('unauthenticated endpoints tell nothing about devices (item 9)', () => {
  it('answers a challenge for any device id, and one error for unknown devices and bad signatures', async () => {
    const real = await enroll(t.url, bank, 'dave-9', 'customer');
    const shapes: unknown[] = [];
    for (const deviceId of [real.deviceId, newDeviceId()]) {
      const ch = await api(t.url, 'POST', '/v1/auth/challenge', { deviceId });
      expect(ch.status).toBe(200);
      shapes.push(Object.keys(ch.body).sort());
      const session = await api(t.url, 'POST', '/v1/auth/session', { deviceId, challenge: ch.body.challenge, signature: toBase64(new Uint8Array(64)) });
      expect([session.status, session.body.error.code]).toEqual([401, 'challenge_invalid']);
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });

  it('refuses an unauthenticated revocation alike for unknown, revoked and other-business devices', async () => {
    const mine = await enroll(t.url, bank, 'erin-9', 'customer');
    const theirs = await enroll(t.url, otherBank, 'frank-9', 'customer');
    const revoked = await enroll(t.url, bank, 'gus-9', 'customer');
    const now = Math.floor(Date.now() / 1000);
    const revokeToken = (deviceId: string) =>
      new SignJWT({ purpose: 'revoke-device' })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
        .setIssuer(bank.id)
        .setSubject(deviceId)
        .setAudience('parley')
        .setIssuedAt(now)
        .setExpirationTime(now + 120)
        .setJti(`revoke-${deviceId}`)
        .sign(bank.privateKey);
    expect((await api(t.url, 'POST', `/v1/devices/${revoked.deviceId}/revoke`, { businessToken: await revokeToken(revoked.deviceId) })).status).toBe(200);
    const answers = [];
    for (const target of [newDeviceId(), revoked.deviceId, theirs.deviceId, mine.deviceId]) {
      for (const body of [{ signature: toBase64(new Uint8Array(64)) }, { businessToken: 'e30.e30.e30' }]) {
        const r = await api(t.url, 'POST', `/v1/devices/${target}/revoke`, body);
        answers.push(`${JSON.stringify(body).slice(2, 6)} ${r.status} ${r.body.error.code}`);
      }
    }
    expect(new Set(answers.filter((a) => a.startsWith('sign')))).toEqual(new Set(['sign 401 session_required']));
    expect(new Set(answers.filter((a) => a.startsWith('busi')))).toEqual(new Set(['busi 401 business_token_invalid']));
    // A business token for another business's device does not reveal it either (it is simply not theirs).
    const cross = await api(t.url, 'POST', `/v1/devices/${theirs.deviceId}/revoke`, { businessToken: await revokeToken(theirs.deviceId) });
    const ghost = newDeviceId();
    const unknown = await api(t.url, 'POST', `/v1/devices/${ghost}/revoke`, { businessToken: await revokeToken(ghost) });
    expect([cross.status, cross.body.error.code]).toEqual([404, 'unknown_device']);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'unknown_device']);
  });
});
