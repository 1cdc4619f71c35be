/**
 * The wire contract between SDK and server: JSON Schemas (TypeBox) for every
 * HTTP body and WebSocket frame. The server validates requests with them (and
 * publishes them in /openapi.json); the SDK validates responses with them.
 * Bytes travel as base64 (RFC 4648 §4; base64url §5 accepted on input).
 */
import { Type, type Static, type TSchema } from 'typebox';
import {
  BUSINESS_ID_PATTERN,
  CONVERSATION_ID_PATTERN,
  DEVICE_ID_PATTERN,
  ENVELOPE_ID_PATTERN,
  IDENTITY_ID_PATTERN,
  SUBJECT_PATTERN,
} from './ids.js';
import { CommitmentSchema } from './audit/commitment.js';
import { ReceiptSchema } from './audit/receipt.js';

/** Base64 or base64url text of at most `maxBytes` decoded bytes. */
export function Base64(maxBytes: number, description?: string) {
  return Type.String({
    pattern: '^[A-Za-z0-9+/_-]*={0,2}$',
    maxLength: Math.ceil(maxBytes / 3) * 4,
    ...(description ? { description } : {}),
  });
}

export const BusinessIdSchema = Type.String({ pattern: BUSINESS_ID_PATTERN });
export const SubjectSchema = Type.String({ pattern: SUBJECT_PATTERN });
export const IdentityIdSchema = Type.String({ pattern: IDENTITY_ID_PATTERN });
export const DeviceIdSchema = Type.String({ pattern: DEVICE_ID_PATTERN });
export const ConversationIdSchema = Type.String({ pattern: CONVERSATION_ID_PATTERN });
export const EnvelopeIdSchema = Type.String({ pattern: ENVELOPE_ID_PATTERN, description: 'decimal id of the server sequence (at most 18 digits)' });
export const IdentityKindSchema = Type.Union([
  Type.Literal('customer'),
  Type.Literal('sender'),
  Type.Literal('agent'),
  Type.Literal('bot'),
]);
export type IdentityKind = Static<typeof IdentityKindSchema>;

/** Upper bounds that keep every request small and every handler bounded. */
export const LIMITS = {
  keyPackageBytes: 16 * 1024,
  keyPackagesPerUpload: 200,
  claimDevices: 100,
  ackIds: 1000,
  groupInfoBytes: 1024 * 1024,
  welcomeBytes: 1024 * 1024,
  membersPerGroup: 5000,
  idempotencyKey: 128,
} as const;

export const ErrorBodySchema = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable machine-readable code' }),
      message: Type.String(),
      details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      /** On 5xx answers: the id under which the server logged the failure (quote it to the operator). */
      requestId: Type.Optional(Type.String()),
    }),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

// --- Admin -----------------------------------------------------------------

export const Ed25519JwkSchema = Type.Object(
  {
    kty: Type.Literal('OKP'),
    crv: Type.Literal('Ed25519'),
    x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  },
  { additionalProperties: true },
);

export const CreateBusinessRequestSchema = Type.Object(
  {
    id: BusinessIdSchema,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    enrollmentKeys: Type.Array(
      Type.Object({ kid: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), jwk: Ed25519JwkSchema }, { additionalProperties: false }),
      { minItems: 1, maxItems: 10 },
    ),
  },
  { additionalProperties: false },
);
export type CreateBusinessRequest = Static<typeof CreateBusinessRequestSchema>;

export const BusinessSchema = Type.Object({ id: BusinessIdSchema, name: Type.String() });
export type Business = Static<typeof BusinessSchema>;

// --- Registration and sessions ----------------------------------------------

export const KeyPackageStockSchema = Type.Object({
  oneTime: Type.Integer({ minimum: 0 }),
  lastResort: Type.Boolean(),
  low: Type.Boolean({ description: 'true when the device should upload more' }),
  lowWatermark: Type.Integer({ minimum: 0, description: 'below this many one-time KeyPackages the stock is low' }),
});
export type KeyPackageStock = Static<typeof KeyPackageStockSchema>;

