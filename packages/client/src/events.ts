/** What a device reports to the app. */
import type { AttachmentRef, ConversationId, DlpOutcome, IdentityId, UndecryptableReason as CoreUndecryptableReason } from '@parley/core';
import type { MemberRef } from '@parley/core/mls';

/**
 * A decrypted, authenticated message.
 *
 * @example
 * device.subscribe((e) => { if (e.type === 'message') show(e.sender.identityId, e.text) })
 */
export interface ReceivedMessage {
  readonly conversationId: ConversationId;
  /** Sender-chosen content id (deduplicated). */
  readonly messageId: string;
  /** Server envelope id. */
  readonly envelopeId: string;
  /** Authenticated by MLS: the credential of the leaf that sent it. */
  readonly sender: MemberRef;
  readonly text: string;
  readonly class: string;
  /** Sender's clock (RFC 3339). */
  readonly sentAt: string;
  /** Server's acceptance time (RFC 3339). */
  readonly storedAt: string;
  /** This device's clock (RFC 3339). */
  readonly receivedAt: string;
  /** MLS epoch the message was encrypted in. */
  readonly epoch: string;
  /** The conversation's MLS cipher suite (`MLS_256_XWING_…`: post-quantum; docs/post-quantum.md). */
  readonly suite: string;

  /**
   * For business messages: the signed commitment checked against this text
   * (`verified`), and its hash, which the device's signed receipt refers to.
   */
  readonly audit?: { readonly commitmentHash: string; readonly verified: boolean };
  /**
   * Present when the verified commitment says the message is under escrow: its opening and
   * text were also sealed to this escrow key, which the business's officers can open together
   * (M of N approvals, each one in the audit log). Show the customer a notice.
   */
  readonly escrow?: { readonly keyId: string };
  /** Files sent with the message: fetch and decrypt one with `device.attachments.download(ref)`. */
  readonly attachments?: readonly AttachmentRef[];
  /**
   * Content policies that changed the text: on the sender's device before encryption (signed in
   * a business message's commitment), or on this device after decryption. Policy ids and
   * actions only, never what they matched.
   */
  readonly dlp?: readonly DlpOutcome[];
}

/**
 * Why an envelope could not be read (`undecryptable` event): one of core's `UNDECRYPTABLE_REASONS`,
 * the list the server's diagnostics accept.
 *
 * @example
 * if (e.type === 'undecryptable' && e.reason === 'missed-epoch') console.warn('a message was lost to a resync')
 */
export type UndecryptableReason = CoreUndecryptableReason;

/**
 * Everything a device reports to the app, discriminated by `type`. Ids from the
 * device's own state are branded; an `undecryptable` envelope's ids are as the envelope states them.
 *
 * @example
 * for await (const e of device.events()) if (e.type === 'membership-changed') refresh(e.conversationId)
 */
