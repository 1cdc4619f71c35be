/**
 * `/v1/blobs` over loopback HTTP on a real server (PGlite with the filesystem store, or
 * PostgreSQL with the database store under PARLEY_TEST_ENGINE=postgres): create, append in
 * pieces, complete with the SHA-256, resume after a mismatched offset or a cut body, the size
 * and per-request limits, the business quota, ranges (416 included), the rate limit, and
 * another identity — of the same business or another — getting 404 on every route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestBusiness, type TestServer } from '@parley/test-kit/server';
import { businessUsage } from '../../src/repos/blobs.js';
import { call, create, created, cutPatch, data, declaredPatch, patch, sha256, upload } from './blob-http.js';

const KIB = 1024;
let t: TestServer;
let bank: TestBusiness;
let alice: RawDevice;

beforeAll(async () => {
  t = await startTestServer({ blobs: { maxBlobBytes: 256 * KIB, businessQuotaBytes: 600 * KIB, identityQuotaBytes: 400 * KIB, createsPerMinute: 30 } });
  bank = await createBusiness(t.url);
  alice = await registerRawDevice(t.url, bank, 'alice');
}, 60_000);
afterAll(async () => t?.stop());

describe(`blob routes (${ENGINE}, ${ENGINE === 'postgres' ? 'database' : 'fs'} store)`, () => {
  it('uses the store of the engine', () => {
    expect(t.server.blobs.store.kind).toBe(ENGINE === 'postgres' ? 'database' : 'fs');
  });

  it('creates, appends in pieces, completes with the SHA-256, and serves the bytes back', async () => {
    const bytes = data(150_000);
    const res = await create(t.url, alice, bytes.length);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ blobId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), size: 150_000, offset: 0, expiresAt: expect.any(String) });
    const expires = Date.parse(res.body.expiresAt);
    expect(expires - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(new Date(expires).toISOString()).toBe(res.body.expiresAt);
    const blobId = res.body.blobId as string;

    const first = await patch(t.url, alice.token, blobId, 0, bytes.subarray(0, 60_000));
    expect(first.status).toBe(204);
    expect(first.headers.get('upload-offset')).toBe('60000');
    expect(first.headers.get('parley-blob-sha256')).toBeNull();
    const head = await call(t.url, 'HEAD', alice.token, blobId);
    expect(head.status).toBe(200);
    expect([head.headers.get('upload-offset'), head.headers.get('upload-length'), head.headers.get('cache-control')]).toEqual(['60000', '150000', 'no-store']);
    // Not readable before it is complete.
    const early = await call(t.url, 'GET', alice.token, blobId);
    expect([early.status, early.json.error.code]).toEqual([409, 'blob_incomplete']);

    // application/octet-stream is accepted too.
    expect((await patch(t.url, alice.token, blobId, 60_000, bytes.subarray(60_000, 100_000), 'application/octet-stream')).status).toBe(204);
    const last = await patch(t.url, alice.token, blobId, 100_000, bytes.subarray(100_000));
    expect(last.status).toBe(204);
    expect(last.headers.get('upload-offset')).toBe('150000');
    expect(last.headers.get('parley-blob-sha256')).toBe(sha256(bytes));

    const got = await call(t.url, 'GET', alice.token, blobId);
    expect(got.status).toBe(200);
    expect(got.bytes).toEqual(bytes);
    expect([got.headers.get('content-type'), got.headers.get('content-length'), got.headers.get('accept-ranges'), got.headers.get('cache-control')]).toEqual([
      'application/octet-stream',
      '150000',
      'bytes',
      'no-store',
    ]);
    expect((await call(t.url, 'HEAD', alice.token, blobId)).headers.get('parley-blob-sha256')).toBe(sha256(bytes));
  });

  it('answers a resend or a wrong offset with the server’s offset, and a completed blob with blob_complete', async () => {
    const bytes = data(20_000);
    const blobId = await created(t.url, alice, bytes.length);
    expect((await patch(t.url, alice.token, blobId, 0, bytes.subarray(0, 8000))).status).toBe(204);
    // The answer was lost: the client sends the same piece again.
    const resend = await patch(t.url, alice.token, blobId, 0, bytes.subarray(0, 8000));
    expect([resend.status, resend.json.error.code, resend.json.error.details.offset]).toEqual([409, 'blob_offset_mismatch', 8000]);
    const ahead = await patch(t.url, alice.token, blobId, 9000, bytes.subarray(9000, 10_000));
    expect([ahead.status, ahead.json.error.details.offset]).toEqual([409, 8000]);
    // Resumes where the server is.
    const done = await patch(t.url, alice.token, blobId, 8000, bytes.subarray(8000));
    expect(done.headers.get('parley-blob-sha256')).toBe(sha256(bytes));
    const again = await patch(t.url, alice.token, blobId, 8000, bytes.subarray(8000));
    expect([again.status, again.json.error.code, again.json.error.details]).toEqual([409, 'blob_complete', { offset: 20_000, sha256: sha256(bytes) }]);
    expect((await call(t.url, 'GET', alice.token, blobId)).bytes).toEqual(bytes);
  });

  it('keeps the bytes a cut request delivered: the client resumes from HEAD', async () => {
    const bytes = data(100_000);
    const blobId = await created(t.url, alice, bytes.length);
    await cutPatch(t.url, alice.token, blobId, 0, 100_000, bytes.subarray(0, 30_000));
    let offset = -1;
    for (let i = 0; i < 100 && offset !== 30_000; i++) {
      const head = await call(t.url, 'HEAD', alice.token, blobId);
      offset = Number(head.headers.get('upload-offset'));
      if (offset !== 30_000) await new Promise((r) => setTimeout(r, 50));
    }
    expect(offset).toBe(30_000);
    // The lease of the cut request is given up: the next PATCH proceeds.
    const rest = await patch(t.url, alice.token, blobId, 30_000, bytes.subarray(30_000));
    expect(rest.status, JSON.stringify(rest.json)).toBe(204);
    expect(rest.headers.get('parley-blob-sha256')).toBe(sha256(bytes));
    expect((await call(t.url, 'GET', alice.token, blobId)).bytes).toEqual(bytes);
  });

  it('bounds sizes: the per-file limit, the declared size, 8 MiB per request', async () => {
    const tooBig = await create(t.url, alice, 256 * KIB + 1);
    expect([tooBig.status, tooBig.body.error.code]).toEqual([413, 'blob_too_large']);
    for (const size of [0, -1, 1.5, '10', 2 ** 53]) {
      const bad = await create(t.url, alice, size as number);
      expect([bad.status, bad.body.error.code], String(size)).toEqual([400, 'invalid_request']);
    }
    const blobId = await created(t.url, alice, 1000);
    const past = await patch(t.url, alice.token, blobId, 0, data(1001));
    expect([past.status, past.json.error.code]).toEqual([413, 'blob_too_large']);
    expect(Number((await call(t.url, 'HEAD', alice.token, blobId)).headers.get('upload-offset'))).toBe(0);
    // A chunked body past the declared size is refused whole.
    const chunked = await fetch(`${t.url}/v1/blobs/${blobId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': '0' },
      body: new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < 3; i++) controller.enqueue(data(400));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect([chunked.status, ((await chunked.json()) as { error: { code: string } }).error.code]).toEqual([413, 'blob_too_large']);
    expect(Number((await call(t.url, 'HEAD', alice.token, blobId)).headers.get('upload-offset'))).toBe(0);
    const fits = data(1000);
    const completed = await patch(t.url, alice.token, blobId, 0, fits);
    expect(completed.headers.get('parley-blob-sha256')).toBe(sha256(fits));
    expect((await call(t.url, 'GET', alice.token, blobId)).bytes).toEqual(fits);
    const other = await created(t.url, alice, 1000);
    const huge = await declaredPatch(t.url, alice.token, other, 0, 8 * 1024 * 1024 + 1);
    expect([huge.status, JSON.parse(huge.body).error.code]).toEqual([413, 'payload_too_large']);
  });

  it('refuses bad headers and bodies with 4xx', async () => {
    const blobId = await created(t.url, alice, 10);
    const noOffset = await patch(t.url, alice.token, blobId, undefined, data(10));
    expect([noOffset.status, noOffset.json.error.code]).toEqual([400, 'invalid_blob']);
    for (const offset of ['-1', '1e3', 'x', '99999999999999999']) {
      const res = await fetch(`${t.url}/v1/blobs/${blobId}`, { method: 'PATCH', headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/offset+octet-stream', 'upload-offset': offset }, body: data(1) as Uint8Array<ArrayBuffer> });
      expect(res.status, offset).toBe(400);
    }
    const json = await patch(t.url, alice.token, blobId, 0, new TextEncoder().encode('{}'), 'application/json');
    expect([json.status, json.json.error.code]).toEqual([415, 'unsupported_media_type']);
    const notAnId = await patch(t.url, alice.token, 'not-a-blob', 0, data(1));
    expect([notAnId.status, notAnId.json.error.code]).toEqual([404, 'no_blob']);
    const noSession = await fetch(`${t.url}/v1/blobs/${blobId}`, { method: 'GET' });
    expect(noSession.status).toBe(401);
    // A PATCH without a body changes nothing.
    const empty = await patch(t.url, alice.token, blobId, 0, new Uint8Array());
    expect([empty.status, empty.headers.get('upload-offset')]).toEqual([204, '0']);
  });

  it('serves one range: every form, clamped, 416 outside', async () => {
    const bytes = data(1000);
    const blobId = await upload(t.url, alice, bytes);
    const range = (r: string) => call(t.url, 'GET', alice.token, blobId, { range: r });
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-19', 10, 19],
      ['bytes=990-', 990, 999],
      ['bytes=-5', 995, 999],
      ['bytes=-5000', 0, 999],
      ['bytes=500-5000', 500, 999],
      ['bytes=999-999', 999, 999],
    ];
    for (const [header, start, end] of cases) {
      const res = await range(header);
      expect(res.status, header).toBe(206);
      expect(res.headers.get('content-range'), header).toBe(`bytes ${start}-${end}/1000`);
      expect(res.headers.get('content-length'), header).toBe(String(end - start + 1));
      expect(res.bytes, header).toEqual(bytes.subarray(start, end + 1));
    }
    for (const header of ['bytes=1000-', 'bytes=1000-1001', 'bytes=5-4', 'bytes=-0', 'bytes=0-1,3-4', 'items=0-1', 'bytes=a-b', 'bytes=']) {
      const res = await range(header);
      expect([res.status, res.json.error.code], header).toEqual([416, 'range_not_satisfiable']);
      expect(res.headers.get('content-range'), header).toBe('bytes */1000');
    }
  });

  it('never shows a blob to another identity: 404 on GET, HEAD, PATCH and DELETE', async () => {
    const bytes = data(500);
    const complete = await upload(t.url, alice, bytes);
    const uploading = await created(t.url, alice, 500);
    const mallory = await registerRawDevice(t.url, bank, 'mallory');
    const stranger = await registerRawDevice(t.url, await createBusiness(t.url), 'alice');
    for (const other of [mallory, stranger]) {
      for (const blobId of [complete, uploading]) {
        const get = await call(t.url, 'GET', other.token, blobId);
        expect([get.status, get.json.error.code]).toEqual([404, 'no_blob']);
        expect((await call(t.url, 'HEAD', other.token, blobId)).status).toBe(404);
        const put = await patch(t.url, other.token, blobId, 0, data(10));
        expect([put.status, put.json.error.code]).toEqual([404, 'no_blob']);
        const del = await call(t.url, 'DELETE', other.token, blobId);
        expect([del.status, del.json.error.code]).toEqual([404, 'no_blob']);
      }
    }
    // A second device of alice's identity, not yet approved by her first one, uses no blob.
    const pending = await registerRawDevice(t.url, bank, 'alice');
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) expect((await call(t.url, method, pending.token, complete)).status, method).toBe(403);
    expect((await create(t.url, pending, 10)).body.error.code).toBe('device_not_active');
    // Unchanged for alice.
    expect((await call(t.url, 'GET', alice.token, complete)).bytes).toEqual(bytes);
    expect((await call(t.url, 'HEAD', alice.token, uploading)).headers.get('upload-offset')).toBe('0');
  });

  it('holds a business to its quota (reserved at creation), freed by deletion', async () => {
    const business = await createBusiness(t.url);
    const [a, b] = [await registerRawDevice(t.url, business, 'a'), await registerRawDevice(t.url, business, 'b')];
    const first = await created(t.url, a, 250 * KIB);
    await created(t.url, b, 250 * KIB);
    const over = await create(t.url, a, 101 * KIB);
    expect([over.status, over.body.error.code, over.body.error.details]).toEqual([413, 'blob_quota_exceeded', { quota: 'business' }]);
    expect(await businessUsage(t.server.db, business.id)).toBe(500 * KIB);
    // Another business is not affected.
    expect((await create(t.url, await registerRawDevice(t.url, bank, 'quota-bystander'), 200 * KIB)).status).toBe(201);
    expect((await call(t.url, 'DELETE', a.token, first)).status).toBe(204);
    expect(await businessUsage(t.server.db, business.id)).toBe(250 * KIB);
    expect((await create(t.url, a, 101 * KIB)).status).toBe(201);
  });

  it('holds each identity to its own quota, so one customer cannot use up the business’s storage', async () => {
    const business = await createBusiness(t.url);
    const [hog, other] = [await registerRawDevice(t.url, business, 'hog'), await registerRawDevice(t.url, business, 'other')];
    const first = await created(t.url, hog, 250 * KIB);
    const over = await create(t.url, hog, 151 * KIB);
    expect([over.status, over.body.error.code, over.body.error.details]).toEqual([413, 'blob_quota_exceeded', { quota: 'identity' }]);
    // The refused reservation took nothing from the business either.
    expect(await businessUsage(t.server.db, business.id)).toBe(250 * KIB);
    expect((await create(t.url, other, 250 * KIB)).status).toBe(201);
    // The business is full now (500 of 600 KiB): a refusal there leaves the identity's usage untouched.
    expect((await create(t.url, hog, 101 * KIB)).body.error.details).toEqual({ quota: 'business' });
    expect((await call(t.url, 'DELETE', hog.token, first)).status).toBe(204);
    expect((await create(t.url, hog, 100 * KIB)).status).toBe(201);
    expect(await businessUsage(t.server.db, business.id)).toBe(350 * KIB);
  });

  it('holds the business’s own identities (its sender) to the business quota only', async () => {
    const business = await createBusiness(t.url);
    const sender = await registerRawDevice(t.url, business, 'notifications', { kind: 'sender' });
    // 500 KiB: past a customer's 400 KiB, within the business's 600 KiB.
    await created(t.url, sender, 250 * KIB);
    expect((await create(t.url, sender, 250 * KIB)).status).toBe(201);
    expect((await create(t.url, sender, 101 * KIB)).body.error.details).toEqual({ quota: 'business' });
  });

  it('deletes an upload of its own (incomplete, or complete and never shared)', async () => {
    const uploading = await created(t.url, alice, 100);
    await patch(t.url, alice.token, uploading, 0, data(50));
    const del = await call(t.url, 'DELETE', alice.token, uploading);
    expect([del.status, del.headers.get('cache-control')]).toEqual([204, 'no-store']);
    expect((await call(t.url, 'HEAD', alice.token, uploading)).status).toBe(404);
    expect((await patch(t.url, alice.token, uploading, 50, data(50))).status).toBe(404);
    const complete = await upload(t.url, alice, data(100));
    expect((await call(t.url, 'DELETE', alice.token, complete)).status).toBe(204);
    expect((await call(t.url, 'GET', alice.token, complete)).status).toBe(404);
    expect((await call(t.url, 'DELETE', alice.token, complete)).status).toBe(404);
    expect(await t.server.blobs.store.length(complete)).toBe(0);
  });

  it('rate-limits creations per identity', async () => {
    const busy = await registerRawDevice(t.url, await createBusiness(t.url), 'busy');
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof create>> | undefined;
    for (let i = 0; i < 32 && !limited; i++) {
      const res = await create(t.url, busy, 1);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(29);
    expect(limited?.body.error.code).toBe('rate_limited');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another identity still creates.
    expect((await create(t.url, alice, 1)).status).toBe(201);
  });

  it('lets the business’s own identities create at the business’s larger rate', async () => {
    const business = await createBusiness(t.url);
    const sender = await registerRawDevice(t.url, business, 'notifications', { kind: 'sender' });
    // Past the 30 a customer may create at once (this server's createsPerMinute).
    for (let i = 0; i < 40; i++) expect((await create(t.url, sender, 1)).status).toBe(201);
  });
});
