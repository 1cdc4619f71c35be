/** The relay: submitting MLS messages, mailboxes, acks, receipts and GroupInfo for resync. */
import { Type, type Static } from '../typebox.js';
import { CommitmentSchema } from '../audit/commitment.js';
import { ReceiptSchema } from '../audit/receipt.js';
import { Base64, ConversationIdSchema, DeviceIdSchema, EnvelopeIdSchema, IdentityIdSchema, LIMITS } from './common.js';
import { ENVELOPE_ID_PATTERN } from '../ids.js';
import { EscrowBlobSchema } from './escrow.js';
import { BLOB_ID_PATTERN, MAX_ATTACHMENTS } from '../media/attachment-ref.js';

// --- Relay ---------------------------------------------------------------------

export const SubmitRequestSchema = Type.Object(
  {
    idempotencyKey: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }),
    conversationId: ConversationIdSchema,
    message: Base64(LIMITS.messageBytes, 'MLSMessage (private or public), at most 256 KiB decoded'),
    members: Type.Optional(
      Type.Array(DeviceIdSchema, {
        maxItems: LIMITS.membersPerGroup,
        uniqueItems: true,
        description: 'for commits: every device in the group after the commit',
      }),
    ),
    welcome: Type.Optional(Base64(LIMITS.welcomeBytes, 'MLS Welcome for devices the commit adds')),
    groupInfo: Type.Optional(Base64(LIMITS.groupInfoBytes, 'GroupInfo of the new epoch (for resync)')),
    commitment: Type.Optional(
      Type.Object(
        { body: CommitmentSchema, signature: Base64(64, "sending device's identity-key signature over the commitment") },
        { additionalProperties: false, description: 'for business messages: the signed commitment recorded in the audit log' },
      ),
    ),
    escrow: Type.Optional(EscrowBlobSchema),
    blobs: Type.Optional(
      Type.Array(Type.String({ pattern: BLOB_ID_PATTERN }), {
        minItems: 1,
        maxItems: MAX_ATTACHMENTS,
        uniqueItems: true,
        description: "blobs this message refers to (uploaded by the sender's identity, complete): the conversation's other devices may then fetch them",
      }),
    ),
  },
  { additionalProperties: false },
);
export type SubmitRequest = Static<typeof SubmitRequestSchema>;

export const SubmitResponseSchema = Type.Object({
  id: EnvelopeIdSchema,
  welcomeId: Type.Optional(EnvelopeIdSchema),
  duplicate: Type.Boolean({ description: 'true when this idempotency key was already accepted' }),
  recipients: Type.Integer({ minimum: 0 }),
  storedBytes: Type.Integer({ minimum: 0, description: 'ciphertext bytes the server stored' }),
  epoch: Type.Optional(Type.String({ description: 'group epoch after this message' })),
  audit: Type.Optional(
    Type.Object({
      index: Type.Integer({ minimum: 0, description: "the commitment's audit-log index" }),
      commitmentHash: Type.Optional(
        Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url hash of the commitment the server holds for this message (the first one, on a repeat)' }),
      ),
    }),
  ),
});
export type SubmitResponse = Static<typeof SubmitResponseSchema>;

export const ReceiptRequestSchema = Type.Object(
  { receipt: ReceiptSchema, signature: Base64(64, "receiving device's identity-key signature over the receipt") },
  { additionalProperties: false },
);
export type ReceiptRequest = Static<typeof ReceiptRequestSchema>;
export const ReceiptResponseSchema = Type.Object({ index: Type.Integer({ minimum: 0 }), duplicate: Type.Boolean() });
export type ReceiptResponse = Static<typeof ReceiptResponseSchema>;

export const EnvelopeKindSchema = Type.Union([
  Type.Literal('application'),
  Type.Literal('commit'),
  Type.Literal('proposal'),
  Type.Literal('welcome'),
]);
export type EnvelopeKind = Static<typeof EnvelopeKindSchema>;

export const EnvelopeSchema = Type.Object({
  id: EnvelopeIdSchema,
  conversationId: ConversationIdSchema,
  senderDeviceId: DeviceIdSchema,
  senderIdentityId: IdentityIdSchema,
  kind: EnvelopeKindSchema,
  epoch: Type.Optional(Type.String()),
  payload: Type.String({ description: 'base64 MLSMessage' }),
  createdAt: Type.String(),
});
export type Envelope = Static<typeof EnvelopeSchema>;

export const MailboxResponseSchema = Type.Object({ envelopes: Type.Array(EnvelopeSchema), more: Type.Boolean() });
export type MailboxResponse = Static<typeof MailboxResponseSchema>;

/** `GET /v1/mailbox` query: a page size and an id cursor (ids fit a bigint: at most 18 digits). */
export const MailboxQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$' })),
    after: Type.Optional(Type.String({ pattern: `^(?:0|${ENVELOPE_ID_PATTERN.slice(1, -1)})$`, description: 'return envelopes with ids above this one' })),
  },
  { additionalProperties: false },
);

export const AckRequestSchema = Type.Object(
  { ids: Type.Array(EnvelopeIdSchema, { minItems: 1, maxItems: LIMITS.ackIds, uniqueItems: true }) },
  { additionalProperties: false },
);
export type AckRequest = Static<typeof AckRequestSchema>;
export const AckResponseSchema = Type.Object({ acked: Type.Integer(), unknown: Type.Array(EnvelopeIdSchema) });
export type AckResponse = Static<typeof AckResponseSchema>;

export const GroupInfoResponseSchema = Type.Object({
  conversationId: ConversationIdSchema,
  epoch: Type.String(),
  groupInfo: Type.String(),
});
export type GroupInfoResponse = Static<typeof GroupInfoResponseSchema>;
