/**
 * The receive pipeline of a device: envelopes from the WebSocket, from `sync()`
 * or handed in by the host are processed one at a time. Each one's effect
 * (group state, duplicate window, history) is persisted in one atomic write
 * before the envelope is acknowledged; so a crash means redelivery, and
 * redelivery is recognised by envelope id and by content id.
 *
 * Envelopes that cannot be processed yet (a message of a future epoch, or of a
 * conversation whose Welcome has not arrived) are held. If what they wait for
 * does not come, the conversation is resynced from the latest GroupInfo.
 */
import {
  equalBytes,
  fromBase64,
  isParleyError,
  randomBytes,
  toBase64,
  toBase64Url,
  type Envelope,
  type SubmitRequest,
  type SubmitResponse,
} from '@parley/core';
import { joinFromWelcome, processIncoming, rejoinExternally, welcomeSuite } from '@parley/core/mls';
import type { ApiClient } from './api-client.js';
import type { IdentityKeyLookup } from './audit-recipient.js';
import { ConversationState } from './conversation-state.js';
import type { ConversationRegistry } from './conversations.js';
import { isRetryable } from './errors.js';
import type { EventHub } from './event-hub.js';
import type { DeviceEvent, UndecryptableReason } from './events.js';
import type { KeyStore, KeyStoreOp } from './key-store.js';
import type { MlsSelf } from './mls-self.js';
import type { ReceiptOutbox } from './receipts.js';
import { RECORDS, getJson, putJson, type KeyPackageRecordV1 } from './records.js';
import { suiteOf } from './mls-self.js';
import type { ContentPolicyGate } from './content-policy-gate.js';
import { receiveApplication } from './receive-application.js';

/** @internal What the receiver needs from its device. */
export interface ReceiverContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  /** The conversations and their locks: the receiver changes a conversation only under its lock. */
  readonly conversations: ConversationRegistry;
  readonly api: Pick<ApiClient, 'ack' | 'groupInfo'>;
  readonly hub: EventHub<DeviceEvent>;
  readonly receipts: ReceiptOutbox;
  readonly recoveryDelayMs: number;
  now(): Date;
  /** Submits a resync commit (the device's outbox path). */
  submit(request: SubmitRequest): Promise<SubmitResponse>;
  /** Sends acks over the WebSocket; false when it is not connected. */
  ackOverSocket(ids: readonly string[]): boolean;
  /** A device's identity key from the verified key log. */
  readonly identityKeyOf: IdentityKeyLookup;
  /** This device's content policies (DLP), run after decryption. */
  readonly contentPolicy: Pick<ContentPolicyGate, 'onReceive'>;
}

type Outcome = 'ack' | 'hold' | 'retry';

const ACK_FLUSH_MS = 5;
const ACK_BATCH = 500;

