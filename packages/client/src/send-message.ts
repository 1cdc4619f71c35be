/**
 * Sending one text message into a conversation. The ratcheted group state, the
 * outbox record with the ciphertext, the local history entry (and, for a
 * business message, its commitment and opening) are written in one batch
 * before the ciphertext leaves the device: a restart never reuses a key, and
 * an interrupted send is resubmitted with the same idempotency key.
 */
import { encodeContent, newMessageId, randomBytes, toBase64, toBase64Url } from '@parley/core';
import { encryptApplication } from '@parley/core/mls';
import type { CommittedMessage } from './audit-sender.js';
import type { ConversationRegistry } from './conversations.js';
import type { SendOptions, SendResult } from './device-options.js';
import type { KeyStore } from './key-store.js';
import type { Membership } from './membership.js';
import type { MlsSelf } from './mls-self.js';
import type { Outbox } from './outbox.js';
import { RECORDS, putJson, timeSortKey, type AuditedMessageV1, type OutboxRecordV1 } from './records.js';

/** @internal What sending needs from its device. */
export interface SendContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  readonly conversations: ConversationRegistry;
  readonly outbox: Outbox;
  readonly membership: Pick<Membership, 'dropUntrustedMembers'>;
  now(): Date;
  /** Signs the audit commitment of a business message (`audit-sender.ts`). */
  signCommitment(message: CommittedMessage): AuditedMessageV1;
}

/** @internal Encrypts, persists and delivers one text message (`Device.send`). */
export async function sendMessage(ctx: SendContext, conversationId: string, text: string, options: SendOptions = {}): Promise<SendResult> {
  const idempotencyKey = options.idempotencyKey ?? `m-${toBase64Url(randomBytes(12))}`;
  // The same key again: the earlier message, not a second one.
  const earlier = await ctx.outbox.pending(idempotencyKey);
  if (earlier) return ctx.outbox.deliver(earlier);
  await ctx.membership.dropUntrustedMembers(conversationId);
  const record = await ctx.conversations.runActive(conversationId, async (state) => {
    const id = state.id;
    const messageId = newMessageId();
    const now = ctx.now();
    const messageClass = options.class ?? 'chat';
    const audited = options.audit
      ? ctx.signCommitment({
          messageId,
          conversationId: id,
          recipient: options.audit.recipient,
          class: messageClass,
          text,
          createdAt: now,
        })
      : undefined;
    const content = encodeContent({
      v: 1,
      id: messageId,
      type: 'text',
      text,
      class: messageClass,
      sentAt: now.toISOString(),
      ...(audited ? { audit: { commitment: audited.commitment, signature: audited.signature, opening: audited.opening } } : {}),
    });
    const epoch = state.group.epoch.toString();
    const enc = await encryptApplication(ctx.mls.suite, state.group, content);
    const outbox: OutboxRecordV1 = {
      v: 1,
      request: {
        idempotencyKey,
        conversationId: id,
        message: toBase64(enc.message),
        ...(audited ? { commitment: { body: audited.commitment, signature: audited.signature } } : {}),
      },
      messageId,
      epoch,
    };
    // Persist the ratchet before the ciphertext leaves: a restart never reuses a key.
    try {
      await ctx.store.write([
        ...state.stateOps(enc.group),
        ctx.outbox.putOp(outbox),
        putJson(RECORDS.message(id, timeSortKey(now, messageId)), {
          v: 1,
          direction: 'out',
          messageId,
          text,
          class: messageClass,
          sentAt: now.toISOString(),
        }),
        ...(audited ? [putJson(RECORDS.audited(messageId), audited)] : []),
      ]);
    } catch (error) {
      // Encrypting zeroed the ratchet secret it used in the in-memory group: never encrypt from it again.
      await state.restore(ctx.store, ctx.mls.authenticate);
      throw error;
    }
    state.adopt(enc.group);
    return outbox;
  });
  return ctx.outbox.deliver(record);
}
