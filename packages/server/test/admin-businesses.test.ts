/**
 * Business administration over the admin API, on a real server: listing and paging,
 * one business with its keys, disable / enable (enrollment, new sessions, submissions over
 * HTTP and the WebSocket; other businesses unaffected), adding and retiring enrollment keys,
 * and the refusals (no admin token, unknown ids, bad bodies).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { fromBase64, randomBytes, sessionProofMessage, signEd25519, toBase64, toBase64Url, utf8 } from '@parley/core';
import { commitChanges, createGroup, encryptApplication, type AuthenticateMember, type MlsGroup } from '@parley/core/mls';
import {
  ADMIN_TOKEN,
  api,
  createBusiness,
  registerRawDevice,
  startTestServer,
  suite,
  type RawDevice,
  type TestBusiness,
  type TestServer,
} from '@parley/test-kit/server';

let t: TestServer;
const acceptRegistered: AuthenticateMember = async () => true;
const admin = (method: string, path: string, body?: unknown) => api(t.url, method, path, body, ADMIN_TOKEN);

beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t?.stop());

/** A new Ed25519 enrollment key: its public JWK, and a signer of enrollment tokens for `business` under `kid`. */
async function newKey(business: string, kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk = await exportJWK(publicKey);
  const token = async (subject: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ kind: 'customer' })
      .setProtectedHeader({ alg: 'EdDSA', kid })
      .setIssuer(business)
      .setSubject(subject)
      .setAudience('parley')
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .setJti(toBase64Url(randomBytes(16)))
      .sign(privateKey);
  };
  return { jwk, token, business: { id: business, kid, privateKey, token: (s: string) => token(s) } as TestBusiness };
}

/** The status and error code of registering a fresh device with `business`'s token (or the error of a session for it). */
async function tryEnroll(business: TestBusiness, subject: string): Promise<RawDevice | { status: number; code: string }> {
  try {
    return await registerRawDevice(t.url, business, subject);
  } catch (error) {
    const match = /^register: (\d+) (.*)$/s.exec((error as Error).message);
    if (!match) throw error;
    return { status: Number(match[1]), code: JSON.parse(match[2]!).error.code as string };
  }
}

async function trySession(device: RawDevice) {
  const ch = await api(t.url, 'POST', '/v1/auth/challenge', { deviceId: device.deviceId });
  expect(ch.status).toBe(200);
  const signature = signEd25519(device.identity.privateKey, sessionProofMessage({ deviceId: device.deviceId, challenge: fromBase64(ch.body.challenge) }));
  return api(t.url, 'POST', '/v1/auth/session', { deviceId: device.deviceId, challenge: ch.body.challenge, signature: toBase64(signature) });
}

/** A group of `owner` with `member` (its commit accepted), ready for application messages. */
async function newGroup(owner: RawDevice, member: RawDevice): Promise<MlsGroup> {
  const s = await suite();
  const group = await createGroup(s, randomBytes(32), { identityId: owner.identityId, deviceId: owner.deviceId }, owner.signature, acceptRegistered);
  const claim = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [member.deviceId] }, owner.token);
  expect(claim.status).toBe(200);
  const out = await commitChanges(s, group, { add: claim.body.keyPackages.map((k: { keyPackage: string }) => fromBase64(k.keyPackage)) });
  const res = await api(
    t.url,
    'POST',
    '/v1/messages',
    {
      idempotencyKey: 'create',
      conversationId: group.conversationId,
      message: toBase64(out.commit),
      members: [owner.deviceId, member.deviceId],
      welcome: toBase64(out.welcome!),
      groupInfo: toBase64(out.groupInfo),
    },
    owner.token,
  );
  expect(res.status).toBe(201);
  return out.group;
}

/** Submits one frame over a fresh WebSocket of `device` and returns the server's answer to it. */
async function wsSubmit(device: RawDevice, body: unknown): Promise<{ type: string; error?: { code: string }; status?: number }> {
  const ws = new WebSocket(t.url.replace('http', 'ws') + '/v1/ws');
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const answer = new Promise<{ type: string; error?: { code: string } }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to the submit frame')), 5000);
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data));
        for (const f of frame.type === 'batch' ? frame.frames : [frame]) {
          if (f.type === 'ready') ws.send(JSON.stringify({ type: 'submit', requestId: 'r1', body }));
          if (f.requestId === 'r1') {
            clearTimeout(timer);
            resolve(f);
          }
        }
      });
    });
    ws.send(JSON.stringify({ type: 'auth', token: device.token }));
    return await answer;
  } finally {
    ws.close();
  }
}

