/** Capability-aware routing: push registration, retrieval links, web messages, route views. */
import { Type, type Static } from 'typebox';
import { EnvelopeSchema } from './relay.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';

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
export const WebOpenResponseSchema = Type.Object({ brand: Type.String(), ciphertext: Type.String() });

export const RetrieveResponseSchema = Type.Object({ envelopes: Type.Array(EnvelopeSchema) });
export type RetrieveResponse = Static<typeof RetrieveResponseSchema>;

export const WebMessageRequestSchema = Type.Object(
  {
    messageId: MessageIdSchema,
    customerId: Type.String({ minLength: 1, maxLength: 128 }),
    phone: Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164' }),
    class: Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }),
    ciphertext: Type.String({ minLength: 40, maxLength: 350_000, description: 'base64: 12-byte IV ‖ AES-256-GCM ciphertext ‖ tag' }),
    fragmentKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url AES-256 key; written into the SMS link fragment, never stored' }),
  },
  { additionalProperties: false },
);
export type WebMessageRequest = Static<typeof WebMessageRequestSchema>;

export const WebMessageResponseSchema = Type.Object({
  messageId: Type.String(),
  path: Type.Union([DeliveryPathSchema, Type.Literal('pending')]),
  state: Type.String(),
  expiresAt: Type.Optional(Type.String()),
});
export type WebMessageResponse = Static<typeof WebMessageResponseSchema>;

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
