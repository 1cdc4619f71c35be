import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, generateIdentityKeyPair, newDeviceId, registrationProofMessage, sessionProofMessage, signEd25519, toBase64 } from '@parley/core';
import { createKeyPackage, generateSignatureKeyPair } from '@parley/core/mls';
import { api, createBusiness, openSession, registerRawDevice, startTestServer, suite, ADMIN_TOKEN, type TestBusiness, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bank: TestBusiness;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url);
});
afterAll(async () => t?.stop());

async function registrationBody(token: string, subject: string) {
  const s = await suite();
  const deviceId = newDeviceId();
  const identity = generateIdentityKeyPair();
  const signature = await generateSignatureKeyPair(s);
  const member = { identityId: `${bank.id}:${subject}` as never, deviceId };
  const kp = await createKeyPackage(s, member, signature);
  const lr = await createKeyPackage(s, member, signature);
  const proof = signEd25519(identity.privateKey, registrationProofMessage({ enrollmentToken: token, deviceId, identityKey: identity.publicKey, signatureKey: signature.publicKey }));
  return {
    identity,
    body: {
      enrollmentToken: token,
      deviceId,
      identityKey: toBase64(identity.publicKey),
      signatureKey: toBase64(signature.publicKey),
      suite: s.name,
      keyPackages: [toBase64(kp.keyPackage)],
      lastResortKeyPackage: toBase64(lr.keyPackage),
      proof: toBase64(proof),
    },
  };
}

