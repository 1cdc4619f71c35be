/**
 * An escrow key: an X25519 HPKE key pair (RFC 9180) made once by `parley escrow init`,
 * whose 32-byte private key is split M-of-N with Shamir's secret sharing
 * (`shamir-secret-sharing`, audited by Cure53 and Zellic) and whose shares are each
 * HPKE-sealed to one officer's encryption key, then forgotten. What the server holds is
 * this public record: the public key, the threshold, the officers' public records and the
 * sealed shares.
 *
 * The key id is self-certifying: `esk_` and base64url SHA-256 of the canonical JSON
 * (RFC 8785) of business, suite, public key, threshold and officers. A server cannot put a
 * key of its own, or other officers, under an id the business configured: the SDK and
 * the officers recompute it.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { split } from 'shamir-secret-sharing';
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { fromBase64, toBase64Url } from '../bytes.js';
import { BUSINESS_ID_PATTERN } from '../ids.js';
import { canonicalJson } from '../keylog/entry.js';
import { ESCROW_KEY_ID_PATTERN, RFC3339_UTC } from '../audit/commitment.js';
import { ESCROW_HPKE_SUITE, generateHpkeKeyPair, hpkeInfo, hpkeOpen, hpkeSeal } from './hpke.js';
import { EscrowOfficerSchema, Key32Schema, OFFICER_ID_PATTERN, parseEscrowOfficer, type EscrowOfficer } from './officer.js';

export { ESCROW_KEY_ID_PATTERN };
/** Officers of one key: at least 2 (Shamir needs 2 shares), at most 16. */
export const ESCROW_MAX_OFFICERS = 16;
/** A sealed share: enc (32) ‖ AES-256-GCM(share of 33 bytes) ‖ tag (16). */
const SEALED_SHARE = /^[A-Za-z0-9_-]{108}$/;

export const EscrowSealedShareSchema = Type.Object(
  { officerId: Type.String({ pattern: OFFICER_ID_PATTERN }), sealed: Type.String({ pattern: SEALED_SHARE.source, description: 'base64url HPKE enc ‖ ciphertext' }) },
  { additionalProperties: false },
);

export const EscrowKeyRecordSchema = Type.Object(
  {
    v: Type.Literal(1),
    keyId: Type.String({ pattern: ESCROW_KEY_ID_PATTERN }),
    businessId: Type.String({ pattern: BUSINESS_ID_PATTERN }),
    suite: Type.Literal(ESCROW_HPKE_SUITE),
    publicKey: Key32Schema,
    threshold: Type.Integer({ minimum: 2, maximum: ESCROW_MAX_OFFICERS }),
    officers: Type.Array(EscrowOfficerSchema, { minItems: 2, maxItems: ESCROW_MAX_OFFICERS }),
    shares: Type.Array(EscrowSealedShareSchema, { minItems: 2, maxItems: ESCROW_MAX_OFFICERS }),
    createdAt: Type.String({ pattern: RFC3339_UTC }),
  },
  { additionalProperties: false },
);
/** An escrow key's public record (registered with the server, appended to the audit log as a hash). */
export type EscrowKeyRecord = Static<typeof EscrowKeyRecordSchema>;
const checkRecord = Compile(EscrowKeyRecordSchema);

/** What the key id certifies. */
export interface EscrowKeyIdInput {
  readonly businessId: string;
  readonly publicKey: string;
  readonly threshold: number;
  readonly officers: readonly EscrowOfficer[];
}

/**
 * The self-certifying key id: `esk_` + base64url SHA-256 of the canonical JSON of
 * `{v, businessId, suite, publicKey, threshold, officers}`.
 *
 * @example
 * if (escrowKeyId(policy) !== policy.keyId) throw new Error('the server substituted a key');
 */
export function escrowKeyId(input: EscrowKeyIdInput): string {
  const body = {
    v: 1,
    businessId: input.businessId,
    suite: ESCROW_HPKE_SUITE,
    publicKey: input.publicKey,
    threshold: input.threshold,
    officers: input.officers.map((o) => ({ officerId: o.officerId, name: o.name, signingKey: o.signingKey, encryptionKey: o.encryptionKey })),
  };
  return `esk_${toBase64Url(sha256(canonicalJson(body)))}`;
}

/**
 * Checks a key record: schema, each officer's id, distinct officers, one sealed share per
 * officer, a threshold no larger than the officers, and the key id; throws `invalid_escrow_key`.
 *
 * @example
 * const record = parseEscrowKeyRecord(await response.json());
 */