export const RegisterDeviceRequestSchema = Type.Object(
  {
    enrollmentToken: Type.String({ minLength: 1, maxLength: 4096 }),
    deviceId: DeviceIdSchema,
    identityKey: Base64(32, 'Ed25519 identity public key'),
    signatureKey: Base64(2048, 'MLS signature public key'),
    suite: Type.String({ maxLength: 80 }),
    label: Type.Optional(Type.String({ maxLength: 64 })),
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { minItems: 1, maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackage: Base64(LIMITS.keyPackageBytes),
    proof: Base64(64, 'Ed25519 signature over the registration proof message'),
  },
  { additionalProperties: false },
);
export type RegisterDeviceRequest = Static<typeof RegisterDeviceRequestSchema>;

export const RegisterDeviceResponseSchema = Type.Object({
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
  kind: IdentityKindSchema,
  stock: KeyPackageStockSchema,
  /** `pending`: another device of the identity must approve this one before senders include it. */
  status: Type.Union([Type.Literal('active'), Type.Literal('pending')]),
  /** Where the device's key entered the key transparency log. */
  keyLog: Type.Object({ index: Type.Integer({ minimum: 0 }) }),
});
export type RegisterDeviceResponse = Static<typeof RegisterDeviceResponseSchema>;

export const ChallengeRequestSchema = Type.Object({ deviceId: DeviceIdSchema }, { additionalProperties: false });
export const ChallengeResponseSchema = Type.Object({ challenge: Base64(32), expiresAt: Type.String() });
export type ChallengeResponse = Static<typeof ChallengeResponseSchema>;

export const SessionRequestSchema = Type.Object(
  { deviceId: DeviceIdSchema, challenge: Base64(32), signature: Base64(64) },
  { additionalProperties: false },
);
export type SessionRequest = Static<typeof SessionRequestSchema>;
export const SessionResponseSchema = Type.Object({
  token: Type.String(),
  expiresAt: Type.String(),
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
});
export type SessionResponse = Static<typeof SessionResponseSchema>;

// --- Directory ---------------------------------------------------------------

export const DeviceRecordSchema = Type.Object({
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
  identityKey: Type.String(),
  signatureKey: Type.String(),
  suite: Type.String(),
  label: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('pending'), Type.Literal('revoked')]),
  createdAt: Type.String(),
});
export type DeviceRecord = Static<typeof DeviceRecordSchema>;

export const IdentityDevicesResponseSchema = Type.Object({
  identityId: IdentityIdSchema,
  kind: IdentityKindSchema,
  displayName: Type.Optional(Type.String()),
  devices: Type.Array(DeviceRecordSchema),
});
export type IdentityDevicesResponse = Static<typeof IdentityDevicesResponseSchema>;

// --- Key transparency directory ---------------------------------------------------

export const KeyDirectoryInfoSchema = Type.Object({
  log: Type.String(),
  origin: Type.String(),
  /** Signed-note verifier key of the key log; its Ed25519 key also signs entry attestations. */
  verifierKey: Type.String(),
  /** ECVRF-EDWARDS25519-SHA512-TAI public key (RFC 9381) that maps identities to labels. */
  vrfPublicKey: Type.String(),
});
export type KeyDirectoryInfo = Static<typeof KeyDirectoryInfoSchema>;

export const KeyLookupResponseSchema = Type.Object({
  identityId: IdentityIdSchema,
  /** base64 label (first 32 bytes of the VRF output). */
  label: Type.String(),
  /** base64 VRF proof that the label belongs to the identity. */
  vrfProof: Type.String(),
  /** The signed checkpoint (C2SP signed note) the proofs are relative to. */
  checkpoint: Type.String(),
  entries: Type.Array(
    Type.Object({
      index: Type.Integer({ minimum: 0 }),
      /** base64 log entry (canonical JSON). */
      entry: Type.String(),
      /** base64 RFC 9162 inclusion proof against the checkpoint. */
      proof: Type.Array(Type.String(), { maxItems: 64 }),
    }),
    { maxItems: 10_000 },
  ),
});
export type KeyLookupResponse = Static<typeof KeyLookupResponseSchema>;

export const ApproveDeviceRequestSchema = Type.Object(
  { signature: Base64(64, 'identity-key signature of the approving device over the approval message') },
  { additionalProperties: false },
);
export type ApproveDeviceRequest = Static<typeof ApproveDeviceRequestSchema>;

export const RevokeDeviceRequestSchema = Type.Object(
  {
    signature: Type.Optional(Base64(64, 'identity-key signature of the revoking device (owner revocation)')),
    businessToken: Type.Optional(Type.String({ maxLength: 4096, description: "JWT signed with the business's enrollment key (business revocation)" })),
  },
  { additionalProperties: false },
);
export type RevokeDeviceRequest = Static<typeof RevokeDeviceRequestSchema>;

