/** Capability-aware routing: push registration, retrieval links, web messages, route views. */
import { Type, type Static } from '../typebox.js';
import { CommitmentSchema } from '../audit/commitment.js';
import { Base64 } from './common.js';
import { EnvelopeSchema } from './relay.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';
import { EscrowBlobSchema } from './escrow.js';
import { BLOB_ID_PATTERN, MAX_ATTACHMENTS } from '../media/attachment-ref.js';

// --- capability-aware routing ------------------------------------------------------

/** How a message reached its recipient (or why it did not). */
export const DeliveryPathSchema = Type.Union([
  Type.Literal('app'),
  Type.Literal('push-app'),
  Type.Literal('rcs'),
  Type.Literal('sms-token-app'),
  Type.Literal('sms-token-web'),
  Type.Literal('blocked'),
  Type.Literal('invited'),
]);
export type DeliveryPath = Static<typeof DeliveryPathSchema>;

export const PushRegistrationSchema = Type.Object(
  {
    provider: Type.Union([Type.Literal('fcm'), Type.Literal('apns')]),
    token: Type.String({ minLength: 8, maxLength: 4096, pattern: '^[A-Za-z0-9_:.-]+$' }),
  },
  { additionalProperties: false },
);
export type PushRegistration = Static<typeof PushRegistrationSchema>;

export const OkResponseSchema = Type.Object({ ok: Type.Literal(true) });

export const RetrievalTokenSchema = Type.String({ pattern: '^[A-Za-z0-9_-]{22}$', description: 'one-time retrieval token (128 bits, base64url)' });

/** A business message's id (the commitment's `messageId`, a route's key). */
export const MessageIdSchema = Type.String({ pattern: MESSAGE_ID_PATTERN });
export const MessageIdParamsSchema = Type.Object({ messageId: MessageIdSchema });

/** `POST /v1/retrieve`: an app redeems a retrieval link with its device session. */
export const RetrieveRequestSchema = Type.Object({ token: RetrievalTokenSchema }, { additionalProperties: false });

