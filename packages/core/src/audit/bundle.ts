/**
 * The evidence bundle: everything an auditor needs to check, offline and
 * without trusting the server, that a business sent exactly this message to
 * this customer at this time and which of the customer's devices received it.
 * Only the two logs' verifier keys (and the directory's VRF key) come from
 * outside the bundle: after a log-key rotation the bundle carries the logs'
 * announcements, which lead from the key the auditor trusts to the key that signs now.
 */
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { KeyLookupResponseSchema } from '../wire/registry.js';
import { CommitmentSchema } from './commitment.js';
import { ReceiptSchema } from './receipt.js';

/** An audit-log entry with its RFC 9162 inclusion proof against `auditCheckpoint`. */
export const AuditInclusionSchema = Type.Object(
  {
    /** base64 entry bytes (canonical JSON, see entry.ts). */
    entry: Type.String(),
    index: Type.Integer({ minimum: 0 }),
    /** base64 hashes. */
    proof: Type.Array(Type.String(), { maxItems: 64 }),
  },
  { additionalProperties: false },
);
export type AuditInclusion = Static<typeof AuditInclusionSchema>;

/**
 * A log's key-rotation announcements (docs/log-key-rotation.md) as `GET /logs/<name>/key-rotations`
 * serves them, one signed note per item, oldest first. Optional in a bundle (absent: the log's key
 * never changed, or the bundle predates the field); the verifier follows them from the key the
 * auditor trusts and ignores any that does not open.
 */
const KeyRotationsSchema = Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { maxItems: 64 });

export const EvidenceBundleSchema = Type.Object(
  {
    v: Type.Literal(1),
    commitment: CommitmentSchema,
    /** base64 Ed25519 signature of the sending device over the commitment. */
    commitmentSignature: Type.String(),
    audit: AuditInclusionSchema,
    receipts: Type.Array(
      Type.Object(
        { receipt: ReceiptSchema, signature: Type.String(), audit: AuditInclusionSchema },
        { additionalProperties: false },
      ),
      { maxItems: 1000 },
    ),
    /** Signed checkpoint (C2SP signed note) of the audit log the inclusion proofs refer to. */
    auditCheckpoint: Type.String(),
    /** The audit log's key-rotation announcements, oldest first (omitted when there are none). */
    auditRotations: Type.Optional(KeyRotationsSchema),
    keyLog: Type.Object(
      {
        /** Signed checkpoint of the key log the identities' proofs refer to. */
        checkpoint: Type.String(),
        /** base64 ECVRF public key of the directory (pin it with --vrf-key). */
        vrfPublicKey: Type.String(),
        /** Lookups of the sender's and the recipient's identities, as the directory answers them. */
        identities: Type.Array(KeyLookupResponseSchema, { minItems: 1, maxItems: 2 }),
        /** The key log's key-rotation announcements, oldest first (omitted when there are none). */
        rotations: Type.Optional(KeyRotationsSchema),
      },
      { additionalProperties: false },
    ),
    /** Revealed by a party to a dispute: base64 opening and the plaintext it opens. */
    opening: Type.Optional(Type.String()),
    plaintext: Type.Optional(Type.String({ maxLength: 64 * 1024 })),
  },
  { additionalProperties: false },
);
export type EvidenceBundle = Static<typeof EvidenceBundleSchema>;
const checkBundle = Compile(EvidenceBundleSchema);

export function parseEvidenceBundle(value: unknown): EvidenceBundle {
  if (!checkBundle.Check(value)) throw new InvalidInputError('not an evidence bundle', { code: 'invalid_bundle' });
  return value;
}
