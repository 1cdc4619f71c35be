import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { equalBytes, fromBase64, randomBytes, toBase64, utf8 } from '@parley/core';
import {
  commitChanges,
  createGroup,
  encryptApplication,
  joinFromWelcome,
  processIncoming,
  type AuthenticateMember,
  type MlsGroup,
} from '@parley/core/mls';
import { api, createBusiness, createRawGroup, registerRawDevice, startTestServer, suite, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let bank: TestBusiness;
const acceptRegistered: AuthenticateMember = async () => true;

beforeAll(async () => {
  t = await startTestServer({ keyPackages: { claimsPerMinute: 5, lowWatermark: 2 } });
  bank = await createBusiness(t.url);
});
afterAll(async () => t?.stop());

/** Creates a group of `owner` with `members`, submits the commit + Welcome, returns the owner's group. */
async function newGroup(owner: RawDevice, members: RawDevice[]): Promise<{ group: MlsGroup; res: { status: number; body: any } }> {
  const created = await createRawGroup(t.url, owner, members);
  expect(created.res.status).toBe(201);
  return created;
}

async function joinAs(device: RawDevice, welcomeB64: string): Promise<MlsGroup> {
  const s = await suite();
  const { group } = await joinFromWelcome(s, fromBase64(welcomeB64), device.signature.privateKey, async (ref) => {
    const kp = device.keyPackages.find((k) => equalBytes(k.ref, ref));
    return kp ? { keyPackage: kp.keyPackage, privateKey: kp.privateKey } : undefined;
  }, acceptRegistered);
  return group;
}

async function mailbox(device: RawDevice) {
  const res = await api(t.url, 'GET', '/v1/mailbox?limit=100', undefined, device.token);
  expect(res.status).toBe(200);
  return res.body.envelopes as any[];
}

describe('relay', () => {
  it('stores a group creation, delivers the Welcome, fans out messages and deduplicates by idempotency key', async () => {
    const s = await suite();
    const bankDev = await registerRawDevice(t.url, bank, 'sender', { kind: 'sender' });
    const phone = await registerRawDevice(t.url, bank, 'alice');
    // (another identity: a second device of 'alice' would wait for approval by the first)
    const tablet = await registerRawDevice(t.url, bank, 'alice-tablet');
    let { group } = await newGroup(bankDev, [phone, tablet]);

    const [welcome] = await mailbox(phone);
    expect(welcome.kind).toBe('welcome');
    expect(welcome.senderIdentityId).toBe(bankDev.identityId);
    const phoneGroup = await joinAs(phone, welcome.payload);

    const enc = await encryptApplication(s, group, utf8('hello'));
    group = enc.group;
    const body = { idempotencyKey: 'msg-1', conversationId: group.conversationId, message: toBase64(enc.message) };
    const first = await api(t.url, 'POST', '/v1/messages', body, bankDev.token);
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ duplicate: false, recipients: 2, storedBytes: enc.message.length });
    const again = await api(t.url, 'POST', '/v1/messages', body, bankDev.token);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, duplicate: true });

    const envs = await mailbox(phone);
    const apps = envs.filter((e) => e.kind === 'application');
    expect(apps).toHaveLength(1);
    const r = await processIncoming(s, phoneGroup, fromBase64(apps[0].payload));
    expect(r.kind).toBe('application');

    // ack own: removes; re-ack is fine; ack of another device's envelope is refused
    const ack = await api(t.url, 'POST', '/v1/mailbox/ack', { ids: envs.map((e) => e.id) }, phone.token);
    expect(ack.status).toBe(200);
    expect(ack.body.acked).toBe(envs.length);
    expect(await mailbox(phone)).toHaveLength(0);
    expect((await api(t.url, 'POST', '/v1/mailbox/ack', { ids: [apps[0].id] }, phone.token)).body).toMatchObject({ acked: 0, unknown: [] });
    const stranger = await registerRawDevice(t.url, bank, 'mallory');
    const forbidden = await api(t.url, 'POST', '/v1/mailbox/ack', { ids: [apps[0].id] }, stranger.token);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('ack_forbidden');
    // the tablet's copy is untouched by all of that
    expect((await mailbox(tablet)).map((e) => e.kind)).toEqual(['welcome', 'application']);
    expect((await api(t.url, 'POST', '/v1/mailbox/ack', { ids: ['999999999'] }, phone.token)).body.unknown).toEqual(['999999999']);
  });

  it('orders commits by epoch: a concurrent commit gets 409 epoch_conflict and nothing is stored', async () => {
    const owner = await registerRawDevice(t.url, bank, 'sender2', { kind: 'sender' });
    const a = await registerRawDevice(t.url, bank, 'carol');
    const { group, res } = await newGroup(owner, [a]);
    expect(res.body.epoch).toBe('1');
    const s = await suite();
    const welcome = (await mailbox(a)).find((e) => e.kind === 'welcome');
    const aGroup = await joinAs(a, welcome.payload);
    const c1 = await commitChanges(s, group, {});
    const c2 = await commitChanges(s, aGroup, {});
    const members = [owner.deviceId, a.deviceId];
    const r1 = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'u1', conversationId: group.conversationId, message: toBase64(c1.commit), members, groupInfo: toBase64(c1.groupInfo) }, owner.token);
    expect(r1.status).toBe(201);
    const r2 = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'u2', conversationId: group.conversationId, message: toBase64(c2.commit), members, groupInfo: toBase64(c2.groupInfo) }, a.token);
    expect(r2.status).toBe(409);
    expect(r2.body.error).toMatchObject({ code: 'epoch_conflict', details: { currentEpoch: '2' } });
    // the latest GroupInfo is served to members only
    const gi = await api(t.url, 'GET', `/v1/conversations/${group.conversationId}/group-info`, undefined, a.token);
    expect(gi.status).toBe(200);
    expect(gi.body.epoch).toBe('2');
    const outsider = await registerRawDevice(t.url, bank, 'dan');
    expect((await api(t.url, 'GET', `/v1/conversations/${group.conversationId}/group-info`, undefined, outsider.token)).status).toBe(404);
  });

  it('answers bad submissions with 4xx codes and keeps what was accepted', async () => {
    const s = await suite();
    const owner = await registerRawDevice(t.url, bank, 'sender3', { kind: 'sender' });
    const b = await registerRawDevice(t.url, bank, 'erin');
    let { group } = await newGroup(owner, [b]);
    const enc = await encryptApplication(s, group, utf8('kept'));
    group = enc.group;
    const kept = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'kept', conversationId: group.conversationId, message: toBase64(enc.message) }, owner.token);
    expect(kept.status).toBe(201);

    const outsider = await registerRawDevice(t.url, bank, 'frank');
    const enc2 = await encryptApplication(s, group, utf8('x'));
    const cases: [any, string, number, string][] = [
      [{ idempotencyKey: 'g1', conversationId: group.conversationId, message: toBase64(randomBytes(64)) }, owner.token, 400, 'invalid_mls_message'],
      [{ idempotencyKey: 'g2', conversationId: group.conversationId, message: 'not base64!' }, owner.token, 400, 'invalid_request'],
      [{ idempotencyKey: 'g3', conversationId: 'A'.repeat(43), message: toBase64(enc2.message) }, owner.token, 400, 'conversation_mismatch'],
      [{ idempotencyKey: 'g4', conversationId: group.conversationId, message: toBase64(enc2.message) }, outsider.token, 403, 'not_a_member'],
      [{ idempotencyKey: 'g5', conversationId: group.conversationId, message: toBase64(enc2.message), members: [] }, owner.token, 400, 'invalid_request'],
      [{ idempotencyKey: 'bad key with spaces', conversationId: group.conversationId, message: toBase64(enc2.message) }, owner.token, 400, 'invalid_request'],
      [{ idempotencyKey: 'g6', conversationId: group.conversationId, message: toBase64(new Uint8Array(300 * 1024)) }, owner.token, 413, 'payload_too_large'],
    ];
    for (const [body, token, status, code] of cases) {
      const res = await api(t.url, 'POST', '/v1/messages', body, token);
      expect({ key: body.idempotencyKey, status: res.status, code: res.body?.error?.code }).toEqual({ key: body.idempotencyKey, status, code });
    }
    // unknown conversation: a valid message of a group the server never saw
    const lone = await createGroup(s, randomBytes(32), { identityId: owner.identityId, deviceId: owner.deviceId }, owner.signature, acceptRegistered);
    const loneMsg = await encryptApplication(s, lone, utf8('x'));
    const unknown = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'g7', conversationId: lone.conversationId, message: toBase64(loneMsg.message) }, owner.token);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_conversation');

    const left = (await mailbox(b)).filter((e) => e.kind === 'application');
    expect(left.map((e) => e.id)).toEqual([kept.body.id]);
    expect((await api(t.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('hands out each one-time KeyPackage once, even to concurrent claimers, then the last-resort one', async () => {
    const target = await registerRawDevice(t.url, bank, 'gina', { keyPackages: 6 });
    const claimers = await Promise.all([0, 1, 2].map((i) => registerRawDevice(t.url, bank, `claimer-${i}`, { kind: 'agent' })));
    const results = await Promise.all(
      claimers.flatMap((c) => [0, 1, 2, 3].map(() => api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, c.token))),
    );
    const ok = results.filter((r) => r.status === 200).map((r) => r.body.keyPackages[0]);
    const oneTime = ok.filter((k) => !k.lastResort).map((k) => k.keyPackage);
    expect(new Set(oneTime).size).toBe(oneTime.length);
    expect(oneTime.length).toBe(6);
    expect(ok.filter((k) => k.lastResort).length).toBe(ok.length - 6);
    const stock = await api(t.url, 'GET', '/v1/key-packages/stock', undefined, target.token);
    expect(stock.body).toEqual({ suite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', oneTime: 0, lastResort: true, low: true, lowWatermark: 2, oldestNotAfter: expect.any(String) });
  });

  it('rate-limits claims per requester and target with 429 and Retry-After', async () => {
    const target = await registerRawDevice(t.url, bank, 'hank');
    const c = await registerRawDevice(t.url, bank, 'ivan', { kind: 'agent' });
    const statuses: number[] = [];
    let limited: any;
    for (let i = 0; i < 7; i++) {
      const r = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, c.token);
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // another requester is not affected
    const other = await registerRawDevice(t.url, bank, 'judy', { kind: 'agent' });
    expect((await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [target.deviceId] }, other.token)).status).toBe(200);
  });

  it('refuses claims for unknown devices and for devices of another business', async () => {
    const c = await registerRawDevice(t.url, bank, 'kim');
    const unknown = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: ['A'.repeat(22)] }, c.token);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('unknown_device');
    const other = await createBusiness(t.url);
    const foreign = await registerRawDevice(t.url, other, 'leo');
    const cross = await api(t.url, 'POST', '/v1/key-packages/claim', { deviceIds: [foreign.deviceId] }, c.token);
    expect(cross.status).toBe(404);
    expect((await api(t.url, 'GET', `/v1/identities/${foreign.identityId}/devices`, undefined, c.token)).status).toBe(404);
  });

  it('pushes envelopes over the WebSocket after authentication and accepts submit and ack frames', async () => {
    const s = await suite();
    const owner = await registerRawDevice(t.url, bank, 'sender4', { kind: 'sender' });
    const m = await registerRawDevice(t.url, bank, 'mia');
    let { group } = await newGroup(owner, [m]);
    const ws = new WebSocket(t.url.replace('http', 'ws') + '/v1/ws');
    // Frames of one server turn may arrive together as a `batch` frame.
    const frames: any[] = [];
    const waiters: { pred: (f: any) => boolean; resolve: (f: any) => void }[] = [];
    ws.on('message', (data) => {
      const f = JSON.parse(String(data));
      for (const one of f.type === 'batch' ? f.frames : [f]) {
        frames.push(one);
        for (const w of waiters.splice(0)) (w.pred(one) ? w.resolve(one) : waiters.push(w));
      }
    });
    const waitFrame = (pred: (f: any) => boolean) =>
      new Promise<any>((resolve, reject) => {
        const found = frames.find(pred);
        if (found) return resolve(found);
        const timer = setTimeout(() => reject(new Error('no frame')), 5000);
        waiters.push({ pred, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      });
    await new Promise((r) => ws.once('open', r));
    ws.send('not json');
    expect((await waitFrame((f) => f.type === 'error')).error.code).toBe('invalid_frame');
    ws.send(JSON.stringify({ type: 'auth', token: m.token }));
    await waitFrame((f) => f.type === 'ready');
    const welcome = await waitFrame((f) => f.type === 'deliver' && f.envelopes.some((e: any) => e.kind === 'welcome'));
    ws.send(JSON.stringify({ type: 'ack', ids: welcome.envelopes.map((e: any) => e.id) }));

    const enc = await encryptApplication(s, group, utf8('live'));
    group = enc.group;
    await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'live', conversationId: group.conversationId, message: toBase64(enc.message) }, owner.token);
    const live = await waitFrame((f) => f.type === 'deliver' && f.envelopes.some((e: any) => e.kind === 'application'));
    ws.send(JSON.stringify({ type: 'ack', ids: live.envelopes.map((e: any) => e.id) }));
    ws.send(JSON.stringify({ type: 'submit', requestId: 'r1', body: { idempotencyKey: 'x', conversationId: group.conversationId, message: toBase64(randomBytes(10)) } }));
    const err = await waitFrame((f) => f.type === 'error' && f.requestId === 'r1');
    expect(err).toMatchObject({ status: 400, error: { code: 'invalid_mls_message' } });
    await new Promise((r) => setTimeout(r, 100));
    expect(await mailbox(m)).toHaveLength(0);
    ws.close();

    const bad = new WebSocket(t.url.replace('http', 'ws') + '/v1/ws');
    await new Promise((r) => bad.once('open', r));
    bad.send(JSON.stringify({ type: 'auth', token: 'forged' }));
    const code = await new Promise<number>((r) => bad.once('close', (c) => r(c)));
    expect(code).toBe(4002);
  });
});
