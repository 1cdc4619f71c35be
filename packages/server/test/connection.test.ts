/**
 * DeviceConnection paging against a scripted mailbox (no database): the cursor
 * never skips envelopes when a notice or a full rescan arrives while a page is
 * being read, the in-flight window holds, and nothing goes to the socket twice.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { MailboxResponse } from '@parley/core';
import type { WebSocket } from 'ws';
import type { Relay } from '../src/relay/relay.js';
import { DeviceConnection } from '../src/ws/connection.js';
import { envelope, fakeSocket } from './connection-fixture.js';


/** A mailbox whose pages resolve when the test says so. */
class ScriptedMailbox {
  pending = new Set<number>();
  readonly calls: { after: string; limit: number; resolve: () => void }[] = [];
  fetch(_deviceId: string, limit: number, after: string): Promise<MailboxResponse> {
    // The snapshot is taken when the page is released, like a query that runs late.
    return new Promise((resolve) => {
      this.calls.push({
        after,
        limit,
        resolve: () => {
          const ids = [...this.pending].filter((id) => id > Number(after)).sort((x, y) => x - y);
          resolve({ envelopes: ids.slice(0, limit).map(envelope), more: ids.length > limit });
        },
      });
    });
  }
  /** Releases every page asked for until none is waiting. */
  async settle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setImmediate(r));
      const call = this.calls.shift();
      if (!call) {
        await new Promise((r) => setImmediate(r));
        if (this.calls.length === 0) return;
        continue;
      }
      call.resolve();
    }
  }
}

function harness(maxInFlight: number, pageSize: number) {
  const mailbox = new ScriptedMailbox();
  const sent: string[] = [];
  const socket = fakeSocket((envelopes) => sent.push(...envelopes.map((e) => e.id)));
  const connection = new DeviceConnection('d', socket as unknown as WebSocket, mailbox as unknown as Relay, { maxInFlight, highWaterBytes: 1 << 20, pageSize, pollIntervalMs: 3_600_000 }, pino({ level: 'silent' }));
  return { mailbox, sent, connection };
}

describe('DeviceConnection paging', () => {
  it('a full rescan requested while a page is in flight starts from the beginning, and the window holds', async () => {
    const { mailbox, sent, connection } = harness(100, 5);
    for (let id = 1; id <= 12; id++) mailbox.pending.add(id);
    connection.fetchMore();
    // Two pages out (1..5, 6..10); the third is asked for and held.
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setImmediate(r));
      mailbox.calls.shift()!.resolve();
    }
    await new Promise((r) => setImmediate(r));
    expect(mailbox.calls.map((c) => c.after)).toEqual(['10']);
    connection.rescan(); // the periodic safety-net pass, or a rescan after lost notices
    await mailbox.settle();
    // Another pass later (nothing was acknowledged): nothing may go out again.
    connection.rescan();
    await mailbox.settle();
    connection.close(1000, 'done');
    expect(sent.map(Number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('a notice for an envelope that committed below a page in flight is not skipped', async () => {
    const { mailbox, sent, connection } = harness(100, 5);
    for (const id of [1, 2, 3, 5, 6]) mailbox.pending.add(id);
    connection.fetchMore();
    await new Promise((r) => setImmediate(r));
    // Envelope 4 commits (another node) after this page's snapshot…
    mailbox.calls.shift()!.resolve(); // 1,2,3,5,6
    mailbox.pending.add(4);
    // …and its notice arrives while the next page (after 6) is in flight.
    connection.wake(['7']);
    mailbox.pending.add(7);
    await new Promise((r) => setImmediate(r));
    connection.wake(['4']);
    await mailbox.settle();
    connection.close(1000, 'done');
    expect([...sent].map(Number).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(sent).size).toBe(sent.length);
  });

  it('never holds more than its window, whatever the notices say', async () => {
    const { mailbox, sent, connection } = harness(10, 4);
    for (let id = 1; id <= 30; id++) mailbox.pending.add(id);
    connection.fetchMore();
    for (let i = 0; i < 5; i++) {
      connection.wake([String(30 - i)]);
      connection.rescan();
      await mailbox.settle();
    }
    connection.close(1000, 'done');
    expect(sent.length).toBe(10);
    expect(new Set(sent).size).toBe(10);
  });
});
