/**
 * Requests to open an escrowed message and the officers' approvals. A request names the
 * message, its commitment hash, the escrow key, a reason and the requester's ephemeral
 * X25519 key; its hash is what officers approve. An approval names the request id, the
 * request hash, the message, the key and the officer, in RFC 8785 canonical JSON, signed
 * with the officer's Ed25519 key (RFC 8032) over a domain-separated frame. With it the
 * officer releases its share, HPKE-sealed to the requester's key (aad binds request and
 * officer): the server relays shares it cannot read.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { combine } from 'shamir-secret-sharing';
import { Compile, Type, type Static } from '../typebox.js';
import { CryptoError, InvalidInputError } from '../errors.js';
import { concatBytes, equalBytes, fromBase64, utf8 } from '../bytes.js';
import { MESSAGE_ID_PATTERN } from '../ids.js';
import { signEd25519, verifyEd25519 } from '../identity-keys.js';
import { canonicalJson } from '../keylog/entry.js';
import { RFC3339_UTC } from '../audit/commitment.js';
import { hpkeInfo, hpkeOpen, hpkePublicKeyOf, hpkeSeal } from './hpke.js';
import { Key32Schema, OFFICER_ID_PATTERN, isWellFormedText } from './officer.js';
import { ESCROW_KEY_ID_PATTERN } from './key-record.js';

export const ESCROW_REQUEST_ID_PATTERN = '^esr_[A-Za-z0-9_-]{22}$';
/** A reason is one line of printable text. */
export const ESCROW_REASON_PATTERN = '^[^\\x00-\\x1f\\x7f]{1,500}$';

export const EscrowRequestSchema = Type.Object(
  {
    v: Type.Literal(1),
    requestId: Type.String({ pattern: ESCROW_REQUEST_ID_PATTERN }),
    messageId: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    commitment: Key32Schema,
    keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }),
    reason: Type.String({ pattern: ESCROW_REASON_PATTERN, maxLength: 500 }),
    requesterKey: Key32Schema,
  },
  { additionalProperties: false },
);
/** What officers approve: one opening of one message, for one requester key. */
export type EscrowRequest = Static<typeof EscrowRequestSchema>;
const checkRequest = Compile(EscrowRequestSchema);

export const EscrowApprovalSchema = Type.Object(
  {
    v: Type.Literal(1),
    requestId: Type.String({ pattern: ESCROW_REQUEST_ID_PATTERN }),
    requestHash: Key32Schema,
    messageId: Type.String({ pattern: MESSAGE_ID_PATTERN }),
    keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }),
    officerId: Type.String({ pattern: OFFICER_ID_PATTERN }),
    approvedAt: Type.String({ pattern: RFC3339_UTC }),
  },
  { additionalProperties: false },
);
/** One officer's signed consent to one request. */
export type EscrowApproval = Static<typeof EscrowApprovalSchema>;
const checkApproval = Compile(EscrowApprovalSchema);

/**
 * Throws `invalid_escrow_request` unless `value` is a v1 request.
 *
 * @example
 * const request = parseEscrowRequest(view.request);
 */
export function parseEscrowRequest(value: unknown): EscrowRequest {
  if (!checkRequest.Check(value) || !isWellFormedText(value.reason)) throw new InvalidInputError('not an escrow request', { code: 'invalid_escrow_request' });
  return value;
}

/**
 * Throws `invalid_escrow_approval` unless `value` is a v1 approval.
 *
 * @example
 * const approval = parseEscrowApproval(body.approval);
 */
export function parseEscrowApproval(value: unknown): EscrowApproval {
  if (!checkApproval.Check(value)) throw new InvalidInputError('not an escrow approval', { code: 'invalid_escrow_approval' });
  return value;
}

/**
 * SHA-256 of the request's canonical JSON: what an approval names.
 *
 * @example
 * const hash = toBase64Url(escrowRequestHash(request));
 */
