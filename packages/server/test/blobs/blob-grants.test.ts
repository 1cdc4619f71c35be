/**
 * Blobs shared by messages, on a real server (either engine): a submitted application message
 * naming blobs grants them to its recipient devices in the same transaction (refused when a
 * blob is unknown, another identity's or incomplete; a repeat grants nothing again; a bad
 * message in a batch fails alone), a GET that reaches the last byte marks the grant fetched,
 * and the retention sweep (driven directly, with a later clock) deletes by its rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64, toBase64Url } from '@parley/core';
import { commitChanges, type MlsGroup } from '@parley/core/mls';
import { api, createBusiness, registerRawDevice, startTestServer, suite, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';
import { businessUsage } from '../../src/repos/blobs.js';
import { call, conversation, created, data, patch, send, upload } from './blob-http.js';

const DAY = 24 * 3600_000;
let t: TestServer;
let bank: TestBusiness;
let sender: RawDevice;
let alice: RawDevice;
let tablet: RawDevice;
let mallory: RawDevice;
let group: MlsGroup;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url);
  sender = await registerRawDevice(t.url, bank, 'sender', { kind: 'sender' });
  alice = await registerRawDevice(t.url, bank, 'alice');
  tablet = await registerRawDevice(t.url, bank, 'alice-tablet');
  mallory = await registerRawDevice(t.url, bank, 'mallory');
  group = await conversation(t.url, sender, [alice, tablet]);
}, 60_000);
afterAll(async () => t?.stop());

async function submit(key: string, blobs: readonly string[]) {
  const out = await send(t.url, sender, group, key, blobs);
  group = out.group;
  return out.res;
}

async function grants(blobId: string): Promise<{ device_id: string; fetched: boolean }[]> {
  return t.server.db.query('SELECT device_id, fetched_at IS NOT NULL AS fetched FROM blob_grants WHERE blob_id = $1 ORDER BY device_id', [blobId]);
}

async function fetchedBy(blobId: string, device: RawDevice): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await grants(blobId)).find((g) => g.device_id === device.deviceId)?.fetched) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('blobs shared by messages', () => {
  let shared: string;
  const bytes = data(3000);

  it('grants a blob to the recipient devices of the message that names it', async () => {
    shared = await upload(t.url, sender, bytes, 2);
    expect((await call(t.url, 'GET', alice.token, shared)).status).toBe(404);
    const res = await submit('with-blob', [shared]);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await grants(shared)).map((g) => g.device_id).sort()).toEqual([alice.deviceId, tablet.deviceId].sort());
    const got = await call(t.url, 'GET', alice.token, shared);
    expect([got.status, got.bytes]).toEqual([200, bytes]);
    // A grant is to read, nothing else; a device outside the message gets nothing.
    expect((await call(t.url, 'HEAD', alice.token, shared)).status).toBe(404);
    expect((await patch(t.url, alice.token, shared, 3000, data(1))).status).toBe(404);
    expect((await call(t.url, 'DELETE', alice.token, shared)).status).toBe(404);
    expect((await call(t.url, 'GET', mallory.token, shared)).status).toBe(404);
    // Shared: its uploader may no longer delete it.
    const del = await call(t.url, 'DELETE', sender.token, shared);
    expect([del.status, del.json.error.code]).toEqual([409, 'blob_shared']);
  });

  it('a repeated submission is answered as before and grants nothing again', async () => {
    const again = await submit('with-blob', [shared]);
    expect([again.status, again.body.duplicate]).toEqual([200, true]);
    expect(await grants(shared)).toHaveLength(2);
  });

  it('refuses a message naming an unknown, foreign or incomplete blob, and stores nothing of it', async () => {
    const before = (await api(t.url, 'GET', '/v1/mailbox?limit=100', undefined, alice.token)).body.envelopes.length;
    const unknown = await submit('unknown', [toBase64Url(randomBytes(16))]);
    expect([unknown.status, unknown.body.error.code]).toEqual([400, 'unknown_blob']);
    const foreign = await upload(t.url, alice, data(10));
    const notMine = await submit('foreign', [shared, foreign]);
    expect([notMine.status, notMine.body.error.code]).toEqual([400, 'unknown_blob']);
    const partial = await created(t.url, sender, 100);
    const incomplete = await submit('incomplete', [partial]);
    expect([incomplete.status, incomplete.body.error.code]).toEqual([409, 'blob_incomplete']);
    expect((await api(t.url, 'GET', '/v1/mailbox?limit=100', undefined, alice.token)).body.envelopes.length).toBe(before);
    expect(await grants(foreign)).toEqual([]);
    expect((await call(t.url, 'GET', tablet.token, foreign)).status).toBe(404);
    // The refused key is free: the same key with a good blob is stored.
    const fixed = await submit('incomplete', [shared]);
    expect(fixed.status).toBe(201);
  });

  it('a bad message in a batch fails alone', async () => {
    const good = await upload(t.url, sender, data(50));
    const [bad, ok] = await Promise.all([submit('batch-bad', [toBase64Url(randomBytes(16))]), submit('batch-good', [good])]);
    expect([bad.status, bad.body.error.code]).toEqual([400, 'unknown_blob']);
    expect(ok.status).toBe(201);
    expect(await grants(good)).toHaveLength(2);
  });

  it('only application messages name blobs', async () => {
    const s = await suite();
    const commit = await commitChanges(s, group, {});
    const res = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'commit-blob', conversationId: group.conversationId, message: toBase64(commit.commit), members: [sender.deviceId, alice.deviceId, tablet.deviceId], groupInfo: toBase64(commit.groupInfo), blobs: [shared] }, sender.token);
    expect([res.status, res.body.error.code]).toEqual([400, 'invalid_request']);
  });

  it('marks a grant fetched when a GET reached the last byte; the sweep then deletes after the retention', async () => {
    const blobId = await upload(t.url, sender, bytes);
    expect((await submit('fetch-mark', [blobId])).status).toBe(201);
    // A range short of the end marks nothing.
    expect((await call(t.url, 'GET', alice.token, blobId, { range: 'bytes=0-99' })).status).toBe(206);
    await new Promise((r) => setTimeout(r, 100));
    expect((await grants(blobId)).every((g) => !g.fetched)).toBe(true);
    expect((await call(t.url, 'GET', alice.token, blobId)).status).toBe(200);
    expect(await fetchedBy(blobId, alice)).toBe(true);
    // The tablet has not fetched it: kept after the retention.
    await t.server.blobs.sweep(new Date(Date.now() + 8 * DAY));
    expect((await call(t.url, 'GET', alice.token, blobId)).status).toBe(200);
    // Its last bytes reach the end too.
    expect((await call(t.url, 'GET', tablet.token, blobId, { range: 'bytes=-10' })).status).toBe(206);
    expect(await fetchedBy(blobId, tablet)).toBe(true);
    // Every grant fetched, but the retention has not ended.
    await t.server.blobs.sweep();
    expect((await call(t.url, 'GET', sender.token, blobId)).status).toBe(200);
    const usage = await businessUsage(t.server.db, bank.id);
    expect((await t.server.blobs.sweep(new Date(Date.now() + 8 * DAY))).ended).toBeGreaterThanOrEqual(1);
    for (const device of [sender, alice, tablet]) expect((await call(t.url, 'GET', device.token, blobId)).status).toBe(404);
    expect(await businessUsage(t.server.db, bank.id)).toBeLessThanOrEqual(usage - bytes.length);
    expect(await t.server.blobs.store.length(blobId)).toBe(0);
    expect(await grants(blobId)).toEqual([]);
    // The message that named it is still answered as accepted on a repeat.
    expect((await submit('fetch-mark', [blobId])).body.duplicate).toBe(true);
  });

  it('deletes by the rules: expired uploads, unshared after the retention, anything after the hard maximum', async () => {
    const uploading = await created(t.url, sender, 100);
    await patch(t.url, sender.token, uploading, 0, data(40));
    const unshared = await upload(t.url, sender, data(100));
    const unfetched = await upload(t.url, sender, data(100));
    expect((await submit('unfetched', [unfetched])).status).toBe(201);
    const alive = async () => {
      const out: string[] = [];
      for (const [name, id] of Object.entries({ uploading, unshared, unfetched })) if ((await call(t.url, 'HEAD', sender.token, id)).status === 200) out.push(name);
      return out;
    };
    const at = (ms: number) => t.server.blobs.sweep(new Date(Date.now() + ms));
    await at(23 * 3600_000);
    expect(await alive()).toEqual(['uploading', 'unshared', 'unfetched']);
    await at(25 * 3600_000);
    expect(await alive()).toEqual(['unshared', 'unfetched']);
    expect(await t.server.blobs.store.length(uploading)).toBe(0);
    await at(6 * DAY);
    expect(await alive()).toEqual(['unshared', 'unfetched']);
    await at(8 * DAY);
    expect(await alive()).toEqual(['unfetched']);
    await at(29 * DAY);
    expect(await alive()).toEqual(['unfetched']);
    await at(31 * DAY);
    expect(await alive()).toEqual([]);
  });
});
