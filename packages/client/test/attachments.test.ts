/**
 * Encrypted attachments against a real server on loopback (docs/attachments.md): the SDK
 * encrypts while it uploads in resumable segments, and decrypts while it downloads, checking
 * every chunk and the hash. Faults come from a recording `fetch` (attachments-faults.ts): an
 * upload connection cut mid-segment, a download cut mid-body, tampered ciphertext served.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Compile } from 'typebox/compile';
import { AttachmentError, AttachmentRefSchema, type AttachmentRef } from '@parley/core';
import { streamCipherSize } from '@parley/core/media';
import { nodeStreamCrypto } from '@parley/core/media/node';
import { ApiError, Device, InvalidArgumentError, MemoryKeyStore } from '../src/index.js';
import { nodeRuntime } from '../src/index.node.js';
import { downloadAttachment, downloadAttachmentBytes, uploadAttachment } from '../src/attachments.js';
import { createBusiness, enroll, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';
import { FaultyFetch, generated, sameAsGenerated } from './attachments-faults.js';

let t: TestServer;
let bank: Business;
const attachmentRef = Compile(AttachmentRefSchema);
const MiB = 1024 * 1024;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'files-bank');
});
afterAll(async () => t?.stop());

/** A customer device whose HTTP goes through `faults`. */
async function enrollThrough(subject: string, faults: FaultyFetch): Promise<Device> {
  return Device.enroll({ serverUrl: t.url, enrollmentToken: await bank.issue(subject, 'customer'), store: new MemoryKeyStore(), keyPackageBatch: 3, fetch: faults.fetch, ...nodeRuntime });
}

function random(n: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(randomBytes(n));
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}

async function failure(source: AsyncIterable<Uint8Array>): Promise<{ error: unknown; released: number }> {
  let released = 0;
  try {
    for await (const p of source) released += p.length;
  } catch (error) {
    return { error, released };
  }
  return { error: undefined, released };
}

