/**
 * Social recovery (docs/social-recovery.md): holder keys (X25519 HPKE keys signed by a
 * device's identity key), recovery sets (the owner's signed manifest and one HPKE-sealed
 * Shamir share per holder device), recovery requests (signed by the requesting device, with
 * its ephemeral HPKE key) and the shares holders release to it. The server stores and relays
 * ciphertext and signatures only.
 */
import { Type, type Static } from '../typebox.js';
import { RFC3339_UTC } from '../audit/commitment.js';
import { Key32Schema } from '../escrow/officer.js';
import { DEVICE_ID_PATTERN, IDENTITY_ID_PATTERN } from '../ids.js';

/** A recovery set's id: `rcs_` and 16 random bytes (base64url), chosen by the owner's device. */
export const RECOVERY_SET_ID_PATTERN = '^rcs_[A-Za-z0-9_-]{22}$';
/** A recovery request's id: `rcr_` and 16 random bytes (base64url), chosen by the requesting device. */
export const RECOVERY_REQUEST_ID_PATTERN = '^rcr_[A-Za-z0-9_-]{22}$';
/** Holders (distinct shares) of one set. */
export const RECOVERY_MAX_HOLDERS = 10;
/** Sealed copies of one set (a holder named by identity gets one copy per device). */
export const RECOVERY_MAX_SEALED = 32;
/** How long a request stays open (24 h). */
export const RECOVERY_REQUEST_TTL_MS = 24 * 3600 * 1000;

const Signature64 = Type.String({ pattern: '^[A-Za-z0-9_-]{86}$', description: 'base64url Ed25519 signature (64 bytes)' });
const Sealed = Type.String({ pattern: '^[A-Za-z0-9_-]{64,342}$', description: 'base64url HPKE enc ‖ ciphertext (48 to 256 bytes)' });
const Time = Type.String({ pattern: RFC3339_UTC });
const ShareIndex = Type.Integer({ minimum: 1, maximum: RECOVERY_MAX_HOLDERS });
const IdentityId = Type.String({ pattern: IDENTITY_ID_PATTERN });
const DeviceId = Type.String({ pattern: DEVICE_ID_PATTERN });
const SetId = Type.String({ pattern: RECOVERY_SET_ID_PATTERN });
const RequestId = Type.String({ pattern: RECOVERY_REQUEST_ID_PATTERN });

/** `PUT /v1/recovery/holder-key`: this device's HPKE key, signed by its identity key (`recoveryHolderKeyMessage`). */
export const RecoveryHolderKeyPutSchema = Type.Object({ hpkeKey: Key32Schema, signature: Signature64 }, { additionalProperties: false });
export type RecoveryHolderKeyPut = Static<typeof RecoveryHolderKeyPutSchema>;

/** A device's published holder key. */
export const RecoveryHolderKeySchema = Type.Object({ deviceId: DeviceId, hpkeKey: Key32Schema, signature: Signature64, updatedAt: Type.String() });
export type RecoveryHolderKey = Static<typeof RecoveryHolderKeySchema>;

/** `GET /v1/recovery/holder-keys/{identityId}`: the holder keys of an identity's active devices. */
export const RecoveryHolderKeyListSchema = Type.Object({ identityId: IdentityId, keys: Type.Array(RecoveryHolderKeySchema) });
export type RecoveryHolderKeyList = Static<typeof RecoveryHolderKeyListSchema>;
export const RecoveryIdentityParamsSchema = Type.Object({ identityId: IdentityId });

/** One sealed copy of a share as the manifest names it: the share's index, its holder device and SHA-256 of the share. */
export const RecoveryShareEntrySchema = Type.Object(
  { index: ShareIndex, identityId: IdentityId, deviceId: DeviceId, shareHash: Key32Schema },
  { additionalProperties: false },
);
export type RecoveryShareEntry = Static<typeof RecoveryShareEntrySchema>;

/** What the owner's device signs (`recoverySetMessage`): who holds which share, the threshold and each share's hash. */
export const RecoveryManifestSchema = Type.Object(
  {
    v: Type.Literal(1),
    setId: SetId,
    identityId: IdentityId,
    deviceId: DeviceId,
    threshold: Type.Integer({ minimum: 2, maximum: RECOVERY_MAX_HOLDERS }),
    createdAt: Time,
    shares: Type.Array(RecoveryShareEntrySchema, { minItems: 2, maxItems: RECOVERY_MAX_SEALED }),
  },
  { additionalProperties: false },
);
export type RecoveryManifest = Static<typeof RecoveryManifestSchema>;

