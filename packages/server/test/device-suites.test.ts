/**
 * `POST /v1/devices/me/suites` and registration with suites (docs/post-quantum.md): a device
 * states its MLS suites, signed; the key log carries the statement; stale, unsigned or
 * malformed statements are refused with stable codes; KeyPackages follow the stated suites.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, generateIdentityKeyPair, signEd25519, toBase64, toBase64Url } from '@parley/core';
import { decodeKeyLogEntry, rotationMessage, suitesMessage, type KeyLogEntry } from '@parley/core/keylog';
import { CLASSIC_SUITE, XWING_SUITE, createKeyPackage, generateSignatureKeyPair } from '@parley/core/mls';
import { api, createBusiness, registerRawDevice, startTestServer, suiteNamed, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bank: TestBusiness;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url);
});
afterAll(async () => t?.stop());

async function xwingKeyPackage(device: RawDevice): Promise<string> {
  return toBase64((await createKeyPackage(await suiteNamed(XWING_SUITE), { identityId: device.identityId, deviceId: device.deviceId }, device.signature)).keyPackage);
}

function statement(device: RawDevice, seq: number, suites: string[]): string {
  return toBase64(signEd25519(device.identity.privateKey, suitesMessage({ deviceId: device.deviceId, identityKey: toBase64Url(device.identity.publicKey), seq, suites })));
}

/** The identity's key-log entries as the server's lookup gives them. */
async function logged(device: RawDevice): Promise<KeyLogEntry[]> {
  const lookup = await api(t.url, 'GET', `/v1/keys/${encodeURIComponent(device.identityId)}`, undefined, device.token);
  expect(lookup.status).toBe(200);
  return (lookup.body.entries as { entry: string }[]).map((e) => decodeKeyLogEntry(fromBase64(e.entry)));
}

async function stock(device: RawDevice, suite: string): Promise<{ oneTime: number; lastResort: boolean }> {
  return (await api(t.url, 'GET', `/v1/key-packages/stock?suite=${suite}`, undefined, device.token)).body;
}