/** `POST /v1/consents`: the business records a customer's consent to non-end-to-end fallback. */
export const ConsentRequestSchema = Type.Object({ customerId: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

/** The web retrieval page's calls (customers without the app). */
export const WebDescribeRequestSchema = Type.Object({ token: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
export const WebDescribeResponseSchema = Type.Object({ brand: Type.String(), kind: Type.String(), state: Type.String() });
export const WebChallengeRequestSchema = Type.Object({ token: RetrievalTokenSchema }, { additionalProperties: false });
export const WebChallengeResponseSchema = Type.Object({ brand: Type.String(), expiresAt: Type.String() });
export const WebOpenRequestSchema = Type.Object({ token: RetrievalTokenSchema, code: Type.String({ maxLength: 16 }), consent: Type.Boolean() }, { additionalProperties: false });
/** What `/v1/web/open` adds for a web message with attachments: the sealed manifest and a short-lived capability to fetch exactly its blobs. */
export const WebOpenAttachmentsSchema = Type.Object({
  manifest: Type.String({ description: 'base64: the JSON array of attachment references, sealed like the text under the fragment key' }),
  capability: Type.String({ description: 'bearer capability for GET /v1/web/blobs/:blobId (256 bits, base64url): only this message\'s blobs, short-lived' }),
  expiresAt: Type.String({ description: 'when the capability ends' }),
});
export type WebOpenAttachments = Static<typeof WebOpenAttachmentsSchema>;
export const WebOpenResponseSchema = Type.Object({ brand: Type.String(), ciphertext: Type.String(), attachments: Type.Optional(WebOpenAttachmentsSchema) });

/** A web message's attachments: their references sealed under the link's key, and the blob ids the page may fetch. */
export const WebMessageAttachmentsSchema = Type.Object(
  {
    manifest: Type.String({
      minLength: 40,
      maxLength: 24_000,
      description: 'base64: 12-byte IV ‖ AES-256-GCM(JSON array of AttachmentRef) ‖ tag, under the same key as the text (never sent to the server)',
    }),
    blobs: Type.Array(Type.String({ pattern: BLOB_ID_PATTERN }), { minItems: 1, maxItems: MAX_ATTACHMENTS, uniqueItems: true, description: "the references' blob ids (the sender's own, complete)" }),
  },
  { additionalProperties: false },
);
export type WebMessageAttachments = Static<typeof WebMessageAttachmentsSchema>;

export const RetrieveResponseSchema = Type.Object({ envelopes: Type.Array(EnvelopeSchema) });
export type RetrieveResponse = Static<typeof RetrieveResponseSchema>;

export const WebMessageRequestSchema = Type.Object(
  {
    messageId: MessageIdSchema,
    customerId: Type.String({ minLength: 1, maxLength: 128 }),
    phone: Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164' }),
    class: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    ciphertext: Type.String({ minLength: 40, maxLength: 350_000, description: 'base64: 12-byte IV ‖ AES-256-GCM ciphertext ‖ tag (the key never reaches the server)' }),
    commitment: Type.Optional(
      Type.Object(
        { body: CommitmentSchema, signature: Base64(64, "sending device's identity-key signature over the commitment") },
        {
          additionalProperties: false,
          description: "the signed commitment recorded in the audit log: conversationId `web_<messageId>`, recipient the customer's identity id",
        },
      ),
    ),
    escrow: Type.Optional(EscrowBlobSchema),
    attachments: Type.Optional(WebMessageAttachmentsSchema),
  },
  { additionalProperties: false },
);
export type WebMessageRequest = Static<typeof WebMessageRequestSchema>;

/** What the sender hands to its own SMS provider: the link (the key goes into its fragment there) and the SMS text. */
export const WebLinkDeliverySchema = Type.Object({
  url: Type.String({ description: 'https://…/r/<token>, without a fragment: the sender appends `#<key>`' }),
  template: Type.String({ description: 'the SMS text with the brand filled in and the literal placeholder {link}' }),
  expiresAt: Type.String({ description: 'when the link expires' }),
});
export type WebLinkDelivery = Static<typeof WebLinkDeliverySchema>;

export const WebMessageResponseSchema = Type.Object({
  messageId: Type.String(),
  path: Type.Union([DeliveryPathSchema, Type.Literal('pending')]),
  state: Type.String(),
  expiresAt: Type.Optional(Type.String()),
  delivery: Type.Optional(WebLinkDeliverySchema),
  audit: Type.Optional(Type.Object({ index: Type.Integer({ minimum: 0, description: "the commitment's audit-log index" }) })),
});
export type WebMessageResponse = Static<typeof WebMessageResponseSchema>;

/** `POST /v1/web-messages/:messageId/handoff`: whether the sender's SMS provider took the link. */
export const WebHandoffRequestSchema = Type.Object(
  {
    ok: Type.Boolean(),
    provider: Type.Optional(Type.String({ pattern: '^[a-z0-9-]{1,32}$', description: "the sender's SMS provider (e.g. twilio)" })),
    providerMessageId: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x20-\\x7e]+$' })),
    reason: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{1,64}$', description: 'why the hand-off failed (ok: false)' })),
  },
  { additionalProperties: false },
);
export type WebHandoffRequest = Static<typeof WebHandoffRequestSchema>;

export const WebHandoffResponseSchema = Type.Object({
  messageId: Type.String(),
  state: Type.String(),
  path: Type.Union([DeliveryPathSchema, Type.Literal('pending')]),
});
export type WebHandoffResponse = Static<typeof WebHandoffResponseSchema>;

export const RouteViewSchema = Type.Object({
  messageId: Type.String(),
  class: Type.String(),
  state: Type.String(),
  path: Type.Union([DeliveryPathSchema, Type.Null()]),
  events: Type.Array(
    Type.Object({
      at: Type.String(),
      step: Type.String(),
      channel: Type.Union([Type.String(), Type.Null()]),
      decision: Type.String(),
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
});
export type RouteViewResponse = Static<typeof RouteViewSchema>;

// --- batch route status (the gateway's status webhooks) ---------------------------

/** `POST /v1/routes/status`: the status of up to 100 business messages in one call. */
export const RouteStatusRequestSchema = Type.Object(
  { messageIds: Type.Array(MessageIdSchema, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
export type RouteStatusRequest = Static<typeof RouteStatusRequestSchema>;

/** One business message's delivery status: its route, the device-signed receipts, and its audit-log entry. */
export const RouteStatusSchema = Type.Object({
  messageId: Type.String(),
  class: Type.String(),
  state: Type.String({ description: 'active, delivered, blocked, invited, exhausted or failed' }),
  path: Type.Union([DeliveryPathSchema, Type.Null()]),
  updatedAt: Type.Optional(Type.String({ description: 'when anything shown here last changed (route, decision or receipt)' })),
  events: Type.Array(
    Type.Object({
      at: Type.String(),
      step: Type.String(),
      channel: Type.Union([Type.String(), Type.Null()]),
      decision: Type.String(),
      reason: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  receipts: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      status: Type.Union([Type.Literal('delivered'), Type.Literal('read'), Type.Literal('commitment-mismatch')]),
      receiptId: Type.String({ description: 'base64url SHA-256 of the signed receipt (its audit-log hash)' }),
      at: Type.String({ description: 'when the server recorded the receipt' }),
    }),
  ),
  audit: Type.Object({
    logged: Type.Boolean({ description: "the message's signed commitment is recorded in the audit log" }),
    index: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$', description: "the commitment's audit-log index (decimal), once sequenced" })),
  }),
});
export type RouteStatus = Static<typeof RouteStatusSchema>;

/** Ids that do not exist, or are another business's, are absent (no existence oracle). */
export const RouteStatusResponseSchema = Type.Object({ routes: Type.Array(RouteStatusSchema) });
export type RouteStatusResponse = Static<typeof RouteStatusResponseSchema>;
