/**
 * A submission whose first attempt committed but never announced (the process failed between
 * its commit and its notices, and the sender retried with the same idempotency key): the
 * repeat is answered as a duplicate AND the recipients' open sockets are told to read their
 * mailboxes, so the message arrives now instead of at the next safety-net poll (≥ 15 s).
 * The "committed, never announced" state is made by writing the envelope straight into the
 * store with the relay's own append statement, the way the failed attempt left it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { toBase64 } from '@parley/core';
import { encryptApplication } from '@parley/core/mls';
import { api, createBusiness, createRawGroup, registerRawDevice, startTestServer, suite, type TestServer } from '@parley/test-kit/server';
import { appendEnvelopes } from '../src/repos/mailbox.js';

let t: TestServer;
beforeAll(async () => {
  // The safety-net poll is far away: only a notice can deliver within the test's wait.
  t = await startTestServer({ limits: { mailboxPollIntervalMs: 600_000 } });
});
afterAll(async () => t?.stop());

/** A device socket that collects delivered envelope ids and acknowledges them. */
async function receiver(token: string): Promise<{ ids: Set<string>; close(): void }> {
  const ws = new WebSocket(t.url.replace('http', 'ws') + '/v1/ws');
  const ids = new Set<string>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string; frames?: { type: string; envelopes?: { id: string }[] }[]; envelopes?: { id: string }[] };
    for (const f of frame.type === 'batch' ? frame.frames! : [frame]) {
      if (f.type === 'ready') ready();
      if (f.type !== 'deliver') continue;
      for (const e of f.envelopes!) ids.add(e.id);
      ws.send(JSON.stringify({ type: 'ack', ids: f.envelopes!.map((e) => e.id) }));
    }
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify({ type: 'auth', token }));
  await isReady;
  return { ids, close: () => ws.close() };
}

const until = async (check: () => boolean, ms: number): Promise<boolean> => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
};

describe('a repeated submission whose first attempt was never announced', () => {
  it('is answered as a duplicate and reaches the connected recipient without waiting for the poll', async () => {
    const bank = await createBusiness(t.url);
    const sender = await registerRawDevice(t.url, bank, 'sender', { kind: 'sender' });
    const phone = await registerRawDevice(t.url, bank, 'ana');
    const { group } = await createRawGroup(t.url, sender, [phone]);
    const socket = await receiver(phone.token);
    // The Welcome arrives first (paged at connect).
    expect(await until(() => socket.ids.size === 1, 5_000)).toBe(true);

    const enc = await encryptApplication(await suite(), group, new TextEncoder().encode('your code is in the app'));
    const message = toBase64(enc.message);
    // The first attempt: committed, no notice.
    const stored = await appendEnvelopes(t.server.db, [
      { senderDeviceId: sender.deviceId, idempotencyKey: 'k-1', groupId: group.conversationId, kind: 'application', epoch: group.epoch, payload: message, payloadBytes: enc.message.length, expiresAt: new Date(Date.now() + 3_600_000) },
    ]);
    const [first] = [...stored.values()];
    expect(first?.recipients).toEqual([phone.deviceId]);
    await new Promise((r) => setTimeout(r, 300));
    expect(socket.ids.has(first!.id)).toBe(false);

    // The sender's retry.
    const repeat = await api(t.url, 'POST', '/v1/messages', { idempotencyKey: 'k-1', conversationId: group.conversationId, message }, sender.token);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ id: first!.id, duplicate: true });
    expect(await until(() => socket.ids.has(first!.id), 5_000)).toBe(true);
    socket.close();
  });
});