describe('attachments', () => {
  it('a 1 MB file with a name and a thumbnail: upload, reference, download (WebCrypto defaults)', async () => {
    const phone = await enroll(t.url, bank, 'files-alice', 'customer');
    const file = random(MiB);
    const thumb = random(3000);
    const progress: [number, number][] = [];
    const ref = await uploadAttachment(phone.api, { data: file, size: file.length, mime: 'application/pdf', name: 'statement.pdf', thumbnail: { data: thumb, mime: 'image/jpeg' } }, {
      onProgress: (sent, total) => progress.push([sent, total]),
      segmentBytes: 256 * 1024,
    });
    expect(attachmentRef.Check(ref)).toBe(true);
    expect(ref).toMatchObject({ size: MiB, cipherSize: streamCipherSize(MiB), mime: 'application/pdf', name: 'statement.pdf' });
    expect(ref.thumbnail).toMatchObject({ size: 3000, cipherSize: 3016, mime: 'image/jpeg' });
    expect(ref.thumbnail!.key).not.toBe(ref.key);
    // Progress: the file's ciphertext, segment by segment, to the end.
    expect(progress.at(-1)).toEqual([ref.cipherSize, ref.cipherSize]);
    expect(progress.map(([sent]) => sent)).toEqual([...progress.map(([sent]) => sent)].sort((a, b) => a - b));
    expect(progress.length).toBe(Math.ceil(ref.cipherSize / (256 * 1024)));

    expect(Buffer.from(await collect(downloadAttachment(phone.api, ref))).equals(Buffer.from(file))).toBe(true);
    expect(Buffer.from(await downloadAttachmentBytes(phone.api, ref.thumbnail!, 64 * 1024)).equals(Buffer.from(thumb))).toBe(true);
    await expect(downloadAttachmentBytes(phone.api, ref, 1000)).rejects.toBeInstanceOf(InvalidArgumentError);
    // Another identity may not read it (no message granted it): 404 no_blob, as for no blob at all.
    const stranger = await enroll(t.url, bank, 'files-mallory', 'customer');
    await expect(collect(downloadAttachment(stranger.api, ref, { crypto: nodeStreamCrypto }))).rejects.toMatchObject({ name: 'ApiError', status: 404, code: 'no_blob' });
    await Promise.all([phone.close(), stranger.close()]);
  });

  it('empty files, Blob and ReadableStream inputs', async () => {
    const phone = await enroll(t.url, bank, 'files-bob', 'customer');
    const empty = await uploadAttachment(phone.api, { data: new Uint8Array(0), size: 0, mime: 'text/plain' }, { crypto: nodeStreamCrypto });
    expect(empty).toMatchObject({ size: 0, cipherSize: 16 });
    expect((await downloadAttachmentBytes(phone.api, empty, 10)).length).toBe(0);
    const bytes = random(200_000);
    const fromBlob = await uploadAttachment(phone.api, { data: new Blob([bytes]), size: bytes.length, mime: 'image/png' });
    const fromStream = await uploadAttachment(phone.api, { data: new Blob([bytes]).stream(), size: bytes.length, mime: 'image/png' });
    for (const ref of [fromBlob, fromStream]) expect(Buffer.from(await downloadAttachmentBytes(phone.api, ref, MiB)).equals(Buffer.from(bytes))).toBe(true);
    await phone.close();
  });

  it('refuses bad input before any request, and a wrong size while reading (the upload is deleted)', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-carol', faults);
    const before = faults.calls.length;
    const data = random(100);
    for (const input of [
      { data, size: 100, mime: 'PDF' },
      { data, size: 100, mime: 'application/pdf; charset=x' },
      { data, size: 100, mime: 'text/plain', name: '' },
      { data, size: 100, mime: 'text/plain', name: 'x'.repeat(256) },
      { data, size: -1, mime: 'text/plain' },
      { data, size: 100, mime: 'text/plain', thumbnail: { data, mime: 'jpeg' } },
      { data: 'text' as unknown as Uint8Array, size: 4, mime: 'text/plain' },
    ]) {
      await expect(uploadAttachment(phone.api, input)).rejects.toMatchObject({ name: 'InvalidArgumentError', code: 'invalid_argument' });
    }
    expect(faults.calls.length).toBe(before);

    for (const [size, pieces] of [[100, [random(60), random(60)]], [MiB, [random(1000)]]] as const) {
      const error = await uploadAttachment(phone.api, { data: pieces, size, mime: 'text/plain' }, { crypto: nodeStreamCrypto }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect(error).toMatchObject({ details: { argument: 'size' } });
      const created = faults.calls.filter((c) => c.method === 'POST' && c.path === '/v1/blobs').at(-1)!;
      expect(created.status).toBe(201);
      const deleted = faults.calls.at(-1)!;
      expect(deleted).toMatchObject({ method: 'DELETE', status: 204 });
    }
    // The server's own refusal (4xx) is its ApiError: a file larger than the largest blob.
    const huge = uploadAttachment(phone.api, { data: generated(200 * MiB, 1), size: 200 * MiB, mime: 'video/mp4' });
    await expect(huge).rejects.toBeInstanceOf(ApiError);
    await expect(huge).rejects.toMatchObject({ status: 413, code: 'blob_too_large' });
    await phone.close();
  });

  it('a 20 MB upload whose connection is cut mid-segment resumes from the server\'s offset and decrypts', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-dave', faults);
    const size = 20 * MiB;
    let patches = 0;
    const progress: number[] = [];
    const upload = uploadAttachment(phone.api, { data: generated(size, 7), size, mime: 'video/mp4' }, {
      crypto: nodeStreamCrypto,
      retryDelayMs: 50,
      onProgress: (sent) => {
        progress.push(sent);
        // The third segment's connection breaks 1.5 MB in.
        if (++patches === 2) faults.cutUploadAfter = 1_500_000;
      },
    });
    const ref = await upload;
    const blobCalls = faults.calls.filter((c) => c.path.startsWith('/v1/blobs/'));
    const cut = blobCalls.findIndex((c) => c.cut);
    expect(cut).toBeGreaterThan(0);
    const cutCall = blobCalls[cut]!;
    const segmentStart = Number(cutCall.headers['upload-offset']);
    expect(segmentStart).toBe(2 * 4 * MiB);
    // Then: HEAD for the server's offset (or, while the server still finishes the cut request,
    // the offset its 409 names), and the segment resent from exactly there.
    expect(blobCalls[cut + 1]).toMatchObject({ method: 'HEAD', status: 200 });
    const resumedAt = blobCalls.findIndex((c, i) => i > cut && c.method === 'PATCH' && c.status === 204);
    const resumed = blobCalls[resumedAt]!;
    const told = blobCalls.slice(cut + 1, resumedAt).reverse().find((c) => c.method === 'HEAD' || c.conflictOffset !== undefined)!;
    const serverOffset = told.method === 'HEAD' ? Number(told.uploadOffset) : told.conflictOffset!;
    expect(Number(resumed.headers['upload-offset'])).toBe(serverOffset);
    // The server keeps what it made durable before the cut (all 1.5 MB, unless the cut came first).
    expect(serverOffset).toBeGreaterThanOrEqual(segmentStart);
    expect(serverOffset).toBeLessThanOrEqual(segmentStart + 1_500_000);
    expect(progress.at(-1)).toBe(ref.cipherSize);

    const got = await sameAsGenerated(downloadAttachment(phone.api, ref, { crypto: nodeStreamCrypto }), size, 7);
    expect(got).toEqual({ equal: true, bytes: size });
    await phone.close();
  });

  it('a 5xx answer to a segment is retried from the offset HEAD reports; a 4xx one is the caller\'s ApiError', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-heidi', faults);
    const size = 2 * MiB;
    let calls = 0;
    const ref = await uploadAttachment(phone.api, { data: generated(size, 4), size, mime: 'application/zip' }, {
      crypto: nodeStreamCrypto,
      segmentBytes: 512 * 1024,
      retryDelayMs: 10,
      onProgress: () => {
        if (++calls === 1) faults.failNextUpload = 503;
      },
    });
    const blobCalls = faults.calls.filter((c) => c.path === `/v1/blobs/${ref.blobId}`);
    const failed = blobCalls.findIndex((c) => c.status === 503);
    expect(blobCalls[failed]!.headers['upload-offset']).toBe(String(512 * 1024));
    expect(blobCalls[failed + 1]).toMatchObject({ method: 'HEAD', uploadOffset: String(512 * 1024) });
    expect(blobCalls[failed + 2]).toMatchObject({ method: 'PATCH', status: 204, headers: { 'upload-offset': String(512 * 1024) } });
    expect(await sameAsGenerated(downloadAttachment(phone.api, ref, { crypto: nodeStreamCrypto }), size, 4)).toEqual({ equal: true, bytes: size });

    calls = 0;
    const refused = uploadAttachment(phone.api, { data: generated(size, 4), size, mime: 'application/zip' }, {
      segmentBytes: 512 * 1024,
      onProgress: () => {
        if (++calls === 1) faults.failNextUpload = 409;
      },
    });
    await expect(refused).rejects.toMatchObject({ name: 'ApiError', status: 409, code: 'unavailable' });
    expect(faults.calls.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    await phone.close();
  });

  it('a download cut mid-body resumes with Range and decrypts', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-erin', faults);
    const size = 5 * MiB + 123;
    const ref = await uploadAttachment(phone.api, { data: generated(size, 9), size, mime: 'application/zip' }, { crypto: nodeStreamCrypto });
    faults.cutDownloadAfter = 3_000_001;
    const got = await sameAsGenerated(downloadAttachment(phone.api, ref, { crypto: nodeStreamCrypto, retryDelayMs: 20 }), size, 9);
    expect(got).toEqual({ equal: true, bytes: size });
    const gets = faults.calls.filter((c) => c.method === 'GET' && c.path === `/v1/blobs/${ref.blobId}`);
    expect(gets).toHaveLength(2);
    expect(gets[0]).toMatchObject({ cut: true, status: 200 });
    expect(gets[0]!.headers['range']).toBeUndefined();
    expect(gets[1]!.headers['range']).toBe('bytes=3000001-');
    expect(gets[1]!.status).toBe(206);
    await phone.close();
  });

  it('tampered ciphertext served: attachment_tampered (nothing past the bad chunk); a reference naming another hash: attachment_hash_mismatch', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-frank', faults);
    const size = 300_000;
    const ref: AttachmentRef = await uploadAttachment(phone.api, { data: generated(size, 3), size, mime: 'image/jpeg' }, { crypto: nodeStreamCrypto });
    faults.flipAt = 2 * 65552 + 10;
    const tampered = await failure(downloadAttachment(phone.api, ref, { crypto: nodeStreamCrypto }));
    expect(tampered.error).toBeInstanceOf(AttachmentError);
    expect(tampered.error).toMatchObject({ code: 'attachment_tampered', details: { chunk: 2 } });
    expect(tampered.released).toBe(2 * 65536);
    faults.flipAt = undefined;

    const otherHash = { ...ref, sha256: `${ref.sha256.startsWith('A') ? 'B' : 'A'}${ref.sha256.slice(1)}` };
    const mismatch = await failure(downloadAttachment(phone.api, otherHash));
    expect(mismatch.error).toMatchObject({ name: 'AttachmentError', code: 'attachment_hash_mismatch' });
    // Every chunk but the final one was released: the end of the file never is.
    expect(mismatch.released).toBe(4 * 65536);
    await phone.close();
  });

  it('an abort stops the upload and deletes the blob', async () => {
    const faults = new FaultyFetch();
    const phone = await enrollThrough('files-grace', faults);
    const controller = new AbortController();
    const size = 16 * MiB;
    const upload = uploadAttachment(phone.api, { data: generated(size, 5), size, mime: 'video/mp4' }, {
      crypto: nodeStreamCrypto,
      signal: controller.signal,
      onProgress: (sent) => {
        if (sent >= 4 * MiB) controller.abort();
      },
    });
    await expect(upload).rejects.toMatchObject({ name: 'AbortError' });
    const created = faults.calls.find((c) => c.method === 'POST' && c.path === '/v1/blobs')!;
    expect(created.status).toBe(201);
    expect(faults.calls.at(-1)).toMatchObject({ method: 'DELETE', status: 204 });
    await phone.close();
  });
});
