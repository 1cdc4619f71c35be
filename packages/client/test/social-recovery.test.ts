/**
 * Social recovery on a real server: a customer splits the backup's recovery key 3-of-4 among
 * her tablet, her laptop and two trusted contacts (other customers of the bank: a customer may
 * see another customer's keys only when they share a conversation, so the bank's agent opens a
 * joint conversation with the three — as for a joint account). Her phone is lost; a new phone,
 * approved by her tablet, asks; two holders release and one declines (not enough, and those two
 * shares do not reveal the key); a third releases and the new phone restores the backup. Around
 * it: a holder key substituted in the database is refused at split, devices that hold no share
 * (another customer, another tenant, the bank's agent) cannot read or answer the request or ask
 * for someone else's set, and no share or key is stored in the clear.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  combineRecoveryShares,
  fromBase64,
  recoveryReleaseContext,
  randomBytes,
  recoveryRequestMessage,
  signEd25519,
  toBase64Url,
  toHex,
  utf8,
  type RecoveryRequestBinding,
  type RecoveryRequestView,
} from '@parley/core';
import { hpkeOpen } from '@parley/core/escrow';
import { Device, MemoryKeyStore, RecoveryError, generateRecoveryKey, type DeviceEvent } from '../src/index.js';
import { recoveryKeyBytes } from '../src/recovery-shares.js';
import { EventLog, createBusiness, enroll, enrollApproved, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'recovery-bank');
}, 60_000);
afterAll(async () => t?.stop());

async function view(device: Device, requestId: string): Promise<RecoveryRequestView> {
  return (await (await device.api.send('GET', `/v1/recovery/requests/${requestId}`, {}, true)).json()) as RecoveryRequestView;
}

/** The shares released so far, opened with the new phone's ephemeral key (what only that phone can do). */
async function openReleased(store: MemoryKeyStore, released: RecoveryRequestView): Promise<Uint8Array[]> {
  const state = JSON.parse(new TextDecoder().decode((await store.get(`recovery/request/${released.request.requestId}`))!)) as { privateKey: string; binding: RecoveryRequestBinding };
  return Promise.all(
    (released.releasedShares ?? []).map((r) => {
      const { info, aad } = recoveryReleaseContext(state.binding, r.index, r.deviceId);
      return hpkeOpen(fromBase64(state.privateKey), info, aad, fromBase64(r.sealed));
    }),
  );
}

/** A device's identity private key, from its store (to sign requests the SDK would never make). */
async function identityKeyOf(store: MemoryKeyStore): Promise<Uint8Array> {
  const record = JSON.parse(new TextDecoder().decode((await store.get('device'))!)) as { identityPrivateKey: string };
  return fromBase64(record.identityPrivateKey);
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return toHex(haystack).includes(toHex(needle));
}

