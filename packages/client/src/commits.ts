/**
 * This device's MLS commits (RFC 9420 §12.4). One commit at a time per
 * conversation, under its lock:
 *
 * 1. the commit and the group state it leads to are persisted as a pending
 *    commit;
 * 2. the commit is submitted (with its Welcome and GroupInfo); the delivery
 *    service accepts it only for the group's current epoch;
 * 3. once accepted, the new state is adopted and the pending record dropped.
 *
 * A commit interrupted after step 1 is resubmitted by `recoverPending` (the
 * server recognises its idempotency key). When another member committed first
 * (`epoch_conflict`), the device catches up on that commit and plans again.
 */
import { fromBase64, randomBytes, toBase64, toBase64Url, type ConversationId, type SubmitRequest, type SubmitResponse } from '@parley/core';
import { commitChanges, decodeGroup, encodeGroup, type MemberRef, type MlsGroup } from '@parley/core/mls';
import type { ConversationState } from './conversation-state.js';
import type { ConversationRegistry } from './conversations.js';
import { ApiError, isRetryable } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent } from './events.js';
import type { KeyStore } from './key-store.js';
import type { MlsSelf } from './mls-self.js';
import { RECORDS, getJson, putJson, type PendingCommitV1 } from './records.js';
import { suiteOf } from './mls-self.js';

/** Proposals of one commit: KeyPackages to add, leaf indexes to remove (both may be empty: an update). */
export interface CommitChanges {
  readonly add?: Uint8Array[];
  readonly remove?: number[];
}

/** Decides a commit from the conversation's current state; `undefined`: nothing to commit. */
export type CommitPlan = (state: ConversationState) => Promise<CommitChanges | undefined>;

/** @internal What the committer needs from its device. */
export interface CommitterContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  readonly conversations: ConversationRegistry;
  readonly hub: EventHub<DeviceEvent>;
  submit(request: SubmitRequest): Promise<SubmitResponse>;
  /** Processes the mailbox, so that a commit which won the race is applied first. */
  catchUp(): Promise<void>;
  /** The conversation's epoch moved: envelopes held for it may be processed now. */
  onAdopted(conversationId: ConversationId): void;
}

/** Attempts after the first when another member keeps committing first. */
const CONFLICT_RETRIES = 4;

/** @internal The device's commit path; not part of the SDK's API. */
export class Committer {
  constructor(private readonly ctx: CommitterContext) {}

  /**
   * Plans and makes one commit under the conversation's lock (`not_a_member`
   * if this device was removed). On `epoch_conflict`, catches up and plans
   * again, at most `CONFLICT_RETRIES` more times.
   */
  async commit(conversationId: string, plan: CommitPlan): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.ctx.conversations.runActive(conversationId, async (state) => {
          const changes = await plan(state);
          if (changes) await this.commitLocked(state, changes);
        });
        return;
      } catch (error) {
        // Another member committed first: catch up on its commit, then plan again.
        if (error instanceof ApiError && error.code === 'epoch_conflict' && attempt < CONFLICT_RETRIES) {
          await this.ctx.catchUp();
          continue;
        }
        throw error;
      }
    }
  }

  /** Creates, persists as pending, submits and adopts one commit. Caller holds the lock. */
  async commitLocked(state: ConversationState, changes: CommitChanges): Promise<void> {
    const id = state.id;
    const out = await commitChanges(suiteOf(this.ctx.mls, state.group.suite), state.group, changes);
    const request: SubmitRequest = {
      idempotencyKey: `c-${toBase64Url(randomBytes(12))}`,
      conversationId: id,
      message: toBase64(out.commit),
      members: out.group.members().map((m) => m.member.deviceId),
      groupInfo: toBase64(out.groupInfo),
      ...(out.welcome ? { welcome: toBase64(out.welcome) } : {}),
    };
    const pending: PendingCommitV1 = { v: 1, request, state: toBase64(encodeGroup(out.group)) };
    try {
      await this.ctx.store.write([putJson(RECORDS.pendingCommit(id), pending)]);
      try {
        await this.ctx.submit(request);
      } catch (error) {
        // A transient failure keeps the pending commit for `recoverPending`.
        if (!isRetryable(error)) await this.ctx.store.write([{ op: 'delete', name: RECORDS.pendingCommit(id) }]);
        throw error;
      }
      await this.adopt(state, out.group);
    } catch (error) {
      // Creating the commit consumed this epoch's secrets in memory: take the epoch back
      // from the store, so that the commit which won the race can still be applied.
      await state.restore(this.ctx.store, this.ctx.mls.authenticate);
      throw error;
    }
  }

  /** Resubmits the commits an interruption left pending, and adopts those the server accepts. */
  async recoverPending(): Promise<void> {
    for (const state of this.ctx.conversations.all()) {
      const id = state.id;
      const pending = await getJson<PendingCommitV1>(this.ctx.store, RECORDS.pendingCommit(id));
      if (!pending) continue;
      await this.ctx.conversations.run(id, async () => {
        try {
          await this.ctx.submit(pending.request);
          await this.adopt(state, decodeGroup(fromBase64(pending.state), this.ctx.mls.authenticate));
        } catch (error) {
          if (!isRetryable(error)) await this.ctx.store.write([{ op: 'delete', name: RECORDS.pendingCommit(id) }]);
        }
      });
    }
  }

  /** Makes an accepted commit's group the conversation's state, and tells the app who came and went. */
  private async adopt(state: ConversationState, group: MlsGroup): Promise<void> {
    const id = state.id;
    const before = state.group.members().map((m) => m.member);
    await this.ctx.store.write([...state.stateOps(group), { op: 'delete', name: RECORDS.pendingCommit(id) }]);
    state.adopt(group);
    const after = group.members().map((m) => m.member);
    const key = (m: MemberRef) => `${m.identityId}/${m.deviceId}`;
    const beforeKeys = new Set(before.map(key));
    const afterKeys = new Set(after.map(key));
    this.ctx.hub.emit({
      type: 'membership-changed',
      conversationId: id,
      added: after.filter((m) => !beforeKeys.has(key(m))),
      removed: before.filter((m) => !afterKeys.has(key(m))),
      by: this.ctx.mls.member,
      epoch: group.epoch.toString(),
    });
    this.ctx.onAdopted(id);
  }
}
