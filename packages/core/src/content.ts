/**
 * The application payload carried inside MLS application messages. The server
 * never sees it: it is encrypted before it leaves the sender.
 */
import { Compile, Type, type Static } from './typebox.js';
import { InvalidInputError } from './errors.js';
import { CommitmentSchema } from './audit/commitment.js';
import { fromUtf8, randomBytes, toBase64Url, utf8 } from './bytes.js';
import { AttachmentRefSchema, MAX_ATTACHMENTS } from './media/attachment-ref.js';
import { DlpOutcomeSchema, MAX_DLP_OUTCOMES } from './dlp-outcome.js';

import { MESSAGE_CLASS_PATTERN } from './ids.js';
import { MESSAGE_ID_PATTERN } from './ids.js';
export { MESSAGE_CLASS_PATTERN };

export const MessageContentSchema = Type.Object({
  v: Type.Literal(1),
  /** Sender-chosen message id (base64url, 128 bits); receivers deduplicate on it. */
  id: Type.String({ pattern: MESSAGE_ID_PATTERN }),
  type: Type.Literal('text'),
  text: Type.String({ maxLength: 64 * 1024 }),
  /** Message class: `otp`, `alert`, `support`, … */
  class: Type.String({ pattern: MESSAGE_CLASS_PATTERN }),
  /** RFC 3339 time at the sender. */
  sentAt: Type.String({ maxLength: 40 }),
  /** Encrypted files: references to ciphertext in the blob store (media/attachment-ref.ts); `text` is their caption. */
  attachments: Type.Optional(Type.Array(AttachmentRefSchema, { minItems: 1, maxItems: MAX_ATTACHMENTS })),
  /** Content policies that changed this message on the sender's device (policy id and action only). */
  dlp: Type.Optional(Type.Array(DlpOutcomeSchema, { minItems: 1, maxItems: MAX_DLP_OUTCOMES })),
  /**
   * The conversation moved to a new group (another suite: docs/post-quantum.md). Sent in the
   * old group, so MLS authenticates the link: this member names the group that follows.
   */
  successor: Type.Optional(
    Type.Object({ conversationId: Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$' }), suite: Type.String({ minLength: 1, maxLength: 80 }) }, { additionalProperties: false }),
  ),
  /**
   * For business messages: the signed commitment the audit log records, and the
   * opening that ties it to this text. The opening travels only here, encrypted.
   */
  audit: Type.Optional(
    Type.Object(
      {
        commitment: CommitmentSchema,
        signature: Type.String({ pattern: '^[A-Za-z0-9+/_-]{86}={0,2}$' }),
        opening: Type.String({ pattern: '^[A-Za-z0-9+/_-]{43}={0,1}$' }),
      },
      { additionalProperties: false },
    ),
  ),
});
export type MessageContent = Static<typeof MessageContentSchema>;

const check = Compile(MessageContentSchema);

/** A fresh 128-bit message id. */
export function newMessageId(): string {
  return toBase64Url(randomBytes(16));
}

export function encodeContent(content: MessageContent): Uint8Array {
  if (!check.Check(content)) throw new InvalidInputError('invalid message content', { code: 'invalid_content' });
  return utf8(JSON.stringify(content));
}

/** Parses decrypted application data; throws `invalid_content` for anything else. */
export function decodeContent(bytes: Uint8Array): MessageContent {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new InvalidInputError('message content is not JSON', { code: 'invalid_content', cause });
  }
  if (!check.Check(value)) throw new InvalidInputError('invalid message content', { code: 'invalid_content' });
  return value;
}