describe('social recovery', () => {
  it('k holders recover the recovery key, k−1 cannot; the server never holds a share or the key', async () => {
    const agent = await enroll(t.url, bank, 'rc-agent', 'agent');
    const phone = await enroll(t.url, bank, 'rc-owner', 'customer', new MemoryKeyStore(), 'phone');
    const tablet = await enrollApproved(t.url, bank, 'rc-owner', phone, new MemoryKeyStore(), 'tablet');
    const laptop = await enrollApproved(t.url, bank, 'rc-owner', phone, new MemoryKeyStore(), 'laptop');
    const friend1Store = new MemoryKeyStore();
    const friend1 = await enroll(t.url, bank, 'rc-friend-1', 'customer', friend1Store);
    const friend2 = await enroll(t.url, bank, 'rc-friend-2', 'customer');
    const log = new EventLog(phone);
    await Promise.all([agent.connect(), phone.connect()]);
    // The joint conversation makes the three customers visible to each other (directory/visibility.ts).
    const conversationId = await agent.createConversation([phone.identityId, friend1.identityId, friend2.identityId]);
    const hello = await agent.send(conversationId, 'Example Bank: your joint account is open.', { class: 'support' });
    await log.waitFor((e: DeviceEvent) => e.type === 'message' && e.messageId === hello.messageId);

    // The backup, under a recovery key the customer never has to write down.
    const recoveryKey = generateRecoveryKey();
    await phone.backups.upload({ recoveryKey });
    for (const holder of [tablet, laptop, friend1, friend2]) await holder.recovery.enableHolding();
    const holders = [
      { identityId: phone.identityId, deviceId: tablet.deviceId },
      { identityId: phone.identityId, deviceId: laptop.deviceId },
      { identityId: friend1.identityId },
      { identityId: friend2.identityId },
    ];
    await expect(phone.recovery.split({ recoveryKey, threshold: 1, holders })).rejects.toMatchObject({ code: 'recovery_threshold_invalid' });
    await expect(phone.recovery.split({ recoveryKey, threshold: 5, holders })).rejects.toMatchObject({ code: 'recovery_threshold_invalid' });
    await expect(phone.recovery.split({ recoveryKey, threshold: 2, holders: [...holders.slice(0, 2), { identityId: phone.identityId }] })).rejects.toMatchObject({
      code: 'recovery_holder_invalid',
    });

    // A server that substitutes its own key for a holder's is caught: the key is not signed by the holder's logged identity key.
    const [original] = await t.server.db.query<{ hpke_key: Uint8Array }>('SELECT hpke_key FROM recovery_holder_keys WHERE device_id = $1', [friend1.deviceId]);
    await t.server.db.query('UPDATE recovery_holder_keys SET hpke_key = $2 WHERE device_id = $1', [friend1.deviceId, randomBytes(32)]);
    const substituted = await phone.recovery.split({ recoveryKey, threshold: 3, holders }).catch((e: unknown) => e);
    expect(substituted).toBeInstanceOf(RecoveryError);
    expect(substituted).toMatchObject({ code: 'recovery_holder_unverified', details: { identityId: friend1.identityId } });
    await t.server.db.query('UPDATE recovery_holder_keys SET hpke_key = $2 WHERE device_id = $1', [friend1.deviceId, original!.hpke_key]);

    const set = await phone.recovery.split({ recoveryKey, threshold: 3, holders });
    expect(set.threshold).toBe(3);
    expect(set.holders.map((h) => [h.index, h.deviceIds])).toEqual([
      [1, [tablet.deviceId]],
      [2, [laptop.deviceId]],
      [3, [friend1.deviceId]],
      [4, [friend2.deviceId]],
    ]);
    await phone.close();

    // The phone is lost: the tablet revokes it and approves the new phone.
    await tablet.keys.revokeDevice(phone.deviceId);
    const newStore = new MemoryKeyStore();
    const newPhone = await enrollApproved(t.url, bank, 'rc-owner', tablet, newStore, 'new phone');
    const started = await newPhone.recovery.request();
    expect(started).toMatchObject({ threshold: 3, holders: 4, code: expect.stringMatching(/^\d{5} \d{5}$/) });
    const { requestId } = started;

    // Each holder sees who asks and the same code the new phone shows (compared out of band).
    for (const holder of [tablet, laptop, friend1, friend2]) {
      const pending = await holder.recovery.pendingRequests();
      expect(pending).toEqual([
        expect.objectContaining({ requestId, identityId: newPhone.identityId, requesterDeviceId: newPhone.deviceId, code: started.code, verified: true, approvedBy: 'owner-device' }),
      ]);
    }
    await expect(friend1.recovery.approve(requestId, '00000 00000')).rejects.toMatchObject({ code: 'recovery_requester_unverified' });

    // Two release, one declines: not enough, and what was released does not reveal the key.
    await tablet.recovery.approve(requestId, started.code);
    await friend1.recovery.approve(requestId, started.code);
    await laptop.recovery.decline(requestId);
    expect(await laptop.recovery.pendingRequests()).toEqual([]);
    await expect(laptop.recovery.approve(requestId)).rejects.toMatchObject({ code: 'recovery_request_unknown' });
    expect(await newPhone.recovery.collect(requestId)).toMatchObject({ status: 'pending', threshold: 3, valid: 2, invalid: 0, declined: 1 });
    await expect(newPhone.recovery.complete(requestId)).rejects.toMatchObject({ code: 'recovery_not_enough_shares', details: { valid: 2, threshold: 3 } });
    const two = await openReleased(newStore, await view(newPhone, requestId));
    expect(two).toHaveLength(2);
    const guess = await combineRecoveryShares(two);
    expect(toHex(guess)).not.toBe(toHex(recoveryKeyBytes(recoveryKey)));

    // Whoever holds no share of this set, or is not the requester, sees no share of it.
    const tabletView = await view(tablet, requestId);
    expect(tabletView.share?.index).toBe(1);
    expect(tabletView.releasedShares).toBeUndefined();
    const friendView = await view(friend1, requestId);
    expect(friendView).toMatchObject({ share: { index: 3 }, decision: 'released', released: 2 });
    expect(friendView.releasedShares).toBeUndefined();
    const strangerStore = new MemoryKeyStore();
    const stranger = await enroll(t.url, await createBusiness(t.url, 'recovery-other'), 'rc-stranger', 'customer', strangerStore);
    for (const outsider of [agent, stranger]) {
      await expect(outsider.api.send('GET', `/v1/recovery/requests/${requestId}`, {}, true)).rejects.toMatchObject({ status: 404, code: 'unknown_recovery_request' });
      await expect(
        outsider.api.send('POST', `/v1/recovery/requests/${requestId}/release`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sealed: toBase64Url(randomBytes(76)) }) }, true),
      ).rejects.toMatchObject({ status: 404, code: 'unknown_recovery_request' });
      expect(await outsider.recovery.pendingRequests()).toEqual([]);
    }
    // Nobody else may ask for this identity's set: not under its own name, not under the owner's.
    const ownerSet = newPhone.api.send('GET', '/v1/recovery/set', {}, true).then(async (r) => (await r.json()) as { manifest: { setId: string } });
    const setId = (await ownerSet).manifest.setId;
    for (const [asker, key] of [
      [friend1, await identityKeyOf(friend1Store)],
      [stranger, await identityKeyOf(strangerStore)],
    ] as const) {
      for (const identityId of [asker.identityId, newPhone.identityId]) {
        const binding: RecoveryRequestBinding = {
          v: 1,
          requestId: `rcr_${toBase64Url(randomBytes(16))}`,
          setId,
          identityId,
          deviceId: asker.deviceId,
          requesterKey: toBase64Url(randomBytes(32)),
          expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        };
        const body = JSON.stringify({ request: binding, signature: toBase64Url(signEd25519(key, recoveryRequestMessage(binding))) });
        const refused = await asker.api.send('POST', '/v1/recovery/requests', { headers: { 'content-type': 'application/json' }, body }, true).catch((e: { status: number; code: string }) => e);
        expect(refused).toMatchObject(identityId === asker.identityId ? { status: 404, code: 'unknown_recovery_set' } : { status: 400, code: 'invalid_recovery_request' });
      }
    }
    await expect(stranger.api.send('GET', `/v1/recovery/holder-keys/${encodeURIComponent(newPhone.identityId)}`, {}, true)).rejects.toMatchObject({ status: 404, code: 'unknown_identity' });

    // The third holder releases: the key comes back, and with it the backup.
    await friend2.recovery.approve(requestId, started.code);
    const three = await openReleased(newStore, await view(newPhone, requestId));
    expect(three).toHaveLength(3);
    const recovered = await newPhone.recovery.complete(requestId);
    expect(recovered).toBe(recoveryKey);
    await expect(newPhone.recovery.complete(requestId)).rejects.toMatchObject({ code: 'recovery_request_unknown' });
    expect((await newPhone.backups.restore({ recoveryKey: recovered })).messages).toBe(1);
    expect((await newPhone.history(conversationId)).map((m) => (m as { text?: string }).text)).toEqual(['Example Bank: your joint account is open.']);

    // No share and no recovery key in the clear anywhere in the database.
    const secrets = [recoveryKeyBytes(recoveryKey), utf8(recoveryKey.replaceAll(' ', '')), ...three];
    const tables = await t.server.db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
    expect(tables.map((r) => r.table_name)).toEqual(expect.arrayContaining(['recovery_shares', 'recovery_answers', 'recovery_sets', 'recovery_holder_keys', 'recovery_requests']));
    for (const { table_name } of tables) {
      for (const row of await t.server.db.query<Record<string, unknown>>(`SELECT * FROM "${table_name}"`)) {
        for (const value of Object.values(row)) {
          const bytes = value instanceof Uint8Array ? value : utf8(typeof value === 'string' ? value : JSON.stringify(value ?? null));
          for (const secret of secrets) expect(contains(bytes, secret), `${table_name} holds a secret`).toBe(false);
          if (typeof value === 'string') for (const share of three) expect(value).not.toContain(toBase64Url(share));
        }
      }
    }
    await Promise.all([newPhone, tablet, laptop, friend1, friend2, agent, stranger].map((d) => d.close()));
  }, 180_000);

  it('a holder cannot answer a request on a set it holds no share of', async () => {
    const agent1 = await enroll(t.url, bank, 'rc-agent-a', 'agent');
    const agent2 = await enroll(t.url, bank, 'rc-agent-b', 'agent');
    const owner = await enroll(t.url, bank, 'rc-owner-2', 'customer');
    const other = await enroll(t.url, bank, 'rc-owner-3', 'customer');
    const otherTablet = await enrollApproved(t.url, bank, 'rc-owner-3', other);
    for (const h of [agent1, agent2, otherTablet]) await h.recovery.enableHolding();
    const recoveryKey = generateRecoveryKey();
    // The bank's staff identities are visible to every customer of the bank. Contacts verified by QR only, if asked for.
    const staff = [{ identityId: agent1.identityId }, { identityId: agent2.identityId }];
    await expect(owner.recovery.split({ recoveryKey, threshold: 2, holders: staff, verifiedContactsOnly: true })).rejects.toMatchObject({ code: 'recovery_holder_unverified' });
    for (const a of [agent1, agent2]) expect(await owner.keys.verifyScanned(a.identityId, await a.keys.verificationQr(owner.identityId))).toBe('match');
    await owner.recovery.split({ recoveryKey, threshold: 2, holders: staff, verifiedContactsOnly: true });
    await other.recovery.split({ recoveryKey: generateRecoveryKey(), threshold: 2, holders: [{ identityId: other.identityId, deviceId: otherTablet.deviceId }, { identityId: agent1.identityId }] });
    const { requestId } = await owner.recovery.request();
    // otherTablet holds a share of another set: this request is unknown to it.
    await expect(otherTablet.recovery.approve(requestId)).rejects.toMatchObject({ status: 404, code: 'unknown_recovery_request' });
    await expect(otherTablet.recovery.decline(requestId)).rejects.toMatchObject({ status: 404, code: 'unknown_recovery_request' });
    expect(await otherTablet.recovery.pendingRequests()).toEqual([]);
    // The holders answer once each; the owner itself holds nothing to release.
    await agent1.recovery.approve(requestId);
    await expect(agent1.api.send('POST', `/v1/recovery/requests/${requestId}/decline`, {}, true)).rejects.toMatchObject({ status: 409, code: 'recovery_already_answered' });
    await expect(owner.recovery.approve(requestId)).rejects.toMatchObject({ code: 'recovery_request_unknown' });
    await agent2.recovery.approve(requestId);
    expect(await owner.recovery.complete(requestId)).toBe(recoveryKey);
    // A new split replaces the set: the old request and its answers are gone.
    await owner.recovery.split({ recoveryKey, threshold: 2, holders: [{ identityId: agent1.identityId }, { identityId: agent2.identityId }] });
    await expect(agent1.api.send('GET', `/v1/recovery/requests/${requestId}`, {}, true)).rejects.toMatchObject({ status: 404 });
    await Promise.all([agent1, agent2, owner, other, otherTablet].map((d) => d.close()));
  }, 120_000);
});
