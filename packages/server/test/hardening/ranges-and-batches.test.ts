/**
 * Hardening regressions (issue item 1): numbers past the database's range are refused
 * at the boundary with a 4xx, and one bad item never fails a shared batch — another
 * business's acks and submissions that happen to be written in the same group commit
 * all succeed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toBase64, toBase64Url } from '@parley/core';
import { GroupCommitter } from '../../src/relay/group-commit.js';
import { api, createBusiness, registerRawDevice, startTestServer, type RawDevice, type TestServer } from '@parley/test-kit/server';

let t: TestServer;
let victim: RawDevice;
let attacker: RawDevice;

beforeAll(async () => {
  t = await startTestServer();
  victim = await registerRawDevice(t.url, await createBusiness(t.url), 'victim');
  attacker = await registerRawDevice(t.url, await createBusiness(t.url), 'attacker');
});
afterAll(async () => {
  await t?.stop();
});

/** An MLS PrivateMessage (RFC 9420 §6.3.1) with the given group id and epoch and junk ciphertext. */
function privateMessage(groupId: Uint8Array, epoch: bigint): Uint8Array {
  const header = [0, 1, 0, 2, groupId.length, ...groupId];
  const epochBytes = new Uint8Array(8);
  new DataView(epochBytes.buffer).setBigUint64(0, epoch);
  return new Uint8Array([...header, ...epochBytes, 1, 0, 4, 1, 2, 3, 4, 8, 9, 9, 9, 9, 9, 9, 9, 9]);
}

describe('numbers past the database range', () => {
  it('refuses out-of-range envelope ids and cursors with 400, over HTTP and WebSocket', async () => {
    for (const id of ['9999999999999999999', '9223372036854775808', '1000000000000000000']) {
      const ack = await api(t.url, 'POST', '/v1/mailbox/ack', { ids: [id] }, attacker.token);
      expect([ack.status, ack.body.error.code]).toEqual([400, 'invalid_request']);
      const page = await api(t.url, 'GET', `/v1/mailbox?after=${id}`, undefined, attacker.token);
      expect([page.status, page.body.error.code]).toEqual([400, 'invalid_request']);
    }
    // The largest id a client may name is accepted (and unknown).
    const edge = await api(t.url, 'POST', '/v1/mailbox/ack', { ids: ['999999999999999999'] }, attacker.token);
    expect(edge.status).toBe(200);
    expect(edge.body.unknown).toEqual(['999999999999999999']);

    const ws = new WebSocket(`${t.url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${attacker.token}` } });
    const frames: { type: string; status?: number }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'ack', ids: ['9999999999999999999'] }));
    await new Promise((r) => setTimeout(r, 300));
    ws.close();
    expect(frames.filter((f) => f.type === 'error').map((f) => f.status)).toEqual([400]);
  });

  it('refuses an MLS epoch past 2^63 with 400 epoch_out_of_range', async () => {
    const groupId = new Uint8Array(32).fill(7);
    for (const epoch of [2n ** 63n, 2n ** 64n - 1n]) {
      const res = await api(t.url, 'POST', '/v1/messages', { conversationId: toBase64Url(groupId), idempotencyKey: `e-${epoch}`, message: toBase64(privateMessage(groupId, epoch)) }, attacker.token);
      expect([res.status, res.body.error.code]).toEqual([400, 'epoch_out_of_range']);
    }
  });
});

describe('a bad item fails only itself', () => {
  it("another business's acks all succeed while an attacker sends bad ones at the same time", async () => {
    const bad = Array.from({ length: 100 }, (_, i) =>
      api(t.url, 'POST', '/v1/mailbox/ack', { ids: [i % 2 ? '9999999999999999999' : '9223372036854775808'] }, attacker.token),
    );
    const good = Array.from({ length: 200 }, (_, i) => api(t.url, 'POST', '/v1/mailbox/ack', { ids: [String(1000 + i)] }, victim.token));
    const [badAnswers, goodAnswers] = await Promise.all([Promise.all(bad), Promise.all(good)]);
    expect(new Set(badAnswers.map((r) => r.status))).toEqual(new Set([400]));
    expect(goodAnswers.filter((r) => r.status !== 200).map((r) => `${r.status} ${JSON.stringify(r.body)}`)).toEqual([]);
  });

  it('the group committer isolates the failing item of a batch by splitting it', async () => {
    const flushed: number[] = [];
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        flushed.push(items.length);
        // One transaction per batch: one poisoned item fails the whole statement.
        if (items.includes(13)) throw new Error('poisoned batch');
        return items.map((value) => ({ ok: true as const, value: value * 2 }));
      },
      { maxBatch: 64, concurrency: 1 },
    );
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => committer.submit(i)));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
    expect(failed).toEqual([13]);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: 50 }, (_, i) => i * 2).filter((v) => v !== 26),
    );
    // Bisection: a handful of extra flushes, not one per item.
    expect(flushed.length).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(50)));
  });

  it('does not split a batch when the store itself is down', async () => {
    let flushes = 0;
    const committer = new GroupCommitter<number, number>(
      async () => {
        flushes++;
        throw new Error('store down');
      },
      { maxBatch: 64, concurrency: 1, isolate: () => false },
    );
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => committer.submit(i)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(flushes).toBe(1);
  });
});
