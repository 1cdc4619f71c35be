/**
 * The outbox without a server: submission retries with the same idempotency key,
 * and a message interrupted by a failure or a restart is resubmitted, not re-encrypted.
 */
import { describe, expect, it } from 'vitest';
import { decodeContent, fromBase64, localEd25519Signer, randomBytes, toBase64Url } from '@parley/core';
import { processIncoming } from '@parley/core/mls';
import { signCommitment } from '../src/audit-sender.js';
import { ApiError, TransportError } from '../src/errors.js';
import { MemoryKeyStore } from '../src/key-store.memory.js';
import { Outbox } from '../src/outbox.js';
import type { OutboxRecordV1 } from '../src/records.js';
import { sendMessage, type SendContext } from '../src/send-message.js';
import { FakeApi, FakeChannel, FlakyStore, rig, soloConversation, suite, twoMembers, type Rig } from './unit-fixture.js';

const conversationId = toBase64Url(randomBytes(32));
const record = (key: string): OutboxRecordV1 => ({
  v: 1,
  request: { idempotencyKey: key, conversationId, message: 'AAAA' },
  messageId: `msg-${key}`,
  epoch: '3',
});
const offline = () => new TransportError('offline');

function setup(options: { retries?: number } = {}) {
  const store = new MemoryKeyStore();
  const api = new FakeApi();
  const waits: number[] = [];
  const outbox = new Outbox({ store, api, channel: () => undefined, retry: { retries: options.retries ?? 6, sleep: async (ms) => void waits.push(ms) } });
  return { store, api, waits, outbox };
}

describe('Outbox', () => {
  it('retries transient failures with the same idempotency key, then forgets the message', async () => {
    const { store, api, waits, outbox } = setup();
    const r = record('m-1');
    await store.write([outbox.putOp(r)]);
    api.failures.push(offline(), new ApiError(503, 'storage_unavailable', 'try later'));
    const result = await outbox.deliver(r);
    expect(api.requests.map((q) => q.idempotencyKey)).toEqual(['m-1', 'm-1', 'm-1']);
    expect(waits).toHaveLength(2);
    expect(result).toMatchObject({ conversationId, messageId: 'msg-m-1', envelopeId: '1', duplicate: false, epoch: '3' });
    expect(await outbox.pending('m-1')).toBeUndefined();
  });

  it('keeps a message the server could not take; after a restart, flush resubmits it once with the same key', async () => {
    const { store, api, outbox } = setup({ retries: 2 });
    const r = record('m-2');
    await store.write([outbox.putOp(r)]);
    api.failures.push(offline(), offline(), offline());
    await expect(outbox.deliver(r)).rejects.toBeInstanceOf(TransportError);
    expect(api.requests).toHaveLength(3);
    expect(await outbox.pending('m-2')).toEqual(r);

    const restarted = new Outbox({ store, api, channel: () => undefined });
    await restarted.flush();
    expect(api.requests).toHaveLength(4);
    expect(api.requests[3]).toEqual(r.request);
    expect(await store.list('outbox/')).toEqual([]);
    await restarted.flush();
    expect(api.requests).toHaveLength(4);
  });

  it('does not let one refused message hold back the others in a flush', async () => {
    const { store, api, outbox } = setup();
    await store.write([outbox.putOp(record('m-a')), outbox.putOp(record('m-b'))]);
    api.failures.push(new ApiError(403, 'not_a_member', 'refused'));
    await outbox.flush();
    expect(api.requests.map((q) => q.idempotencyKey)).toEqual(['m-a', 'm-b']);
    expect(await outbox.pending('m-b')).toBeUndefined();
  });

  it("waits at least as long as the server's retryAfterMs hint", async () => {
    const { api, waits, outbox } = setup();
    api.failures.push(new ApiError(429, 'rate_limited', 'slow down', { retryAfterMs: 7000 }));
    await outbox.submit(record('m-3').request);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(7000);
  });

  it('does not retry a refusal, and stops retrying once closed', async () => {
    const { api, outbox } = setup();
    api.failures.push(new ApiError(403, 'not_a_member', 'refused'));
    await expect(outbox.submit(record('m-4').request)).rejects.toMatchObject({ code: 'not_a_member' });
    expect(api.requests).toHaveLength(1);
    outbox.close();
    api.failures.push(offline());
    await expect(outbox.submit(record('m-5').request)).rejects.toBeInstanceOf(TransportError);
    expect(api.requests).toHaveLength(2);
  });

  it('submits over the WebSocket when online and falls back to HTTP when the socket fails', async () => {
    const store = new MemoryKeyStore();
    const api = new FakeApi();
    let socketFails = true;
    const channel = new FakeChannel((request) => (socketFails ? Promise.reject(offline()) : api.submit(request)));
    const outbox = new Outbox({ store, api, channel: () => channel, retry: { sleep: async () => {} } });
    await outbox.submit(record('m-6').request);
    expect(channel.requests).toHaveLength(1);
    expect(api.requests.map((q) => q.idempotencyKey)).toEqual(['m-6']);
    socketFails = false;
    await outbox.submit(record('m-7').request);
    expect(channel.requests).toHaveLength(2);
    // A refusal over the socket is an answer: no second try over HTTP.
    const refusing = new FakeChannel(() => Promise.reject(new ApiError(403, 'not_a_member', 'refused')));
    const strict = new Outbox({ store, api, channel: () => refusing });
    await expect(strict.submit(record('m-8').request)).rejects.toMatchObject({ code: 'not_a_member' });
    expect(api.requests.map((q) => q.idempotencyKey)).toEqual(['m-6', 'm-7']);
  });
});

