/**
 * Rotating the business sender's keys while two gateway instances run: the request filed in
 * the database is performed by the instance that leads, the key log shows the new keys signed
 * by the old ones, a customer who verified the bank stays verified, messages and evidence keep
 * flowing from both instances, and a repeated outcome read gives the same answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQrPayload, parleyFingerprintParty } from '@parley/core/verification';
import { EventLog } from '@parley/test-kit/sdk';
import { requestSenderRotation, senderRotationOutcome, type SenderRotationOutcome } from '../src/index.js';
import { call, enrollCustomer, gatewayWorld, type GatewayWorld } from './fixtures.js';

let world: GatewayWorld;

beforeAll(async () => {
  world = await gatewayWorld();
}, 60_000);
afterAll(async () => {
  await world?.close();
});

async function outcomeOf(id: string): Promise<SenderRotationOutcome> {
  for (let i = 0; i < 300; i++) {
    const outcome = await senderRotationOutcome(world.db, id);
    if (outcome) return outcome;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no instance performed the rotation');
}

describe('gateway: sender key rotation', () => {
  it('the leading instance rotates; customers stay verified; sending and evidence go on', async () => {
    const a = await world.start();
    const b = await world.start();
    const phone = await enrollCustomer(a, world.apiKey, 'c-rot-1');
    const events = new EventLog(phone);
    await phone.connect();
    const first = await call(a, world.apiKey, 'POST', '/v1/messages', { to: 'c-rot-1', class: 'alert', body: 'Card charged EUR 12.00' });
    expect(first.status).toBe(202);
    await events.waitFor((e) => e.type === 'message' && e.messageId === first.body.id, 30_000);
    const senderIdentity = `${world.businessId}:gateway`;
    const [before] = (await phone.keys.devicesOf(senderIdentity)).filter((d) => d.status === 'approved');
    // The customer verifies the bank: scans the QR code the bank shows (computed here from the logged keys).
    const bankQr = encodeQrPayload(parleyFingerprintParty(before!.identityKey, senderIdentity), parleyFingerprintParty(phone.identityKey, phone.identityId));
    expect(await phone.keys.verifyScanned(senderIdentity, bankQr)).toBe('match');
    expect(await phone.keys.verificationState(senderIdentity)).toBe('verified');

    const id = await requestSenderRotation(world.db);
    const outcome = await outcomeOf(id);
    expect(outcome).toMatchObject({ id, ok: true, rekeyed: 1, failed: [] });
    expect(await senderRotationOutcome(world.db, id)).toEqual(outcome);

    const [after] = (await phone.keys.devicesOf(senderIdentity)).filter((d) => d.status === 'approved');
    expect(after!.deviceId).toBe(before!.deviceId);
    expect(after!.identityKey).not.toEqual(before!.identityKey);
    expect(after!.previousKeys.map((k) => k.identityKey)).toEqual([before!.identityKey]);
    expect(await phone.keys.verificationState(senderIdentity)).toBe('verified');
    await events.waitFor((e) => e.type === 'member-rekeyed' && e.member.deviceId === before!.deviceId, 30_000);

    // Both instances still take messages; the leader sends them with the new keys; the customer verifies the commitment.
    const second = await call(b, world.apiKey, 'POST', '/v1/messages', { to: 'c-rot-1', class: 'alert', body: 'Card charged EUR 13.00' });
    expect(second.status).toBe(202);
    const got = await events.waitFor((e) => e.type === 'message' && e.messageId === second.body.id, 30_000);
    expect(got.type === 'message' && got.audit?.verified).toBe(true);
    // Evidence from either instance: their readers sign in with the sender's new identity key.
    for (const gateway of [a, b]) {
      for (const messageId of [first.body.id as string, second.body.id as string]) {
        const evidence = await call(gateway, world.apiKey, 'GET', `/v1/messages/${messageId}/evidence`);
        expect(evidence.status).toBe(200);
      }
    }
    await phone.close();
  }, 120_000);
});
