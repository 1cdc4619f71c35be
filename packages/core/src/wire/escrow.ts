/** Escrow (docs/escrow.md): key registration, the senders' policy, requests, approvals, openings. */
import { Type, type Static } from '../typebox.js';
import { CommitmentSchema } from '../audit/commitment.js';
import { EscrowKeyRecordSchema, ESCROW_KEY_ID_PATTERN } from '../escrow/key-record.js';
import { EscrowOfficerSchema, Key32Schema, OFFICER_ID_PATTERN } from '../escrow/officer.js';
import { EscrowApprovalSchema, EscrowRequestSchema, ESCROW_REASON_PATTERN, ESCROW_REQUEST_ID_PATTERN } from '../escrow/approval.js';
import { ESCROW_BLOB_MAX_BYTES } from '../escrow/payload.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';
import { Base64 } from './common.js';

/** An escrow blob on a submission: HPKE enc ‖ ciphertext of `{opening, plaintext}` (base64). */
export const EscrowBlobSchema = Base64(ESCROW_BLOB_MAX_BYTES, 'for a class under escrow: the opening and plaintext HPKE-sealed to the escrow key (RFC 9180)');

/** `POST /v1/admin/businesses/:businessId/escrow-keys` answer. */
export const EscrowKeyRegisteredSchema = Type.Object({
  keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }),
  threshold: Type.Integer(),
  audit: Type.Object({ index: Type.Integer({ minimum: 0, description: "the `escrow-key` entry's audit-log index" }) }),
});
export type EscrowKeyRegistered = Static<typeof EscrowKeyRegisteredSchema>;

/** One class of the sender's business under escrow, with what the SDK needs to check the key id. */
export const EscrowPolicyEntrySchema = Type.Object({
  class: Type.String(),
  keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }),
  approvals: Type.Integer(),
  businessId: Type.String(),
  publicKey: Key32Schema,
  threshold: Type.Integer(),
  officers: Type.Array(EscrowOfficerSchema),
});
export type EscrowPolicyEntry = Static<typeof EscrowPolicyEntrySchema>;
/** `GET /v1/escrow/policy`: the calling sender's business's classes under escrow. */
export const EscrowPolicyResponseSchema = Type.Object({ classes: Type.Array(EscrowPolicyEntrySchema) });
export type EscrowPolicyResponse = Static<typeof EscrowPolicyResponseSchema>;

/** `POST /v1/escrow/requests`. */
export const EscrowRequestCreateSchema = Type.Object(
  {
    messageId: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    reason: Type.String({ pattern: ESCROW_REASON_PATTERN, maxLength: 500 }),
    requesterKey: Key32Schema,
  },
  { additionalProperties: false },
);
export type EscrowRequestCreate = Static<typeof EscrowRequestCreateSchema>;

export const EscrowRequestParamsSchema = Type.Object({ requestId: Type.String({ pattern: ESCROW_REQUEST_ID_PATTERN }) });
export const EscrowListQuerySchema = Type.Object({ messageId: Type.Optional(Type.String({ pattern: MESSAGE_ID_PATTERN })) }, { additionalProperties: false });

export const EscrowApprovalViewSchema = Type.Object({
  officerId: Type.String({ pattern: OFFICER_ID_PATTERN }),
  approvalHash: Key32Schema,
  approvedAt: Type.String(),
  audit: Type.Object({ index: Type.Optional(Type.Integer({ minimum: 0 })) }),
});

/** A request as listed: its status, approvals and audit-log indexes (absent while not yet sequenced). */
export const EscrowRequestViewSchema = Type.Object({
  request: EscrowRequestSchema,
  requestHash: Key32Schema,
  businessId: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('opened')]),
  threshold: Type.Integer(),
  createdAt: Type.String(),
  openedAt: Type.Optional(Type.String()),
  approvals: Type.Array(EscrowApprovalViewSchema),
  audit: Type.Object({ request: Type.Optional(Type.Integer({ minimum: 0 })), open: Type.Optional(Type.Integer({ minimum: 0 })) }),
});
export type EscrowRequestView = Static<typeof EscrowRequestViewSchema>;
export const EscrowRequestListSchema = Type.Object({ requests: Type.Array(EscrowRequestViewSchema) });
export type EscrowRequestList = Static<typeof EscrowRequestListSchema>;

/** `GET /v1/escrow/requests/:requestId`: what an officer checks before approving. */
export const EscrowRequestDetailSchema = Type.Object({
  view: EscrowRequestViewSchema,
  commitment: CommitmentSchema,
  key: EscrowKeyRecordSchema,
});
export type EscrowRequestDetail = Static<typeof EscrowRequestDetailSchema>;

/** `POST /v1/escrow/requests/:requestId/approvals`. */
export const EscrowApprovalSubmitSchema = Type.Object(
  {
    approval: EscrowApprovalSchema,
    signature: Base64(64, "the officer's Ed25519 signature over the approval"),
    released: Base64(256, "the officer's share HPKE-sealed to the requester's key"),
  },
  { additionalProperties: false },
);
export type EscrowApprovalSubmit = Static<typeof EscrowApprovalSubmitSchema>;
export const EscrowApprovalResultSchema = Type.Object({
  approvals: Type.Integer(),
  threshold: Type.Integer(),
  audit: Type.Object({ index: Type.Integer({ minimum: 0 }) }),
});
export type EscrowApprovalResult = Static<typeof EscrowApprovalResultSchema>;

/** `POST /v1/escrow/requests/:requestId/open`: released only after the `escrow-open` entry is sequenced. */
export const EscrowOpenResponseSchema = Type.Object({
  request: EscrowRequestSchema,
  commitment: CommitmentSchema,
  commitmentSignature: Type.String(),
  publicKey: Key32Schema,
  blob: Type.String({ description: 'base64 escrow blob' }),
  shares: Type.Array(
    Type.Object({ officerId: Type.String(), released: Type.String({ description: 'base64: the share HPKE-sealed to the requester key' }), approval: EscrowApprovalSchema, signature: Type.String() }),
  ),
  audit: Type.Object({ index: Type.Integer({ minimum: 0, description: "the `escrow-open` entry's audit-log index" }) }),
});
export type EscrowOpenResponse = Static<typeof EscrowOpenResponseSchema>;
