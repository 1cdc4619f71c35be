/**
 * One decrypted application message, received: its content parsed, a business message's
 * commitment checked (and a receipt prepared), the content policies run (dlp/, after
 * decryption), then the group state, the duplicate window, the history entry and the receipt
 * persisted in one write before the app hears of it and the envelope is acknowledged.
 */
import { decodeContent, isParleyError, type ConversationId, type Envelope } from '@parley/core';
import type { ProcessResult } from '@parley/core/mls';
import { checkCommitment } from './audit-recipient.js';
import type { ConversationState } from './conversation-state.js';
import { successorHolds } from './conversation-upgrade.js';
import type { ReceivedMessage, UndecryptableReason } from './events.js';
import type { KeyStoreOp } from './key-store.js';
import type { ReceiverContext } from './receiver.js';
import { RECORDS, putJson, timeSortKey, type AuditedMessageV1 } from './records.js';

type Application = Extract<ProcessResult, { kind: 'application' }>;

/** @internal The application case of the receive pipeline (receiver.ts). */
export async function receiveApplication(
  ctx: ReceiverContext,
  conversation: ConversationState,
  envelope: Envelope,
  result: Application,
  remember: (ops?: KeyStoreOp[], ids?: string[]) => Promise<void>,
  undecryptable: (reason: UndecryptableReason, code?: string) => void,
): Promise<'ack'> {
  const id = conversation.id;
  let content;
  try {
    content = decodeContent(result.plaintext);
  } catch (error) {
    await remember(conversation.stateOps(result.group));
    conversation.adopt(result.group);
    undecryptable('invalid-content', isParleyError(error) ? error.code : undefined);
    return 'ack';
  }
  const messageKey = `m:${content.id}`;
  const duplicate = conversation.seen.has(messageKey);
  const receivedAt = ctx.now();
  const message: ReceivedMessage = {
    conversationId: id,
    messageId: content.id,
    envelopeId: envelope.id,
    sender: result.sender.member,
    text: content.text,
    class: content.class,
    sentAt: content.sentAt,
    storedAt: envelope.createdAt,
    receivedAt: receivedAt.toISOString(),
    epoch: result.epoch.toString(),
    suite: result.group.suite,
    ...(content.attachments ? { attachments: content.attachments } : {}),
    ...(content.dlp ? { dlp: content.dlp } : {}),
  };
  // A business message carries its signed commitment: check it, and sign a receipt.
  const check = content.audit && !duplicate ? await checkCommitment(id, content, result.sender.member, ctx.mls.member.identityId, ctx.identityKeyOf) : undefined;
  const escrowKey = check?.ok ? content.audit?.commitment.escrow?.keyId : undefined;
  const audited: ReceivedMessage = check
    ? { ...message, audit: { commitmentHash: check.commitmentHash, verified: check.ok }, ...(escrowKey !== undefined ? { escrow: { keyId: escrowKey } } : {}) }
    : message;
  const receipt = check ? [await ctx.receipts.prepare(content.id, check.commitmentHash, check.ok ? 'delivered' : 'commitment-mismatch', receivedAt)] : [];
  // This device's content policies, after decryption: a redaction changes what the app sees and
  // keeps; a block keeps nothing of the text (the dispute record below keeps what was signed).
  const policy = duplicate || content.successor ? undefined : await ctx.contentPolicy.onReceive(id, content.text, content.class, content.attachments);
  const shown: ReceivedMessage | undefined =
    policy === undefined || policy.action === 'allow'
      ? audited
      : policy.action === 'redact'
        ? { ...audited, text: policy.text, dlp: [...(audited.dlp ?? []), ...policy.outcomes] }
        : undefined;
  // A successor notice (conversation-upgrade.ts) is an event, not a message to show or keep.
  const history =
    duplicate || content.successor || shown === undefined
      ? []
      : [
          putJson(RECORDS.message(id, timeSortKey(receivedAt, content.id)), { v: 1, direction: 'in', ...shown }),
          // Kept on the device only, for a dispute: the opening proves the text.
          ...(content.audit
            ? [
                putJson(RECORDS.audited(content.id), {
                  v: 1,
                  direction: 'in',
                  conversationId: id,
                  commitment: content.audit.commitment,
                  signature: content.audit.signature,
                  opening: content.audit.opening,
                  text: content.text,
                } satisfies AuditedMessageV1),
              ]
            : []),
        ];
  await remember([...conversation.stateOps(result.group), ...history, ...receipt], [messageKey]);
  conversation.adopt(result.group);
  if (!duplicate) {
    const next = content.successor;
    if (next) {
      if (successorHolds(ctx.conversations, next, result.sender.member)) ctx.hub.emit({ type: 'conversation-upgraded', from: id, to: next.conversationId as ConversationId, suite: next.suite });
      else undecryptable('invalid-content', 'successor_unverified');
    } else if (shown) {
      ctx.hub.emit({ type: 'message', ...shown });
    } else if (policy?.action === 'block') {
      ctx.hub.emit({ type: 'message-blocked', conversationId: id, messageId: content.id, sender: result.sender.member, policy: policy.blocked.policy, reason: policy.blocked.reason });
    }
    if (check && !check.ok) ctx.hub.emit({ type: 'commitment-mismatch', conversationId: id, messageId: content.id, reason: check.reason });
    if (check) ctx.receipts.kick();
  }
  return 'ack';
}
