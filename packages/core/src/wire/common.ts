/**
 * Shared pieces of the wire contract: identifier schemas, the error body, base64 fields
 * and the size limits every request is held to.
 */
import { Type, type Static } from '../typebox.js';
import {
  BUSINESS_ID_PATTERN,
  CONVERSATION_ID_PATTERN,
  DEVICE_ID_PATTERN,
  ENVELOPE_ID_PATTERN,
  IDENTITY_ID_PATTERN,
  SUBJECT_PATTERN,
} from '../ids.js';

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

/**
 * A device's MLS cipher suites, by name (core `mls/suite.ts`; never by wire value), at most 8,
 * no repeats: in registrations, suites statements and key-log entries alike.
 */
export const SuiteNamesSchema = Type.Array(Type.String({ minLength: 1, maxLength: 80 }), { minItems: 1, maxItems: 8, uniqueItems: true });

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
  /** Largest MLS message a submission carries, in bytes (a server may configure less; 413 above). */
  messageBytes: 256 * 1024,
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
