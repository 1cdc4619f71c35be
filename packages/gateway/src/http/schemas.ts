/**
 * The gateway REST API's bodies (TypeBox JSON Schemas): what the bank's services send and
 * get. Names are the OpenAPI components of `/openapi.json`.
 */
import { Type, type Static } from '@parley/core/typebox';
import { MESSAGE_CLASS_PATTERN, MESSAGE_ID_PATTERN, SUBJECT_PATTERN } from '@parley/core';
import { GATEWAY_ERROR_CODES } from '../errors.js';

/** Bodies are at most 64 KiB of text (the message, its commitment and framing fit the relay's 256 KiB). */
export const MAX_BODY_CHARS = 65_536;
const E164 = '^\\+[1-9][0-9]{6,14}$';

export const SendMessageRequestSchema = Type.Object(
  {
    to: Type.String({ pattern: SUBJECT_PATTERN, description: "the customer's id at the business (the enrollment token's subject)" }),
    class: Type.String({ pattern: MESSAGE_CLASS_PATTERN, description: 'message class: otp, alert, statement, support, … (the routing policy is per class)' }),
    body: Type.String({ minLength: 1, maxLength: MAX_BODY_CHARS, description: 'the text (at most 65,536 bytes of UTF-8: 413 payload_too_large beyond); encrypted end to end, never stored in clear' }),
    idempotencyKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$', description: 'same key, same request ⇒ the same message (once)' })),
    statusCallback: Type.Optional(Type.String({ maxLength: 2048, format: 'uri', description: 'http(s) URL that receives this message’s status webhooks' })),
    phone: Type.Optional(Type.String({ pattern: E164, description: 'E.164; for a customer without the app, the fallback (web link or invitation) per the class policy' })),
  },
  { additionalProperties: false },
);
export type SendMessageRequest = Static<typeof SendMessageRequestSchema>;

export const MessageStatusSchema = Type.Union(
  ['queued', 'sending', 'sent', 'delivered', 'read', 'invited', 'failed'].map((s) => Type.Literal(s)),
  {},
);

export const SendMessageResponseSchema = Type.Object({ id: Type.String({ pattern: MESSAGE_ID_PATTERN }), status: Type.String() }, {});

const Decision = Type.Object({ at: Type.String(), step: Type.String(), channel: Type.Union([Type.String(), Type.Null()]), decision: Type.String(), reason: Type.Union([Type.String(), Type.Null()]) });
const Receipt = Type.Object({
  deviceId: Type.String(),
  status: Type.String({ description: 'delivered | read' }),
  receiptId: Type.String({ description: 'base64url SHA-256 of the device-signed receipt (in the evidence bundle)' }),
  at: Type.String(),
});

export const MessageViewSchema = Type.Object(
  {
    id: Type.String(),
    to: Type.String(),
    class: Type.String(),
    status: Type.String({ description: 'queued, sending, sent, delivered, read, invited or failed' }),
    mode: Type.Union([Type.Literal('app'), Type.Literal('web'), Type.Null()]),
    path: Type.Union([Type.String(), Type.Null()], { description: 'how it was delivered: app, push-app, rcs, sms-token-app, sms-token-web, invited, blocked' }),
    reason: Type.Union([Type.String(), Type.Null()]),
    idempotencyKey: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    decisions: Type.Array(Decision, { description: 'every routing decision the server made' }),
    receipts: Type.Array(Receipt),
    evidence: Type.Object({
      logged: Type.Boolean({ description: 'the signed commitment is in the audit log' }),
      auditIndex: Type.Optional(Type.String()),
      complete: Type.Boolean({ description: 'logged, and a delivered receipt from a device of the customer (app messages)' }),
    }),
  },
  {},
);
export type MessageView = Static<typeof MessageViewSchema>;

export const MessageIdParamsSchema = Type.Object({ id: Type.String({ pattern: MESSAGE_ID_PATTERN }) });
export const EvidenceQuerySchema = Type.Object({ reveal: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, { additionalProperties: false });

export const EnrollmentRequestSchema = Type.Object(
  {
    customerId: Type.String({ pattern: SUBJECT_PATTERN }),
    phone: Type.Optional(Type.String({ pattern: E164 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export const EnrollmentResponseSchema = Type.Object(
  { token: Type.String({ description: 'single-use enrollment token (JWT, EdDSA) for one new device' }), expiresAt: Type.String(), serverUrl: Type.String() },
  {},
);

export const EventsQuerySchema = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,17})$', description: 'the `seq` of the last event you have; 0 = from the start' })),
    limit: Type.Optional(Type.String({ pattern: '^([1-9]|[1-9][0-9]|[1-4][0-9]{2}|500)$' })),
    messageId: Type.Optional(Type.String({ pattern: MESSAGE_ID_PATTERN })),
  },
  { additionalProperties: false },
);

export const WebhookEventSchema = Type.Object(
  {
    type: Type.String({ description: 'message.queued | message.sent | message.delivered | message.read | message.fallback | message.failed' }),
    timestamp: Type.String(),
    data: Type.Record(Type.String(), Type.Unknown()),
  },
  { description: 'the JSON body of a status webhook, signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)' },
);
export const EventsResponseSchema = Type.Object(
  {
    events: Type.Array(Type.Object({ id: Type.String({ description: 'the webhook-id' }), seq: Type.String(), event: WebhookEventSchema })),
    next: Type.String({ description: 'pass as `after` to continue' }),
  },
  {},
);

/** Codes an error body may carry: the gateway's own, and the HTTP layer's it shares with the server. */
const ERROR_CODES = [...GATEWAY_ERROR_CODES, 'invalid_json', 'unsupported_media_type', 'invalid_url', 'uri_too_long', 'not_found', 'unavailable'].sort();

export const GatewayErrorBodySchema = Type.Object(
  { error: Type.Object({ code: Type.String({ description: `stable machine-readable code: ${ERROR_CODES.join(', ')}` }), message: Type.String(), details: Type.Optional(Type.Record(Type.String(), Type.Unknown())), requestId: Type.Optional(Type.String()) }) },
  {},
);
