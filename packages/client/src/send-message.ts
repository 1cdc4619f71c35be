/**
 * Sending one text message into a conversation. The ratcheted group state, the
 * outbox record with the ciphertext, the local history entry (and, for a
 * business message, its commitment and opening) are written in one batch
 * before the ciphertext leaves the device: a restart never reuses a key, and
 * an interrupted send is resubmitted with the same idempotency key.
 */
import { MESSAGE_ID_PATTERN, encodeContent, fromBase64, newMessageId, randomBytes, toBase64, toBase64Url, type AttachmentRef, type DlpOutcome } from '@parley/core';
import { commitmentHash } from '@parley/core/audit';
import { AttachmentRefSchema, MAX_ATTACHMENTS } from '@parley/core';
import { Compile } from '@parley/core/typebox';
import { encryptApplication } from '@parley/core/mls';
import type { CommittedMessage } from './audit-sender.js';
import { sealForEscrow } from './escrow-policy.js';
import type { ConversationRegistry } from './conversations.js';
import type { SendOptions, SendResult } from './device-options.js';
import { InvalidArgumentError } from './errors.js';
import type { KeyStore } from './key-store.js';
import type { Membership } from './membership.js';
import type { MlsSelf } from './mls-self.js';
import type { Outbox } from './outbox.js';
import { RECORDS, getJson, putJson, timeSortKey, type AuditedMessageV1, type OutboxRecordV1 } from './records.js';
import { suiteOf } from './mls-self.js';

const MESSAGE_ID = new RegExp(MESSAGE_ID_PATTERN);

/** @internal What sending needs from its device. */
export interface SendContext {
  readonly store: KeyStore;
  readonly mls: MlsSelf;
  readonly conversations: ConversationRegistry;
  readonly outbox: Outbox;
  readonly membership: Pick<Membership, 'dropUntrustedMembers'>;
  now(): Date;
  /** Signs the audit commitment of a business message (`audit-sender.ts`). */
  signCommitment(message: CommittedMessage): Promise<AuditedMessageV1>;
}

/** @internal Refuses a caller-chosen message id outside `MESSAGE_ID_PATTERN` (`InvalidArgumentError`). */
export function checkMessageId(messageId: string | undefined): void {
  if (messageId !== undefined && !MESSAGE_ID.test(messageId)) {
    throw new InvalidArgumentError('messageId', 'a message id is 16 to 64 characters of A-Z a-z 0-9 _ -');
  }
}

const checkRef = Compile(AttachmentRefSchema);

/** @internal The attachments of a send, checked (`InvalidArgumentError`); undefined when there are none. */
export function checkAttachments(attachments: readonly AttachmentRef[] | undefined): AttachmentRef[] | undefined {
  if (attachments === undefined || attachments.length === 0) return undefined;
  if (attachments.length > MAX_ATTACHMENTS) throw new InvalidArgumentError('attachments', `at most ${MAX_ATTACHMENTS} attachments per message`);
  for (const ref of attachments) {
    if (!checkRef.Check(ref)) throw new InvalidArgumentError('attachments', 'an attachment is a reference that `device.attachments.upload` returned');
  }
  if (new Set(blobIdsOf(attachments)).size !== attachments.length + attachments.filter((a) => a.thumbnail).length) {
    throw new InvalidArgumentError('attachments', 'the same blob twice in one message');
  }
  return attachments.map((a) => ({ ...a }));
}

function blobIdsOf(attachments: readonly AttachmentRef[]): string[] {
  return attachments.flatMap((a) => (a.thumbnail ? [a.blobId, a.thumbnail.blobId] : [a.blobId]));
}

