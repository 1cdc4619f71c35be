/**
 * What a business signs for every message it sends: a hiding commitment to the
 * content plus the message's metadata, in RFC 8785 canonical JSON, signed with
 * the sending device's Ed25519 identity key. The content commitment is
 * HMAC-SHA-256 keyed by a fresh 32-byte opening (RFC 2104): without the
 * opening — which travels only inside the encrypted message — nobody can test
 * guesses of the content, not even of a 6-digit one-time code.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { assertBytes, concatBytes, equalBytes, fromBase64, randomBytes, utf8 } from '../bytes.js';
import { CONVERSATION_ID_PATTERN, DEVICE_ID_PATTERN, IDENTITY_ID_PATTERN, MESSAGE_CLASS_PATTERN } from '../ids.js';
import { signEd25519, signWith, verifyEd25519, type Ed25519Signer } from '../identity-keys.js';
import { canonicalJson } from '../keylog/entry.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';
import { MAX_ATTACHMENTS } from '../media/attachment-ref.js';
import { DlpOutcomeSchema, MAX_DLP_OUTCOMES } from '../dlp-outcome.js';

export const RFC3339_UTC = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$';
const Hash32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'base64url of 32 bytes' });
/** An escrow key's self-certifying id (`@parley/core/escrow` `escrowKeyId`). */
export const ESCROW_KEY_ID_PATTERN = '^esk_[A-Za-z0-9_-]{43}$';

export const CommitmentSchema = Type.Object(
  {
    v: Type.Literal(1),
    messageId: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    conversationId: Type.String({ pattern: CONVERSATION_ID_PATTERN }),
    sender: Type.Object(
      { identityId: Type.String({ pattern: IDENTITY_ID_PATTERN }), deviceId: Type.String({ pattern: DEVICE_ID_PATTERN }) },
      { additionalProperties: false },
    ),
    recipient: Type.String({ pattern: IDENTITY_ID_PATTERN }),
    class: Type.String({ pattern: MESSAGE_CLASS_PATTERN }),
    createdAt: Type.String({ pattern: RFC3339_UTC }),
    /** base64url HMAC-SHA-256(opening, UTF-8 plaintext). */
    contentCommitment: Hash32,
    /**
     * Present when the message's class is under escrow: the escrow key the sender sealed the
     * opening and plaintext to. Signed, so the recipient and any auditor see it.
     */
    escrow: Type.Optional(Type.Object({ keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }) }, { additionalProperties: false })),
    /**
     * The message's attachments: SHA-256 of each one's ciphertext as stored in the blob store, in
     * the message's order, so the audit trail covers the files too (the recipient checks them).
     */
    attachments: Type.Optional(Type.Array(Hash32, { minItems: 1, maxItems: MAX_ATTACHMENTS })),
    /** Content policies that changed the message before it was sent (policy id and action, never the matched text). */
    dlp: Type.Optional(Type.Array(DlpOutcomeSchema, { minItems: 1, maxItems: MAX_DLP_OUTCOMES })),
  },
  { additionalProperties: false },
);
export type Commitment = Static<typeof CommitmentSchema>;
const checkCommitment = Compile(CommitmentSchema);

/** Throws `invalid_commitment` unless `value` is a well-formed commitment. */
export function parseCommitment(value: unknown): Commitment {
  if (!checkCommitment.Check(value)) throw new InvalidInputError('invalid commitment', { code: 'invalid_commitment' });
  return value;
}

/** A fresh 32-byte opening. Secret: it travels only inside the encrypted message. */
export function newOpening(): Uint8Array {
  return randomBytes(32);
}

/** HMAC-SHA-256 keyed by the opening over the UTF-8 plaintext (RFC 2104). */
export function contentCommitment(opening: Uint8Array, plaintext: string): Uint8Array {
  return hmac(sha256, assertBytes(opening, 'opening', 32), utf8(plaintext));
}

/** True when `plaintext` and `opening` open the commitment (constant-time comparison). */
export function opensCommitment(commitment: Commitment, opening: Uint8Array, plaintext: string): boolean {
  if (opening.length !== 32) return false;
  return equalBytes(contentCommitment(opening, plaintext), fromBase64(commitment.contentCommitment));
}

/** The commitment's canonical bytes (RFC 8785). */
export function commitmentBytes(commitment: Commitment): Uint8Array {
  return canonicalJson(parseCommitment(commitment));
}

/** SHA-256 of the canonical commitment: what the audit log records and receipts refer to. */
export function commitmentHash(commitment: Commitment): Uint8Array {
  return sha256(commitmentBytes(commitment));
}

function framed(context: string, body: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length);
  return concatBytes(utf8(context), new Uint8Array([0]), len, body);
}

export function commitmentSigningMessage(commitment: Commitment): Uint8Array {
  return framed('parley/v1/commitment', commitmentBytes(commitment));
}

export function signCommitment(identityPrivateKey: Uint8Array, commitment: Commitment): Uint8Array {
  return signEd25519(identityPrivateKey, commitmentSigningMessage(commitment));
}

/**
 * {@link signCommitment} by the sending device's identity key wherever it lives (a key in
 * memory, an HSM): Ed25519 (RFC 8032) over {@link commitmentSigningMessage}.
 *
 * @example
 * const signature = await signCommitmentWith(identitySigner, commitment);
 */
export function signCommitmentWith(signer: Ed25519Signer, commitment: Commitment): Promise<Uint8Array> {
  return signWith(signer, commitmentSigningMessage(commitment));
}

export function verifyCommitmentSignature(identityKey: Uint8Array, commitment: Commitment, signature: Uint8Array): boolean {
  return verifyEd25519(identityKey, commitmentSigningMessage(commitment), signature);
}