export function escrowRequestHash(request: EscrowRequest): Uint8Array {
  return sha256(canonicalJson(parseEscrowRequest(request)));
}

/**
 * SHA-256 of the approval's canonical JSON (the `escrow-approval` audit-log entry).
 *
 * @example
 * const hash = escrowApprovalHash(approval);
 */
export function escrowApprovalHash(approval: EscrowApproval): Uint8Array {
  return sha256(canonicalJson(parseEscrowApproval(approval)));
}

/**
 * The bytes an officer signs: `"parley/v1/escrow-approval" ‖ 0 ‖ len32 ‖ JCS(approval)`.
 *
 * @example
 * const message = escrowApprovalSigningMessage(approval);
 */
export function escrowApprovalSigningMessage(approval: EscrowApproval): Uint8Array {
  const body = canonicalJson(parseEscrowApproval(approval));
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, body.length);
  return concatBytes(utf8('parley/v1/escrow-approval'), new Uint8Array([0]), len, body);
}

/**
 * Ed25519 signature of an approval with the officer's signing key.
 *
 * @example
 * const signature = signEscrowApproval(signingPrivateKey, approval);
 */
export function signEscrowApproval(signingPrivateKey: Uint8Array, approval: EscrowApproval): Uint8Array {
  return signEd25519(signingPrivateKey, escrowApprovalSigningMessage(approval));
}

/**
 * Whether `signature` is the officer's signature of `approval`.
 *
 * @example
 * if (!verifyEscrowApproval(fromBase64(officer.signingKey), approval, signature)) refuse();
 */
export function verifyEscrowApproval(signingKey: Uint8Array, approval: EscrowApproval, signature: Uint8Array): boolean {
  return signature.length === 64 && verifyEd25519(signingKey, escrowApprovalSigningMessage(approval), signature);
}

const releaseInfo = (requestId: string) => hpkeInfo('parley escrow release v1', requestId);
const releaseAad = (requestId: string, officerId: string) => canonicalJson({ requestId, officerId });

/**
 * An officer's share, HPKE-sealed to the requester's key for this request.
 *
 * @example
 * const released = await releaseEscrowShare(share, request, officerId);
 */
export async function releaseEscrowShare(share: Uint8Array, request: EscrowRequest, officerId: string): Promise<Uint8Array> {
  return hpkeSeal(fromBase64(request.requesterKey), releaseInfo(request.requestId), releaseAad(request.requestId, officerId), share);
}

/**
 * The requester opens one released share with its private key.
 *
 * @example
 * const share = await openReleasedShare(requesterPrivateKey, requestId, officerId, released);
 */
export async function openReleasedShare(requesterPrivateKey: Uint8Array, requestId: string, officerId: string, released: Uint8Array): Promise<Uint8Array> {
  return hpkeOpen(requesterPrivateKey, releaseInfo(requestId), releaseAad(requestId, officerId), released);
}

/**
 * Reassembles the escrow private key from at least the threshold of shares (Shamir) and
 * checks it against the key's public key; `escrow_shares_invalid` otherwise.
 *
 * @example
 * const privateKey = await combineEscrowShares(shares, fromBase64(record.publicKey));
 */
export async function combineEscrowShares(shares: readonly Uint8Array[], publicKey: Uint8Array): Promise<Uint8Array> {
  if (shares.length < 2) throw new CryptoError('escrow_shares_invalid', 'at least two shares are needed');
  let key: Uint8Array;
  try {
    key = await combine([...shares]);
  } catch (cause) {
    throw new CryptoError('escrow_shares_invalid', 'the shares do not combine', { cause });
  }
  if (key.length !== 32 || !equalBytes(hpkePublicKeyOf(key), publicKey)) {
    key.fill(0);
    throw new CryptoError('escrow_shares_invalid', 'the shares do not reassemble this escrow key (too few, or not its shares)');
  }
  return key;
}
