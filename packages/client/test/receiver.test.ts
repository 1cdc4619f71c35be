/**
 * The receive pipeline without a server: an envelope whose effect could not be
 * persisted is not acknowledged, and is processed when it comes again.
 */
import { describe, expect, it } from 'vitest';
import { localEd25519Signer, randomBytes, toBase64, type Envelope } from '@parley/core';
import type { DeviceEvent } from '../src/events.js';
import { ReceiptOutbox } from '../src/receipts.js';
import { Receiver } from '../src/receiver.js';
import { FlakyStore, rig, twoMembers } from './unit-fixture.js';

const unused = async (): Promise<never> => {
  throw new Error('not used by this test');
};

describe('Receiver', () => {
  it('processes a message again after its write failed (the consumed ratchet secret is taken back from the store)', async () => {
    const store = new FlakyStore();
    const r = await rig({ store });
    const { id, otherMember, otherSends } = await twoMembers(r);
    const acked: string[] = [];
    const receiver = new Receiver({
      store,
      mls: r.self,
      conversations: r.conversations,
      api: { ack: unused, groupInfo: unused },
      hub: r.hub,
      receipts: new ReceiptOutbox({ postReceipt: unused }, store, localEd25519Signer(randomBytes(32)), r.self.member, () => {}),
      recoveryDelayMs: 60_000,
      now: () => new Date(),
      submit: unused,
      ackOverSocket: (ids) => (acked.push(...ids), true),
      identityKeyOf: async () => [],
      contentPolicy: { onReceive: async () => undefined },
    });
    const envelope: Envelope = {
      id: '42',
      conversationId: id,
      senderDeviceId: otherMember.deviceId,
      senderIdentityId: otherMember.identityId,
      kind: 'application',
      payload: toBase64(await otherSends('hello')),
      createdAt: new Date().toISOString(),
    };
    const received = () => r.events.filter((e): e is Extract<DeviceEvent, { type: 'message' | 'undecryptable' }> => e.type === 'message' || e.type === 'undecryptable');

    store.failWrites = 1;
    receiver.enqueue([envelope]);
    await receiver.idle();
    await receiver.flushAcks();
    expect(received()).toEqual([]);
    expect(acked).toEqual([]);

    receiver.enqueue([envelope]);
    await receiver.idle();
    await receiver.flushAcks();
    expect(received()).toMatchObject([{ type: 'message', text: 'hello', conversationId: id, sender: otherMember }]);
    expect(acked).toEqual(['42']);
    receiver.close();
  });
});