/** A share sealed to one holder device (HPKE, RFC 9180). */
export const RecoverySealedShareSchema = Type.Object({ index: ShareIndex, deviceId: DeviceId, sealed: Sealed }, { additionalProperties: false });
export type RecoverySealedShare = Static<typeof RecoverySealedShareSchema>;

/** `PUT /v1/recovery/set`: the signed manifest and one sealed copy per manifest entry (replaces the identity's set). */
export const RecoverySetPutSchema = Type.Object(
  { manifest: RecoveryManifestSchema, signature: Signature64, sealed: Type.Array(RecoverySealedShareSchema, { minItems: 2, maxItems: RECOVERY_MAX_SEALED }) },
  { additionalProperties: false },
);
export type RecoverySetPut = Static<typeof RecoverySetPutSchema>;

/** The identity's current set (`GET /v1/recovery/set`; also the answer to a `PUT`): manifest and signature, no shares. */
export const RecoverySetSchema = Type.Object({ manifest: RecoveryManifestSchema, signature: Signature64, createdAt: Type.String() });
export type RecoverySet = Static<typeof RecoverySetSchema>;

/** What the requesting device signs (`recoveryRequestMessage`): the request, the set, itself, its ephemeral HPKE key, the expiry. */
export const RecoveryRequestBindingSchema = Type.Object(
  { v: Type.Literal(1), requestId: RequestId, setId: SetId, identityId: IdentityId, deviceId: DeviceId, requesterKey: Key32Schema, expiresAt: Time },
  { additionalProperties: false },
);
export type RecoveryRequestBinding = Static<typeof RecoveryRequestBindingSchema>;

/** `POST /v1/recovery/requests`. */
export const RecoveryRequestCreateSchema = Type.Object({ request: RecoveryRequestBindingSchema, signature: Signature64 }, { additionalProperties: false });
export type RecoveryRequestCreate = Static<typeof RecoveryRequestCreateSchema>;
export const RecoveryRequestParamsSchema = Type.Object({ requestId: RequestId });

/** A share a holder released, sealed to the request's ephemeral key. */
export const RecoveryReleasedShareSchema = Type.Object({ index: ShareIndex, deviceId: DeviceId, sealed: Sealed });
export type RecoveryReleasedShare = Static<typeof RecoveryReleasedShareSchema>;

/**
 * A request as the calling device may see it: its signed binding and progress; `share` (and
 * `decision`) when the caller holds a share of the set; `releasedShares` for the requesting device only.
 */
export const RecoveryRequestViewSchema = Type.Object({
  request: RecoveryRequestBindingSchema,
  signature: Signature64,
  status: Type.Union([Type.Literal('pending'), Type.Literal('expired')]),
  threshold: Type.Integer(),
  released: Type.Integer({ minimum: 0, description: 'distinct shares released so far' }),
  declined: Type.Integer({ minimum: 0 }),
  createdAt: Type.String(),
  share: Type.Optional(Type.Object({ index: ShareIndex, sealed: Sealed })),
  decision: Type.Optional(Type.Union([Type.Literal('released'), Type.Literal('declined')])),
  releasedShares: Type.Optional(Type.Array(RecoveryReleasedShareSchema)),
});
export type RecoveryRequestView = Static<typeof RecoveryRequestViewSchema>;
/** `GET /v1/recovery/requests`: open requests of the caller's identity and those where the caller holds a share. */
export const RecoveryRequestListSchema = Type.Object({ requests: Type.Array(RecoveryRequestViewSchema) });
export type RecoveryRequestList = Static<typeof RecoveryRequestListSchema>;

/** `POST /v1/recovery/requests/{requestId}/release`: the holder's share re-sealed to the request's ephemeral key. */
export const RecoveryReleaseSchema = Type.Object({ sealed: Sealed }, { additionalProperties: false });
export type RecoveryRelease = Static<typeof RecoveryReleaseSchema>;
