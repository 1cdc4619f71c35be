/**
 * One verifier for business-signed tokens (http/business-tokens.ts): enrollment tokens and
 * business revocation tokens are checked alike, and each only for its own purpose. An
 * enrollment token made by today's SDK carries no `purpose` and still enrolls; a token
 * made to revoke a device never enrolls one, and an enrollment token never revokes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { generateIdentityKeyPair, newDeviceId, randomBytes, registrationProofMessage, signEd25519, toBase64, toBase64Url } from '@parley/core';
import { createKeyPackage, generateSignatureKeyPair } from '@parley/core/mls';
import { api, createBusiness, registerRawDevice, startTestServer, suite, type TestBusiness, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bank: TestBusiness;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url);
});
afterAll(async () => t?.stop());

/** A token signed by the bank's enrollment key with these claims (iss, aud, iat, exp and jti set). */
async function signed(subject: string, claims: Record<string, unknown>, lifetimeSeconds = 120, iatOffsetSeconds = 0): Promise<string> {
  const now = Math.floor(Date.now() / 1000) + iatOffsetSeconds;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid: bank.kid })
    .setIssuer(bank.id)
    .setSubject(subject)
    .setAudience('parley')
    .setIssuedAt(now)
    .setExpirationTime(now + lifetimeSeconds)
    .setJti(toBase64Url(randomBytes(16)))
    .sign(bank.privateKey);
}

/** Registers a fresh device of `subject` with `token`; the answer. */
async function enroll(token: string, subject: string) {
  const s = await suite();
  const deviceId = newDeviceId();
  const identity = generateIdentityKeyPair();
  const signature = await generateSignatureKeyPair(s);
  const member = { identityId: `${bank.id}:${subject}` as never, deviceId };
  const kp = await createKeyPackage(s, member, signature);
  const lr = await createKeyPackage(s, member, signature);
  const proof = signEd25519(identity.privateKey, registrationProofMessage({ enrollmentToken: token, deviceId, identityKey: identity.publicKey, signatureKey: signature.publicKey }));
  return api(t.url, 'POST', '/v1/devices', {
    enrollmentToken: token,
    deviceId,
    identityKey: toBase64(identity.publicKey),
    signatureKey: toBase64(signature.publicKey),
    suite: s.name,
    keyPackages: [toBase64(kp.keyPackage)],
    lastResortKeyPackage: toBase64(lr.keyPackage),
    proof: toBase64(proof),
  });
}

const revoke = (deviceId: string, businessToken: string) => api(t.url, 'POST', `/v1/devices/${deviceId}/revoke`, { businessToken });

describe('business-signed tokens: one verifier, one purpose each', () => {
  it('enrolls with an SDK-style token (no purpose claim) and with an explicit purpose "enroll"', async () => {
    const plain = await enroll(await signed('bt-plain', { kind: 'customer' }), 'bt-plain');
    expect([plain.status, plain.body.kind]).toEqual([201, 'customer']);
    const explicit = await enroll(await signed('bt-explicit', { kind: 'customer', purpose: 'enroll' }), 'bt-explicit');
    expect(explicit.status).toBe(201);
  });

  it('refuses to enroll with a revocation token, or a token of any other purpose', async () => {
    // Everything an enrollment needs, but made to revoke a device.
    const crossed = await enroll(await signed('bt-crossed', { kind: 'customer', purpose: 'revoke-device' }), 'bt-crossed');
    expect([crossed.status, crossed.body.error.code]).toEqual([401, 'enrollment_token_invalid']);
    for (const purpose of ['something-else', 42, null, '']) {
      const other = await enroll(await signed('bt-other', { kind: 'customer', purpose }), 'bt-other');
      expect([purpose, other.status, other.body.error.code]).toEqual([purpose, 401, 'enrollment_token_invalid']);
    }
  });

  it('refuses to revoke with an enrollment token, with or without its purpose claim', async () => {
    const target = await registerRawDevice(t.url, bank, 'bt-target');
    for (const token of [await bank.token(target.deviceId), await signed(target.deviceId, { kind: 'customer', purpose: 'enroll' })]) {
      const res = await revoke(target.deviceId, token);
      expect([res.status, res.body.error.code]).toEqual([401, 'business_token_invalid']);
    }
    const device = await api(t.url, 'GET', `/v1/devices/${target.deviceId}`, undefined, target.token);
    expect(device.body.status).toBe('active');
    // The same device, revoked with a token made for it.
    const ok = await revoke(target.deviceId, await signed(target.deviceId, { purpose: 'revoke-device' }));
    expect([ok.status, ok.body.status]).toEqual([200, 'revoked']);
  });

  it('bounds both kinds of token alike: lifetime, issue time, expiry, audience', async () => {
    const target = await registerRawDevice(t.url, bank, 'bt-bounds');
    const cases: [string, string, string][] = [
      ['lives too long', await signed(target.deviceId, { purpose: 'revoke-device' }, 7200), 'business_token_invalid'],
      ['issued in the future', await signed(target.deviceId, { purpose: 'revoke-device' }, 120, 600), 'business_token_invalid'],
      ['expired', await signed(target.deviceId, { purpose: 'revoke-device' }, 60, -120), 'business_token_expired'],
      ['for another device', await signed(newDeviceId(), { purpose: 'revoke-device' }), 'business_token_invalid'],
    ];
    for (const [why, token, code] of cases) {
      const res = await revoke(target.deviceId, token);
      expect([why, res.status, res.body.error.code]).toEqual([why, 401, code]);
    }
    const enrollCases: [string, string, string][] = [
      ['lives too long', await signed('bt-long', { kind: 'customer' }, 7200), 'enrollment_token_invalid'],
      ['issued in the future', await signed('bt-future', { kind: 'customer' }, 120, 600), 'enrollment_token_invalid'],
      ['expired', await signed('bt-expired', { kind: 'customer' }, 60, -120), 'enrollment_token_expired'],
    ];
    for (const [why, token, code] of enrollCases) {
      const res = await enroll(token, 'bt-x');
      expect([why, res.status, res.body.error.code]).toEqual([why, 401, code]);
    }
  });
});