export const KeyLogChangeResponseSchema = Type.Object({ deviceId: DeviceIdSchema, index: Type.Integer({ minimum: 0 }), status: Type.String() });
export type KeyLogChangeResponse = Static<typeof KeyLogChangeResponseSchema>;

// --- Key directory -------------------------------------------------------------

export const UploadKeyPackagesRequestSchema = Type.Object(
  {
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackage: Type.Optional(Base64(LIMITS.keyPackageBytes)),
  },
  { additionalProperties: false },
);
export type UploadKeyPackagesRequest = Static<typeof UploadKeyPackagesRequestSchema>;

export const ClaimKeyPackagesRequestSchema = Type.Object(
  { deviceIds: Type.Array(DeviceIdSchema, { minItems: 1, maxItems: LIMITS.claimDevices, uniqueItems: true }) },
  { additionalProperties: false },
);
export type ClaimKeyPackagesRequest = Static<typeof ClaimKeyPackagesRequestSchema>;

export const ClaimedKeyPackageSchema = Type.Object({
  deviceId: DeviceIdSchema,
  keyPackage: Type.String(),
  lastResort: Type.Boolean(),
});
export const ClaimKeyPackagesResponseSchema = Type.Object({ keyPackages: Type.Array(ClaimedKeyPackageSchema) });
export type ClaimKeyPackagesResponse = Static<typeof ClaimKeyPackagesResponseSchema>;

// --- Relay ---------------------------------------------------------------------

export const SubmitRequestSchema = Type.Object(
  {
    idempotencyKey: Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }),
    conversationId: ConversationIdSchema,
    message: Base64(16 * 1024 * 1024, 'MLSMessage (private or public)'),
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
  audit: Type.Optional(Type.Object({ index: Type.Integer({ minimum: 0, description: "the commitment's audit-log index" }) })),
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

// --- WebSocket frames (JSON text frames) --------------------------------------

export const ClientFrameSchema = Type.Union([
  Type.Object({ type: Type.Literal('auth'), token: Type.String({ maxLength: 4096 }) }, { additionalProperties: false }),
  Type.Object(
    { type: Type.Literal('submit'), requestId: Type.String({ maxLength: 64 }), body: SubmitRequestSchema },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('ack'), ids: AckRequestSchema.properties.ids }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ping') }, { additionalProperties: false }),
]);
export type ClientFrame = Static<typeof ClientFrameSchema>;

const SingleServerFrameSchemas = [
  Type.Object({ type: Type.Literal('ready'), deviceId: DeviceIdSchema, expiresAt: Type.String() }),
  Type.Object({ type: Type.Literal('deliver'), envelopes: Type.Array(EnvelopeSchema, { maxItems: 10_000 }) }),
  Type.Object({ type: Type.Literal('submitted'), requestId: Type.String(), result: SubmitResponseSchema }),
  Type.Object({
    type: Type.Literal('error'),
    requestId: Type.Optional(Type.String()),
    status: Type.Integer(),
    error: ErrorBodySchema.properties.error,
  }),
  Type.Object({ type: Type.Literal('key-packages-low'), stock: KeyPackageStockSchema }),
  Type.Object({ type: Type.Literal('pong') }),
] as const;

/**
 * Server → client frames. Several frames for one connection in one turn of the
 * server's event loop travel as one `batch` frame (one write instead of many).
 */
export const ServerFrameSchema = Type.Union([
  ...SingleServerFrameSchemas,
  Type.Object({ type: Type.Literal('batch'), frames: Type.Array(Type.Union([...SingleServerFrameSchemas]), { maxItems: 10_000 }) }),
]);
export type ServerFrame = Static<typeof ServerFrameSchema>;
export type SingleServerFrame = Exclude<ServerFrame, { type: 'batch' }>;

/** All schemas by name, for the OpenAPI document. */
export const SCHEMAS: Readonly<Record<string, TSchema>> = {
  Error: ErrorBodySchema,
  Envelope: EnvelopeSchema,
  DeviceRecord: DeviceRecordSchema,
  KeyPackageStock: KeyPackageStockSchema,
};

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

export const RetrieveResponseSchema = Type.Object({ envelopes: Type.Array(EnvelopeSchema) });
export type RetrieveResponse = Static<typeof RetrieveResponseSchema>;

export const WebMessageRequestSchema = Type.Object(
  {
    messageId: Type.String({ pattern: '^[A-Za-z0-9_-]{16,64}$' }),
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