describe('sending through the outbox', () => {
  const sendContext = (r: Rig): SendContext => ({
    store: r.store,
    mls: r.self,
    conversations: r.conversations,
    outbox: r.outbox,
    membership: { dropUntrustedMembers: async () => {} },
    now: () => new Date(),
    signCommitment: (message) => signCommitment(r.self.member, localEd25519Signer(randomBytes(32)), message),
  });

  it('persists the ciphertext before it leaves, and resubmits that same ciphertext after a failure and a restart', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    r.api.failures.push(offline(), offline(), offline());
    await expect(sendMessage(sendContext(r), conversation.id, 'hello', { idempotencyKey: 'm-restart' })).rejects.toBeInstanceOf(TransportError);
    const stored = await r.outbox.pending('m-restart');
    expect(stored?.request.message).toBe(r.api.requests[0]!.message);
    expect(await r.store.list(`conv/${conversation.id}/msg/`)).toHaveLength(1);

    // Restart over the same store: the same key delivers the stored message, it is not encrypted again.
    const again = await rig({ store: r.store, api: r.api, self: r.self });
    const result = await sendMessage(sendContext(again), conversation.id, 'hello', { idempotencyKey: 'm-restart' });
    expect(result).toMatchObject({ conversationId: conversation.id, messageId: stored!.messageId, duplicate: false });
    expect(r.api.requests.at(-1)).toEqual(stored!.request);
    expect(await again.outbox.pending('m-restart')).toBeUndefined();
    expect(await r.store.list(`conv/${conversation.id}/msg/`)).toHaveLength(1);

    // A later send is a new message with a new ciphertext from the persisted ratchet.
    const next = await sendMessage(sendContext(again), conversation.id, 'again', { idempotencyKey: 'm-next' });
    expect(next.messageId).not.toBe(stored!.messageId);
    expect(r.api.requests.at(-1)!.message).not.toBe(stored!.request.message);
  });

  it('never encrypts from a ratchet a failed write left spent: the next message is readable', async () => {
    const store = new FlakyStore();
    const r = await rig({ store });
    const { id, other } = await twoMembers(r);
    store.failWrites = 1;
    await expect(sendMessage(sendContext(r), id, 'lost')).rejects.toMatchObject({ code: 'key_store_io_error' });
    expect(r.api.requests.filter((q) => q.members === undefined)).toHaveLength(0);

    await sendMessage(sendContext(r), id, 'second');
    const result = await processIncoming(await suite(), other(), fromBase64(r.api.requests.at(-1)!.message));
    expect(result.kind).toBe('application');
    expect(result.kind === 'application' && decodeContent(result.plaintext).text).toBe('second');
  });

  it('refuses to send into a conversation this device was removed from', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    conversation.meta = { ...conversation.meta, active: false };
    await expect(sendMessage(sendContext(r), conversation.id, 'hello')).rejects.toMatchObject({ code: 'not_a_member' });
    await expect(sendMessage(sendContext(r), toBase64Url(randomBytes(32)), 'hello')).rejects.toMatchObject({ code: 'unknown_conversation' });
    expect(r.api.requests).toHaveLength(0);
  });
});