describe('admin API: businesses', () => {
  it('refuses callers without the admin token (401), a device session included', async () => {
    const bank = await createBusiness(t.url);
    const device = await registerRawDevice(t.url, bank, 'c-auth');
    const calls: [string, string, unknown?][] = [
      ['GET', '/v1/admin/businesses'],
      ['GET', `/v1/admin/businesses/${bank.id}`],
      ['POST', `/v1/admin/businesses/${bank.id}/disable`],
      ['POST', `/v1/admin/businesses/${bank.id}/enable`],
      ['POST', `/v1/admin/businesses/${bank.id}/keys`, { kid: 'kx', jwk: (await newKey(bank.id, 'kx')).jwk }],
      ['DELETE', `/v1/admin/businesses/${bank.id}/keys/${bank.kid}`],
    ];
    for (const [method, path, body] of calls) {
      for (const token of [undefined, 'wrong-token', device.token]) {
        const res = await api(t.url, method, path, body, token);
        expect([method, path, res.status, res.body.error?.code]).toEqual([method, path, 401, 'admin_token_invalid']);
      }
    }
    // Nothing changed.
    const view = await admin('GET', `/v1/admin/businesses/${bank.id}`);
    expect(view.body).toMatchObject({ status: 'active', keys: [{ kid: bank.kid }] });
    expect(view.body.keys[0].retiredAt).toBeUndefined();
  });

  it('lists businesses by id, paged with a next cursor, with their number of active keys', async () => {
    const ids = ['list-a', 'list-b', 'list-c'];
    for (const id of ids) await createBusiness(t.url, id);
    await admin('POST', '/v1/admin/businesses/list-b/keys', { kid: 'k2', jwk: (await newKey('list-b', 'k2')).jwk });
    const seen: { id: string; keys: number; status: string; name: string; createdAt: string }[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const res = await admin('GET', `/v1/admin/businesses?limit=2${after ? `&after=${after}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.body.businesses.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.businesses);
      after = res.body.next;
      pages++;
    } while (after !== undefined && pages < 50);
    const all = await admin('GET', '/v1/admin/businesses');
    expect(all.body.next).toBeUndefined();
    expect(seen.map((b) => b.id)).toEqual(all.body.businesses.map((b: { id: string }) => b.id));
    expect(seen.map((b) => b.id)).toEqual([...seen.map((b) => b.id)].sort());
    expect(pages).toBeGreaterThanOrEqual(2);
    const listed = seen.filter((b) => ids.includes(b.id));
    expect(listed.map((b) => [b.id, b.keys, b.status, b.name])).toEqual([
      ['list-a', 1, 'active', 'Test Bank'],
      ['list-b', 2, 'active', 'Test Bank'],
      ['list-c', 1, 'active', 'Test Bank'],
    ]);
    expect(Number.isNaN(Date.parse(listed[0]!.createdAt))).toBe(false);
    // A retired key is not counted; a page after the last id is empty.
    await admin('DELETE', '/v1/admin/businesses/list-b/keys/k1');
    const page = await admin('GET', '/v1/admin/businesses?after=list-a&limit=1');
    expect(page.body).toMatchObject({ businesses: [{ id: 'list-b', keys: 1 }], next: 'list-b' });
    const last = seen[seen.length - 1]!.id;
    expect((await admin('GET', `/v1/admin/businesses?after=${last}`)).body).toEqual({ businesses: [] });
  });

  it('shows one business with its keys; unknown ids are 404 unknown_business', async () => {
    const bank = await createBusiness(t.url, 'show-bank');
    const res = await admin('GET', '/v1/admin/businesses/show-bank');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: 'show-bank',
      name: 'Test Bank',
      status: 'active',
      createdAt: expect.any(String),
      keys: [{ kid: bank.kid, createdAt: expect.any(String), jwk: expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String) }) }],
    });
    for (const [method, path, body] of [
      ['GET', '/v1/admin/businesses/no-such-bank'],
      ['POST', '/v1/admin/businesses/no-such-bank/disable'],
      ['POST', '/v1/admin/businesses/no-such-bank/enable'],
      ['POST', '/v1/admin/businesses/no-such-bank/keys', { kid: 'k9', jwk: (await newKey('no-such-bank', 'k9')).jwk }],
      ['DELETE', '/v1/admin/businesses/no-such-bank/keys/k1'],
    ] as const) {
      const r = await admin(method, path, body);
      expect([path, r.status, r.body.error.code]).toEqual([path, 404, 'unknown_business']);
    }
  });

  it('disable refuses enrollment, new sessions and submissions (HTTP and WebSocket) of that business only; enable restores them', async () => {
    const s = await suite();
    const bank = await createBusiness(t.url, 'dis-bank');
    const other = await createBusiness(t.url, 'dis-other');
    const sender = await registerRawDevice(t.url, bank, 'sender', { kind: 'sender' });
    const alice = await registerRawDevice(t.url, bank, 'alice');
    let group = await newGroup(sender, alice);
    const otherSender = await registerRawDevice(t.url, other, 'sender', { kind: 'sender' });
    const otherBob = await registerRawDevice(t.url, other, 'bob');
    let otherGroup = await newGroup(otherSender, otherBob);

    const off = await admin('POST', '/v1/admin/businesses/dis-bank/disable');
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: 'dis-bank', status: 'disabled', disabledAt: expect.any(String) });
    expect((await admin('GET', '/v1/admin/businesses/dis-bank')).body.status).toBe('disabled');

    // Enrollment: an authentic token of the disabled business is refused.
    expect(await tryEnroll(bank, 'carol')).toEqual({ status: 403, code: 'business_disabled' });
    // New sessions.
    const session = await trySession(alice);
    expect([session.status, session.body.error?.code]).toEqual([403, 'business_disabled']);
    // Submissions, with a session issued before (HTTP and WebSocket).
    const enc = await encryptApplication(s, group, utf8('while disabled'));
    const submit = { idempotencyKey: 'm1', conversationId: group.conversationId, message: toBase64(enc.message) };
    const refused = await api(t.url, 'POST', '/v1/messages', submit, sender.token);
    expect([refused.status, refused.body.error?.code]).toEqual([403, 'business_disabled']);
    expect(await wsSubmit(sender, submit)).toMatchObject({ type: 'error', status: 403, error: { code: 'business_disabled' } });
    const box = await api(t.url, 'GET', '/v1/mailbox?limit=100', undefined, alice.token);
    expect(box.body.envelopes.filter((e: { kind: string }) => e.kind === 'application')).toHaveLength(0);

    // Another business is not affected.
    const otherEnc = await encryptApplication(s, otherGroup, utf8('other'));
    otherGroup = otherEnc.group;
    const otherSent = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'o1', conversationId: otherGroup.conversationId, message: toBase64(otherEnc.message) }, otherSender.token);
    expect(otherSent.status).toBe(201);
    expect((await trySession(otherBob)).status).toBe(200);
    expect('deviceId' in (await tryEnroll(other, 'dave'))).toBe(true);

    // Disabling again keeps the first time.
    const again = await admin('POST', '/v1/admin/businesses/dis-bank/disable');
    expect(again.body.disabledAt).toBe(off.body.disabledAt);

    const on = await admin('POST', '/v1/admin/businesses/dis-bank/enable');
    expect(on.status).toBe(200);
    expect(on.body.status).toBe('active');
    expect(on.body.disabledAt).toBeUndefined();
    const sent = await api(t.url, 'POST', '/v1/messages', submit, sender.token);
    expect(sent.status).toBe(201);
    group = enc.group;
    const enc2 = await encryptApplication(s, group, utf8('over the socket'));
    expect(await wsSubmit(sender, { idempotencyKey: 'm2', conversationId: group.conversationId, message: toBase64(enc2.message) })).toMatchObject({ type: 'submitted' });
    expect((await trySession(alice)).status).toBe(200);
    expect('deviceId' in (await tryEnroll(bank, 'carol'))).toBe(true);
  });

  it('adds an enrollment key whose tokens enroll; retiring a key refuses its tokens', async () => {
    const bank = await createBusiness(t.url, 'keys-bank');
    const k2 = await newKey('keys-bank', 'k2');
    // Before it is added, its tokens are refused.
    expect(await tryEnroll(k2.business, 'erin')).toEqual({ status: 401, code: 'enrollment_token_invalid' });
    const added = await admin('POST', '/v1/admin/businesses/keys-bank/keys', { kid: 'k2', jwk: k2.jwk });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({ kid: 'k2', createdAt: expect.any(String), jwk: { kty: 'OKP', crv: 'Ed25519', x: k2.jwk.x } });
    expect('deviceId' in (await tryEnroll(k2.business, 'erin'))).toBe(true);

    const dup = await admin('POST', '/v1/admin/businesses/keys-bank/keys', { kid: 'k2', jwk: (await newKey('keys-bank', 'k2')).jwk });
    expect([dup.status, dup.body.error.code]).toEqual([409, 'key_exists']);

    const token = await bank.token('frank'); // signed with k1 before it is retired
    const retired = await admin('DELETE', '/v1/admin/businesses/keys-bank/keys/k1');
    expect(retired.status).toBe(200);
    expect(retired.body).toMatchObject({ kid: 'k1', retiredAt: expect.any(String) });
    expect(await tryEnroll({ ...bank, token: async () => token }, 'frank')).toEqual({ status: 401, code: 'enrollment_token_invalid' });
    expect(await tryEnroll(bank, 'frank')).toEqual({ status: 401, code: 'enrollment_token_invalid' });
    // k2 still works; retiring again keeps the first time; a retired kid is not reused.
    expect('deviceId' in (await tryEnroll(k2.business, 'grace'))).toBe(true);
    expect((await admin('DELETE', '/v1/admin/businesses/keys-bank/keys/k1')).body.retiredAt).toBe(retired.body.retiredAt);
    const reuse = await admin('POST', '/v1/admin/businesses/keys-bank/keys', { kid: 'k1', jwk: k2.jwk });
    expect([reuse.status, reuse.body.error.code]).toEqual([409, 'key_exists']);
    const unknown = await admin('DELETE', '/v1/admin/businesses/keys-bank/keys/k9');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'unknown_key']);

    const view = await admin('GET', '/v1/admin/businesses/keys-bank');
    expect(view.body.keys.map((k: { kid: string; retiredAt?: string }) => [k.kid, k.retiredAt !== undefined])).toEqual([
      ['k1', true],
      ['k2', false],
    ]);
  });

  it('refuses bad input with 400 and a code', async () => {
    await createBusiness(t.url, 'bad-bank');
    const x = toBase64Url(randomBytes(32));
    const cases: [string, string, unknown?][] = [
      ['POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k2' }],
      ['POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k2', jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }],
      ['POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k2', jwk: { kty: 'OKP', crv: 'Ed25519', x: 'short' } }],
      ['POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'bad kid!', jwk: { kty: 'OKP', crv: 'Ed25519', x } }],
      ['POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k2', jwk: { kty: 'OKP', crv: 'Ed25519', x }, extra: 1 }],
      ['POST', '/v1/admin/businesses/bad-bank/keys', 'not json'],
      ['POST', '/v1/admin/businesses/Bad_Bank/disable'],
      ['GET', '/v1/admin/businesses/Bad_Bank'],
      ['DELETE', '/v1/admin/businesses/bad-bank/keys/bad%20kid'],
      ['GET', '/v1/admin/businesses?limit=0'],
      ['GET', '/v1/admin/businesses?limit=201'],
      ['GET', '/v1/admin/businesses?limit=ten'],
      ['GET', '/v1/admin/businesses?after=NOT_AN_ID'],
      ['GET', '/v1/admin/businesses?page=2'],
    ];
    for (const [method, path, body] of cases) {
      const res = await admin(method, path, body);
      expect([method, path, res.status, typeof res.body.error?.code]).toEqual([method, path, 400, 'string']);
    }
    // A private key is never stored (nor echoed): refused, here and at creation.
    const priv = await admin('POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k2', jwk: { kty: 'OKP', crv: 'Ed25519', x, d: x } });
    expect([priv.status, priv.body.error.code]).toEqual([400, 'invalid_key']);
    const privCreate = await admin('POST', '/v1/admin/businesses', { id: 'bad-bank-2', name: 'B', enrollmentKeys: [{ kid: 'k1', jwk: { kty: 'OKP', crv: 'Ed25519', x, d: x } }] });
    expect([privCreate.status, privCreate.body.error.code]).toEqual([400, 'invalid_key']);
    expect((await admin('GET', '/v1/admin/businesses/bad-bank-2')).status).toBe(404);
    // Nothing was added.
    expect((await admin('GET', '/v1/admin/businesses/bad-bank')).body.keys).toHaveLength(1);
    // Other JWK members are dropped: only the public key is kept.
    const extra = await admin('POST', '/v1/admin/businesses/bad-bank/keys', { kid: 'k3', jwk: { kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA', use: 'sig' } });
    expect(extra.status).toBe(201);
    expect(extra.body.jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x });
  });

  it('logs every admin action with metadata only', async () => {
    const bank = await createBusiness(t.url, 'log-bank');
    const k2 = await newKey('log-bank', 'k2');
    await admin('POST', '/v1/admin/businesses/log-bank/keys', { kid: 'k2', jwk: k2.jwk });
    await admin('DELETE', '/v1/admin/businesses/log-bank/keys/k2');
    await admin('POST', '/v1/admin/businesses/log-bank/disable');
    await admin('POST', '/v1/admin/businesses/log-bank/enable');
    const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'admin action' && l.business === bank.id);
    expect(lines.map((l) => [l.action, l.kid])).toEqual([
      ['key.add', 'k2'],
      ['key.retire', 'k2'],
      ['business.disable', undefined],
      ['business.enable', undefined],
    ]);
    expect(t.logs.some((l) => l.includes(k2.jwk.x!) || l.includes(ADMIN_TOKEN))).toBe(false);
  });
});