/** @internal Encrypts, persists and delivers one text message (`Device.send`). */
export async function sendMessage(
  ctx: SendContext,
  conversationId: string,
  text: string,
  options: SendOptions & {
    readonly successor?: { readonly conversationId: string; readonly suite: string };
    /** Content policies that redacted `text` before it got here (dlp/engine.ts): recorded, signed for business messages. */
    readonly dlp?: readonly DlpOutcome[];
  } = {},
): Promise<SendResult> {
  checkMessageId(options.messageId);
  const attachments = checkAttachments(options.attachments);
  const dlp = options.dlp !== undefined && options.dlp.length > 0 ? [...options.dlp] : undefined;
  const idempotencyKey = options.idempotencyKey ?? `m-${toBase64Url(randomBytes(12))}`;
  // The same key again: the earlier message, not a second one.
  const earlier = await ctx.outbox.pending(idempotencyKey);
  if (earlier) return ctx.outbox.deliver(earlier);
  await ctx.membership.dropUntrustedMembers(conversationId);
  // A caller-chosen id this device already sent (its outbox record is gone: the server has
  // it). Encrypted again below; the server drops the repeat as a duplicate of the
  // idempotency key, so the first message's history entry and audit record stand.
  const sentBefore = options.messageId !== undefined && (await getJson<AuditedMessageV1>(ctx.store, RECORDS.audited(options.messageId))) !== undefined;
  let wroteAudit = false;
  const record = await ctx.conversations.runActive(conversationId, async (state) => {
    const id = state.id;
    const messageId = options.messageId ?? newMessageId();
    const now = ctx.now();
    const messageClass = options.class ?? 'chat';
    const audited = options.audit
      ? await ctx.signCommitment({
          messageId,
          conversationId: id,
          recipient: options.audit.recipient,
          class: messageClass,
          text,
          createdAt: now,
          ...(options.audit.escrow ? { escrowKeyId: options.audit.escrow.keyId } : {}),
          ...(attachments ? { attachments: attachments.map((a) => a.sha256) } : {}),
          ...(dlp ? { dlp } : {}),
        })
      : undefined;
    // A class under escrow: the opening and text sealed to the escrow key, bound to this commitment.
    const escrowBlob =
      audited && options.audit?.escrow ? await sealForEscrow(options.audit.escrow, audited.commitment, fromBase64(audited.opening), text) : undefined;
    const content = encodeContent({
      v: 1,
      id: messageId,
      type: 'text',
      text,
      class: messageClass,
      sentAt: now.toISOString(),
      ...(audited ? { audit: { commitment: audited.commitment, signature: audited.signature, opening: audited.opening } } : {}),
      ...(options.successor ? { successor: options.successor } : {}),
      ...(attachments ? { attachments } : {}),
      ...(dlp ? { dlp } : {}),
    });
    const epoch = state.group.epoch.toString();
    const enc = await encryptApplication(suiteOf(ctx.mls, state.group.suite), state.group, content);
    const outbox: OutboxRecordV1 = {
      v: 1,
      request: {
        idempotencyKey,
        conversationId: id,
        message: toBase64(enc.message),
        ...(audited ? { commitment: { body: audited.commitment, signature: audited.signature } } : {}),
        ...(escrowBlob ? { escrow: toBase64(escrowBlob) } : {}),
        // The blobs the other members may now fetch (their thumbnails too); the keys stay inside `message`.
        ...(attachments ? { blobs: blobIdsOf(attachments) } : {}),
      },
      messageId,
      epoch,
    };
    // Persist the ratchet before the ciphertext leaves: a restart never reuses a key.
    try {
      await ctx.store.write([
        ...state.stateOps(enc.group),
        ctx.outbox.putOp(outbox),
        // A successor notice (conversation-upgrade.ts) is no message of the history.
        ...(sentBefore || options.successor
          ? []
          : [
              putJson(RECORDS.message(id, timeSortKey(now, messageId)), {
                v: 1,
                direction: 'out',
                messageId,
                text,
                class: messageClass,
                sentAt: now.toISOString(),
                ...(attachments ? { attachments } : {}),
                ...(dlp ? { dlp } : {}),
              }),
              ...(audited ? [putJson(RECORDS.audited(messageId), audited)] : []),
            ]),
      ]);
      wroteAudit = audited !== undefined && !sentBefore;
    } catch (error) {
      // Encrypting zeroed the ratchet secret it used in the in-memory group: never encrypt from it again.
      await state.restore(ctx.store, ctx.mls.authenticate);
      throw error;
    }
    state.adopt(enc.group);
    return outbox;
  });
  const result = await ctx.outbox.deliver(record);
  if (wroteAudit && result.duplicate && record.request.commitment && result.audit?.commitmentHash !== toBase64Url(commitmentHash(record.request.commitment.body))) {
    // The server kept an earlier commitment of this message id (this send was encrypted
    // again from a copy of the state taken before the first): this opening does not open
    // the logged commitment, so no evidence may be exported with it.
    await ctx.store.write([{ op: 'delete', name: RECORDS.audited(record.messageId) }]);
  }
  return result;
}
