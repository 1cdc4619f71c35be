/**
 * The contract every BlobStore passes (src/blobs/blob-store.ts), run against the filesystem
 * store and the database store (fs-blob-store.test.ts, pg-blob-store.test.ts): appends and
 * resumes, an append whose source fails mid-way (what arrived is kept and counted), the bytes
 * an interrupted append left past the recorded offset (dropped by the next append), ranges at
 * every edge, deletion, and 100 MB streamed in and out with the test process's retained memory
 * bounded (measured after forced collections, not timed).
 */
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, toBase64Url } from '@parley/core';
import { BlobAppendError, type BlobStore } from '../../src/blobs/blob-store.js';

export interface StoreUnderTest {
  readonly store: BlobStore;
  /** Rows or pieces the store splits a blob into, if any (edges are tested around it). */
  readonly boundary: number | undefined;
  /** Bytes streamed through it with memory watched (default 100 MiB; less for a test-only configuration with tiny rows). */
  readonly streamBytes?: number;
  close(): Promise<void>;
}

const newId = () => toBase64Url(randomBytes(16));

async function* pieces(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

/** Yields `parts`, then fails like a request cut mid-body. */
async function* cut(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
  throw new Error('aborted');
}

async function readAll(store: BlobStore, id: string, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of store.read(id, start, end)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** A `gc()` (V8's flag set at run time; the function comes from a fresh context). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

export function blobStoreContract(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let t: StoreUnderTest;
    beforeAll(async () => {
      t = await open();
    });
    afterAll(async () => t?.close());

    it('appends, resumes at the offset, reads back, reports its length', async () => {
      const id = newId();
      const data = bytes(10_000);
      expect(await t.store.length(id)).toBe(0);
      expect(await t.store.append(id, 0, pieces(data.subarray(0, 1234)))).toBe(1234);
      expect(await t.store.length(id)).toBe(1234);
      expect(await t.store.append(id, 1234, pieces(data.subarray(1234, 5000), data.subarray(5000, 5001), data.subarray(5001)))).toBe(10_000 - 1234);
      expect(await t.store.length(id)).toBe(10_000);
      expect(new Uint8Array(await readAll(t.store, id, 0, 9_999))).toEqual(data);
      // An empty append changes nothing.
      expect(await t.store.append(id, 10_000, pieces())).toBe(0);
      expect(await t.store.length(id)).toBe(10_000);
    });

    it('keeps blobs apart', async () => {
      const [a, b] = [newId(), newId()];
      await t.store.append(a, 0, pieces(bytes(3000, 1)));
      await t.store.append(b, 0, pieces(bytes(2000, 2)));
      await t.store.append(a, 3000, pieces(bytes(10, 3)));
      expect(new Uint8Array(await readAll(t.store, b, 0, 1999))).toEqual(bytes(2000, 2));
      expect(await t.store.length(a)).toBe(3010);
      await t.store.delete(a);
      expect(await t.store.length(b)).toBe(2000);
    });

    it('an append whose source fails keeps what arrived, durably, and says how much', async () => {
      const id = newId();
      const data = bytes(7000);
      const error = await t.store.append(id, 0, cut(data.subarray(0, 3000), data.subarray(3000, 4500))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobAppendError);
      expect((error as BlobAppendError).written).toBe(4500);
      expect(((error as BlobAppendError).cause as Error).message).toBe('aborted');
      expect(await t.store.length(id)).toBe(4500);
      // The client resumes at 4500.
      expect(await t.store.append(id, 4500, pieces(data.subarray(4500)))).toBe(2500);
      expect(new Uint8Array(await readAll(t.store, id, 0, 6999))).toEqual(data);
      // A source that fails before any byte: nothing written.
      const none = await t.store.append(id, 7000, cut()).catch((e: unknown) => e);
      expect((none as BlobAppendError).written).toBe(0);
      expect(await t.store.length(id)).toBe(7000);
    });

    it('drops bytes past the offset an append starts at (an interrupted append not recorded)', async () => {
      const id = newId();
      const data = bytes(6000);
      await t.store.append(id, 0, pieces(data));
      // The metadata recorded 2500 only (the node died before it recorded the rest): the next append starts there.
      const replacement = bytes(1000, 9);
      expect(await t.store.append(id, 2500, pieces(replacement))).toBe(1000);
      expect(await t.store.length(id)).toBe(3500);
      expect(new Uint8Array(await readAll(t.store, id, 0, 3499))).toEqual(new Uint8Array([...data.subarray(0, 2500), ...replacement]));
      // At a boundary, and back to nothing.
      if (t.boundary !== undefined && t.boundary < 3500) {
        await t.store.append(id, t.boundary, pieces());
        expect(await t.store.length(id)).toBe(t.boundary);
      }
      await t.store.append(id, 0, pieces());
      expect(await t.store.length(id)).toBe(0);
    });

    it('refuses an append past the bytes it holds, writing nothing', async () => {
      const id = newId();
      await t.store.append(id, 0, pieces(bytes(100)));
      await expect(t.store.append(id, 101, pieces(bytes(5)))).rejects.toThrow();
      expect(await t.store.length(id)).toBe(100);
      await expect(t.store.append(newId(), 1, pieces(bytes(5)))).rejects.toThrow();
    });

    it('reads any range: first byte, last byte, whole, around every boundary; never short', async () => {
      const id = newId();
      const size = 5003;
      const data = bytes(size);
      // Pieces of odd sizes, so rows are filled across appends.
      let at = 0;
      for (const n of [1, 999, 1000, 7, 2996]) {
        await t.store.append(id, at, pieces(data.subarray(at, at + n)));
        at += n;
      }
      expect(at).toBe(size);
      const b = t.boundary ?? 1000;
      const edges = [0, 1, b - 1, b, b + 1, 2 * b - 1, 2 * b, size - 2, size - 1].filter((x) => x >= 0 && x < size);
      for (const start of edges) {
        for (const end of edges) {
          if (end < start) continue;
          const got = await readAll(t.store, id, start, end);
          expect(got.length, `${start}-${end}`).toBe(end - start + 1);
          expect(new Uint8Array(got), `${start}-${end}`).toEqual(data.subarray(start, end + 1));
        }
      }
      await expect(readAll(t.store, id, size - 10, size)).rejects.toThrow();
      await expect(readAll(t.store, id, size, size + 5)).rejects.toThrow();
      await expect(readAll(t.store, newId(), 0, 0)).rejects.toThrow();
      expect(() => t.store.read(id, 5, 4)).toThrow();
      expect(() => t.store.read(id, -1, 4)).toThrow();
    });

    it('deletes a blob (and a blob it never held)', async () => {
      const id = newId();
      await t.store.append(id, 0, pieces(bytes(3000)));
      await t.store.delete(id);
      expect(await t.store.length(id)).toBe(0);
      await expect(readAll(t.store, id, 0, 0)).rejects.toThrow();
      await t.store.delete(id);
      await t.store.delete(newId());
      // A deleted blob's id can be written again from 0.
      await t.store.append(id, 0, pieces(bytes(10)));
      expect(await t.store.length(id)).toBe(10);
    });

    it('refuses what is no blob id (no path outside the store)', async () => {
      await expect(t.store.append('../../etc/passwd', 0, pieces(bytes(1)))).rejects.toThrow();
      await expect(t.store.delete('a/b')).rejects.toThrow();
      expect(() => t.store.read('', 0, 0)).toThrow();
    });

    it('streams a large blob (100 MB) in and out with the retained memory bounded', async () => {
      const gc = collector();
      const total = t.streamBytes ?? 100 * 1024 * 1024;
      // Memory is sampled 8 times each way; a whole copy would be `total` bytes.
      const sample = total / 8;
      const bound = Math.min(16 * 1024 * 1024, total / 2);
      const piece = 64 * 1024;
      const base = bytes(piece, 5);
      const id = newId();
      // Collected twice around a turn of the event loop: freed buffers' memory is released lazily.
      const retained = async () => {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const baseline = await retained();
      let peak = 0;
      const expected = createHash('sha256');
      async function* source(): AsyncGenerator<Uint8Array> {
        for (let at = 0; at < total; at += piece) {
          const chunk = Buffer.from(base);
          chunk.writeUInt32BE(at / piece, 0);
          expected.update(chunk);
          if (at % sample === 0) peak = Math.max(peak, (await retained()) - baseline);
          yield chunk;
        }
      }
      let started = Date.now();
      expect(await t.store.append(id, 0, source())).toBe(total);
      const appendMs = Date.now() - started;
      const appendPeak = peak;
      started = Date.now();
      const actual = createHash('sha256');
      let read = 0;
      for await (const chunk of t.store.read(id, 0, total - 1)) {
        actual.update(chunk as Buffer);
        const before = read;
        read += (chunk as Buffer).length;
        if (Math.floor(before / sample) !== Math.floor(read / sample)) peak = Math.max(peak, (await retained()) - baseline);
      }
      expect(read).toBe(total);
      console.log(`${name}: ${total / 1048576} MiB appended in ${appendMs} ms, read in ${Date.now() - started} ms; retained at most ${(appendPeak / 1048576).toFixed(1)} / ${(peak / 1048576).toFixed(1)} MiB more`);
      expect(actual.digest('hex')).toBe(expected.digest('hex'));
      // A store holds a row or a read piece or two, never a whole copy.
      expect(peak).toBeLessThan(bound);
      await t.store.delete(id);
    }, 300_000);
  });
}
