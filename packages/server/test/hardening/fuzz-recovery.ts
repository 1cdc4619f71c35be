/**
 * Valid requests of the social-recovery operations (`/v1/recovery/…`) for the fuzz test. Each
 * builder makes its own owner (a fresh customer) with a recovery set held by the sender and a
 * fresh agent (bank staff: visible to every customer of the bank), so single-use answers and the
 * per-identity request budget are fresh every time. Shares and sealed values are random bytes:
 * the server cannot tell them from real ones; signatures are real, and `refresh` re-signs a
 * mutated body so each mutation reaches past the signature check.
 */
import {
  randomBytes,
  recoveryHolderKeyMessage,
  recoveryRequestMessage,
  recoverySetMessage,
  signEd25519,
  toBase64Url,
  type RecoveryManifest,
  type RecoveryRequestBinding,
} from '@parley/core';
import { api, registerRawDevice, type RawDevice } from '@parley/test-kit/server';
import type { Path } from './fuzz-inputs.js';
import type { Builder } from './fuzz-valid.js';
import type { World } from './fuzz-world.js';

let serial = 0;
const rand = (bytes: number) => toBase64Url(randomBytes(bytes));

function holderKeyBody(device: RawDevice) {
  const hpkeKey = rand(32);
  const message = recoveryHolderKeyMessage({ identityId: device.identityId, deviceId: device.deviceId, hpkeKey });
  return { hpkeKey, signature: toBase64Url(signEd25519(device.identity.privateKey, message)) };
}

async function publishHolderKey(world: World, device: RawDevice): Promise<void> {
  const res = await api(world.url, 'PUT', '/v1/recovery/holder-key', holderKeyBody(device), device.token);
  if (res.status !== 200) throw new Error(`holder key: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Re-signs a mutated body with `device`'s identity key over `message(body)` (unless the signature itself was mutated). */
function resign(device: RawDevice, message: (fields: Record<string, unknown>) => Uint8Array) {
  return (body: unknown, path: Path | undefined): unknown => {
    if (body === null || typeof body !== 'object' || Array.isArray(body) || path?.[0] === 'signature') return body;
    const fields = body as Record<string, unknown>;
    try {
      return { ...fields, signature: toBase64Url(signEd25519(device.identity.privateKey, message(fields))) };
    } catch {
      return body;
    }
  };
}

/** A fresh customer and a set body naming the sender and a fresh agent as holders (threshold 2), signed by the customer. */
async function setFixture(world: World) {
  const owner = await world.newDevice('fz-rc-owner');
  const agent = await registerRawDevice(world.url, world.bank, `fz-rc-agent-${++serial}`, { kind: 'agent', keyPackages: 1 });
  await publishHolderKey(world, world.sender);
  await publishHolderKey(world, agent);
  const setId = `rcs_${rand(16)}`;
  const holders = [world.sender, agent];
  const manifest: RecoveryManifest = {
    v: 1,
    setId,
    identityId: owner.identityId,
    deviceId: owner.deviceId,
    threshold: 2,
    createdAt: new Date().toISOString(),
    shares: holders.map((h, i) => ({ index: i + 1, identityId: h.identityId, deviceId: h.deviceId, shareHash: rand(32) })),
  };
  const body = {
    manifest,
    signature: toBase64Url(signEd25519(owner.identity.privateKey, recoverySetMessage(manifest))),
    sealed: holders.map((h, i) => ({ index: i + 1, deviceId: h.deviceId, sealed: rand(76) })),
  };
  return { owner, agent, setId, body };
}

/** A fresh owner with a stored set. */
async function storedSet(world: World) {
  const fixture = await setFixture(world);
  const res = await api(world.url, 'PUT', '/v1/recovery/set', fixture.body, fixture.owner.token);
  if (res.status !== 201) throw new Error(`recovery set: ${res.status} ${JSON.stringify(res.body)}`);
  return fixture;
}

function requestBody(owner: RawDevice, setId: string) {
  const request: RecoveryRequestBinding = {
    v: 1,
    requestId: `rcr_${rand(16)}`,
    setId,
    identityId: owner.identityId,
    deviceId: owner.deviceId,
    requesterKey: rand(32),
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
  };
  return { request, signature: toBase64Url(signEd25519(owner.identity.privateKey, recoveryRequestMessage(request))) };
}

/** A fresh owner with a set and an open request: its id, the owner and a holder (the fresh agent). */
async function openRequest(world: World) {
  const { owner, agent, setId } = await storedSet(world);
  const body = requestBody(owner, setId);
  const res = await api(world.url, 'POST', '/v1/recovery/requests', body, owner.token);
  if (res.status !== 201) throw new Error(`recovery request: ${res.status} ${JSON.stringify(res.body)}`);
  return { owner, holder: agent, requestId: body.request.requestId };
}

export function recoveryRequests(world: World): Record<string, Builder[]> {
  const { alice, bob } = world;
  return {
    'PUT /v1/recovery/holder-key': [async () => ({ auth: alice.token, body: holderKeyBody(alice), refresh: resign(alice, (f) => recoveryHolderKeyMessage({ identityId: alice.identityId, deviceId: alice.deviceId, hpkeKey: f['hpkeKey'] as string })) })],
    'GET /v1/recovery/holder-keys/{identityId}': [async () => ({ auth: alice.token, params: { identityId: bob.identityId } })],
    'PUT /v1/recovery/set': [
      async () => {
        const { owner, body } = await setFixture(world);
        return { auth: owner.token, expect: [201], body, refresh: resign(owner, (f) => recoverySetMessage(f['manifest'] as RecoveryManifest)) };
      },
    ],
    'GET /v1/recovery/set': [async () => ({ auth: (await storedSet(world)).owner.token })],
    'POST /v1/recovery/requests': [
      async () => {
        const { owner, setId } = await storedSet(world);
        return { auth: owner.token, expect: [201], body: requestBody(owner, setId), refresh: resign(owner, (f) => recoveryRequestMessage(f['request'] as RecoveryRequestBinding)) };
      },
    ],
    'GET /v1/recovery/requests': [async () => ({ auth: world.sender.token })],
    'GET /v1/recovery/requests/{requestId}': [
      async () => {
        const { owner, requestId } = await openRequest(world);
        return { auth: owner.token, params: { requestId } };
      },
    ],
    'POST /v1/recovery/requests/{requestId}/release': [
      async () => {
        const { holder, requestId } = await openRequest(world);
        return { auth: holder.token, params: { requestId }, body: { sealed: rand(76) } };
      },
    ],
    'POST /v1/recovery/requests/{requestId}/decline': [
      async () => {
        const { holder, requestId } = await openRequest(world);
        return { auth: holder.token, params: { requestId } };
      },
    ],
  };
}