/** @internal The device's receive pipeline; not part of the SDK's API. */
export class Receiver {
  private readonly queue: Envelope[] = [];
  /** Ids queued, being processed or held: redeliveries of these are ignored. */
  private readonly queued = new Set<string>();
  private processing: Promise<void> | undefined;
  private readonly held = new Map<string, Envelope[]>();
  private readonly recoveryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private pendingAcks: string[] = [];
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private drainWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly ctx: ReceiverContext) {}

  enqueue(envelopes: readonly Envelope[]): void {
    for (const e of envelopes) {
      if (this.queued.has(e.id)) continue;
      this.queued.add(e.id);
      this.queue.push(e);
    }
    if (this.queue.length === 0 && !this.processing) {
      this.drainWaiters.splice(0).forEach((w) => w());
      return;
    }
    this.processing ??= this.processQueue().finally(() => {
      this.processing = undefined;
      if (this.queue.length > 0) this.enqueue([]);
      else this.drainWaiters.splice(0).forEach((w) => w());
    });
  }

  /** Resolves when every queued envelope has been processed (held ones excepted). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.processing) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    for (const t of this.recoveryTimers.values()) clearTimeout(t);
    this.recoveryTimers.clear();
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  private async processQueue(): Promise<void> {
    while (this.queue.length > 0) {
      const envelope = this.queue.shift()!;
      let outcome: Outcome;
      try {
        outcome = await this.handle(envelope);
      } catch {
        // Storage or network trouble: leave it unacknowledged; it comes again.
        outcome = 'retry';
      }
      if (outcome === 'hold') continue;
      this.queued.delete(envelope.id);
      if (outcome === 'ack') this.scheduleAck(envelope.id);
    }
  }

  private scheduleAck(id: string): void {
    this.pendingAcks.push(id);
    if (this.pendingAcks.length >= ACK_BATCH) void this.flushAcks();
    else this.ackTimer ??= setTimeout(() => void this.flushAcks(), ACK_FLUSH_MS);
  }

  /** Sends pending acks now (WebSocket when connected, else HTTP). */
  async flushAcks(): Promise<void> {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const ids = this.pendingAcks.splice(0);
    if (ids.length === 0 || this.ctx.ackOverSocket(ids)) return;
    for (let i = 0; i < ids.length; i += 1000) {
      try {
        await this.ctx.api.ack(ids.slice(i, i + 1000));
      } catch {
        // Not acknowledged: the envelopes come again and are recognised as seen.
      }
    }
  }

  private undecryptable(envelope: Envelope, reason: UndecryptableReason, code?: string): void {
    this.ctx.hub.emit({
      type: 'undecryptable',
      envelopeId: envelope.id,
      conversationId: envelope.conversationId,
      senderDeviceId: envelope.senderDeviceId,
      reason,
      ...(code ? { code } : {}),
    });
  }

  private async handle(envelope: Envelope): Promise<Outcome> {
    if (envelope.kind === 'welcome') return this.handleWelcome(envelope);
    const conversation = this.ctx.conversations.get(envelope.conversationId);
    if (!conversation) return this.hold(envelope);
    return this.ctx.conversations.run(envelope.conversationId, async () => {
      try {
        return await this.handleGroupMessage(conversation, envelope);
      } catch (error) {
        // Processing zeroed the secrets it consumed in the in-memory group; the envelope comes again.
        await conversation.restore(this.ctx.store, this.ctx.mls.authenticate);
        throw error;
      }
    });
  }

  private async handleWelcome(envelope: Envelope): Promise<Outcome> {
    // A redelivered Welcome we already joined from (its one-time KeyPackage is gone by now).
    if (this.ctx.conversations.get(envelope.conversationId)?.seen.has(`e:${envelope.id}`)) return 'ack';
    let joined;
    try {
      const welcome = fromBase64(envelope.payload);
      joined = await joinFromWelcome(
        suiteOf(this.ctx.mls, welcomeSuite(welcome)),
        welcome,
        this.ctx.mls.signatureKeys.privateKey,
        async (ref) => {
          const rec = await getJson<KeyPackageRecordV1>(this.ctx.store, RECORDS.keyPackage(ref));
          return rec ? { keyPackage: fromBase64(rec.keyPackage), privateKey: fromBase64(rec.privateKey) } : undefined;
        },
        this.ctx.mls.authenticate,
      );
    } catch (error) {
      if (isRetryable(error)) return 'retry';
      this.undecryptable(envelope, 'invalid-welcome', isParleyError(error) ? error.code : undefined);
      return 'ack';
    }
    const { group, keyPackageRef } = joined;
    const id = group.conversationId;
    if (id !== envelope.conversationId) {
      this.undecryptable(envelope, 'invalid-welcome', 'conversation_mismatch');
      return 'ack';
    }
    const joinedId = await this.ctx.conversations.run(id, async () => {
      // A re-added device replaces its old state of the same group.
      const conversation = ConversationState.fresh(group, this.ctx.now());
      const seen = conversation.seen.plan([`e:${envelope.id}`]);
      const ops: KeyStoreOp[] = [...conversation.stateOps(group), ...conversation.metaOps(), ...seen.ops];
      // A one-time KeyPackage is used once: forget its private key.
      const kp = await getJson<KeyPackageRecordV1>(this.ctx.store, RECORDS.keyPackage(keyPackageRef));
      if (kp && !kp.lastResort) ops.push({ op: 'delete', name: RECORDS.keyPackage(keyPackageRef) });
      await this.ctx.store.write(ops);
      conversation.adopt(group);
      seen.apply();
      this.ctx.conversations.add(conversation);
      return conversation.id;
    });
    this.ctx.hub.emit({ type: 'conversation-joined', conversationId: joinedId, members: group.members().map((m) => m.member), epoch: group.epoch.toString() });
    this.releaseHeld(id);
    // Added with a KeyPackage claimed before this device rotated its keys: re-key the new leaf at once (best effort; `connect` retries).
    const self = group.members().find((m) => m.member.deviceId === this.ctx.mls.member.deviceId);
    if (self && !equalBytes(self.signaturePublicKey, this.ctx.mls.signatureKeys.publicKey)) {
      await this.ctx.store.write([putJson(RECORDS.rekeyPending, { v: 1 })]);
      setTimeout(() => void this.rekey(joinedId).catch(() => {}), 0);
    }
    return 'ack';
  }

  private async handleGroupMessage(conversation: ConversationState, envelope: Envelope): Promise<Outcome> {
    const id = conversation.id;
    const envelopeKey = `e:${envelope.id}`;
    if (conversation.seen.has(envelopeKey)) return 'ack';
    if (!conversation.meta.active) {
      this.undecryptable(envelope, 'decrypt-failed', 'removed_from_conversation');
      return 'ack';
    }
    const remember = async (ops: KeyStoreOp[] = [], ids: string[] = []) => {
      const seen = conversation.seen.plan([envelopeKey, ...ids]);
      await this.ctx.store.write([...ops, ...seen.ops]);
      seen.apply();
    };
    let result;
    try {
      result = await processIncoming(suiteOf(this.ctx.mls, conversation.group.suite), conversation.group, fromBase64(envelope.payload));
    } catch (error) {
      if (isRetryable(error)) return 'retry';
      const code = isParleyError(error) ? error.code : undefined;
      if (envelope.kind === 'commit') {
        // A commit we cannot apply means we are out of step: resync from GroupInfo.
        this.undecryptable(envelope, 'rejected-commit', code);
        this.scheduleRecovery(id, 0);
      } else {
        this.undecryptable(envelope, code === 'mls_epoch_too_old' ? 'missed-epoch' : 'decrypt-failed', code);
      }
      await remember();
      return 'ack';
    }
    switch (result.kind) {
      case 'future-epoch':
        return this.hold(envelope);
      case 'stale':
        await remember();
        return 'ack';
      case 'proposal':
        await remember(conversation.stateOps(result.group));
        conversation.adopt(result.group);
        return 'ack';
      case 'commit': {
        const meta = result.selfRemoved ? { ...conversation.meta, active: false } : conversation.meta;
        await remember([...conversation.stateOps(result.group), ...conversation.metaOps(meta)]);
        conversation.adopt(result.group);
        conversation.meta = meta;
        const epoch = result.group.epoch.toString();
        if (result.selfRemoved) {
          this.ctx.hub.emit({ type: 'removed-from-conversation', conversationId: id, epoch });
        } else {
          // The same device leaving with one key and joining with another re-keyed (a key rotation): not a membership change.
          const device = (m: { member: { deviceId: string } }) => m.member.deviceId;
          const rekeyed = result.added.filter((a) => result.removed.some((r) => device(r) === device(a)));
          const added = result.added.filter((a) => !rekeyed.some((k) => device(k) === device(a)));
          const removed = result.removed.filter((r) => !rekeyed.some((k) => device(k) === device(r)));
          for (const m of rekeyed) this.ctx.hub.emit({ type: 'member-rekeyed', conversationId: id, member: m.member, epoch });
          if (added.length > 0 || removed.length > 0 || rekeyed.length === 0) {
            this.ctx.hub.emit({ type: 'membership-changed', conversationId: id, added: added.map((m) => m.member), removed: removed.map((m) => m.member), by: result.committer?.member, epoch });
          }
        }
        this.releaseHeld(id);
        return 'ack';
      }
      case 'application':
        return receiveApplication(this.ctx, conversation, envelope, result, remember, (reason, code) => this.undecryptable(envelope, reason, code));
    }
  }

  /** Keeps an envelope that cannot be processed yet; resync if its commit does not come. */
  private hold(envelope: Envelope): 'hold' {
    const list = this.held.get(envelope.conversationId) ?? [];
    if (!list.some((e) => e.id === envelope.id)) list.push(envelope);
    this.held.set(envelope.conversationId, list);
    this.scheduleRecovery(envelope.conversationId, this.ctx.recoveryDelayMs);
    return 'hold';
  }

  /** Re-queues what was held for a conversation (its state just moved). */
  releaseHeld(conversationId: string): void {
    const list = this.held.get(conversationId);
    if (!list || list.length === 0) return;
    this.held.delete(conversationId);
    const timer = this.recoveryTimers.get(conversationId);
    if (timer) clearTimeout(timer);
    this.recoveryTimers.delete(conversationId);
    for (const e of list) this.queued.delete(e.id);
    this.enqueue(list);
  }

  private scheduleRecovery(conversationId: string, delayMs: number): void {
    if (this.closed || this.recoveryTimers.has(conversationId)) return;
    const timer = setTimeout(() => {
      this.recoveryTimers.delete(conversationId);
      void this.recover(conversationId).catch(() => this.scheduleRecovery(conversationId, 5000));
    }, delayMs);
    this.recoveryTimers.set(conversationId, timer);
  }

  /**
   * For a conversation that stopped making sense: held messages of an unknown
   * conversation are reported; a member that missed commits rejoins by external
   * commit from the latest GroupInfo (RFC 9420 §12.4.3.2), and whatever it can no
   * longer read is then reported when the held envelopes are retried.
   */
  private async recover(conversationId: string): Promise<void> {
    const conversation = this.ctx.conversations.get(conversationId);
    if (!conversation) {
      const list = this.held.get(conversationId) ?? [];
      this.held.delete(conversationId);
      for (const e of list) {
        this.undecryptable(e, 'unknown-conversation');
        this.queued.delete(e.id);
        this.scheduleAck(e.id);
      }
      return;
    }
    await this.ctx.conversations.run(conversationId, async () => {
      if (!conversation.meta.active) return;
      const info = await this.ctx.api.groupInfo(conversationId);
      if (BigInt(info.epoch) <= conversation.group.epoch) return; // the commit is merely late
      await this.rejoin(conversation, info.groupInfo);
    });
    this.releaseHeld(conversationId);
  }

  /**
   * After a key rotation: rejoins the conversation by external commit with this device's new
   * leaf (new credential key; RFC 9420 §12.4.3.2), unless its leaf already carries the current
   * key. Returns false when there was nothing to do.
   */
  async rekey(conversationId: string): Promise<boolean> {
    const conversation = this.ctx.conversations.get(conversationId);
    if (!conversation) return false;
    let done = false;
    await this.ctx.conversations.run(conversationId, async () => {
      if (!conversation.meta.active) return;
      const self = conversation.group.members().find((m) => m.member.deviceId === this.ctx.mls.member.deviceId);
      if (self && equalBytes(self.signaturePublicKey, this.ctx.mls.signatureKeys.publicKey)) return;
      await this.rejoin(conversation, (await this.ctx.api.groupInfo(conversationId)).groupInfo);
      done = true;
    });
    this.releaseHeld(conversationId);
    return done;
  }

  /** Rejoins from a GroupInfo (base64) with this device's current keys, submits the external commit, adopts the group. */
  private async rejoin(conversation: ConversationState, groupInfo: string): Promise<void> {
    const missedFrom = conversation.group.epoch.toString();
    const { member, signatureKeys, authenticate } = this.ctx.mls;
    const rejoin = await rejoinExternally(suiteOf(this.ctx.mls, conversation.group.suite), fromBase64(groupInfo), member, signatureKeys, authenticate);
    await this.ctx.submit({
      idempotencyKey: `r-${toBase64Url(randomBytes(12))}`,
      conversationId: conversation.id,
      message: toBase64(rejoin.commit),
      members: rejoin.group.members().map((m) => m.member.deviceId),
      groupInfo: toBase64(rejoin.groupInfo),
    });
    await this.ctx.store.write(conversation.stateOps(rejoin.group));
    conversation.adopt(rejoin.group);
    const epoch = rejoin.group.epoch.toString();
    if (BigInt(missedFrom) + 1n < rejoin.group.epoch) this.ctx.hub.emit({ type: 'resynced', conversationId: conversation.id, epoch, missedFrom });
  }
}