export function parseEscrowKeyRecord(value: unknown): EscrowKeyRecord {
  const fail = (why: string): never => {
    throw new InvalidInputError(`escrow key record: ${why}`, { code: 'invalid_escrow_key' });
  };
  if (!checkRecord.Check(value)) return fail('not a v1 record');
  try {
    value.officers.forEach(parseEscrowOfficer);
  } catch {
    fail('an officer id is not its keys\' id');
  }
  const ids = value.officers.map((o) => o.officerId);
  if (new Set(ids).size !== ids.length) fail('an officer appears twice');
  if (value.threshold > ids.length) fail('the threshold exceeds the officers');
  const shareIds = value.shares.map((s) => s.officerId);
  if (shareIds.length !== ids.length || new Set(shareIds).size !== ids.length || !shareIds.every((id) => ids.includes(id))) fail('not one sealed share per officer');
  if (escrowKeyId(value) !== value.keyId) fail('the key id is not the hash of its key, threshold and officers');
  return value;
}

/**
 * SHA-256 of the record's canonical JSON: the `escrow-key` audit-log entry.
 *
 * @example
 * const hash = escrowKeyRecordHash(record);
 */
export function escrowKeyRecordHash(record: EscrowKeyRecord): Uint8Array {
  return sha256(canonicalJson(parseEscrowKeyRecord(record)));
}

const shareInfo = (keyId: string) => hpkeInfo('parley escrow share v1', keyId);
const shareAad = (keyId: string, officerId: string) => canonicalJson({ keyId, officerId });

/**
 * Makes an escrow key: a fresh HPKE key pair whose private key is split `threshold`-of-N
 * among `officers` (Shamir), each share HPKE-sealed to its officer (aad binds key id and
 * officer id); the private key is zeroed before this returns. Only the record remains.
 *
 * @example
 * const record = await createEscrowKey({ businessId: 'example-bank', officers: [alice, bob, carol], threshold: 2 });
 */
export async function createEscrowKey(input: { businessId: string; officers: readonly EscrowOfficer[]; threshold: number; now?: Date }): Promise<EscrowKeyRecord> {
  const officers = input.officers.map(parseEscrowOfficer);
  if (!Number.isInteger(input.threshold) || input.threshold < 2 || input.threshold > officers.length || officers.length > ESCROW_MAX_OFFICERS) {
    throw new InvalidInputError(`an escrow key needs 2 ≤ approvals ≤ officers ≤ ${ESCROW_MAX_OFFICERS}`, { code: 'invalid_escrow_key' });
  }
  const pair = await generateHpkeKeyPair();
  try {
    const publicKey = toBase64Url(pair.publicKey);
    const keyId = escrowKeyId({ businessId: input.businessId, publicKey, threshold: input.threshold, officers });
    const shares = await split(pair.privateKey, officers.length, input.threshold);
    const sealed = await Promise.all(
      officers.map(async (o, i) => {
        const share = shares[i]!;
        try {
          return { officerId: o.officerId, sealed: toBase64Url(await hpkeSeal(fromBase64(o.encryptionKey), shareInfo(keyId), shareAad(keyId, o.officerId), share)) };
        } finally {
          share.fill(0);
        }
      }),
    );
    return parseEscrowKeyRecord({
      v: 1,
      keyId,
      businessId: input.businessId,
      suite: ESCROW_HPKE_SUITE,
      publicKey,
      threshold: input.threshold,
      officers,
      shares: sealed,
      createdAt: (input.now ?? new Date()).toISOString(),
    });
  } finally {
    pair.privateKey.fill(0);
  }
}

/**
 * An officer opens its own sealed share of a key (with its X25519 private key).
 *
 * @example
 * const share = await openOfficerShare(record, officerId, encryptionPrivateKey);
 */
export async function openOfficerShare(record: EscrowKeyRecord, officerId: string, encryptionPrivateKey: Uint8Array): Promise<Uint8Array> {
  const entry = record.shares.find((s) => s.officerId === officerId);
  if (!entry) throw new InvalidInputError('this officer holds no share of this key', { code: 'invalid_escrow_key' });
  return hpkeOpen(encryptionPrivateKey, shareInfo(record.keyId), shareAad(record.keyId, officerId), fromBase64(entry.sealed));
}

