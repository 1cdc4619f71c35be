/**
 * Attachments stream: uploading and downloading a 100 MB file (generated piece by piece, compared
 * piece by piece) keeps the process's live memory far below the file's size. Live memory is
 * `heapUsed + arrayBuffers` right after a full GC, sampled every 8 MB of the transfer; the bound
 * (40 MB over the start) leaves room for the 4 MiB segment, the server in the same process and
 * the runtime's buffers, and none for the file. Not a timing assertion.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeStreamCrypto } from '@parley/core/media/node';
import { downloadAttachment, uploadAttachment } from '../src/attachments.js';
import { createBusiness, enroll, startTestServer, type Business, type TestServer } from '@parley/test-kit/sdk';
import { generated, sameAsGenerated } from './attachments-faults.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1_000_000;
const SIZE = 100 * MB;
const SAMPLE_EVERY = 8 * MB;
const BOUND = 40 * MB;

function live(): number {
  gc();
  gc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** `source`, sampling live memory every `SAMPLE_EVERY` bytes that pass. */
async function* sampled(source: AsyncIterable<Uint8Array>, samples: number[]): AsyncGenerator<Uint8Array> {
  let next = SAMPLE_EVERY;
  let passed = 0;
  for await (const piece of source) {
    passed += piece.length;
    if (passed >= next) {
      next += SAMPLE_EVERY;
      samples.push(live());
    }
    yield piece;
  }
}

let t: TestServer;
let bank: Business;

beforeAll(async () => {
  t = await startTestServer();
  bank = await createBusiness(t.url, 'files-memory');
});
afterAll(async () => t?.stop());

describe('attachment memory', () => {
  it('a 100 MB upload and download hold no more than a segment or a chunk of the file', async () => {
    const phone = await enroll(t.url, bank, 'files-big', 'customer');
    const baseline = live();
    const up: number[] = [];
    const ref = await uploadAttachment(phone.api, { data: sampled(generated(SIZE, 11), up), size: SIZE, mime: 'video/mp4' }, { crypto: nodeStreamCrypto });
    expect(ref.size).toBe(SIZE);
    const down: number[] = [];
    const got = await sameAsGenerated(sampled(downloadAttachment(phone.api, ref, { crypto: nodeStreamCrypto }), down), SIZE, 11);
    expect(got).toEqual({ equal: true, bytes: SIZE });
    const growth = (samples: number[]) => Math.max(...samples) - baseline;
    console.log(`attachment memory: baseline ${(baseline / MB).toFixed(1)} MB; growth upload ${(growth(up) / MB).toFixed(1)} MB, download ${(growth(down) / MB).toFixed(1)} MB (${up.length}/${down.length} samples)`);
    expect(up.length).toBeGreaterThanOrEqual(12);
    expect(down.length).toBeGreaterThanOrEqual(12);
    expect(growth(up)).toBeLessThan(BOUND);
    expect(growth(down)).toBeLessThan(BOUND);
    await phone.close();
  }, 300_000);
});