describe('device suites', () => {
  it('registers with both suites: the key-log entry carries them with the device’s proof, one stock per suite', async () => {
    const phone = await registerRawDevice(t.url, bank, 'suites-a', { suites: [CLASSIC_SUITE, XWING_SUITE], keyPackages: 2 });
    expect(await stock(phone, CLASSIC_SUITE)).toMatchObject({ oneTime: 2, lastResort: true });
    expect(await stock(phone, XWING_SUITE)).toMatchObject({ oneTime: 2, lastResort: true });
    const [added] = await logged(phone);
    expect(added).toMatchObject({ type: 'device-added', suites: [CLASSIC_SUITE, XWING_SUITE], suitesProof: expect.any(String) });
    const device = await api(t.url, 'GET', `/v1/devices/${phone.deviceId}`, undefined, phone.token);
    expect(device.body.suites).toEqual([CLASSIC_SUITE, XWING_SUITE]);
  });

  it('states X-Wing later (an app update), then refuses a replay, a forged signature and a list without the device’s own suite', async () => {
    const phone = await registerRawDevice(t.url, bank, 'suites-b');
    expect(await stock(phone, XWING_SUITE)).toMatchObject({ oneTime: 0, lastResort: false });
    const suites = [CLASSIC_SUITE, XWING_SUITE];
    const body = { suites, seq: 1, signature: statement(phone, 1, suites), keyPackages: [await xwingKeyPackage(phone)], lastResortKeyPackages: [await xwingKeyPackage(phone)] };
    const ok = await api(t.url, 'POST', '/v1/devices/me/suites', body, phone.token);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ suites, keyLog: { index: expect.any(Number) } });
    expect(await stock(phone, XWING_SUITE)).toMatchObject({ oneTime: 1, lastResort: true });
    expect((await logged(phone)).map((e) => e.type)).toEqual(['device-added', 'device-suites']);

    const replay = await api(t.url, 'POST', '/v1/devices/me/suites', { ...body, keyPackages: [], lastResortKeyPackages: [] }, phone.token);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('suites_stale');
    const forged = await api(t.url, 'POST', '/v1/devices/me/suites', { suites, seq: 2, signature: statement(phone, 3, suites), keyPackages: [], lastResortKeyPackages: [] }, phone.token);
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('suites_signature_invalid');
    const withoutOwn = await api(t.url, 'POST', '/v1/devices/me/suites', { suites: [XWING_SUITE], seq: 2, signature: statement(phone, 2, [XWING_SUITE]), keyPackages: [], lastResortKeyPackages: [] }, phone.token);
    expect(withoutOwn.status).toBe(400);
    expect(withoutOwn.body.error.code).toBe('unsupported_suite');
    const unknown = await api(t.url, 'POST', '/v1/devices/me/suites', { suites: [CLASSIC_SUITE, 'MLS_999'], seq: 2, signature: statement(phone, 2, [CLASSIC_SUITE, 'MLS_999']), keyPackages: [], lastResortKeyPackages: [] }, phone.token);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unsupported_suite');

    // Dropping X-Wing withdraws its KeyPackages: nobody can put the device in an X-Wing group any more.
    const back = await api(t.url, 'POST', '/v1/devices/me/suites', { suites: [CLASSIC_SUITE], seq: 2, signature: statement(phone, 2, [CLASSIC_SUITE]), keyPackages: [], lastResortKeyPackages: [] }, phone.token);
    expect(back.status).toBe(200);
    expect(await stock(phone, XWING_SUITE)).toMatchObject({ oneTime: 0, lastResort: false });
  });

  it('a key rotation of a two-suite device must bring a last-resort KeyPackage of each suite', async () => {
    const phone = await registerRawDevice(t.url, bank, 'suites-r', { suites: [CLASSIC_SUITE, XWING_SUITE] });
    const lookup = await api(t.url, 'GET', `/v1/keys/${encodeURIComponent(phone.identityId)}`, undefined, phone.token);
    const label = toBase64Url(fromBase64(lookup.body.label as string));
    const identity = generateIdentityKeyPair();
    const signature = await generateSignatureKeyPair(await suiteNamed(CLASSIC_SUITE));
    const next = { identityId: phone.identityId, deviceId: phone.deviceId };
    const kp = async (name: typeof CLASSIC_SUITE | typeof XWING_SUITE) => toBase64((await createKeyPackage(await suiteNamed(name), next, signature)).keyPackage);
    const message = rotationMessage({
      label,
      deviceId: phone.deviceId,
      previousIdentityKey: toBase64Url(phone.identity.publicKey),
      identityKey: toBase64Url(identity.publicKey),
      signatureKey: toBase64Url(signature.publicKey),
    });
    const body = {
      identityKey: toBase64(identity.publicKey),
      signatureKey: toBase64(signature.publicKey),
      signature: toBase64(signEd25519(phone.identity.privateKey, message)),
      proof: toBase64(signEd25519(identity.privateKey, message)),
      keyPackages: [await kp(CLASSIC_SUITE), await kp(XWING_SUITE)],
      lastResortKeyPackage: await kp(CLASSIC_SUITE),
    };
    // Without X-Wing's: the server would hold no X-Wing KeyPackage after it withdrew the old ones.
    const refused = await api(t.url, 'POST', `/v1/devices/${phone.deviceId}/rotate-keys`, body, phone.token);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('key_package_mismatch');
    const ok = await api(t.url, 'POST', `/v1/devices/${phone.deviceId}/rotate-keys`, { ...body, lastResortKeyPackages: [await kp(XWING_SUITE)] }, phone.token);
    expect(ok.status).toBe(200);
    expect(await stock(phone, XWING_SUITE)).toMatchObject({ oneTime: 1, lastResort: true });
  });

  it('an added suite must come with its last-resort KeyPackage', async () => {
    const phone = await registerRawDevice(t.url, bank, 'suites-c');
    const suites = [CLASSIC_SUITE, XWING_SUITE];
    const res = await api(t.url, 'POST', '/v1/devices/me/suites', { suites, seq: 1, signature: statement(phone, 1, suites), keyPackages: [await xwingKeyPackage(phone)], lastResortKeyPackages: [] }, phone.token);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('key_package_mismatch');
  });

});
