/**
 * Branded identifiers and their parsers. An identity is a person or service of one
 * business (`<businessId>:<subject>`); a device belongs to exactly one identity.
 */
import { InvalidInputError } from './errors.js';
import { randomBytes, toBase64Url } from './bytes.js';

export type BusinessId = string & { readonly __brand: 'BusinessId' };
export type IdentityId = string & { readonly __brand: 'IdentityId' };
export type DeviceId = string & { readonly __brand: 'DeviceId' };
/** base64url of the MLS group id. */
export type ConversationId = string & { readonly __brand: 'ConversationId' };
/**
 * Server-assigned envelope id: a decimal string of the server's bigint sequence, never
 * coerced to number. At most 18 digits, so every id a client can send fits PostgreSQL's
 * signed 64-bit `bigint` (max 9223372036854775807); 10^18 ids are out of any server's reach.
 */
export type EnvelopeId = string & { readonly __brand: 'EnvelopeId' };

export const BUSINESS_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const SUBJECT_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
export const IDENTITY_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}:[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';
export const DEVICE_ID_PATTERN = '^[A-Za-z0-9_-]{16,64}$';
export const CONVERSATION_ID_PATTERN = '^[A-Za-z0-9_-]{16,128}$';
export const ENVELOPE_ID_PATTERN = '^[1-9][0-9]{0,17}$';
/** A message id (the content's `id`, a commitment's and a route's key): 128+ random bits, base64url. */
export const MESSAGE_ID_PATTERN = '^[A-Za-z0-9_-]{16,64}$';
/** Largest value of a signed 64-bit integer (PostgreSQL `bigint`): the bound of every stored counter. */
export const MAX_INT64 = 9223372036854775807n;
/** Message class: `otp`, `alert`, `support`, … */
export const MESSAGE_CLASS_PATTERN = '^[a-z][a-z0-9-]{0,31}$';

const businessRe = new RegExp(BUSINESS_ID_PATTERN);
const subjectRe = new RegExp(SUBJECT_PATTERN);
const identityRe = new RegExp(IDENTITY_ID_PATTERN);
const deviceRe = new RegExp(DEVICE_ID_PATTERN);
const conversationRe = new RegExp(CONVERSATION_ID_PATTERN);

export function parseBusinessId(value: string): BusinessId {
  if (!businessRe.test(value)) throw new InvalidInputError('invalid business id', { code: 'invalid_business_id' });
  return value as BusinessId;
}

export function parseIdentityId(value: string): IdentityId {
  if (!identityRe.test(value)) throw new InvalidInputError('invalid identity id', { code: 'invalid_identity_id' });
  return value as IdentityId;
}

export function parseDeviceId(value: string): DeviceId {
  if (!deviceRe.test(value)) throw new InvalidInputError('invalid device id', { code: 'invalid_device_id' });
  return value as DeviceId;
}

export function parseConversationId(value: string): ConversationId {
  if (!conversationRe.test(value)) throw new InvalidInputError('invalid conversation id', { code: 'invalid_conversation_id' });
  return value as ConversationId;
}

/** `<businessId>:<subject>` for a business's customer or staff subject. */
export function identityIdOf(businessId: string, subject: string): IdentityId {
  if (!businessRe.test(businessId)) throw new InvalidInputError('invalid business id', { code: 'invalid_business_id' });
  if (!subjectRe.test(subject)) throw new InvalidInputError('invalid subject', { code: 'invalid_subject' });
  return `${businessId}:${subject}` as IdentityId;
}

/** The business an identity belongs to. */
export function businessOf(identityId: IdentityId): BusinessId {
  return identityId.slice(0, identityId.indexOf(':')) as BusinessId;
}

/** A fresh random device id: 128 bits, base64url. */
export function newDeviceId(): DeviceId {
  return toBase64Url(randomBytes(16)) as DeviceId;
}
