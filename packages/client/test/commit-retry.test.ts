/**
 * MLS commits without a server: a commit that lost the race for its epoch
 * (`epoch_conflict`) is planned again after catching up, and a commit
 * interrupted before the server answered is recovered from its pending record.
 */
import { describe, expect, it } from 'vitest';
import { fromBase64 } from '@parley/core';
import { processIncoming } from '@parley/core/mls';
import { ApiError, TransportError } from '../src/errors.js';
import type { DeviceEvent } from '../src/events.js';
import type { PendingCommitV1 } from '../src/records.js';
import { RECORDS, getJson } from '../src/records.js';
import { rig, soloConversation, suite, twoMembers, type Rig } from './unit-fixture.js';

const membershipChanges = (r: Rig) => r.events.filter((e): e is Extract<DeviceEvent, { type: 'membership-changed' }> => e.type === 'membership-changed');

/** What the receiver does with a commit from the mailbox, reduced to the essentials. */
async function apply(r: Rig, id: string, commit: Uint8Array): Promise<void> {
  const state = r.conversations.require(id);
  const result = await processIncoming(await suite(), state.group, commit);
  if (result.kind !== 'commit') throw new Error(`expected a commit, got ${result.kind}`);
  await r.store.write(state.stateOps(result.group));
  state.adopt(result.group);
}

describe('commit retry on epoch_conflict', () => {
  it('catches up on the commit that won, plans again at the new epoch, and commits', async () => {
    const inbox: Uint8Array[] = [];
    const r = await rig({ catchUp: async (rr) => void (await Promise.all(inbox.splice(0).map((c) => apply(rr, id, c)))) });
    const { id, other, otherCommits } = await twoMembers(r);
    expect(r.conversations.require(id).group.epoch).toBe(1n);
    inbox.push(await otherCommits());

    const plannedAt: bigint[] = [];
    await r.committer.commit(id, async (state) => {
      plannedAt.push(state.group.epoch);
      return {};
    });
    expect(plannedAt).toEqual([1n, 2n]);
    expect(r.catchUps).toBe(1);
    expect(r.conversations.require(id).group.epoch).toBe(3n);
    expect(r.api.epochs.get(id)).toBe(3n);
    expect(await r.store.get(RECORDS.pendingCommit(id))).toBeUndefined();
    expect(membershipChanges(r).at(-1)).toMatchObject({ conversationId: id, epoch: '3', by: r.self.member });
    // The other member can follow: the commit that was accepted is the one the device adopted.
    const accepted = fromBase64(r.api.requests.at(-1)!.message);
    expect((await processIncoming(await suite(), other(), accepted)).kind).toBe('commit');
  });

  it('gives up after four catch-ups that do not help, leaving the state and no pending commit', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    r.api.epochs.set(conversation.id, 7n); // the server is ahead, and catching up never brings the device there
    let plans = 0;
    await expect(
      r.committer.commit(conversation.id, async () => {
        plans++;
        return {};
      }),
    ).rejects.toMatchObject({ code: 'epoch_conflict', status: 409 });
    expect(plans).toBe(5);
    expect(r.catchUps).toBe(4);
    expect(r.conversations.require(conversation.id).group.epoch).toBe(0n);
    expect(await r.store.get(RECORDS.pendingCommit(conversation.id))).toBeUndefined();
    expect(membershipChanges(r)).toHaveLength(0);
  });

  it('does not retry other refusals, and commits nothing when the plan has nothing to do', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    r.api.failures.push(new ApiError(403, 'not_a_member', 'refused'));
    await expect(r.committer.commit(conversation.id, async () => ({}))).rejects.toMatchObject({ code: 'not_a_member' });
    expect(r.catchUps).toBe(0);
    expect(r.api.requests).toHaveLength(1);
    await r.committer.commit(conversation.id, async () => undefined);
    expect(r.api.requests).toHaveLength(1);
    expect(r.conversations.require(conversation.id).group.epoch).toBe(0n);
  });
});

describe('pending-commit recovery', () => {
  it('keeps a commit the server could not take, and after a restart resubmits and adopts it', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    r.api.failures.push(new TransportError('offline'), new TransportError('offline'), new TransportError('offline'));
    await expect(r.committer.commit(conversation.id, async () => ({}))).rejects.toBeInstanceOf(TransportError);
    const pending = await getJson<PendingCommitV1>(r.store, RECORDS.pendingCommit(conversation.id));
    expect(pending?.request.members).toEqual([r.self.member.deviceId]);
    expect(r.conversations.require(conversation.id).group.epoch).toBe(0n);

    // Restart over the same store.
    const again = await rig({ store: r.store, api: r.api, self: r.self });
    expect(again.conversations.require(conversation.id).group.epoch).toBe(0n);
    await again.committer.recoverPending();
    expect(r.api.requests.at(-1)).toEqual(pending!.request);
    expect(again.conversations.require(conversation.id).group.epoch).toBe(1n);
    expect(r.api.epochs.get(conversation.id)).toBe(1n);
    expect(await r.store.get(RECORDS.pendingCommit(conversation.id))).toBeUndefined();
    expect(again.released).toEqual([conversation.id]);
    expect(membershipChanges(again)).toMatchObject([{ conversationId: conversation.id, epoch: '1', added: [], removed: [] }]);

    // Persisted: a second restart sees the new epoch and nothing pending.
    const third = await rig({ store: r.store, api: r.api, self: r.self });
    expect(third.conversations.require(conversation.id).group.epoch).toBe(1n);
    await third.committer.recoverPending();
    expect(r.api.requests.at(-1)).toEqual(pending!.request);
  });

  it('drops a pending commit the server refuses, keeping the old epoch; keeps it while the server is unreachable', async () => {
    const r = await rig();
    const conversation = await soloConversation(r);
    r.api.failures.push(new TransportError('offline'), new TransportError('offline'), new TransportError('offline'));
    await expect(r.committer.commit(conversation.id, async () => ({}))).rejects.toBeInstanceOf(TransportError);

    r.api.failures.push(new TransportError('offline'), new TransportError('offline'), new TransportError('offline'));
    await r.committer.recoverPending();
    expect(await r.store.get(RECORDS.pendingCommit(conversation.id))).toBeDefined();

    r.api.epochs.set(conversation.id, 5n); // someone else moved the group on meanwhile
    await r.committer.recoverPending();
    expect(await r.store.get(RECORDS.pendingCommit(conversation.id))).toBeUndefined();
    expect(r.conversations.require(conversation.id).group.epoch).toBe(0n);
    expect(membershipChanges(r)).toHaveLength(0);
  });
});