describe('registry and sessions', () => {
  it('serves health, readiness and an OpenAPI document', async () => {
    expect((await api(t.url, 'GET', '/healthz')).body.status).toBe('ok');
    const ready = await api(t.url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    const doc = await api(t.url, 'GET', '/openapi.json');
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/devices', '/v1/messages', '/v1/key-packages/claim', '/v1/mailbox/ack']));
  });

  it('registers a device and opens a session by signing a challenge', async () => {
    const token = await bank.token('alice', { phone: '+15555550100', name: 'Alice' });
    const { body, identity } = await registrationBody(token, 'alice');
    const res = await api(t.url, 'POST', '/v1/devices', body);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ deviceId: body.deviceId, identityId: `${bank.id}:alice`, kind: 'customer', stock: { oneTime: 1, lastResort: true, low: true, lowWatermark: 10 } });
    const session = await openSession(t.url, body.deviceId, identity);
    const me = await api(t.url, 'GET', `/v1/identities/${bank.id}:alice/devices`, undefined, session);
    expect(me.status).toBe(200);
    expect(me.body.devices).toHaveLength(1);
    expect(me.body.devices[0].identityKey).toBe(body.identityKey);
  });

  it('refuses reused, expired, forged and over-long enrollment tokens', async () => {
    const token = await bank.token('bob');
    const first = await registrationBody(token, 'bob');
    expect((await api(t.url, 'POST', '/v1/devices', first.body)).status).toBe(201);
    const reuse = await registrationBody(token, 'bob');
    const reused = await api(t.url, 'POST', '/v1/devices', reuse.body);
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('enrollment_token_reused');

    const expired = await registrationBody(await bank.token('carol', {}, -10), 'carol');
    const e = await api(t.url, 'POST', '/v1/devices', expired.body);
    expect(e.status).toBe(401);
    expect(e.body.error.code).toBe('enrollment_token_expired');

    const other = await createBusiness(t.url);
    // Signed by another business's key but claiming this business as issuer.
    const forgedToken = (await other.token('dave')).split('.');
    const header = JSON.parse(Buffer.from(forgedToken[0]!, 'base64url').toString());
    const payload = JSON.parse(Buffer.from(forgedToken[1]!, 'base64url').toString());
    payload.iss = bank.id;
    const forged = [Buffer.from(JSON.stringify(header)).toString('base64url'), Buffer.from(JSON.stringify(payload)).toString('base64url'), forgedToken[2]].join('.');
    const f = await api(t.url, 'POST', '/v1/devices', (await registrationBody(forged, 'dave')).body);
    expect(f.status).toBe(401);
    expect(f.body.error.code).toBe('enrollment_token_invalid');

    const long = await api(t.url, 'POST', '/v1/devices', (await registrationBody(await bank.token('erin', {}, 7200), 'erin')).body);
    expect(long.status).toBe(401);
    expect(long.body.error.code).toBe('enrollment_token_invalid');
  });

  it('refuses a registration whose proof or KeyPackages do not match', async () => {
    const { body } = await registrationBody(await bank.token('frank'), 'frank');
    const badProof = await api(t.url, 'POST', '/v1/devices', { ...body, proof: toBase64(new Uint8Array(64)) });
    expect(badProof.status).toBe(401);
    expect(badProof.body.error.code).toBe('registration_proof_invalid');
    // KeyPackages of another device
    const other = await registrationBody(await bank.token('grace'), 'grace');
    const { body: b2 } = await registrationBody(await bank.token('frank'), 'frank');
    const mismatch = await api(t.url, 'POST', '/v1/devices', { ...b2, keyPackages: other.body.keyPackages });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.code).toBe('key_package_mismatch');
    const garbage = await api(t.url, 'POST', '/v1/devices', { ...b2, keyPackages: [toBase64(new Uint8Array(100).fill(7))] });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe('invalid_key_package');
  });

  it('refuses replayed and forged challenge answers', async () => {
    const d = await registerRawDevice(t.url, bank, 'henry');
    const ch = await api(t.url, 'POST', '/v1/auth/challenge', { deviceId: d.deviceId });
    const sig = toBase64(signEd25519(d.identity.privateKey, sessionProofMessage({ deviceId: d.deviceId, challenge: fromBase64(ch.body.challenge) })));
    const ok = await api(t.url, 'POST', '/v1/auth/session', { deviceId: d.deviceId, challenge: ch.body.challenge, signature: sig });
    expect(ok.status).toBe(200);
    const replay = await api(t.url, 'POST', '/v1/auth/session', { deviceId: d.deviceId, challenge: ch.body.challenge, signature: sig });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('challenge_invalid');
    const ch2 = await api(t.url, 'POST', '/v1/auth/challenge', { deviceId: d.deviceId });
    const forged = await api(t.url, 'POST', '/v1/auth/session', { deviceId: d.deviceId, challenge: ch2.body.challenge, signature: toBase64(new Uint8Array(64)) });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('challenge_invalid');
    // An unknown device gets a challenge like any other (probing reveals nothing), and no session.
    const unknownId = newDeviceId();
    const unknown = await api(t.url, 'POST', '/v1/auth/challenge', { deviceId: unknownId });
    expect(unknown.status).toBe(200);
    const noSession = await api(t.url, 'POST', '/v1/auth/session', { deviceId: unknownId, challenge: unknown.body.challenge, signature: toBase64(new Uint8Array(64)) });
    expect(noSession.status).toBe(401);
    expect(noSession.body.error.code).toBe('challenge_invalid');
  });

  it('answers bad input with 4xx and a code, never 500', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/v1/devices', '{"not json', 400, 'invalid_json'],
      ['POST', '/v1/devices', { enrollmentToken: 5 }, 400, 'invalid_request'],
      ['POST', '/v1/auth/challenge', { deviceId: 'x' }, 400, 'invalid_request'],
      ['POST', '/v1/auth/challenge', { deviceId: newDeviceId(), extra: 1 }, 400, 'invalid_request'],
      ['GET', '/v1/mailbox', undefined, 401, 'session_required'],
      ['GET', '/v1/nope', undefined, 404, 'not_found'],
      ['POST', '/v1/admin/businesses', { id: 'x', name: 'y', enrollmentKeys: [] }, 401, 'admin_token_invalid'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await api(t.url, method, path, body);
      expect({ path, status: res.status, code: res.body?.error?.code }).toEqual({ path, status, code });
    }
    const big = await api(t.url, 'POST', '/v1/auth/challenge', JSON.stringify({ deviceId: 'a'.repeat(5 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const bad = await api(t.url, 'GET', '/v1/mailbox', undefined, 'not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('session_invalid');
    const dupBusiness = await api(t.url, 'POST', '/v1/admin/businesses', { id: bank.id, name: 'x', enrollmentKeys: [{ kid: 'k', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } }] }, ADMIN_TOKEN);
    expect(dupBusiness.status).toBe(409);
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  });
});