export type DeviceEvent =
  | ({ readonly type: 'message' } & ReceivedMessage)
  | {
      readonly type: 'undecryptable';
      readonly envelopeId: string;
      readonly conversationId: string;
      readonly senderDeviceId: string;
      readonly reason: UndecryptableReason;
      /** Error code from the MLS layer, when there is one. */
      readonly code?: string;
    }
  | { readonly type: 'conversation-joined'; readonly conversationId: ConversationId; readonly members: readonly MemberRef[]; readonly epoch: string }
  | {
      readonly type: 'membership-changed';
      readonly conversationId: ConversationId;
      readonly added: readonly MemberRef[];
      readonly removed: readonly MemberRef[];
      /** Undefined for a resync by external commit. */
      readonly by: MemberRef | undefined;
      readonly epoch: string;
    }
  /**
   * A member's device re-keyed its leaf after rotating its keys (docs/key-rotation.md): the same
   * device, now with the keys its `device-rotated` key-log entry names. Not a join or a leave.
   */
  | { readonly type: 'member-rekeyed'; readonly conversationId: ConversationId; readonly member: MemberRef; readonly epoch: string }
  /** This device's keys were rotated (`device.keys.rotate()`): logged at key-log `index`. */
  | { readonly type: 'keys-rotated'; readonly deviceId: string; readonly index: number }
  | { readonly type: 'removed-from-conversation'; readonly conversationId: ConversationId; readonly epoch: string }
  | { readonly type: 'resynced'; readonly conversationId: ConversationId; readonly epoch: string; readonly missedFrom: string }
  | { readonly type: 'connection'; readonly online: boolean }
  /**
   * This device was revoked (by its owner, its business, or a reset after a lost phone), as the
   * verified key log shows at `checkpointSize` (revocation.ts). Its keys and records are wiped;
   * every further call throws `DeviceRevokedError` (`device_revoked`). The app signs out.
   */
  | { readonly type: 'device-revoked'; readonly deviceId: string; readonly revokedBy: string; readonly checkpointSize: number }
  /** A backup was stored (`automatic`: by the schedule of `device.backups.enableAutomatic`). */
  | { readonly type: 'backup-stored'; readonly automatic: boolean; readonly version: number; readonly size: number; readonly incremental: boolean; readonly messages: number }
  /** An automatic backup failed (`code`: the error's); it is tried again at the next check. */
  | { readonly type: 'backup-failed'; readonly code: string }
  /** Messages in the outbox that were discarded, never sent (`reason`: the device was revoked). */
  | { readonly type: 'outbox-discarded'; readonly reason: 'device-revoked'; readonly messageIds: readonly string[] }
  /**
   * The key log shows something about this identity's keys that its owner did
   * not do: a device waiting for approval, a device added without any of the
   * owner's devices approving it, this device revoked, or this device's keys
   * missing from the log (or different there).
   */
  | {
      readonly type: 'key-change-alert';
      readonly identityId: IdentityId;
      readonly deviceId: string;
      readonly change: 'pending-device' | 'added-without-approval' | 'this-device-revoked' | 'this-device-not-logged' | 'this-device-suites-not-logged';
    }
  /**
   * A business message whose content does not match the sender's signed
   * commitment (or whose commitment is not the sender's): the device signed a
   * `commitment-mismatch` receipt instead of `delivered`.
   */
  /**
   * This device's content policies blocked a received message after decryption
   * (`contentPolicies`): the app gets no `message` and the history keeps nothing of its text.
   * The policy's id and its fixed reason only, never what it matched.
   */
  | { readonly type: 'message-blocked'; readonly conversationId: ConversationId; readonly messageId: string; readonly sender: MemberRef; readonly policy: string; readonly reason: string }
  | { readonly type: 'commitment-mismatch'; readonly conversationId: ConversationId; readonly messageId: string; readonly reason: string }
  /** The server refused one of this device's receipts (not retried). */
  | { readonly type: 'receipt-rejected'; readonly messageId: string; readonly status: string; readonly code: string }
  /** A key-log check failed while authenticating a member: the server may be lying. */
  | { readonly type: 'key-transparency-error'; readonly identityId: IdentityId; readonly code: string }
  | { readonly type: 'key-packages-replenished'; readonly uploaded: number }
  /** This device replaced its published KeyPackages with `uploaded` fresh ones (rotation, docs/maintenance.md). */
  | { readonly type: 'key-packages-rotated'; readonly uploaded: number }
  /** This device stated in the key log that it now supports `suites` (an app update; docs/post-quantum.md). */
  | { readonly type: 'suites-stated'; readonly suites: readonly string[]; readonly index: number }
  /** A conversation moved to a new group on another suite (`from` → `to`, linked by an MLS-authenticated notice). */
  | { readonly type: 'conversation-upgraded'; readonly from: ConversationId; readonly to: ConversationId; readonly suite: string }
  /** This device committed an update of its own leaf (fresh keys: post-compromise security), leading to `epoch`. */
  | { readonly type: 'self-updated'; readonly conversationId: ConversationId; readonly epoch: string }
  /** A maintenance task failed (it is tried again on the next run); `code` is the error's. */
  | {
      readonly type: 'maintenance-failed';
      readonly task: 'self-update' | 'key-package-rotation' | 'key-package-cleanup' | 'suites-statement';
      readonly conversationId?: ConversationId;
      readonly code: string;
    };
